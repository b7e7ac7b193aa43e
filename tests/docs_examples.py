"""The fenced examples of the docs, read the way a user reads them, for `tests/test_docs_examples.py`.

`read_blocks` returns every fenced code block of a Markdown file with its language, line and section;
`parse_shell` turns one shell line into pipelines of commands (the small subset of shell the docs use);
`bash_scripts`, `crontab_script`, `systemd_script`, `workflow_scripts` and `comment_scripts` find the commands
a block holds; `Runner.run` runs one of our CLIs in-process through its `main(argv)` (or a harmless program as
a subprocess) and captures its output; `template_mismatch` and `elided_mismatch` compare shown output with real.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from markdown_it import MarkdownIt


@dataclass(frozen=True)
class Block:
    """One fenced code block of a Markdown file."""

    path: str  # file, relative to the repository
    line: int  # 1-based line of the opening fence
    info: str  # the fence's language ("" when none)
    text: str  # the content, without the fences
    section: str  # the nearest heading above it
    before: str  # the source lines just above the fence (the sentence that introduces it)

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"

    @property
    def key(self) -> tuple[str, str]:
        """(section, start of the text) that identifies the block in the tables of the test; short lines are
        joined with " / " so that two blocks starting with the same `[Unit]` line still differ."""
        return self.section, " / ".join(line.strip() for line in self.text.splitlines() if line.strip())[:60]

    def describe(self) -> str:
        return f"{self.where}: ```{self.info or '(no language)'} block in section {self.section!r}, starting {self.key[1]!r}"


def read_blocks(path: Path, repo: Path) -> list[Block]:
    """Every fenced block of a Markdown file, in order (CommonMark rules, via markdown-it-py)."""
    source = path.read_text(encoding="utf-8")
    lines = source.splitlines()
    tokens = MarkdownIt("commonmark").parse(source)
    blocks, section, previous_end = [], "", 0
    for i, tok in enumerate(tokens):
        if tok.type == "heading_open":
            section = tokens[i + 1].content
        elif tok.type in ("fence", "code_block"):
            start, end = tok.map
            before = "\n".join(lines[max(previous_end, start - 10) : start])
            info = tok.info.strip().split()[0] if tok.info.strip() else ""
            blocks.append(Block(str(path.relative_to(repo)), start + 1, info, tok.content, section, before))
            previous_end = end
    return blocks


# ---- shell lines ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Command:
    """One simple command: environment assignments and the argument vector."""

    argv: tuple[str, ...]
    env: tuple[tuple[str, str], ...] = ()

    @property
    def program(self) -> str:
        """`python -m rag.ask`, `python -c`, or the executable's name (`pip`, `sudo`, …); any python binary counts as `python`."""
        exe = Path(self.argv[0]).name
        if re.fullmatch(r"python(3(\.\d+)?)?", exe):
            if len(self.argv) > 2 and self.argv[1] == "-m":
                return f"python -m {self.argv[2]}"
            if len(self.argv) > 1 and self.argv[1] == "-c":
                return "python -c"
            return "python"
        return exe

    @property
    def args(self) -> list[str]:
        """The arguments after the program (after `python -m MODULE` for Python modules)."""
        skip = 3 if self.program.startswith("python -m ") else 2 if self.program == "python -c" else 1
        return list(self.argv[skip:])

    @property
    def text(self) -> str:
        """The command as the tables match it: `python -m ui --port 8080` (interpreter path and environment left out)."""
        return " ".join([self.program, *(shlex.quote(a) for a in self.args)]).strip()

    def __str__(self) -> str:
        env = " ".join(f"{k}={shlex.quote(v)}" for k, v in self.env)
        return f"{env} {shlex.join(self.argv)}".strip()


_FD_DUP = re.compile(r"(?<![^\s;&|{])\d*>&\d+")  # `2>&1`: only says where output goes
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")
_SEQUENCE = {"&&", ";", "&"}
_REDIRECT = {">", ">>"}


