"""The one error family of convcalc.

``ConvcalcError`` is an invalid configuration (a layer PyTorch would reject): the CLI exits 1.
``MalformedInputError`` is input that is not even well formed (``--in abc``, ``--k 0``, a ragged
matrix), or input that cannot be read: the CLI exits 2, like any other usage error.
``OutputError`` is output that cannot be written (a full disk): exit 2 as well, reported on stderr.
A closed pipe is not an error: the reader has what it wanted, and the exit status stays the
command's own (a failed ``--check`` still exits 1).
"""

from __future__ import annotations


class ConvcalcError(ValueError):
    """An invalid configuration; the message names the parameter, its value and the rule."""

    exit_code = 1
    usage = False  # whether the command line's usage lines come before the message


class MalformedInputError(ConvcalcError):
    """Input that cannot be parsed or is out of range for its type (exit status 2)."""

    exit_code = 2
    usage = True  # a command-line error: typer's usage lines come first


class InputError(MalformedInputError):
    """A file or stream that is malformed, over a budget or unreadable (exit status 2): one
    line naming the file and the place, without the command line's usage lines."""

    usage = False


class OutputError(MalformedInputError):
    """Standard output cannot be written (ENOSPC, EIO, ...): exit status 2, message on stderr."""

    usage = False
