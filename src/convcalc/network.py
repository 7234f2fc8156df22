"""Whole networks: a stack of layers checked in one call (shapes, parameters, MACs, receptive
fields, expectations). Standard library only; every conv/pool size comes from ``shapes``.

Definitions used throughout (README, "convcalc net"):

- parameters: what ``sum(p.numel() for p in module.parameters())`` counts in PyTorch (weights and
  biases; BatchNorm's weight and bias, not its running statistics);
- MACs: multiply-accumulates with a learned weight, for the whole batch: a conv does
  ``C_in/groups * prod(k)`` per output element, a transposed conv ``C_out/groups * prod(k)`` per
  input element, a linear layer ``in_features`` per output element; pools, activations,
  normalisation, bias additions and upsampling count 0;
- receptive field: per spatial dimension, how many input pixels one output element can see
  (``size``), the distance in input pixels between neighbouring output elements (``jump``, a
  fraction after a transposed conv or upsampling), and the input coordinate of the centre of
  output element 0 (``start``).
"""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import Any, NamedTuple

from convcalc.errors import ConvcalcError, MalformedInputError
from convcalc.shapes import LayerShape, layer_shape
from convcalc.specs import (
    LayerArgs,
    LayerSpec,
    OpKind,
    OpName,
    parse_int,
    parse_op,
    parse_size_list,
)

Shape = tuple[int, ...]

# Layer types besides conv/convtranspose/maxpool/avgpool, by folded name.
_SHAPE_PRESERVING = {
    "relu",
    "relu6",
    "leakyrelu",
    "gelu",
    "silu",
    "swish",
    "elu",
    "selu",
    "sigmoid",
    "tanh",
    "hardswish",
    "hardsigmoid",
    "mish",
    "prelu",
    "identity",
    "softmax",
    "logsoftmax",
    "dropout",
    "dropout1d",
    "dropout2d",
    "dropout3d",
    "alphadropout",
}
_BATCHNORM = re.compile(r"^batchnorm([123])d$")
_ADAPTIVE = re.compile(r"^adaptive(avg|max)pool([123])d$")
_UPSAMPLE = {
    "upsample",
    "interpolate",
    "upsamplingnearest",
    "upsamplingnearest1d",
    "upsamplingnearest2d",
    "upsamplingnearest3d",
    "upsamplingbilinear2d",
}

# PyTorch keyword names accepted per family (besides name, layer, expect).
_CONV_KEYS = {
    "in_channels",
    "out_channels",
    "kernel_size",
    "stride",
    "padding",
    "dilation",
    "groups",
    "bias",
    "padding_mode",
}
_KEYS = {
    OpKind.CONV: _CONV_KEYS,
    OpKind.CONVTRANSPOSE: _CONV_KEYS | {"output_padding"},
    OpKind.MAXPOOL: {"kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices"},
    OpKind.AVGPOOL: {
        "kernel_size",
        "stride",
        "padding",
        "ceil_mode",
        "count_include_pad",
        "divisor_override",
    },
    "adaptive": {"output_size", "return_indices"},
    "upsample": {"scale_factor", "size", "mode", "align_corners", "recompute_scale_factor"},
    "flatten": {"start_dim", "end_dim"},
    "linear": {"in_features", "out_features", "bias"},
    "batchnorm": {"num_features", "eps", "momentum", "affine", "track_running_stats"},
    "same": {
        "inplace",
        "p",
        "negative_slope",
        "dim",
        "approximate",
        "num_parameters",
        "alpha",
        "min_val",
        "max_val",
    },
}


@dataclass(frozen=True)
class ReceptiveField:
    """Per spatial dimension: size and jump in input pixels, start (centre of element 0)."""

    size: tuple[Fraction, ...]
    jump: tuple[Fraction, ...]
    start: tuple[Fraction, ...]
    whole_input: bool = False  # after flatten/linear every output sees the whole input

    @classmethod
    def identity(cls, ndim: int) -> ReceptiveField:
        one, zero = Fraction(1), Fraction(0)
        return cls((one,) * ndim, (one,) * ndim, (zero,) * ndim)

    def window(
        self, extents: list[int], strides: list[Fraction], offsets: list[Fraction]
    ) -> ReceptiveField:
        """After a sliding window of ``extents`` (in this layer's input elements), moving by
        ``strides`` elements, whose first window is centred ``offsets`` elements from element 0."""
        return ReceptiveField(
            tuple(r + (e - 1) * j for r, e, j in zip(self.size, extents, self.jump)),
            tuple(j * s for j, s in zip(self.jump, strides)),
            tuple(st + o * j for st, o, j in zip(self.start, offsets, self.jump)),
        )


