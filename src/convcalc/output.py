"""Where results meet the terminal: the output format, one writer for stdout, error lines.

No typer and no rich at import (rich is imported only to draw a table), so the start-up fast
path of ``convcalc shape`` (``entry.py``) shares every line of it with the typer commands.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, assert_never

from convcalc.boundary import display_block
from convcalc.errors import MalformedInputError, OutputError
from convcalc.options import Format
from convcalc.serialize import dumps, error_dict


def wants_json(argv: list[str]) -> bool:
    """Whether a command line asked for JSON (for errors raised before its options are read)."""
    return "--json" in argv or any(
        a == "--format=json" or (a == "--format" and b == "json")
        for a, b in zip(argv, argv[1:] + [""])
    )


def _silence_stdout() -> None:
    """The reader closed the pipe (``| head -1``): it has what it wanted. Send the rest of the
    output to /dev/null so that neither this write nor the flush at exit fails; the exit status
    stays the command's own."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def write(text: str, newline: bool = True) -> None:
    """Everything convcalc prints on stdout goes through here: a closed pipe ends the output
    quietly, a failing device (``> /dev/full``) is a one-line error with exit status 2."""
    if sys.stdout is None:  # started with stdout closed (`>&-`)
        raise OutputError("cannot write the output: standard output is closed")
    try:
        sys.stdout.write(text + ("\n" if newline else ""))
        sys.stdout.flush()
    except UnicodeEncodeError:  # a lone surrogate from a file's name: written replaced
        sys.stdout.write((text + ("\n" if newline else "")).encode("utf-8", "replace").decode())
        sys.stdout.flush()
    except BrokenPipeError:
        _silence_stdout()
    except OSError as error:
        _silence_stdout()
        raise OutputError(f"cannot write the output: {error.strerror or error}") from None


@contextmanager
def to_file(path: str | None, inputs: list[str] = []) -> Iterator[None]:  # noqa: B006 - read only
    """``-o FILE``: everything written inside goes to FILE instead of standard output, atomically:
    written beside FILE and renamed over it when the command succeeds, so that a failed run
    leaves FILE as it was. ``-o`` onto one of the command's own inputs is refused; a target that
    is not a regular file (``/dev/null``, a FIFO) is written directly."""
    if path is None:
        yield
        return
    import stat
    import tempfile

    from convcalc.boundary import display

    shown = display(path)
    for source in inputs:
        try:
            same = os.path.samefile(source, path)
        except OSError:
            same = False
        if same:
            raise OutputError(f"-o: {shown} is an input of this command; write to another file")
    try:
        existing = os.stat(path)
    except FileNotFoundError:
        existing = None
    except OSError as error:
        raise OutputError(f"-o: cannot write {shown}: {error.strerror or error}") from None
    direct = existing is not None and not stat.S_ISREG(existing.st_mode)
    folder = os.path.dirname(os.path.abspath(path))
    try:
        if direct:
            handle = open(path, "w", encoding="utf-8")  # noqa: SIM115 - closed below
            temporary = None
        else:
            fd, temporary = tempfile.mkstemp(
                prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=folder
            )
            handle = os.fdopen(fd, "w", encoding="utf-8")
    except OSError as error:
        raise OutputError(f"-o: cannot write {shown}: {error.strerror or error}") from None
    saved = sys.stdout
    sys.stdout = handle
    done = False
    try:
        yield
        done = True
    finally:
        sys.stdout = saved
        try:
            handle.close()
        except OSError as error:
            done = False
            if sys.exc_info()[0] is None:
                _discard(temporary)
                raise OutputError(f"-o: cannot write {shown}: {error.strerror}") from None
        if temporary is not None:
            if done:
                try:
                    if existing is not None:
                        os.chmod(temporary, stat.S_IMODE(existing.st_mode))
                    else:
                        umask = os.umask(0)
                        os.umask(umask)
                        os.chmod(temporary, 0o666 & ~umask)
                    os.replace(temporary, path)
                except OSError as error:
                    _discard(temporary)
                    raise OutputError(f"-o: cannot write {shown}: {error.strerror}") from None
            else:
                _discard(temporary)


def _discard(temporary: str | None) -> None:
    if temporary is not None:
        try:
            os.unlink(temporary)
        except OSError:
            pass


def write_rich(printer: Callable[..., None], *args: Any) -> None:
    """Draw with a rich printer (render.py) into a string, then write it."""
    from convcalc.render import render_text

    write(render_text(printer, *args), newline=False)


def piped_width() -> int | None:
    """The width rich would draw a table at on standard output where rich would style nothing
    there: not a terminal by rich's rules (TTY_COMPATIBLE, then FORCE_COLOR, then isatty); the
    width from COLUMNS, else the first of stdin, stdout and stderr that is a terminal, else 80.
    None where the output would be styled, or on Windows or in Jupyter (rich decides there)."""
    import builtins

    if sys.platform == "win32" or hasattr(builtins, "get_ipython"):
        return None
    if getattr(sys.stdin, "__module__", "").startswith("idlelib"):
        return None
    compatible = os.environ.get("TTY_COMPATIBLE", "")
    force = os.environ.get("FORCE_COLOR")
    if compatible == "1" or (compatible != "0" and force is not None and force != ""):
        return None
    if compatible != "0" and force is None:
        try:
            if sys.stdout.isatty():
                return None
        except (AttributeError, ValueError, OSError):
            return None
    columns = os.environ.get("COLUMNS")
    if columns is not None and columns.isdigit():
        width = int(columns)
    else:
        width = 0
        for descriptor in (0, 1, 2):
            try:
                width = os.get_terminal_size(descriptor).columns
            except (AttributeError, ValueError, OSError):
                continue
            break
        width = width or 80
    return width if width >= 1 else None


