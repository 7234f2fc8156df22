"""Where input from outside enters convcalc and where names from it leave: every file, stream and
name is hostile until checked (issue 16). Standard library only; no typer, rich or numpy.

In:
- ``read_bytes`` / ``read_text``: a file read with a byte budget, only if it is a regular file
  (a FIFO would hang, a device such as /dev/zero never ends); ``-`` reads standard input once,
  with the same budget.
- ``load_json``: JSON with a depth budget, integers of at most ``MAX_DIGITS`` digits and no
  NaN/Infinity (numbers from files obey the command line's grammar and limits).
- ``check_nesting``: the bracket depth of any text before a recursive parser sees it.
- ``guarded``: a reader's boundary; a reader that trips over input it did not check (a wrong
  type, a missing key) reports it as malformed input naming the file, never as a bug.

Out:
- ``display``: a name from input made safe to show on a terminal (control characters, ESC,
  newlines and bidi overrides shown escaped).
- ``xml_text``: text an SVG or HTML document may carry (what XML forbids dropped).

Every budget is listed in the README's "Limits".
"""

from __future__ import annotations

import json
import os
import re
import stat
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from convcalc.errors import ConvcalcError, InputError, MalformedInputError

# --- budgets (README: Limits) -------------------------------------------------------------------

MAX_SPEC_BYTES = 64 * 2**20  # a TOML spec, Keras JSON, printed model, or standard input
MAX_MODEL_BYTES = 2 * 2**30  # an ONNX file (protobuf's own limit)
MAX_MEMBER_BYTES = 64 * 2**20  # the config.json of a .keras archive, as declared and as read
MAX_DEPTH = 100  # nesting of brackets in JSON, TOML, printed arguments, trace data
MAX_LAYERS = 100_000  # layers of a spec, nodes of an ONNX graph, modules of a printed model
MAX_DIGITS = 60  # an integer in a file, like one on the command line
MAX_SWEEP_WORK = 200_000  # input sizes x layers evaluated by one `net --in C,LO..HI`
MAX_CONSTANT_ELEMENTS = 10**7
MAX_SOLVE_COMBINATIONS = 2_000_000  # (kernel, stride, dilation, padding) tried by one `solve`


class _Stdin:
    """Standard input is read at most once, whoever asks (per stream: a test harness that swaps
    sys.stdin gets its new stream read)."""

    stream: object = None
    text: bytes = b""


def read_bytes(path: str, what: str, limit: int = MAX_SPEC_BYTES) -> bytes:
    """The bytes of ``path`` (``-``: standard input), refusing what is not a regular file and
    anything over ``limit`` bytes, before reading it."""
    if path == "-":
        return read_stdin(what, limit)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise InputError(f"{what}: no such file: {display(path)}") from None
    except (OSError, ValueError) as error:
        raise InputError(f"{what}: cannot read {display(path)}: {error}") from None
    try:
        info = os.fstat(fd)
        check_regular(info, path, what, limit)
        chunks = []
        remaining = limit + 1
        # one read of the whole file where its size is known (a 100 MB model read in 1 MB
        # chunks and joined cost two copies); then chunks, for a file still growing
        size = min(remaining, info.st_size + 1)
        while remaining > 0:
            chunk = os.read(fd, size)
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
            size = min(remaining, 2**20)
        data = b"".join(chunks)
    except OSError as error:
        raise InputError(f"{what}: cannot read {display(path)}: {error.strerror}") from None
    finally:
        os.close(fd)
    if len(data) > limit:
        raise InputError(f"{what}: {display(path)} grew past {limit:,} bytes while read")
    return data