@dataclass
class LayerResult:
    """One layer of a network applied to its input."""

    index: int
    name: str
    type: str
    summary: str
    input_shape: Shape  # (N, C, *spatial) or (N, features)
    output_shape: Shape
    params: int
    macs: int
    rf: ReceptiveField | None
    expect: Shape | None = None
    expect_text: str | None = None
    shape: LayerShape | None = None

    @property
    def expect_ok(self) -> bool | None:
        if self.expect is None:
            return None
        return self.expect in (self.output_shape, self.output_shape[1:])


class Applied(NamedTuple):
    """What a layer handler computes; apply_layer adds the layer's number, name and input."""

    type: str
    summary: str
    output: Shape
    params: int
    macs: int
    rf: ReceptiveField | None
    shape: LayerShape | None = None


@dataclass
class NetworkResult:
    """Every layer's result, the totals and the expectations that failed."""

    input_shape: Shape
    layers: list[LayerResult]
    source: str = ""

    @property
    def total_params(self) -> int:
        return sum(layer.params for layer in self.layers)

    @property
    def total_macs(self) -> int:
        return sum(layer.macs for layer in self.layers)

    @property
    def output_shape(self) -> Shape:
        return self.layers[-1].output_shape if self.layers else self.input_shape

    @property
    def mismatches(self) -> list[LayerResult]:
        return [layer for layer in self.layers if layer.expect_ok is False]


@dataclass
class NetworkSpec:
    """A parsed network: input shape (C, *spatial) without the batch, and its layers."""

    input: Shape | None
    layers: list[dict[str, Any]]
    batch: int | None = None
    source: str = ""


# --- parsing ------------------------------------------------------------------------------------


def load_network(text: str) -> NetworkSpec:
    """A TOML file (path, or text with ``[[layer]]``) or the inline form
    ``"conv2d k7 s2 p3 c64; maxpool2d k3 s2 p1"``."""
    if not text.strip():
        raise MalformedInputError(
            'spec: empty; give a .toml file or layers such as "conv2d k3 c16; maxpool2d k2"'
        )
    path = Path(text)
    looks_like_path = re.fullmatch(r"[^\s;]*(/|\.[A-Za-z]+)", text.strip()) is not None
    if looks_like_path and "->" not in text and not _is_file(path) and not path.is_dir():
        raise MalformedInputError(f"spec: no such file: {text}")
    if "\n" not in text and path.is_dir():
        raise MalformedInputError(f"spec: {text} is a directory; give a .toml file or layers")
    if text.endswith(".toml") or ("\n" not in text and _is_file(path)):
        try:
            content = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise MalformedInputError(f"spec: no such file: {text}") from None
        except OSError as error:
            raise MalformedInputError(f"spec: cannot read {text}: {error.strerror}") from None
        except UnicodeDecodeError as error:
            raise MalformedInputError(
                f"spec: {text} is not a UTF-8 text file (byte {error.start}: "
                f"{error.object[error.start : error.start + 1]!r}); give a .toml spec"
            ) from None
        return parse_toml(content, str(path))
    if "[[layer]]" in text or "\n" in text:
        return parse_toml(text, "<spec>")
    return parse_inline(text)


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:
        return False


