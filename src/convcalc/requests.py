"""Each command's request, typed: what the command line asked for, parsed once at the edge (the
output format chosen, the layer options read into ``LayerArgs``) and handed whole to the command
(``commands.run``). The flags are named only in ``options.py`` and here, where the values read
from them become fields; the core takes these typed values, never option dictionaries.

Standard library only (a shape query builds its request before anything heavy is imported);
immutable NamedTuples, which are cheaper to define at start-up than dataclasses.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any, NamedTuple

from convcalc.errors import MalformedInputError
from convcalc.memory import Dtype, Optimizer
from convcalc.options import DIFF_FORMATS, NET_FORMATS, SETTING_PREFIX, SHAPE_FORMATS, Format
from convcalc.specs import LayerArgs, ViewName, parse_padding, parse_size_list


class Command(enum.StrEnum):
    SHAPE = "shape"
    TRACE = "trace"
    NET = "net"
    DIFF = "diff"
    SOLVE = "solve"
    INVERT = "invert"
    COMPARE = "compare"


class ShapeRequest(NamedTuple):
    op: str
    input_size: str | None  # one size, or a range a..b[:step] (solve.parse_range reads it)
    layer: LayerArgs
    batch: int | None
    convention: str
    fmt: Format
    frame: str | None


class TraceRequest(NamedTuple):
    op: str
    x: str  # the data as given: inline, a generator, or @FILE (tensors.load_tensor reads it)
    w: str | None
    b: str | None
    grad_out: str | None
    layer: LayerArgs
    convention: str
    view: ViewName
    at: str | None
    max_steps: int | None
    fmt: Format
    frame: str | None


class NetRequest(NamedTuple):
    spec: str
    input_size: str | None
    batch: int | None
    near: int | None
    dtype: Dtype
    optimizer: Optimizer
    check: bool
    fmt: Format


class DiffRequest(NamedTuple):
    a: str
    b: str
    input_size: str | None
    batch: int | None
    dtype: Dtype
    optimizer: Optimizer
    fail_on: tuple[str, ...]
    fmt: Format


class SolveRequest(NamedTuple):
    op: str
    input_size: str
    output_size: str
    kernel: int | None
    stride: int | None
    padding: int | None
    dilation: int | None
    output_padding: int | None
    ceil: bool
    k_max: int
    s_max: int
    d_max: int
    p_max: int | None
    limit: int
    fmt: Format


class InvertRequest(NamedTuple):
    op: str
    input_size: str
    layer: LayerArgs
    fmt: Format


class CompareRequest(NamedTuple):
    op: str
    input_size: str
    layer: LayerArgs
    fmt: Format


Request = (
    ShapeRequest
    | TraceRequest
    | NetRequest
    | DiffRequest
    | SolveRequest
    | InvertRequest
    | CompareRequest
)


def inputs(request: Request) -> list[str]:
    """The files a request reads (``-o`` may not name one of them)."""
    paths: list[str] = []
    match request:
        case NetRequest(spec=spec):
            paths += [spec] if spec != "-" else []
        case DiffRequest(a=a, b=b):
            paths += [side for side in (a, b) if side != "-"]
        case TraceRequest(x=x, w=w, b=b, grad_out=grad_out):
            paths += [v[1:] for v in (x, w, b, grad_out) if v is not None and v.startswith("@")]
        case ShapeRequest() | SolveRequest() | InvertRequest() | CompareRequest():
            pass
    return paths


def build(command: Command, values: Mapping[str, Any]) -> Request:
    """The typed request of a command from the values its options were read into (typer's, or
    ``options.parse_fast``'s): the one place those values are taken apart."""
    v = dict(values)
    match command:
        case Command.SHAPE:
            fmt = _format(v, (*SHAPE_FORMATS, Format.SVG))
            return ShapeRequest(
                v["op"],
                v["input_size"],
                layer_args(v, groups=v["groups"], cin=v["cin"], cout=v["cout"]),
                v["batch"],
                v["convention"],
                fmt,
                _frame(v.get("frame"), fmt),
            )
        case Command.TRACE:
            fmt = _format(v, (*SHAPE_FORMATS, Format.SVG, Format.HTML))
            return TraceRequest(
                v["op"],
                v["x"],
                v["w"],
                v["b"],
                v["grad_out"],
                layer_args(v, groups=v["groups"], count_include_pad=v["count_include_pad"]),
                v["convention"],
                v["view"],
                v["at"],
                v["max_steps"],
                fmt,
                _frame(v.get("frame"), fmt),
            )
        case Command.NET:
            return NetRequest(
                v["spec"],
                v["input_size"],
                v["batch"],
                v["near"],
                v["dtype"],
                v["optimizer"],
                v["check"],
                _format(v, NET_FORMATS),
            )
        case Command.DIFF:
            return DiffRequest(
                v["a"],
                v["b"],
                v["input_size"],
                v["batch"],
                v["dtype"],
                v["optimizer"],
                tuple(v["fail_on"] or ()),
                _format(v, DIFF_FORMATS),
            )
        case Command.SOLVE:
            return SolveRequest(
                v["op"],
                v["input_size"],
                v["output_size"],
                v["kernel"],
                v["stride"],
                v["padding"],
                v["dilation"],
                v["output_padding"],
                v["ceil"],
                v["k_max"],
                v["s_max"],
                v["d_max"],
                v["p_max"],
                v["limit"],
                _format(v, SHAPE_FORMATS),
            )
        case Command.INVERT:
            return InvertRequest(v["op"], v["input_size"], layer_args(v), _format(v, SHAPE_FORMATS))
        case Command.COMPARE:
            return CompareRequest(
                v["op"], v["input_size"], layer_args(v), _format(v, SHAPE_FORMATS)
            )


def layer_args(
    values: Mapping[str, Any],
    *,
    groups: int = 1,
    count_include_pad: bool | None = None,
    cin: int | None = None,
    cout: int | None = None,
) -> LayerArgs:
    """The shared layer options read, once, into the typed carrier the core takes. Messages
    name the parameter and the flag: ``kernel_size (--k): '3x' is not ...``."""

    def sizes(key: str, name: str, minimum: int = 0) -> tuple[int, ...] | None:
        text = values.get(key)
        return None if text is None else parse_size_list(text, name, minimum=minimum)

    return LayerArgs(
        kernel_size=sizes("kernel", "kernel_size (--k)"),
        stride=sizes("stride", "stride (--s)"),
        padding=parse_padding(values.get("padding", "0"), "padding (--p)"),
        dilation=sizes("dilation", "dilation (--d)") or (1,),
        output_padding=sizes("output_padding", "output_padding (--op)"),
        ceil_mode=bool(values.get("ceil", False)),
        count_include_pad=count_include_pad,
        output_shape=sizes("output_shape", "output size (--out)", 1)
        if values.get("output_shape")
        else None,
        groups=groups,
        in_channels=cin,
        out_channels=cout,
        settings=tuple(
            (key.removeprefix(SETTING_PREFIX), text)
            for key, text in values.items()
            if key.startswith(SETTING_PREFIX) and text is not None
        ),
    )


def _format(values: Mapping[str, Any], allowed: tuple[Format, ...]) -> Format:
    """One format from --format/--json/--plain; a conflict or an unoffered one is a usage error."""
    fmt, as_json, plain = values.get("fmt"), values.get("as_json"), values.get("plain")
    chosen = {f for f, on in ((Format.JSON, as_json), (Format.PLAIN, plain)) if on}
    if fmt is not None:
        chosen.add(fmt)
    if len(chosen) > 1:
        names = ", ".join(sorted(f.value for f in chosen))
        raise MalformedInputError(f"choose one output format, got {names}")
    result = chosen.pop() if chosen else Format.TABLE
    if result not in allowed:
        options = ", ".join(f.value for f in allowed)
        raise MalformedInputError(f"--format {result.value} is not offered here; use {options}")
    return result


def _frame(frame: str | None, chosen: Format) -> str | None:
    """--frame picks the still of a picture: without --format svg it would be ignored."""
    if frame is not None and chosen is not Format.SVG:
        raise MalformedInputError(
            f"--frame draws a still of the picture: add --format svg (--format {chosen.value} "
            "has no frames)"
        )
    return frame