def emit(
    chosen: Format,
    result: Any,
    *,
    json: Callable[[Any], Any],
    plain: Callable[[Any], str],
    table: Callable[..., None],
    piped_table: Callable[[Any, int], str | None] | None = None,
    markdown: Callable[[Any], str] | None = None,
    csv: Callable[[Any], str] | None = None,
) -> None:
    """The one place a result meets its format: each argument turns the result into one
    (``json`` returns data for ``dumps``, or JSON text it wrote itself). ``piped_table``, where
    given, draws the table's characters without rich for output rich would not style (or
    answers None: rich draws it)."""
    match chosen:
        case Format.JSON:
            data = json(result)
            write(data if isinstance(data, str) else dumps(data, compact=_large(data)))
        case Format.PLAIN:
            write(display_block(plain(result)))
        case Format.MARKDOWN:
            assert markdown is not None
            write(display_block(markdown(result)))
        case Format.CSV:
            assert csv is not None
            write(display_block(csv(result)), newline=False)
        case Format.TOML | Format.TORCH | Format.SVG | Format.HTML:
            raise MalformedInputError(f"--format {chosen.value}: written by its command")
        case Format.TABLE:
            width = piped_width() if piped_table is not None else None
            text = piped_table(result, width) if piped_table and width is not None else None
            if text is not None:
                write(display_block(text), newline=False)
            else:
                write_rich(table, result)
        case _:
            assert_never(chosen)


# JSON with a list longer than this (the layers of a 100,000-node model) is written on one line
# by the C encoder: the indenting encoder takes seconds per 10,000 layers.
LARGE_JSON_ITEMS = 5_000


def _large(data: Any) -> bool:
    return isinstance(data, dict) and any(
        isinstance(value, list) and len(value) > LARGE_JSON_ITEMS for value in data.values()
    )


def write_json_streaming(data: dict[str, Any], streams: Mapping[str, Iterable[Any]]) -> None:
    """One JSON object (on one line, as ``dumps(compact=True)`` writes it) whose keys in
    ``streams`` are lists written item by item as they are yielded, in chunks: memory stays
    bounded however long the lists (a 300x300 trace has 88,804 steps and 88 MB of JSON)."""
    import itertools
    import json

    from convcalc.boundary import quoted_escapes

    markers = {key: f"\x00convcalc-stream-{number}\x00" for number, key in enumerate(streams)}
    text = dumps(data | markers, compact=True)
    for key, items in streams.items():
        before, text = text.split(dumps(markers[key], compact=True))
        write(before + "[", newline=False)
        iterator = iter(items)
        separator = ""
        while chunk := list(itertools.islice(iterator, 2_000)):
            part = json.dumps(chunk, ensure_ascii=False, separators=(",", ":"))[1:-1]
            write(separator + quoted_escapes(part), newline=False)
            separator = ","
        write("]", newline=False)
    write(text)


def with_flag(message: str) -> str:
    """The core names parameters (``kernel_size: ...``); the CLI adds the flag that sets it
    (``kernel_size (--k): ...``)."""
    import re

    from convcalc.ops import FLAGS, Param

    match = re.match(r"(\w+): ", message)
    if match is None:
        return message
    try:
        flag = FLAGS[Param(match.group(1))]
    except (ValueError, KeyError):
        return message
    return f"{match.group(1)} ({flag}):{message[match.end() - 1 :]}"


def report_error(
    message: str, code: int, as_json: bool, usage: str = "", to_stderr: bool = False
) -> None:
    """A one-line error: on stdout as JSON with --json (a script reads one stream), else on
    stderr after the usage lines of a malformed command line. ``to_stderr`` for output errors
    (stdout is what failed)."""
    from convcalc.boundary import display

    message = display(with_flag(message))
    if as_json and not to_stderr:
        try:
            write(dumps(error_dict(message, code)))
            return
        except OutputError:
            pass
    try:
        red = sys.stderr.isatty() and "NO_COLOR" not in os.environ
        prefix = "\x1b[1;31mError: \x1b[0m" if red else "Error: "
        sys.stderr.write(usage + prefix + message + "\n")
        sys.stderr.flush()
    except (OSError, ValueError, AttributeError):  # stderr closed: the exit status says it
        pass


@contextmanager
def progress_on_stderr(label: str) -> Iterator[Callable[[int, int], None] | None]:
    """A one-line progress count on stderr for long work in a terminal (nothing in a pipe)."""
    if not sys.stderr.isatty():
        yield None
        return
    shown = False

    def report(done: int, total: int) -> None:
        nonlocal shown
        shown = True
        sys.stderr.write(f"\r{label}: {done:,}/{total:,}")
        sys.stderr.flush()

    try:
        yield report
    finally:
        if shown:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()


def report_bug(error: BaseException) -> int:
    """An internal error: one line, exit status 3 (the traceback with CONVCALC_DEBUG=1)."""
    if os.environ.get("CONVCALC_DEBUG"):
        raise error
    from convcalc.boundary import display

    try:
        sys.stderr.write(
            f"Error: internal error ({type(error).__name__}: {display(str(error))[:300]}); please "
            "report it with the command line (set CONVCALC_DEBUG=1 for the traceback)\n"
        )
        sys.stderr.flush()
    except (OSError, ValueError, AttributeError):
        pass
    return 3