def parse_toml(content: str, source: str) -> NetworkSpec:
    """The TOML form: ``input = [C, H, W]``, optional ``batch``, and ``[[layer]]`` tables with
    PyTorch's keyword names."""
    try:
        data = tomllib.loads(content)
    except tomllib.TOMLDecodeError as error:
        raise MalformedInputError(f"spec: {source} is not valid TOML ({error})") from None
    unknown = set(data) - {"input", "batch", "layer", "name", "description"}
    if unknown:
        raise MalformedInputError(f"spec: unknown top-level key(s) {sorted(unknown)} in {source}")
    layers = data.get("layer", [])
    if not isinstance(layers, list) or not all(isinstance(layer, dict) for layer in layers):
        raise MalformedInputError("spec: write each layer as a [[layer]] table")
    shape = data.get("input")
    if shape is not None:
        shape = _int_tuple(shape, "input")
    batch = data.get("batch")
    if batch is not None and (not isinstance(batch, int) or batch < 1):
        raise MalformedInputError(f"spec: batch must be a positive integer, got {batch!r}")
    return NetworkSpec(shape, [dict(layer) for layer in layers], batch, source)


def _int_tuple(value: Any, what: str) -> Shape:
    if isinstance(value, str):
        return parse_size_list(value, what, minimum=1)
    values = value if isinstance(value, list) else [value]
    if not values or not all(
        isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in values
    ):
        raise MalformedInputError(f"{what}: expected positive integers, got {value!r}")
    return tuple(values)


# Inline tokens: short option -> PyTorch keyword.
_INLINE = {
    "k": "kernel_size",
    "s": "stride",
    "p": "padding",
    "d": "dilation",
    "op": "output_padding",
    "g": "groups",
    "c": "out_channels",
    "out": "output_size",
    "x": "scale_factor",
    "size": "size",
    "f": "out_features",
    "cin": "in_channels",
}
_INLINE_TOKEN = re.compile(r"^(op|out|size|cin|k|s|p|d|g|c|x|f)([0-9][0-9x.,:]*|same|valid)$")


def parse_inline(text: str) -> NetworkSpec:
    """``conv2d k7 s2 p3 c64; maxpool2d k3 s2 p1 -> relu`` (layers split by ``;`` or ``->``).

    Tokens: k s p d op g (groups) c (out_channels) cin (in_channels) out (adaptive output_size)
    x (scale_factor) size (upsample size) f (linear out_features), ``ceil``, ``nobias``,
    ``name=NAME``, ``expect=enc1.input`` or ``expect=3x64x64``. Per-dimension values: ``k3x5``.

    >>> parse_inline("conv2d k3 s2 c8 -> relu").layers[0]
    {'layer': 'conv2d', 'kernel_size': [3], 'stride': [2], 'out_channels': 8}
    """
    layers = []
    for number, chunk in enumerate(re.split(r";|->", text), start=1):
        tokens = chunk.split()
        if not tokens:
            continue
        layer: dict[str, Any] = {"layer": tokens[0]}
        for token in tokens[1:]:
            layer.update(_inline_token(token, number))
        layers.append(layer)
    if not layers:
        raise MalformedInputError('spec: no layers (e.g. "conv2d k3 c16; maxpool2d k2")')
    return NetworkSpec(None, layers, None, "<inline>")


def _inline_token(token: str, number: int) -> dict[str, Any]:
    lowered = token.lower()
    if lowered in ("ceil", "ceil_mode"):
        return {"ceil_mode": True}
    if lowered in ("nobias", "bias=false"):
        return {"bias": False}
    if lowered.startswith("name="):
        return {"name": token[5:]}
    if lowered.startswith("expect="):
        value = token[7:]
        if re.fullmatch(r"[0-9x×,]+", value):
            return {"expect": list(parse_size_list(value, "expect", minimum=1))}
        return {"expect": value}
    match = _INLINE_TOKEN.match(lowered)
    if not match:
        raise MalformedInputError(
            f"layer {number}: cannot read {token!r} (tokens: k3 s2 p1 d1 op1 g2 c64 cin3 out7 x2 "
            "size64 f10 ceil nobias name=N expect=SHAPE)"
        )
    key, value = _INLINE[match.group(1)], match.group(2)
    if value in ("same", "valid"):
        return {key: value}
    if key == "scale_factor":
        factors = value.split("x") if "x" in value else value.split(",")
        if not all(re.fullmatch(r"[0-9]+(\.[0-9]+)?", f) for f in factors):
            raise MalformedInputError(
                f"layer {number}: {token!r}: scale factors are numbers such as x2 or x1.5 or x2x3"
            )
        return {key: [float(f) if "." in f else int(f) for f in factors]}
    if key == "padding" and ":" in value:
        raise MalformedInputError(f"layer {number}: PyTorch layers take symmetric padding")
    try:
        numbers = list(parse_size_list(value, key))
    except MalformedInputError as error:
        raise MalformedInputError(f"layer {number}: {token!r}: {error}") from None
    scalar_keys = ("out_channels", "in_channels", "groups", "out_features")
    return {key: numbers[0] if key in scalar_keys else numbers}


