"""Errors meant for people: one line saying what was wrong, with which value, and what to do."""


class UserError(Exception):
    """Bad input or environment a user can fix; CLIs print it on one line and exit with status 2."""

    exit_code = 2
