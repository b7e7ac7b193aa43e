"""Errors meant for people: one line saying what was wrong, with which value, and what to do."""

import argparse


class UserError(Exception):
    """Bad input or environment a user can fix; CLIs print it on one line and exit with status 2."""

    exit_code = 2


class OneLineArgumentParser(argparse.ArgumentParser):
    """argparse whose usage errors are one line on stderr naming `--help`, with exit status 2 (via SystemExit,
    as argparse does)."""

    def error(self, message: str) -> None:
        self.exit(2, f"error: {message} (see `{self.prog} --help`)\n")


def parse_args(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace | int:
    """The parsed arguments, or the exit status when argparse stopped (--help: 0, a bad flag: 2)."""
    try:
        return parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