# --- evaluation -------------------------------------------------------------------------------


def run_network(
    spec: NetworkSpec, input_shape: Shape | None = None, batch: int | None = None
) -> NetworkResult:
    """Apply every layer in turn; stop at the first invalid one with its index and name."""
    shape_in = input_shape or spec.input
    if shape_in is None:
        raise MalformedInputError(
            "input: give the input shape (C, *spatial) with --in or `input = [...]` in the spec"
        )
    n = batch or spec.batch or 1
    current: Shape = (n, *shape_in)
    rf: ReceptiveField | None = ReceptiveField.identity(len(shape_in) - 1)
    results: list[LayerResult] = []
    names: dict[str, LayerResult] = {}
    for number, layer in enumerate(spec.layers, start=1):
        raw = dict(layer)
        kind = str(raw.pop("layer", raw.pop("type", "")))
        name = str(raw.pop("name", f"{number}"))
        expect = raw.pop("expect", None)
        where = (
            f"layer {number}" + (f' "{name}"' if name != str(number) else "") + f" ({kind or '?'})"
        )
        try:
            result = apply_layer(number, name, kind, raw, current, rf)
            if expect is not None:
                result.expect, result.expect_text = _resolve_expect(expect, names, shape_in, n)
        except ConvcalcError as error:
            raise type(error)(f"{where}: {error}") from None
        if name in names:
            raise MalformedInputError(f"{where}: the name {name!r} is used twice")
        names[name] = result
        results.append(result)
        current, rf = result.output_shape, result.rf
    return NetworkResult((n, *shape_in), results, spec.source)


def _resolve_expect(
    expect: Any, names: dict[str, LayerResult], net_input: Shape, n: int
) -> tuple[Shape, str]:
    if isinstance(expect, list):
        return _int_tuple(expect, "expect"), "x".join(map(str, expect))
    text = str(expect)
    if re.fullmatch(r"[\s0-9x×,()\[\]]+", text):  # "64x56x56", as in the inline form
        shape = parse_size_list(text, "expect", minimum=1)
        return shape, "x".join(map(str, shape))
    if text in ("input", "network.input"):
        return (n, *net_input), text
    target, _, side = text.rpartition(".")
    if side not in ("input", "output") or target not in names:
        known = ", ".join(names) or "none yet"
        raise MalformedInputError(
            f"expect: {text!r} is not a shape or NAME.input / NAME.output of an earlier layer "
            f"(earlier layers: {known})"
        )
    layer = names[target]
    return (layer.input_shape if side == "input" else layer.output_shape), text


def _family(kind: str) -> tuple[str, int | None]:
    folded = re.sub(r"[\s_\-.]", "", kind.lower()).removeprefix("torchnn").removeprefix("nn")
    if folded in _SHAPE_PRESERVING:
        return "same", None
    if folded in _UPSAMPLE:
        return "upsample", None
    if folded == "flatten":
        return "flatten", None
    if folded in ("linear", "dense", "fc"):
        return "linear", None
    match = _BATCHNORM.match(folded)
    if match:
        return "batchnorm", int(match.group(1))
    match = _ADAPTIVE.match(folded)
    if match:
        return f"adaptive{match.group(1)}", int(match.group(2))
    try:
        name = parse_op(kind)
    except MalformedInputError:
        raise MalformedInputError(f"unknown layer {kind!r}; net knows {known_layers()}") from None
    if not name.kind.family.dimensioned:
        raise MalformedInputError(
            f"layer {kind!r}: {name.kind.torch_name} changes the tensor's rank, which net does "
            f"not follow; `convcalc shape {name.kind.value}` and `trace` take it"
        )
    return name.kind.value, name.ndim