def parse_shell(line: str) -> list[list[Command]]:
    """A shell line → a sequence of pipelines, each a list of commands joined by `|`.

    The subset the docs use: quoting, `VAR=value` prefixes, `# comments`, `&&`/`;`/`&` between commands, `|`,
    `{ …; }` grouping and output redirections (`>`, `>>`, `2>&1`; not performed, the output is captured).
    Anything else (`||`, `<`, subshells, `$(…)`, backticks, `$VAR` in an argument) raises ValueError.
    """
    if "$(" in line or "`" in line:
        raise ValueError("command substitution ($(…) or backticks)")
    lex = shlex.shlex(_FD_DUP.sub(" ", line), posix=True, punctuation_chars=True)
    lex.whitespace_split = True
    tokens = list(lex)
    pipelines: list[list[Command]] = [[]]
    words: list[str] = []
    env: list[tuple[str, str]] = []

    def end_command() -> None:
        if words:
            pipelines[-1].append(Command(tuple(words), tuple(env)))
        elif env:
            raise ValueError(f"a bare variable assignment ({env[0][0]}=…)")
        words.clear()
        env.clear()

    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok in _SEQUENCE:
            end_command()
            if pipelines[-1]:
                pipelines.append([])
        elif tok == "|":
            end_command()
        elif tok in _REDIRECT:
            i += 1  # the target file
        elif tok in ("{", "}") and not words:
            pass  # grouping: the commands inside run in order, as they would anyway
        elif re.fullmatch(r"[()<>;&|]+", tok):
            raise ValueError(f"shell operator {tok!r}")
        elif "$" in tok:
            raise ValueError(f"a shell variable in {tok!r}")
        elif not words and _ASSIGNMENT.match(tok):
            name, _, value = tok.partition("=")
            env.append((name, value))
        else:
            words.append(tok)
        i += 1
    end_command()
    return [p for p in pipelines if p]


def logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """(offset, line) of each command line of a shell snippet: `\\` continuations joined, blank and comment lines left out."""
    pending, start = "", 0
    for offset, raw in enumerate(text.splitlines()):
        if not pending:
            start = offset
        if raw.rstrip().endswith("\\"):
            pending += raw.rstrip()[:-1] + " "
            continue
        line = (pending + raw).strip()
        pending = ""
        if line and not line.startswith("#"):
            yield start, line


# ---- where the commands are -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Script:
    """The commands of one block (or one config comment, crontab line, workflow job), run in order."""

    block: Block
    line: int  # doc line of its first command
    lines: tuple[tuple[int, str], ...]  # (doc line, source text) of every command line
    cwd: str | None = None  # systemd WorkingDirectory=

    @property
    def where(self) -> str:
        return f"{self.block.path}:{self.line}"

    def pipelines(self) -> Iterator[tuple[int, str, list[Command]]]:
        """(doc line, source line, pipeline) in order; raises ValueError naming the line for unsupported syntax."""
        for line, source in self.lines:
            try:
                parsed = parse_shell(source)
            except ValueError as exc:
                raise ValueError(f"{self.block.path}:{line}: unsupported shell syntax, {exc}: {source}") from exc
            for pipeline in parsed:
                yield line, source, pipeline

    def commands(self) -> Iterator[tuple[int, Command]]:
        for line, _, pipeline in self.pipelines():
            for command in pipeline:
                yield line, command


CRON_FIELDS = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))  # minute hour day-of-month month day-of-week


def check_cron_schedule(fields: list[str]) -> None:
    """Raise ValueError unless the five fields are a valid crontab schedule (numbers, `*`, lists, ranges, steps)."""
    if len(fields) != 5:
        raise ValueError(f"a crontab schedule has 5 fields, got {len(fields)}: {' '.join(fields)}")
    for value, (lo, hi) in zip(fields, CRON_FIELDS):
        for part in value.split(","):
            base, _, step = part.partition("/")
            if step and not step.isdigit():
                raise ValueError(f"bad step in cron field {value!r}")
            if base == "*":
                continue
            ends = base.split("-")
            if len(ends) > 2 or not all(e.isdigit() and lo <= int(e) <= hi for e in ends):
                raise ValueError(f"cron field {value!r} is outside {lo}-{hi}")


def crontab_script(block: Block) -> Script:
    """A crontab block: schedule fields checked; the command runs as the script (`%` would be a newline to cron)."""
    lines = []
    for offset, line in logical_lines(block.text):
        fields = line.split(None, 5)
        check_cron_schedule(fields[:5])
        if re.search(r"(?<!\\)%", fields[5]):
            raise ValueError(f"{block.path}:{block.line + 1 + offset}: an unescaped % in a crontab command is a newline to cron")
        lines.append((block.line + 1 + offset, fields[5]))
    return Script(block, lines[0][0], tuple(lines))


def systemd_sections(text: str) -> dict[str, list[tuple[int, str, str]]]:
    """A systemd unit file: section → [(offset, key, value)], keys may repeat (as `ExecStart=` does)."""
    sections: dict[str, list[tuple[int, str, str]]] = {}
    current = None
    for offset, raw in enumerate(text.splitlines()):
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], [])
        elif "=" in line and current is not None:
            key, _, value = line.partition("=")
            current.append((offset, key.strip(), value.strip()))
        else:
            raise ValueError(f"not a systemd unit line: {raw!r}")
    return sections


