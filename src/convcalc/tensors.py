"""Small exact tensors from the command line: parsing, generators and layouts.

Values are Python ints where they are whole numbers and ``fractions.Fraction`` otherwise (a decimal
such as ``0.1`` is read exactly), held in numpy object arrays so that every product and sum stays
exact.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from fractions import Fraction
from pathlib import Path
from typing import Any, Union

import numpy as np

from convcalc.errors import MalformedInputError

Number = Union[int, Fraction]

_NUMBER = re.compile(r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$|^[+-]?[0-9]+/[0-9]+$")

# Caps on what a trace reads, checked before the data is built (documented in the README):
# a tensor holds at most MAX_ELEMENTS numbers; text read from a file or stdin is at most
# MAX_TEXT_BYTES; a number has at most MAX_NUMBER_CHARS characters and an exponent of at most
# MAX_EXPONENT (1e999999999 would be an exact integer with a billion digits).
MAX_ELEMENTS = 10**6
MAX_TEXT_BYTES = 16 * 2**20
MAX_NUMBER_CHARS = 100
MAX_EXPONENT = 100
MAX_DIMS = 8  # dimensions of one tensor (a 3-d layer's data has 5: N, C, D, H, W)


def exact_number(value: Any, name: str) -> Number:
    """An int or Fraction from a string, int or float (floats via their exact decimal text).

    >>> exact_number("0.5", "x"), exact_number("3", "x"), exact_number("-2/6", "x")
    (Fraction(1, 2), 3, Fraction(-1, 3))
    """
    if isinstance(value, bool):
        raise MalformedInputError(f"{name}: {value!r} is not a number")
    if isinstance(value, int):
        return value
    if isinstance(value, Fraction):
        return normalise(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise MalformedInputError(f"{name}: {value!r} is not a finite number")
        return normalise(Fraction(repr(value)))
    text = str(value).strip()
    if not _NUMBER.match(text):
        raise MalformedInputError(f"{name}: {text[:40]!r} is not a number")
    if len(text) > MAX_NUMBER_CHARS:
        raise MalformedInputError(
            f"{name}: a number of {len(text)} characters is out of range "
            f"(at most {MAX_NUMBER_CHARS})"
        )
    exponent = text.lower().partition("e")[2]
    if exponent and abs(int(exponent)) > MAX_EXPONENT:
        raise MalformedInputError(
            f"{name}: {text!r} is out of range (exponents up to ±{MAX_EXPONENT})"
        )
    try:
        return normalise(Fraction(text))
    except ZeroDivisionError:
        raise MalformedInputError(f"{name}: {text!r} divides by zero") from None


def normalise(value: Fraction) -> Number:
    """A whole Fraction becomes an int."""
    return int(value) if value.denominator == 1 else value


def generate(text: str, name: str) -> np.ndarray | None:
    """``arange:5x5`` (1..25 row-major, the textbook example), ``ones:3x3``, ``zeros:2x2``,
    ``eye:3``, ``full:2x2:7``; None when ``text`` is not a generator.

    >>> generate("arange:2x3", "x").tolist()
    [[1, 2, 3], [4, 5, 6]]
    """
    match = re.fullmatch(r"\s*(arange|ones|zeros|eye|full)\s*:([^:]*)(?::(.*))?", text)
    if not match:
        return None
    kind, dims_text, fill = match.groups()
    from convcalc.specs import parse_size_list

    try:
        dims = parse_size_list(dims_text, name, minimum=1)
    except MalformedInputError:
        raise MalformedInputError(
            f"{name}: {text!r} needs positive sizes such as {kind}:5x5"
        ) from None
    check_elements(math.prod(dims), name, text)
    flat: list[Number]
    if kind == "arange":
        flat = list(range(1, math.prod(dims) + 1))
    elif kind == "eye":
        if len(dims) != 1:
            raise MalformedInputError(f"{name}: eye takes one size, e.g. eye:3")
        return as_exact([[int(i == j) for j in range(dims[0])] for i in range(dims[0])], name)
    elif kind == "full":
        value = exact_number(fill, name) if fill else None
        if value is None:
            raise MalformedInputError(f"{name}: full needs a value, e.g. full:2x2:7")
        flat = [value] * math.prod(dims)
    else:
        flat = [1 if kind == "ones" else 0] * math.prod(dims)
    array = np.empty(len(flat), dtype=object)
    array[:] = flat
    return array.reshape(dims)


def check_elements(count: int, name: str, source: str) -> None:
    """Refuse a tensor of more than MAX_ELEMENTS numbers before building it."""
    if count > MAX_ELEMENTS:
        raise MalformedInputError(
            f"{name}: {source[:60]} has {count:,} elements; a trace reads at most "
            f"{MAX_ELEMENTS:,} per tensor (--at and --max-steps choose what is shown, not what "
            "is read; `convcalc shape` takes any size)"
        )


def parse_inline(text: str, name: str) -> np.ndarray:
    """``1,2;3,4`` (rows split by ``;``, entries by ``,`` or spaces); no ``;`` is a 1-d row.

    >>> parse_inline("1,2;3,4", "x").tolist()
    [[1, 2], [3, 4]]
    """
    rows = [row for row in text.strip().strip(";").split(";")]
    parsed = [
        [exact_number(v, name) for v in re.split(r"[,\s]+", row.strip()) if v] for row in rows
    ]
    if any(not row for row in parsed):
        raise MalformedInputError(f"{name}: empty row in {text!r}")
    if ";" not in text:
        return as_exact(parsed[0], name)
    return as_exact(parsed, name)


def as_exact(nested: Any, name: str) -> np.ndarray:
    """A nested list (or numpy array) as an object array of exact numbers; ragged data is an
    error naming where it breaks."""
    shape = _shape_of(nested, name, ())
    if len(shape) > MAX_DIMS:
        raise MalformedInputError(
            f"{name}: data of {len(shape)} dimensions; a trace reads at most {MAX_DIMS} "
            "(N, C and up to 3 spatial)"
        )
    check_elements(math.prod(shape), name, "the data")
    array = np.empty(shape, dtype=object)
    flat = list(_flatten(nested))
    if not flat:
        raise MalformedInputError(f"{name}: no values")
    array.reshape(-1)[:] = [exact_number(v, name) for v in flat]
    return array


def _shape_of(nested: Any, name: str, where: tuple[int, ...]) -> tuple[int, ...]:
    if isinstance(nested, np.ndarray):
        return tuple(nested.shape)
    if not isinstance(nested, (list, tuple)):
        return ()
    if not nested:
        raise MalformedInputError(f"{name}: empty list at {list(where) or 'top level'}")
    shapes = [_shape_of(item, name, (*where, i)) for i, item in enumerate(nested)]
    if any(s != shapes[0] for s in shapes):
        bad = next(i for i, s in enumerate(shapes) if s != shapes[0])
        raise MalformedInputError(
            f"{name}: ragged data: element {list((*where, bad))} has shape {list(shapes[bad])}, "
            f"element {list((*where, 0))} has {list(shapes[0])}"
        )
    return (len(nested), *shapes[0])


def _flatten(nested: Any) -> Any:
    if isinstance(nested, np.ndarray):
        yield from nested.reshape(-1).tolist()
    elif isinstance(nested, (list, tuple)):
        for item in nested:
            yield from _flatten(item)
    else:
        yield nested


def load_tensor(text: str, name: str) -> np.ndarray:
    """Parse ``--x``/``--w``/``--b``: inline, JSON, ``@file`` (.json, .csv, .npy), ``-`` (stdin
    JSON) or a generator."""
    text = text.strip()
    if not text:
        raise MalformedInputError(f"{name}: empty")
    generated = generate(text, name)
    if generated is not None:
        return generated
    if text == "-" or text.startswith("@"):
        from convcalc.boundary import file_content

        with file_content():  # the file's content, not the command line
            return _from_stream(text, name)
    if text.startswith("["):
        return _from_json(text, name)
    return parse_inline(text, name)


def _from_stream(text: str, name: str) -> np.ndarray:
    """Data from standard input (``-``, JSON, read once) or a file (``@FILE``: .json, .csv,
    .npy), each within MAX_TEXT_BYTES."""
    if text == "-":
        from convcalc.boundary import decode, read_stdin

        content = decode(read_stdin(name, MAX_TEXT_BYTES), name, "standard input")
        if not content.strip():
            raise MalformedInputError(f"{name}: standard input is empty")
        return _from_json(content, name)
    return _from_file(Path(text[1:]), name)


def _json_number(name: str) -> Any:
    def parse(text: str) -> Number:
        return exact_number(text, name)

    return parse


def _from_json(text: str, name: str) -> np.ndarray:
    from convcalc.boundary import check_nesting

    check_nesting(text, name, 2 * MAX_DIMS)
    try:
        data = json.loads(
            text,
            parse_float=_json_number(name),
            parse_int=_json_number(name),
            parse_constant=_bad_constant(name),
        )
    except json.JSONDecodeError as error:
        raise MalformedInputError(f"{name}: not valid JSON ({error})") from None
    except RecursionError:
        raise MalformedInputError(f"{name}: JSON nested too deeply") from None
    if not isinstance(data, list):
        data = [data]
    return as_exact(data, name)


def _bad_constant(name: str) -> Any:
    def parse(text: str) -> Number:
        raise MalformedInputError(f"{name}: {text} is not a finite number")

    return parse


def _from_file(path: Path, name: str) -> np.ndarray:
    from convcalc.boundary import check_file, decode, display, read_bytes

    shown = display(str(path))
    if path.suffix == ".npy":
        check_file(str(path), name, 2**31)  # a regular file (not a FIFO) before numpy maps it
        try:
            # memory-mapped: the shape is checked before a single value is read
            array = np.load(path, allow_pickle=False, mmap_mode="r")
        except (ValueError, OSError, EOFError, TypeError) as error:
            reason = (
                "it holds Python objects, never unpickled"
                if "pickle" in str(error)
                else (display(str(error))[:120])
            )
            raise MalformedInputError(
                f"{name}: {shown} is not a .npy array of numbers ({reason})"
            ) from None
        if not isinstance(array, np.ndarray):
            raise MalformedInputError(f"{name}: {shown} is not a .npy array of numbers")
        check_elements(array.size, name, f"@{path}")
        if len(array.shape) > MAX_DIMS:
            raise MalformedInputError(f"{name}: {shown} has {len(array.shape)} dimensions")
        if array.dtype.kind not in "iuf" or not np.all(np.isfinite(array)):
            raise MalformedInputError(f"{name}: {shown} does not hold finite numbers")
        return as_exact(np.asarray(array).tolist(), name)
    content = decode(read_bytes(str(path), name, MAX_TEXT_BYTES), name, str(path))
    if path.suffix == ".csv":
        rows = [[cell for cell in row if cell.strip()] for row in csv.reader(io.StringIO(content))]
        rows = [row for row in rows if row]
        if not rows:
            raise MalformedInputError(f"{name}: {path} is empty")
        return as_exact(rows if len(rows) > 1 else rows[0], name)
    return _from_json(content, name)


def to_plain(value: Any) -> Any:
    """Exact numbers to JSON numbers: ints stay ints, fractions become floats (hot path of a
    large trace's JSON: exact type checks first)."""
    kind = type(value)
    if kind is int:
        return value
    if kind is Fraction:
        return float(value)
    if kind is np.ndarray:
        return [to_plain(v) for v in value.tolist()]
    if kind is list or kind is tuple:
        return [to_plain(v) for v in value]
    if kind is float:
        return value if math.isfinite(value) else None  # JSON has no -Infinity (empty max)
    if isinstance(value, np.generic):
        return to_plain(value.item())
    return value


def number_text(value: Any) -> str:
    """``3``, ``41/9``; a negative number in parentheses is the caller's business."""
    if isinstance(value, Fraction):
        return f"{value.numerator}/{value.denominator}"
    if isinstance(value, float):
        return "-inf" if value == float("-inf") else repr(value)
    return str(value)


def pad(array: np.ndarray, widths: Any, value: Any = 0) -> np.ndarray:
    """``np.pad`` for exact object arrays: the fill is the Python object itself (np.pad would
    write numpy scalars, whose int64 arithmetic can overflow).

    >>> type(pad(as_exact([1, 2], "x"), [(1, 1)])[0])
    <class 'int'>
    """
    widths = [tuple(w) for w in widths]
    shape = tuple(n + a + z for n, (a, z) in zip(array.shape, widths))
    out = np.empty(shape, dtype=object)
    out.fill(value)
    out[tuple(slice(a, a + n) for n, (a, _) in zip(array.shape, widths))] = array
    return out