def known_layers() -> str:
    """Every layer type ``net`` reads, for error messages and --help."""
    convs = ", ".join(
        f"{kind.value}1d/2d/3d"
        for kind in OpKind
        if kind.family.dimensioned and not kind.is_adaptive
    )
    others = sorted(_SHAPE_PRESERVING - {"swish", "dropout1d", "dropout2d", "dropout3d"})
    return (
        f"{convs}, adaptiveavgpool1d/2d/3d, adaptivemaxpool1d/2d/3d, batchnorm1d/2d/3d, "
        f"linear, flatten, upsample, and shape-preserving {', '.join(others)}"
    )


def apply_layer(
    number: int,
    name: str,
    kind: str,
    raw: dict[str, Any],
    current: Shape,
    rf: ReceptiveField | None,
) -> LayerResult:
    """One layer on an input shape (N, C, *spatial) or (N, features)."""
    family, ndim = _family(kind)
    keys = _KEYS.get(
        OpKind(family)
        if family in {k.value for k in OpKind}
        else ("adaptive" if family.startswith("adaptive") else family),
        set(),
    )
    unknown = set(raw) - keys
    if unknown:
        raise MalformedInputError(
            f"unknown parameter(s) {sorted(unknown)}; {kind} takes {sorted(keys)}"
        )
    if family in {k.value for k in OpKind}:
        applied = _conv_like(OpKind(family), ndim, raw, current, rf)
    elif family.startswith("adaptive"):
        applied = _adaptive(family, ndim or 0, raw, current, rf)
    else:
        handler = {
            "same": _same,
            "upsample": _upsample,
            "flatten": _flatten,
            "linear": _linear,
            "batchnorm": _batchnorm,
        }[family]
        applied = handler(kind, ndim, raw, current, rf)
    return LayerResult(
        number,
        name,
        applied.type,
        applied.summary,
        current,
        applied.output,
        applied.params,
        applied.macs,
        applied.rf,
        shape=applied.shape,
    )


def _spatial(current: Shape, ndim: int | None, what: str) -> Shape:
    if ndim is not None and len(current) != ndim + 2:
        raise ConvcalcError(
            f"input: {what} expects (N, C, {', '.join('DHW'[3 - ndim :] if ndim > 1 else 'L')}) "
            f"but gets {_shape_text(current)}"
        )
    return current[2:]


def _shape_text(shape: Shape) -> str:
    return "(" + ", ".join(map(str, shape)) + ")"


def _as_list(value: Any, key: str) -> list[int]:
    """An integer, a list of integers, or a string in the CLI's size form ("3x3", "3,3")."""
    if isinstance(value, str):
        return list(parse_size_list(value, key))
    values = value if isinstance(value, list) else [value]
    if not values or not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        raise MalformedInputError(
            f"{key}: expected an integer or a list of integers, got {value!r}"
        )
    return values


def _int(raw: dict[str, Any], key: str, default: int | None, minimum: int | None = 1) -> int:
    """A scalar integer parameter: a TOML integer (never a float or bool), or an integer string."""
    value = raw.get(key, default)
    if isinstance(value, str):
        return parse_int(value, key, minimum=minimum)
    if not isinstance(value, int) or isinstance(value, bool):
        raise MalformedInputError(f"{key}: expected an integer, got {value!r}")
    if minimum is not None and value < minimum:
        rule = "positive" if minimum == 1 else f">= {minimum}"
        raise MalformedInputError(f"{key}: must be {rule}, got {value}")
    return value


def _flag(raw: dict[str, Any], key: str, default: bool) -> bool:
    """A boolean parameter: TOML true/false only (a string "false" would be truthy)."""
    value = raw.get(key, default)
    if not isinstance(value, bool):
        raise MalformedInputError(f"{key}: expected true or false, got {value!r}")
    return value