def systemd_script(block: Block) -> Script | None:
    """The `ExecStart=` lines of a service unit, in order, in its `WorkingDirectory=`; None for units without any."""
    service = systemd_sections(block.text).get("Service", [])
    lines = tuple((block.line + 1 + o, v.lstrip("-@+!")) for o, k, v in service if k.startswith("ExecStart"))
    cwd = next((v for _, k, v in service if k == "WorkingDirectory"), None)
    return Script(block, lines[0][0], lines, cwd) if lines else None


def workflow_scripts(block: Block, workflow: dict) -> list[Script]:
    """The `run:` steps of each GitHub Actions job, in order, as one script per job."""
    scripts = []
    for job in (workflow.get("jobs") or {}).values():
        lines = []
        for step in job.get("steps") or []:
            run = step.get("run")
            if not run:
                continue
            first = run.strip().splitlines()[0]
            offset = next((i for i, l in enumerate(block.text.splitlines()) if first in l), 0)
            lines += [(block.line + 1 + offset + o, l) for o, l in logical_lines(run)]
        if lines:
            scripts.append(Script(block, lines[0][0], tuple(lines)))
    return scripts


def comment_scripts(block: Block) -> list[Script]:
    """`python -m …` commands quoted in the comment lines of a config block (`# ask.toml — python -m rag.ask --config ask.toml "…"`)."""
    scripts = []
    for offset, raw in enumerate(block.text.splitlines()):
        stripped = raw.strip()
        if stripped.startswith("#") and "python -m " in stripped:
            line = block.line + 1 + offset
            scripts.append(Script(block, line, ((line, stripped[stripped.index("python -m ") :]),)))
    return scripts


def bash_scripts(block: Block) -> list[Script]:
    """Every command line of a shell block, in order, as one script (a block is a recipe: later lines may need earlier ones)."""
    lines = tuple((block.line + 1 + offset, line) for offset, line in logical_lines(block.text))
    return [Script(block, lines[0][0], lines)] if lines else []


# ---- running a command ------------------------------------------------------------------------------------


@dataclass
class Outcome:
    command: Command
    code: int
    stdout: str
    stderr: str
    stdin: str = ""
    memo: bool = False  # the same command already ran in this workspace; this is its result

    def describe(self) -> str:
        return f"`{self.command}` exited {self.code}\n--- stdout ---\n{self.stdout[-3000:]}\n--- stderr ---\n{self.stderr[-3000:]}"


@contextlib.contextmanager
def environment(cwd: Path, env: dict[str, str | None], stdin: str) -> Iterator[tuple[io.StringIO, io.StringIO]]:
    """cwd, environment variables (None removes one) and stdin/stdout/stderr swapped for an in-process run."""
    saved_cwd, saved_env, saved_stdin = os.getcwd(), {k: os.environ.get(k) for k in env}, sys.stdin
    out, err = io.StringIO(), io.StringIO()
    os.chdir(cwd)
    for k, v in env.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    sys.stdin = io.StringIO(stdin)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            yield out, err
    finally:
        sys.stdin = saved_stdin
        os.chdir(saved_cwd)
        for k, v in saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def run_in_process(main: Callable[[list[str]], int], command: Command, cwd: Path, env: dict[str, str | None], stdin: str) -> Outcome:
    """Call a CLI's `main(argv)` with the command's arguments, as `python -m …` would."""
    with environment(cwd, {**env, **dict(command.env)}, stdin) as (out, err):
        try:
            code = main(command.args)
        except SystemExit as exc:  # argparse: --help (0) or a usage error (2, message already on stderr)
            code = exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 2
    return Outcome(command, code, out.getvalue(), err.getvalue())


def run_subprocess(argv: list[str], command: Command, cwd: Path, env: dict[str, str | None], stdin: str) -> Outcome:
    full_env = {k: v for k, v in {**os.environ, **env, **dict(command.env)}.items() if v is not None}
    done = subprocess.run(argv, cwd=cwd, env=full_env, input=stdin, capture_output=True, text=True, timeout=120)
    return Outcome(command, done.returncode, done.stdout, done.stderr)


# Our CLIs, run in-process through their `main(argv) -> int`: program → "module:function".
IN_PROCESS = {
    "python -m rag.ask": "rag.ask:main",
    "python -m ingest": "ingest.cli:main",
    "python -m eval.run": "eval.run:main",
    "python -m eval.report": "eval.report:main",
    "python -m eval.score": "eval.score:main",
    "python -m eval.calibrate": "eval.calibrate:main",
}
SUBPROCESS = ("python -c", "printf")  # cheap and harmless: run for real in the workspace
RUNNABLE = (*IN_PROCESS, *SUBPROCESS, "cd")


def cli_main(program: str) -> Callable[[list[str]], int]:
    module, _, function = IN_PROCESS[program].partition(":")
    return getattr(importlib.import_module(module), function)