def check_file(path: str, what: str, limit: int) -> None:
    """A regular file of at most ``limit`` bytes, checked before it is opened (for readers that
    open it themselves: zipfile, numpy's memory map)."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise InputError(f"{what}: no such file: {display(path)}") from None
    except (OSError, ValueError) as error:
        raise InputError(f"{what}: cannot read {display(path)}: {error}") from None
    check_regular(info, path, what, limit)


def check_regular(info: os.stat_result, path: str, what: str, limit: int) -> None:
    """Refuse a directory, a FIFO, a device or socket, and a file over ``limit`` bytes."""
    if stat.S_ISDIR(info.st_mode):
        raise InputError(f"{what}: {display(path)} is a directory, not a file")
    if not stat.S_ISREG(info.st_mode):
        raise InputError(
            f"{what}: {display(path)} is not a regular file (a device, FIFO or socket); "
            "convcalc reads files, or standard input with -"
        )
    if info.st_size > limit:
        raise InputError(
            f"{what}: {display(path)} has {info.st_size:,} bytes; convcalc reads at most "
            f"{limit:,} (see Limits in the README)"
        )


def read_stdin(what: str, limit: int = MAX_SPEC_BYTES) -> bytes:
    """Standard input, read once with a budget (a second reader in the same run gets the same
    bytes, never an exhausted stream)."""
    if _Stdin.stream is not None and _Stdin.stream is sys.stdin:
        return _Stdin.text
    stream = getattr(sys.stdin, "buffer", None)
    if sys.stdin is None or stream is None:
        raise InputError(f"{what}: - reads standard input, but standard input is closed")
    try:
        data = stream.read(limit + 1)
    except (OSError, ValueError) as error:
        raise InputError(f"{what}: cannot read standard input ({error})") from None
    if data is None:
        raise InputError(f"{what}: standard input is not ready (non-blocking)")
    if len(data) > limit:
        raise InputError(
            f"{what}: standard input is over {limit:,} bytes; convcalc reads at most {limit:,} "
            "(see Limits in the README)"
        )
    _Stdin.stream, _Stdin.text = sys.stdin, bytes(data)
    return _Stdin.text


def read_text(path: str, what: str, limit: int = MAX_SPEC_BYTES) -> str:
    """``read_bytes`` decoded as UTF-8 (a leading BOM dropped)."""
    return decode(read_bytes(path, what, limit), what, "standard input" if path == "-" else path)


def decode(data: bytes, what: str, source: str) -> str:
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as error:
        raise InputError(
            f"{what}: {display(source)} is not a UTF-8 text file (byte {error.start}: "
            f"{data[error.start : error.start + 1]!r})"
        ) from None


# --- structure -----------------------------------------------------------------------------------

_OPEN = re.compile(r"[\[{(]")
_BRACKET = re.compile(r"[\[\]{}()]")


def check_nesting(text: str, source: str, limit: int = MAX_DEPTH) -> None:
    """Refuse text whose brackets nest deeper than ``limit`` (strings are not told apart: a
    bracket inside a quoted name counts too, which only errs on the safe side)."""
    if len(_OPEN.findall(text)) <= limit:
        return
    depth = 0
    deepest = 0
    for match in _BRACKET.finditer(text):
        char = match.group()
        if char in "[{(":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    raise InputError(
                        f"{display(source)}: brackets nest more than {limit} deep; convcalc "
                        f"reads at most {limit} levels (see Limits in the README)"
                    )
        elif char in "]})":
            depth = max(depth - 1, 0)


def check_layer_count(count: int, source: str) -> None:
    """Refuse a network of more than MAX_LAYERS layers before any is planned."""
    if count > MAX_LAYERS:
        raise InputError(
            f"{display(source)}: {count:,} layers; convcalc reads at most {MAX_LAYERS:,} "
            "(see Limits in the README)"
        )


def check_numbers(data: Any, source: str) -> None:
    """Every number in parsed data (TOML, JSON) within the command line's limits: integers of at
    most MAX_DIGITS digits, floats finite."""
    import math

    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, bool):
            continue
        elif isinstance(item, int) and abs(item) >= 10**MAX_DIGITS:
            raise InputError(
                f"{display(source)}: an integer of more than {MAX_DIGITS} digits; at most "
                f"{MAX_DIGITS} (see Limits in the README)"
            )
        elif isinstance(item, float) and not math.isfinite(item):
            raise InputError(f"{display(source)}: {item!r} is not a finite number")


def checked_int_text(text: str, where: str) -> int:
    """An integer literal from a file: at most MAX_DIGITS digits."""
    digits = text.lstrip("+-")
    if len(digits) > MAX_DIGITS:
        raise InputError(
            f"{where}: an integer of {len(digits)} digits; at most {MAX_DIGITS} (see Limits)"
        )
    return int(text)


def load_json(text: str, source: str) -> Any:
    """JSON from a file or stream, within the depth and number budgets."""
    check_nesting(text, source)

    def no_constant(name: str) -> Any:
        raise InputError(f"{display(source)}: {name} is not a number convcalc reads")

    def finite(number: str) -> float:
        value = float(number)
        if value in (float("inf"), float("-inf")):
            raise InputError(f"{display(source)}: {number[:40]} is out of range")
        return value

    try:
        return json.loads(
            text,
            parse_int=lambda t: checked_int_text(t, display(source)),
            parse_float=finite,
            parse_constant=no_constant,
        )
    except json.JSONDecodeError as error:
        raise InputError(f"{display(source)} is not valid JSON ({error})") from None
    except RecursionError:
        raise InputError(f"{display(source)}: nested too deep") from None


@contextmanager
def guarded(source: str, where: Callable[[], str] | None = None) -> Iterator[None]:
    """A reader's boundary: an error of convcalc passes; a Python error raised by input the reader
    did not check (a missing key, a value of the wrong type, a number out of range) becomes
    malformed input naming the file and, where known, the place inside it."""
    try:
        yield
    except ConvcalcError:
        raise
    except (
        LookupError,  # KeyError, IndexError
        TypeError,
        ValueError,
        AttributeError,
        ArithmeticError,  # ZeroDivisionError, OverflowError
        RecursionError,
        MemoryError,
        EOFError,
        OSError,
    ) as error:
        place = where() if where is not None else ""
        raise InputError(
            f"{display(source)}: {place + ': ' if place else ''}cannot read it ({_describe(error)})"
        ) from None


@contextmanager
def file_content(source: str | None = None) -> Iterator[None]:
    """Malformed input raised while reading a file's or a stream's content is that file's
    (``InputError``: one line, without the command line's usage lines), named by ``source``."""
    try:
        yield
    except InputError:
        raise
    except MalformedInputError as error:
        raise InputError(f"{display(source)}: {error}" if source else str(error)) from None


def _describe(error: BaseException) -> str:
    match error:
        case KeyError():
            return f"missing key {display(str(error.args[0]) if error.args else '')!r}"
        case RecursionError():
            return "nested too deep"
        case MemoryError():
            return "too large"
        case _:
            text = display(str(error))[:200]
            return f"{type(error).__name__}: {text}" if text else type(error).__name__


# --- out -----------------------------------------------------------------------------------------

# What a terminal acts on, or UTF-8 cannot carry, besides the C0 controls: DEL and the C1 controls,
# bidi marks, embeddings, overrides and isolates, line and paragraph separators, lone surrogates.
_BEYOND_C0 = "\x7f-\x9f\u200e\u200f\u061c\u202a-\u202e\u2066-\u2069\u2028\u2029\ud800-\udfff"
_UNSAFE = re.compile(f"[\x00-\x1f{_BEYOND_C0}]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\x1b": "\\e"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def display(text: str) -> str:
    """``text`` safe to show on a terminal in one line: control characters (ESC, BEL, newline,
    carriage return), DEL, C1 controls and bidi overrides shown as escapes.

    >>> display("a\\x1b]0;title\\x07b\\nError: x")
    'a\\\\e]0;title\\\\x07b\\\\nError: x'
    """
    return _UNSAFE.sub(_escape, text)


def display_block(text: str) -> str:
    """A block of text (a table, a report) safe for a terminal: as ``display`` but newlines and
    tabs kept, since the block's own lines are made by convcalc."""
    return _UNSAFE.sub(lambda m: m.group() if m.group() in "\n\t" else _escape(m), text)


_NOT_SGR = re.compile(f"\x1b(?!\\[[0-9;]*m)|[\x00-\x08\x0b-\x1a\x1c-\x1f{_BEYOND_C0}]")
_QUOTED_UNSAFE = re.compile(f"[{_BEYOND_C0}]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def display_terminal(text: str) -> str:
    """A block drawn for a terminal by convcalc's own styling (colour codes, SGR only): every
    other escape sequence or control character shown escaped."""
    return _NOT_SGR.sub(_escape, text)


_XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def xml_text(text: str) -> str:
    """Text an XML document may hold: the characters XML 1.0 forbids dropped, bidi controls
    shown escaped (markup escaping stays the caller's: html.escape)."""
    return display(_XML_FORBIDDEN.sub("", text))


def quoted_escapes(text: str) -> str:
    """JSON or TOML text whose C0 controls its encoder escaped already: DEL, C1 controls, bidi
    and separator characters escaped too (``\\u202e``); they stand only inside strings."""
    return _QUOTED_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def scalar_text(text: str) -> str:
    """Text with every lone surrogate (no Unicode scalar value: TOML, UTF-8 and Python source
    cannot carry one) replaced by U+FFFD."""
    return _SURROGATE.sub("\ufffd", text)