def _conv_like(
    kind: OpKind, ndim: int | None, raw: dict[str, Any], current: Shape, rf: ReceptiveField | None
) -> Applied:
    ndim = ndim or len(current) - 2
    spatial = _spatial(current, ndim, f"{kind.value}{ndim}d")
    c_in = current[1]
    # padding_mode (reflect/replicate/circular) pads by the same amount: the shape is the same
    if raw.get("in_channels") is not None and _int(raw, "in_channels", None) != c_in:
        raise ConvcalcError(
            f"in_channels: {raw['in_channels']} given, but the input has {c_in} channels"
        )
    padding: Any = raw.get("padding", 0)
    if not isinstance(padding, str):
        padding = _as_list(padding, "padding")
    out_channels = _int(raw, "out_channels", None) if "out_channels" in raw else None
    if kind.is_pool:
        out_channels = c_in
    elif out_channels is None:
        raise MalformedInputError(f"out_channels: {kind.value} needs out_channels (c64 inline)")
    args = LayerArgs(
        kernel_size=tuple(_as_list(raw["kernel_size"], "kernel_size"))
        if "kernel_size" in raw
        else None,
        stride=tuple(_as_list(raw["stride"], "stride")) if raw.get("stride") is not None else None,
        padding=padding if isinstance(padding, str) else tuple(padding),
        dilation=tuple(_as_list(raw.get("dilation", 1), "dilation")),
        output_padding=tuple(_as_list(raw.get("output_padding", 0), "output_padding")),
        ceil_mode=_flag(raw, "ceil_mode", False),
        count_include_pad=_flag(raw, "count_include_pad", True),
        groups=_int(raw, "groups", 1),
        in_channels=c_in,
        out_channels=out_channels,
    )
    from convcalc.conventions import resolve_args

    spec = resolve_args("torch", OpName(kind, ndim), spatial, args).spec
    spec = replace(spec, bias=_flag(raw, "bias", True))
    result = layer_shape(spec, spatial, current[0])
    out = result.tensor_shape("output")
    assert out is not None
    params, macs = _conv_counts(spec, current, out)
    return Applied(
        spec.name,
        _summary(spec),
        out,
        params,
        macs,
        _conv_rf(spec, rf, result),
        shape=result,
    )


