"""Errors that end a command with one clear line and a non-zero exit code."""

from __future__ import annotations


class GlengarryError(Exception):
    """Base of the errors a user can act on; the CLI prints the message, never a traceback."""

    exit_code = 1


class ConfigurationError(GlengarryError):
    exit_code = 2


class DatabaseError(GlengarryError):
    pass


class SecretKeyError(GlengarryError):
    pass


class InputError(GlengarryError):
    """A file or option the user gave is missing or malformed; the message says where."""

    exit_code = 2