@dataclass
class Runner:
    """Runs commands. The same command (folder, environment, program and arguments,
    stdin; not the interpreter's path) runs once: a repeat gets the first result, even if other commands
    changed the workspace in between (the docs repeat the nightly commands in cron, systemd and Actions)."""

    env: dict[str, str | None] = field(default_factory=dict)  # set (or, None, removed) for every command
    memo: dict[tuple, Outcome] = field(default_factory=dict)

    def run(self, command: Command, cwd: Path, stdin: str = "", remember: bool = True) -> Outcome:
        key = (str(cwd), tuple(self.env.items()), command.env, command.program, tuple(command.args), stdin)
        if remember and key in self.memo:
            done = self.memo[key]
            return Outcome(done.command, done.code, done.stdout, done.stderr, done.stdin, memo=True)
        program = command.program
        if program in IN_PROCESS:
            outcome = run_in_process(cli_main(program), command, cwd, self.env, stdin)
        elif program == "python -c":
            outcome = run_subprocess([sys.executable, "-c", *command.args], command, cwd, self.env, stdin)
        elif program == "printf":
            outcome = run_subprocess(["printf", *command.args], command, cwd, self.env, stdin)
        else:
            raise KeyError(program)
        outcome.stdin = stdin
        if remember:
            self.memo[key] = outcome
        return outcome


# ---- comparing the docs with real output ------------------------------------------------------------------


def without_times(text: str) -> str:
    """Times vary from run to run: `24.7 s`, `27 ms` → `<n> s`, `<n> ms`."""
    return re.sub(r"\b\d+(?:\.\d+)? (s|ms)\b", r"<n> \1", text)


_EXPLANATION = re.compile(r"\s{2,}\(.*\)$")  # `  skipped  <path>: <reason>          (one line per skipped file)`


def template_regex(line: str) -> re.Pattern:
    """A template line of the docs (`Index built: index/ (<s> s)`, `[ (fallback for <requested>)]`) → a regex of the real line."""
    out = re.escape(_EXPLANATION.sub("", line.rstrip()))
    out = re.sub(r"\\\[(.*?)\\\]", r"(?:\1)?", out)
    out = re.sub(r"<[^>]*>", ".+?", out)
    return re.compile(out + "$")


def template_mismatch(template: str, real: list[str]) -> str | None:
    """Why the real lines do not follow the template, or None. Template lines with a trailing explanation in
    parentheses may repeat or be absent; the others must match once, in order."""
    lines = template.rstrip().splitlines()
    optional = [bool(_EXPLANATION.search(line)) for line in lines]
    patterns = [template_regex(line) for line in lines]
    i = 0
    for line in real:
        while i < len(patterns) and not patterns[i].match(line):
            if not optional[i]:
                return f"the template line {lines[i]!r} has no match"
            i += 1
        if i == len(patterns):
            return f"{line!r} is not in the template"
        if not optional[i]:
            i += 1
    missing = [line for line, opt in zip(lines[i:], optional[i:]) if not opt]
    return f"template lines {missing} are missing" if missing else None


def elided_mismatch(doc: object, real: object, path: str = "", ignore: frozenset[str] = frozenset()) -> str | None:
    """Where a documented JSON value differs from the real one, or None: dicts need the same keys, lists may be
    shortened, and `…` inside a documented string stands for any text. `ignore` holds paths (`.index.hash`,
    `.timings.*`) whose values are not compared."""
    if isinstance(doc, dict):
        if not isinstance(real, dict) or set(doc) != set(real):
            return f"{path or 'record'}: documented keys {sorted(doc)}, real {sorted(real) if isinstance(real, dict) else real!r}"
        for key in doc:
            sub = f"{path}.{key}"
            if sub in ignore or f"{path}.*" in ignore:
                continue
            problem = elided_mismatch(doc[key], real[key], sub, ignore)
            if problem:
                return problem
        return None
    if isinstance(doc, list):
        if not isinstance(real, list) or len(doc) > len(real):
            return f"{path}: documented {doc!r}, real {real!r}"
        return next((p for i, (d, r) in enumerate(zip(doc, real)) if (p := elided_mismatch(d, r, f"{path}[{i}]", ignore))), None)
    if isinstance(doc, str) and "…" in doc and isinstance(real, str):
        flat, pos = " ".join(real.split()), 0
        for part in (" ".join(p.split()) for p in doc.split("…")):
            found = flat.find(part, pos)
            if found < 0:
                return f"{path}: {part!r} is not in the real value {real!r}"
            pos = found + len(part)
        return None
    return None if doc == real else f"{path}: documented {doc!r}, real {real!r}"