def _conv_counts(spec: LayerSpec, current: Shape, out: Shape) -> tuple[int, int]:
    if spec.kind.is_pool:
        return 0, 0
    c_in, c_out, groups = current[1], out[1], spec.groups
    k = math.prod(spec.kernel_size)
    params = c_out * (c_in // groups) * k + (c_out if spec.bias else 0)
    if spec.kind is OpKind.CONV:
        macs = math.prod(out) * (c_in // groups) * k
    else:
        macs = math.prod(current) * (c_out // groups) * k
    return params, macs


def _conv_rf(
    spec: LayerSpec, rf: ReceptiveField | None, result: LayerShape
) -> ReceptiveField | None:
    if rf is None or rf.whole_input:
        return rf
    extents = [dim.kernel_extent for dim in result.dims]
    if spec.kind is OpKind.CONVTRANSPOSE:
        # A stride-1 conv over the zero-inserted input, whose elements are 1/s apart.
        strides = [Fraction(1, s) for s in spec.stride]
        offsets = [
            (Fraction(e - 1, 2) - (e - 1 - p)) / s
            for e, (p, _), s in zip(extents, spec.padding, spec.stride)
        ]
        sizes = [Fraction(e - 1, s) + 1 for e, s in zip(extents, spec.stride)]
        return ReceptiveField(
            tuple(r + (z - 1) * j for r, z, j in zip(rf.size, sizes, rf.jump)),
            tuple(j * s for j, s in zip(rf.jump, strides)),
            tuple(st + o * j for st, o, j in zip(rf.start, offsets, rf.jump)),
        )
    offsets = [Fraction(e - 1, 2) - p for e, (p, _) in zip(extents, spec.padding)]
    return rf.window(extents, [Fraction(s) for s in spec.stride], offsets)


def _summary(spec: LayerSpec) -> str:
    """``conv2d k3 s2 p1 c64``-style short description."""

    def one(values: tuple[int, ...]) -> str:
        return str(values[0]) if len(set(values)) == 1 else "x".join(map(str, values))

    parts = [spec.name, f"k{one(spec.kernel_size)}"]
    if any(s != 1 for s in spec.stride) or spec.kind.is_pool:
        parts.append(f"s{one(spec.stride)}")
    if spec.padding_mode is not None:
        parts.append(f"p-{spec.padding_mode.value}")
    elif any(b or a for b, a in spec.padding):
        parts.append(f"p{one(tuple(b for b, _ in spec.padding))}")
    if any(d != 1 for d in spec.dilation):
        parts.append(f"d{one(spec.dilation)}")
    if any(spec.output_padding):
        parts.append(f"op{one(spec.output_padding)}")
    if spec.groups != 1:
        parts.append(f"g{spec.groups}")
    if spec.ceil_mode:
        parts.append("ceil")
    if not spec.kind.is_pool:
        parts.append(f"c{spec.out_channels}")
        if not spec.bias:
            parts.append("nobias")
    return " ".join(parts)


def _adaptive(
    family: str, ndim: int, raw: dict[str, Any], current: Shape, rf: ReceptiveField | None
) -> Applied:
    spatial = _spatial(current, ndim, f"adaptive pool {ndim}d")
    if "output_size" not in raw:
        raise MalformedInputError("output_size: adaptive pools need output_size (out7 inline)")
    given = raw["output_size"]
    wanted: list[Any] = (
        list(parse_size_list(given, "output_size", minimum=1))
        if isinstance(given, str)
        else (given if isinstance(given, list) else [given])
    )
    if len(wanted) == 1:
        wanted = wanted * ndim
    if len(wanted) != ndim:
        raise MalformedInputError(f"output_size: give 1 or {ndim} values, got {wanted}")
    out = []
    for size, want in zip(spatial, wanted):
        if want is None:
            want = size  # None keeps the input size (torch)
        if not isinstance(want, int) or isinstance(want, bool) or want < 1:
            raise MalformedInputError(f"output_size: expected positive integers, got {want!r}")
        out.append(want)
    new_rf = rf
    if rf is not None and not rf.whole_input:
        # Element i reads [floor(i*in/out), ceil((i+1)*in/out)): the widest window sets the size.
        widest = [
            max(-(-(i + 1) * n // o) - (i * n // o) for i in range(min(o, 4096)))
            for n, o in zip(spatial, out)
        ]
        first = [-(-n // o) for n, o in zip(spatial, out)]
        new_rf = ReceptiveField(
            tuple(r + (w - 1) * j for r, w, j in zip(rf.size, widest, rf.jump)),
            tuple(j * Fraction(n, o) for j, n, o in zip(rf.jump, spatial, out)),
            tuple(s + Fraction(f - 1, 2) * j for s, f, j in zip(rf.start, first, rf.jump)),
        )
    kind = f"{family.replace('adaptive', 'adaptive_')}_pool{ndim}d"
    return Applied(
        kind,
        f"{kind} out{'x'.join(map(str, out))}",
        (*current[:2], *out),
        0,
        0,
        new_rf,
    )


def _same(
    kind: str, ndim: int | None, raw: dict[str, Any], current: Shape, rf: ReceptiveField | None
) -> Applied:
    params = 0
    folded = kind.lower().replace("_", "")
    if folded == "prelu":
        params = _int(raw, "num_parameters", 1)
    return Applied(kind.lower(), kind.lower(), current, params, 0, rf)


def _batchnorm(
    kind: str, ndim: int | None, raw: dict[str, Any], current: Shape, rf: ReceptiveField | None
) -> Applied:
    channels = current[1] if len(current) > 1 else current[0]
    given = _int(raw, "num_features", None) if "num_features" in raw else None
    if given is not None and given != channels:
        raise ConvcalcError(f"num_features: {given} given, but the input has {channels} channels")
    expected_rank = {1: (2, 3), 2: (4,), 3: (5,)}[ndim or 2]
    if len(current) not in expected_rank:
        raise ConvcalcError(
            f"input: batchnorm{ndim}d does not take a {len(current)}-d input {_shape_text(current)}"
        )
    params = 2 * channels if _flag(raw, "affine", True) else 0
    return Applied(
        f"batchnorm{ndim}d",
        f"batchnorm{ndim}d {channels}",
        current,
        params,
        0,
        rf,
    )


def upsample_size(size: int, scale: Any) -> int:
    """PyTorch's interpolate: ``floor(float(in) * scale_factor)`` (integer scales exactly).

    >>> upsample_size(7, 2), upsample_size(7, 1.5)
    (14, 10)
    """
    if isinstance(scale, int):
        return size * scale
    return math.floor(float(size) * float(scale))


def _upsample(
    kind: str, ndim: int | None, raw: dict[str, Any], current: Shape, rf: ReceptiveField | None
) -> Applied:
    spatial = current[2:]
    if not spatial:
        raise ConvcalcError(
            f"input: upsampling needs spatial dimensions, got {_shape_text(current)}"
        )
    if ("scale_factor" in raw) == ("size" in raw):
        raise MalformedInputError("give exactly one of scale_factor and size")
    if "size" in raw:
        sizes = _as_list(raw["size"], "size")
        out = sizes * len(spatial) if len(sizes) == 1 else sizes
        if len(out) != len(spatial) or min(out) < 1:
            raise MalformedInputError(f"size: give 1 or {len(spatial)} positive values")
        scales = [Fraction(o, n) for o, n in zip(out, spatial)]
        label = f"upsample size{'x'.join(map(str, out))}"
    else:
        factors = (
            raw["scale_factor"] if isinstance(raw["scale_factor"], list) else [raw["scale_factor"]]
        )
        factors = factors * len(spatial) if len(factors) == 1 else factors
        if len(factors) != len(spatial) or not all(
            isinstance(f, (int, float)) and not isinstance(f, bool) and f > 0 for f in factors
        ):
            raise MalformedInputError(f"scale_factor: give 1 or {len(spatial)} positive numbers")
        out = [upsample_size(n, f) for n, f in zip(spatial, factors)]
        if min(out) < 1:
            raise ConvcalcError(f"scale_factor: output size {out} is not positive")
        scales = [Fraction(o, n) for o, n in zip(out, spatial)]
        label = f"upsample x{'x'.join(str(f) for f in dict.fromkeys(factors))}"
    new_rf = rf
    if rf is not None and not rf.whole_input:
        # nearest: output j copies input floor(j * in / out); element 0 copies input 0.
        new_rf = ReceptiveField(rf.size, tuple(j / s for j, s in zip(rf.jump, scales)), rf.start)
    return Applied("upsample", label, (*current[:2], *out), 0, 0, new_rf)


def _flatten(
    kind: str, ndim: int | None, raw: dict[str, Any], current: Shape, rf: ReceptiveField | None
) -> Applied:
    start = _int(raw, "start_dim", 1, minimum=None)
    end = _int(raw, "end_dim", -1, minimum=None)
    rank = len(current)
    lo, hi = start % rank, end % rank
    if not (0 <= lo <= hi < rank):
        raise MalformedInputError(f"start_dim/end_dim: {start}..{end} do not fit a {rank}-d input")
    out = (*current[:lo], math.prod(current[lo : hi + 1]), *current[hi + 1 :])
    return Applied("flatten", "flatten", out, 0, 0, _whole(rf) if len(out) <= 2 else rf)


def _whole(rf: ReceptiveField | None) -> ReceptiveField | None:
    if rf is None:
        return None
    return ReceptiveField(rf.size, rf.jump, rf.start, whole_input=True)


def _linear(
    kind: str, ndim: int | None, raw: dict[str, Any], current: Shape, rf: ReceptiveField | None
) -> Applied:
    features = current[-1]
    given = _int(raw, "in_features", None) if "in_features" in raw else None
    if given is not None and given != features:
        raise ConvcalcError(
            f"in_features: {given} given, but the input's last dimension is {features} "
            f"(input {_shape_text(current)}; flatten first?)"
        )
    if "out_features" not in raw:
        raise MalformedInputError("out_features: linear needs out_features (f10 inline)")
    out_features = _int(raw, "out_features", None)
    bias = _flag(raw, "bias", True)
    out = (*current[:-1], out_features)
    params = features * out_features + (out_features if bias else 0)
    macs = math.prod(out) * features
    return Applied(
        "linear",
        f"linear {features}->{out_features}",
        out,
        params,
        macs,
        _whole(rf),
    )


def rf_text(rf: ReceptiveField | None) -> str:
    """``rf 7 jump 2 start 3`` with one value per dimension where they differ."""
    if rf is None:
        return ""
    if rf.whole_input:
        return "whole input"

    def one(values: tuple[Fraction, ...]) -> str:
        texts = [str(v) for v in values]
        return texts[0] if len(set(texts)) == 1 else "x".join(texts)

    return f"{one(rf.size)} j{one(rf.jump)} s{one(rf.start)}"
