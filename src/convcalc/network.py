"""Whole networks: a graph of layers checked in one call (shapes, parameters, MACs, receptive
fields, expectations). Standard library only; every conv/pool size comes from ``shapes``.

A spec is parsed (``load_network``: TOML or the inline form), planned once (``plan_network``:
every layer's parameters typed and checked, every ``from`` resolved to an earlier layer) and then
run on an input shape (``run_plan``), as often as a size sweep needs.

Definitions used throughout (README, "convcalc net"):

- parameters: what ``sum(p.numel() for p in module.parameters())`` counts in PyTorch (weights and
  biases; BatchNorm's weight and bias, not its running statistics);
- MACs: multiply-accumulates with a learned weight, for the whole batch: a conv does
  ``C_in/groups * prod(k)`` per output element, a transposed conv ``C_out/groups * prod(k)`` per
  input element, a linear layer ``in_features`` per output element; pools, activations,
  normalisation, bias additions, merges (add, mul, cat) and upsampling count 0. FLOPs are
  2 x MACs (one multiply and one add each);
- useful MACs (convs): the MACs whose product is a real input element times a weight landing in
  the output. A conv's other MACs multiply padding zeros; a transposed conv's other MACs land in
  the padding it crops (computed, then thrown away). ``zero_macs``: the MACs a direct
  sliding-window form spends on zeros: a conv's padding, or the inserted and padding zeros of a
  transposed conv's zero-insertion form;
- receptive field: per spatial dimension, how many input pixels one output element can see
  (``size``), the distance in input pixels between neighbouring output elements (``jump``, a
  fraction after a transposed conv or upsampling), and the input coordinate of the centre of
  output element 0 (``start``). A merge (add, mul, cat) sees the union of its inputs' windows: with
  equal jumps the output's field is their hull (exact for ResNet and U-Net skips); an input
  broadcast along a dimension (an SE gate) whose field covers the whole network input makes the
  output see the whole input; any other merge (unequal jumps) has no single field (shown blank).
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any, NamedTuple, assert_never

from convcalc.errors import ConvcalcError, MalformedInputError
from convcalc.loader import load_network as load_network
from convcalc.netspec import NetworkSpec as NetworkSpec  # re-exported: the Python API
from convcalc.netspec import _as_list, _flag, _int, _int_tuple
from convcalc.netspec import parse_inline as parse_inline
from convcalc.netspec import parse_toml as parse_toml
from convcalc.shapes import DimShape, LayerShape, layer_shape
from convcalc.specs import (
    LayerArgs,
    LayerSpec,
    OpKind,
    OpName,
    dimension_names,
    parse_op,
    parse_size_list,
    shape_text,
)
from convcalc.tensorops import (
    ChunkLayer,
    MeanLayer,
    PadLayer,
    PermuteLayer,
    PixelShuffleLayer,
    ReshapeLayer,
    SliceLayer,
    SqueezeLayer,
    TensorOp,
    UnsqueezeLayer,
    keeps_spatial,
    tensor_op_shape,
)

Shape = tuple[int, ...]

# Layer types besides the op table's, by folded name.
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
    "clip",
    "hardtanh",
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


class MergeOp(enum.Enum):
    """Layers that combine several inputs."""

    ADD = "add"  # elementwise, PyTorch broadcasting
    SUB = "sub"
    MUL = "mul"  # elementwise, PyTorch broadcasting (an SE gate C x 1 x 1 times C x H x W)
    DIV = "div"
    CAT = "cat"  # torch.cat along ``dim`` (1 = channels, counted with the batch dimension)


_MERGES = {
    "add": MergeOp.ADD,
    "sum": MergeOp.ADD,
    "sub": MergeOp.SUB,
    "subtract": MergeOp.SUB,
    "div": MergeOp.DIV,
    "divide": MergeOp.DIV,
    "mul": MergeOp.MUL,
    "multiply": MergeOp.MUL,
    "cat": MergeOp.CAT,
    "concat": MergeOp.CAT,
    "concatenate": MergeOp.CAT,
}

# Keys accepted per layer kind (besides name, layer, from, expect); the op families'
# are their modules' net_keys.
_KEYS = {
    "adaptive": frozenset({"output_size", "return_indices"}),
    "upsample": frozenset(
        {"scale_factor", "size", "mode", "align_corners", "recompute_scale_factor"}
    ),
    "flatten": frozenset({"start_dim", "end_dim"}),
    "linear": frozenset({"in_features", "out_features", "bias"}),
    "batchnorm": frozenset(
        {"num_features", "eps", "momentum", "affine", "track_running_stats", "bias"}
    ),
    "same": frozenset(
        {
            "inplace",
            "p",
            "negative_slope",
            "dim",
            "approximate",
            "num_parameters",
            "alpha",
            "min_val",
            "max_val",
            "non_trainable_params",
        }
    ),
}


# --- typed layers (what planning makes of a [[layer]] table) -----------------------------------


@dataclass(frozen=True)
class ConvLayer:
    """A layer of the op table: conv, transposed conv, max or average pool."""

    op: OpName
    args: LayerArgs  # in_channels as given (checked against the input), None otherwise
    bias: bool
    convention: str = "torch"  # whose padding rules: torch, tf, keras or onnx (conventions.py)


@dataclass(frozen=True)
class AdaptiveLayer:
    """An adaptive pool; ``None`` in output_size keeps that dimension's input size (torch)."""

    kind: OpKind
    ndim: int
    output_size: tuple[int | None, ...]


@dataclass(frozen=True)
class PointwiseLayer:
    """Activations, dropout, identity, softmax: the shape passes through."""

    name: str
    params: int  # PReLU's num_parameters
    non_trainable: int = 0  # statistics it keeps (Keras' Normalization: mean, variance, count)


@dataclass(frozen=True)
class BatchNormLayer:
    ndim: int
    num_features: int | None
    affine: bool
    running_stats: bool = True  # track_running_stats: a running mean and variance per channel
    bias: bool = True  # torch 2.13's BatchNorm(bias=False) learns the scale only


@dataclass(frozen=True)
class UpsampleLayer:
    """Nearest-style resizing: by a size or a scale factor per dimension (one given)."""

    size: tuple[int, ...] | None
    scale: tuple[int | float, ...] | None


@dataclass(frozen=True)
class FlattenLayer:
    start_dim: int
    end_dim: int


@dataclass(frozen=True)
class LinearLayer:
    in_features: int | None
    out_features: int
    bias: bool


@dataclass(frozen=True)
class MergeLayer:
    op: MergeOp
    dim: int  # cat only
    constant: Shape | None = None  # an elementwise op with a constant of this shape (one input)


Layer = (
    ConvLayer
    | AdaptiveLayer
    | PointwiseLayer
    | BatchNormLayer
    | UpsampleLayer
    | FlattenLayer
    | LinearLayer
    | MergeLayer
    | TensorOp
)


class Side(enum.Enum):
    INPUT = "input"
    OUTPUT = "output"


@dataclass(frozen=True)
class Expect:
    """What a layer's output should be: a shape, or another tensor's shape (``enc1.input``)."""

    text: str
    shape: Shape | None = None
    layer: int | None = None  # 0: the network input
    side: Side = Side.OUTPUT


@dataclass(frozen=True)
class PlannedLayer:
    """One layer ready to run: typed parameters, resolved inputs (0 = the network input)."""

    number: int
    name: str
    type: str  # as written in the spec
    layer: Layer
    sources: tuple[int, ...]
    expect: Expect | None = None
    explicit_from: bool = False
    source_labels: tuple[str, ...] = ()  # how messages name the inputs

    @property
    def where(self) -> str:
        named = f' "{self.name}"' if self.name != str(self.number) else ""
        return f"layer {self.number}{named} ({self.type or '?'})"


@dataclass(frozen=True)
class Plan:
    """A network planned once: run it on any input with run_plan."""

    layers: tuple[PlannedLayer, ...]
    input: Shape | None
    batch: int | None
    source: str
    input_hint: str = ""

    @property
    def is_graph(self) -> bool:
        """True when some layer reads anything but the layer just before it."""
        return any(layer.sources != (layer.number - 1,) for layer in self.layers)

    def tensor_name(self, index: int) -> str:
        """A tensor's name: ``input`` (0) or the name of the layer making it (its number when
        it has no name); ``source_label`` makes it readable in messages."""
        return "input" if index == 0 else self.layers[index - 1].name

    def spatial_ndim(self) -> int | None:
        """How many spatial dimensions the network takes: from ``input`` or its first layer
        that says (conv2d: 2)."""
        if self.input is not None:
            return len(self.input) - 1
        for planned in self.layers:
            match planned.layer:
                case ConvLayer(op=op) if op.ndim:
                    return op.ndim
                case AdaptiveLayer(ndim=ndim) | BatchNormLayer(ndim=ndim) if ndim > 1:
                    return ndim
                case _:
                    continue
        return None


# --- results ------------------------------------------------------------------------------------


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
        self, extents: Sequence[int], strides: Sequence[Fraction], offsets: Sequence[Fraction]
    ) -> ReceptiveField:
        """After a sliding window of ``extents`` (in this layer's input elements), moving by
        ``strides`` elements, whose first window is centred ``offsets`` elements from element 0."""
        return ReceptiveField(
            tuple(r + (e - 1) * j for r, e, j in zip(self.size, extents, self.jump)),
            tuple(j * s for j, s in zip(self.jump, strides)),
            tuple(st + o * j for st, o, j in zip(self.start, offsets, self.jump)),
        )

    def bounds(self, axis: int) -> tuple[Fraction, Fraction]:
        """First and last input coordinate output element 0 sees along ``axis``."""
        half = (self.size[axis] - 1) / 2
        return self.start[axis] - half, self.start[axis] + half


@dataclass(frozen=True)
class MacCount:
    """A conv layer's MACs split by what they multiply (see the module docstring)."""

    useful: int
    zero: int  # a direct form's MACs on zeros: padding, or a transposed conv's inserted zeros
    cropped: int  # a transposed conv's MACs landing in the padding it crops


@dataclass(frozen=True)
class LayerResult:
    """One layer of a network applied to its inputs."""

    index: int
    name: str
    type: str
    summary: str
    input_shapes: tuple[Shape, ...]  # each input: (N, C, *spatial) or (N, features)
    output_shape: Shape
    params: int
    macs: int
    rf: ReceptiveField | None
    expect: Shape | None = None
    expect_text: str | None = None
    shape: LayerShape | None = None
    sources: tuple[str, ...] = ()  # names of the tensors it reads ("input": the network input)
    explicit_from: bool = False
    mac_count: MacCount | None = None
    non_trainable_params: int = 0  # BatchNorm's running mean and variance (Keras counts them)
    source_labels: tuple[str, ...] = ()  # the sources as tables show them ("layer 5")

    @property
    def input_shape(self) -> Shape:
        """The first input (the only one but for a merge)."""
        return self.input_shapes[0]

    @property
    def expect_ok(self) -> bool | None:
        if self.expect is None:
            return None
        return self.expect in (self.output_shape, self.output_shape[1:])

    @property
    def is_merge(self) -> bool:
        return self.type in {op.value for op in MergeOp}


@dataclass(frozen=True)
class NetworkResult:
    """Every layer's result, the totals and the expectations that failed."""

    input_shape: Shape
    layers: tuple[LayerResult, ...]
    source: str = ""
    is_graph: bool = False
    readers: tuple[tuple[int, ...], ...] = ()  # per tensor (0 = input): the layers reading it

    @property
    def total_params(self) -> int:
        return sum(layer.params for layer in self.layers)

    @property
    def total_non_trainable_params(self) -> int:
        return sum(layer.non_trainable_params for layer in self.layers)

    @property
    def total_macs(self) -> int:
        return sum(layer.macs for layer in self.layers)

    @property
    def total_flops(self) -> int:
        """FLOPs as 2 x MACs (one multiply and one add per MAC)."""
        return 2 * self.total_macs

    @property
    def total_useful_macs(self) -> int:
        return sum(
            layer.mac_count.useful if layer.mac_count else layer.macs for layer in self.layers
        )

    @property
    def total_zero_macs(self) -> int:
        return sum(layer.mac_count.zero for layer in self.layers if layer.mac_count)

    @property
    def output_shape(self) -> Shape:
        return self.layers[-1].output_shape if self.layers else self.input_shape

    @property
    def mismatches(self) -> list[LayerResult]:
        return [layer for layer in self.layers if layer.expect_ok is False]


# --- planning -----------------------------------------------------------------------------------


def plan_network(spec: NetworkSpec) -> Plan:
    """Type every layer's parameters and resolve every ``from`` and ``expect`` reference, once.

    A malformed layer (an unknown key, a wrong type, a reference to an unknown or later layer)
    is a MalformedInputError naming the layer; shapes are checked by run_plan.
    """
    names: dict[str, int] = {"input": 0}
    planned: list[PlannedLayer] = []
    for number, raw_layer in enumerate(spec.layers, start=1):
        raw = dict(raw_layer)
        kind = str(raw.pop("layer", raw.pop("type", "")))
        given_name = raw.pop("name", None)
        if given_name is not None and not isinstance(given_name, str):
            raise MalformedInputError(
                f"layer {number}: name: expected a string, got {given_name!r:.60}"
            )
        name = str(number) if given_name is None else given_name
        where = (
            f"layer {number}"
            + (f' "{name}"' if given_name is not None else "")
            + (f" ({kind or '?'})")
        )
        try:
            if given_name is not None:
                _check_name(name, number, names)
            explicit = "from" in raw
            sources = _sources(raw.pop("from", None), number, names)
            expect = _expect(raw.pop("expect"), names) if "expect" in raw else None
            layer = plan_layer(kind, raw)
            _check_arity(layer, kind, sources)
        except ConvcalcError as error:
            raise type(error)(f"{where}: {error}") from None
        names[name] = number
        labels = tuple("input" if s == 0 else source_label(planned[s - 1].name, s) for s in sources)
        planned.append(PlannedLayer(number, name, kind, layer, sources, expect, explicit, labels))
    return Plan(tuple(planned), spec.input, spec.batch, spec.source, spec.input_hint)


def source_label(name: str, number: int) -> str:
    """How messages and tables name a tensor: ``input``, a layer's name, or ``layer 5`` for an
    unnamed layer (whose name is its number)."""
    return f"layer {number}" if name == str(number) else name


def _check_name(name: str, number: int, names: dict[str, int]) -> None:
    if name in names:
        what = "the network input" if name == "input" else f"layer {names[name]}"
        raise MalformedInputError(f"name: {name!r} is already {what}; names are unique")
    if not name:
        raise MalformedInputError("name: empty; a layer's name is a non-empty string")


def _sources(value: Any, number: int, names: dict[str, int]) -> tuple[int, ...]:
    """``from``: a name, ``input``, a layer number, or a list of them (default: the layer
    before, or the network input for the first layer)."""
    if value is None:
        return (number - 1,)
    values = value if isinstance(value, list) else [value]
    if not values:
        raise MalformedInputError("from: an empty list; name the layers this one reads")
    sources = []
    for item in values:
        if isinstance(item, bool) or not isinstance(item, (str, int)):
            raise MalformedInputError(f"from: expected layer names, got {item!r}")
        key = str(item)
        if key not in names:
            if re.fullmatch(r"[0-9]+", key) and int(key) >= number:
                raise MalformedInputError(
                    f"from: layer {key} is not before this one (layer {number}); a layer reads "
                    "only the network input and earlier layers"
                )
            earlier = ", ".join(name for name in names) if len(names) <= 40 else None
            hint = f" (earlier: {earlier})" if earlier else ""
            raise MalformedInputError(
                f"from: {key!r} is not the input or an earlier layer{hint}; a layer reads only "
                "the network input and layers before it"
            )
        sources.append(names[key])
    return tuple(sources)


def _expect(value: Any, names: dict[str, int]) -> Expect:
    if isinstance(value, list):
        shape = _int_tuple(value, "expect")
        return Expect("x".join(map(str, shape)), shape=shape)
    text = str(value)
    if re.fullmatch(r"[\s0-9x×,()\[\]]+", text):  # "64x56x56", as in the inline form
        shape = parse_size_list(text, "expect", minimum=1)
        return Expect("x".join(map(str, shape)), shape=shape)
    if text in ("input", "network.input"):
        return Expect(text, layer=0)
    target, _, side = text.rpartition(".")
    if side not in ("input", "output") or target not in names or target == "input":
        known = ", ".join(name for name in names if name != "input") or "none yet"
        raise MalformedInputError(
            f"expect: {text!r} is not a shape or NAME.input / NAME.output of an earlier layer "
            f"(earlier layers: {known})"
        )
    return Expect(text, layer=names[target], side=Side(side))


def _check_arity(layer: Layer, kind: str, sources: tuple[int, ...]) -> None:
    match layer:
        case MergeLayer(op=op, constant=constant):
            if constant is not None and len(sources) != 1:
                raise MalformedInputError(
                    f"{op.value} with a constant takes one input, not {len(sources)}"
                )
            if constant is None and len(sources) < 2:
                raise MalformedInputError(
                    f'{op.value} merges two or more tensors: from = ["a", "b"] (or one and '
                    "constant = [shape])"
                )
        case (
            ConvLayer()
            | AdaptiveLayer()
            | PointwiseLayer()
            | BatchNormLayer()
            | UpsampleLayer()
            | FlattenLayer()
            | LinearLayer()
            | ReshapeLayer()
            | PermuteLayer()
            | PadLayer()
            | SqueezeLayer()
            | UnsqueezeLayer()
            | MeanLayer()
            | SliceLayer()
            | ChunkLayer()
            | PixelShuffleLayer()
        ):
            if len(sources) != 1:
                raise MalformedInputError(
                    f"from: {kind} takes one input, not {len(sources)}; combine them first "
                    "with an add, mul or cat layer"
                )
        case _:
            assert_never(layer)


def _fold(kind: str) -> str:
    return re.sub(r"[\s_\-.]", "", kind.lower()).removeprefix("torchnn").removeprefix("nn")


def plan_layer(kind: str, raw: dict[str, Any]) -> Layer:
    """One ``[[layer]]`` table (without name, from, expect) as a typed layer."""
    folded = _fold(kind)
    if folded in _MERGES:
        op = _MERGES[folded]
        _check_keys(raw, frozenset({"dim"}) if op is MergeOp.CAT else frozenset({"constant"}), kind)
        constant = None
        if "constant" in raw:
            value = raw["constant"]
            constant = () if value == [] else _int_tuple(value, "constant")
        return MergeLayer(op, _int(raw, "dim", 1, minimum=None), constant)
    tensor_op = _plan_tensor_op(folded, kind, raw)
    if tensor_op is not None:
        return tensor_op
    if folded in _SHAPE_PRESERVING:
        _check_keys(raw, _KEYS["same"], kind)
        params = _int(raw, "num_parameters", 1) if folded == "prelu" else 0
        kept = _int(raw, "non_trainable_params", 0, minimum=0)
        return PointwiseLayer(kind.lower(), params, kept)
    if folded in _UPSAMPLE:
        _check_keys(raw, _KEYS["upsample"], kind)
        return _plan_upsample(raw)
    if folded == "flatten":
        _check_keys(raw, _KEYS["flatten"], kind)
        return FlattenLayer(_int(raw, "start_dim", 1, minimum=None), _int(raw, "end_dim", -1, None))
    if folded in ("linear", "dense", "fc"):
        _check_keys(raw, _KEYS["linear"], kind)
        if "out_features" not in raw:
            raise MalformedInputError("out_features: linear needs out_features (f10 inline)")
        return LinearLayer(
            _int(raw, "in_features", None) if "in_features" in raw else None,
            _int(raw, "out_features", None),
            _flag(raw, "bias", True),
        )
    match = _BATCHNORM.match(folded)
    if match:
        _check_keys(raw, _KEYS["batchnorm"], kind)
        return BatchNormLayer(
            int(match.group(1)),
            _int(raw, "num_features", None) if "num_features" in raw else None,
            _flag(raw, "affine", True),
            _flag(raw, "track_running_stats", True),
            _flag(raw, "bias", True),
        )
    match = _ADAPTIVE.match(folded)
    if match:
        _check_keys(raw, _KEYS["adaptive"], kind)
        kind_ = OpKind.ADAPTIVEAVGPOOL if match.group(1) == "avg" else OpKind.ADAPTIVEMAXPOOL
        return _plan_adaptive(kind_, int(match.group(2)), raw)
    try:
        name = parse_op(kind)
    except MalformedInputError:
        raise MalformedInputError(f"unknown layer {kind!r}; net knows {known_layers()}") from None
    if not name.kind.family.dimensioned:
        raise MalformedInputError(
            f"layer {kind!r}: {name.kind.torch_name} changes the tensor's rank, which net does "
            f"not follow; `convcalc shape {name.kind.value}` and `trace` take it"
        )
    if name.kind.is_adaptive:
        _check_keys(raw, _KEYS["adaptive"], kind)
        return _plan_adaptive(name.kind, name.ndim or 0, raw)
    from convcalc.families import family

    settings = frozenset(s.keyword for s in name.kind.family.settings)
    _check_keys(raw, family(name.kind).net_keys | settings, kind)
    return _plan_conv(name, raw)


def _ints(value: Any, key: str) -> tuple[int, ...]:
    """A list of integers of any sign (dimensions, reshape sizes)."""
    values = value if isinstance(value, list) else [value]
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        raise MalformedInputError(f"{key}: expected integers, got {value!r}")
    return tuple(values)


def _plan_tensor_op(folded: str, kind: str, raw: dict[str, Any]) -> TensorOp | None:
    """reshape (shape), permute (dims), pad (pads: [before, after] per dimension from the
    first, negative crops), squeeze / unsqueeze (dims), mean (dims, keepdim)."""
    match folded:
        case "reshape" | "view":
            _check_keys(raw, frozenset({"shape"}), kind)
            return ReshapeLayer(_ints(_required(raw, "shape", kind), "shape"))
        case "permute" | "transpose":
            _check_keys(raw, frozenset({"dims"}), kind)
            return PermuteLayer(_ints(_required(raw, "dims", kind), "dims"))
        case "pad":
            _check_keys(raw, frozenset({"pads", "mode", "value"}), kind)
            pads = _required(raw, "pads", kind)
            if not isinstance(pads, list) or not all(
                isinstance(p, list) and len(p) == 2 for p in pads
            ):
                raise MalformedInputError(
                    f"pads: expected [before, after] per dimension, got {pads!r}"
                )
            return PadLayer(tuple((a, b) for a, b in (_ints(p, "pads") for p in pads)))
        case "squeeze":
            _check_keys(raw, frozenset({"dims"}), kind)
            return SqueezeLayer(_ints(raw["dims"], "dims") if "dims" in raw else None)
        case "unsqueeze":
            _check_keys(raw, frozenset({"dims"}), kind)
            return UnsqueezeLayer(_ints(_required(raw, "dims", kind), "dims"))
        case "slice":
            _check_keys(raw, frozenset({"dims", "starts", "stops", "steps"}), kind)
            dims = _ints(_required(raw, "dims", kind), "dims")
            starts = _ints(_required(raw, "starts", kind), "starts")
            stops = _ints(_required(raw, "stops", kind), "stops")
            steps = _ints(raw.get("steps", [1] * len(dims)), "steps")
            if not len(dims) == len(starts) == len(stops) == len(steps):
                raise MalformedInputError("slice: dims, starts, stops and steps differ in length")
            return SliceLayer(dims, starts, stops, steps)
        case "chunk":
            _check_keys(raw, frozenset({"dim", "chunks", "index"}), kind)
            chunks = _int(raw, "chunks", None)
            index = _int(raw, "index", None, minimum=0)
            if index >= chunks:
                raise MalformedInputError(f"index: {index} is not one of {chunks} chunks")
            return ChunkLayer(_int(raw, "dim", 1, minimum=None), chunks, index)
        case "pixelshuffle" | "depthtospace" | "pixelunshuffle" | "spacetodepth":
            up = folded in ("pixelshuffle", "depthtospace")
            key = "upscale_factor" if up else "downscale_factor"
            _check_keys(raw, frozenset({key}), kind)
            _required(raw, key, kind)
            return PixelShuffleLayer(_int(raw, key, None), up)
        case "mean" | "reducemean":
            _check_keys(raw, frozenset({"dims", "keepdim"}), kind)
            return MeanLayer(
                _ints(_required(raw, "dims", kind), "dims"), _flag(raw, "keepdim", False)
            )
        case _:
            return None


def _required(raw: dict[str, Any], key: str, kind: str) -> Any:
    if key not in raw:
        raise MalformedInputError(f"{key}: {kind} needs {key}")
    return raw[key]


def _check_keys(raw: dict[str, Any], keys: frozenset[str], kind: str) -> None:
    unknown = set(raw) - keys
    if unknown:
        takes = sorted(keys | {"name", "from", "expect"})
        raise MalformedInputError(f"unknown parameter(s) {sorted(unknown)}; {kind} takes {takes}")


def _plan_conv(name: OpName, raw: dict[str, Any]) -> ConvLayer:
    kind = name.kind
    convention = str(raw.get("convention", "torch")).lower()
    if convention not in ("torch", "tf", "keras", "onnx"):
        raise MalformedInputError(
            f"convention: expected torch, tf, keras or onnx, got {raw['convention']!r}"
        )
    padding = _padding(raw.get("padding", 0))
    if kind.is_pool:
        out_channels = None
    elif "out_channels" not in raw:
        raise MalformedInputError(f"out_channels: {kind.value} needs out_channels (c64 inline)")
    else:
        out_channels = _int(raw, "out_channels", None)
    if "kernel_size" not in raw:
        raise MalformedInputError(f"kernel_size: {kind.value} needs kernel_size (k3 inline)")
    given_op = raw.get("output_padding")
    args = LayerArgs(
        kernel_size=_sizes(raw["kernel_size"], "kernel_size"),
        stride=_sizes(raw["stride"], "stride") if raw.get("stride") is not None else None,
        padding=padding,
        dilation=_sizes(raw.get("dilation", 1), "dilation"),
        output_padding=None if given_op is None else _sizes(given_op, "output_padding", 0),
        ceil_mode=_flag(raw, "ceil_mode", False),
        count_include_pad=_flag(raw, "count_include_pad", True)
        if "count_include_pad" in raw or convention == "torch"
        else None,
        output_shape=_sizes(raw["output_shape"], "output_shape")
        if raw.get("output_shape") is not None
        else None,
        groups=_int(raw, "groups", 1),
        in_channels=_int(raw, "in_channels", None) if raw.get("in_channels") is not None else None,
        out_channels=out_channels,
    )
    settings = tuple(
        (s.keyword, _setting_text(raw[s.keyword], s.keyword))
        for s in kind.family.settings
        if s.keyword in raw
    )
    args = replace(args, settings=settings)
    # padding_mode (reflect/replicate/circular) pads by the same amount: the shape is the same
    return ConvLayer(name, args, _flag(raw, "bias", True), convention)


def _setting_text(value: Any, key: str) -> str:
    """A family's setting in a table (a number, or "inf"), as the text the core parses."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise MalformedInputError(f"{key}: expected a number, got {value!r}")
    if isinstance(value, float) and value != value:
        raise MalformedInputError(f"{key}: expected a number, got nan")
    return str(value)


def _padding(value: Any) -> Any:
    """An integer, one per dimension, a mode ('same', 'valid', ONNX's 'same_upper' ...), a
    string as --p takes it ('1:2,0'), or [before, after] pairs per dimension."""
    from convcalc.specs import parse_padding

    if isinstance(value, str):
        return parse_padding(value, "padding")
    if isinstance(value, list) and value and all(isinstance(v, list) for v in value):
        pairs = []
        for pair in value:
            if len(pair) != 2 or not all(
                isinstance(v, int) and not isinstance(v, bool) for v in pair
            ):
                raise MalformedInputError(f"padding: expected [before, after] pairs, got {value!r}")
            pairs.append((pair[0], pair[1]))
        return tuple(pairs)
    padding = tuple(_as_list(value, "padding"))
    if min(padding) < 0:
        raise MalformedInputError(f"padding: must be >= 0, got {list(padding)}")
    return padding


def _sizes(value: Any, key: str, minimum: int = 1) -> tuple[int, ...]:
    values = tuple(_as_list(value, key))
    if min(values) < minimum:
        rule = "positive" if minimum == 1 else f">= {minimum}"
        raise MalformedInputError(f"{key}: must be {rule}, got {list(values)}")
    return values


def _plan_adaptive(kind: OpKind, ndim: int, raw: dict[str, Any]) -> AdaptiveLayer:
    if "output_size" not in raw:
        raise MalformedInputError("output_size: adaptive pools need output_size (out7 inline)")
    given = raw["output_size"]
    wanted: list[Any] = (
        list(parse_size_list(given, "output_size", minimum=1))
        if isinstance(given, str)
        else (given if isinstance(given, list) else [given])
    )
    for want in wanted:
        if want is not None and (not isinstance(want, int) or isinstance(want, bool) or want < 1):
            raise MalformedInputError(f"output_size: expected positive integers, got {want!r}")
    if ndim == 0:
        ndim = len(wanted)
    if len(wanted) == 1:
        wanted = wanted * ndim
    if len(wanted) != ndim:
        raise MalformedInputError(f"output_size: give 1 or {ndim} values, got {wanted}")
    return AdaptiveLayer(kind, ndim, tuple(wanted))


def _plan_upsample(raw: dict[str, Any]) -> UpsampleLayer:
    if ("scale_factor" in raw) == ("size" in raw):
        raise MalformedInputError("give exactly one of scale_factor and size")
    if "size" in raw:
        return UpsampleLayer(_sizes(raw["size"], "size"), None)
    given = raw["scale_factor"]
    factors = given if isinstance(given, list) else [given]
    if not factors or not all(
        isinstance(f, (int, float)) and not isinstance(f, bool) and f > 0 and math.isfinite(f)
        for f in factors
    ):
        raise MalformedInputError(f"scale_factor: expected positive numbers, got {given!r}")
    return UpsampleLayer(None, tuple(factors))


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
        f"linear, flatten, upsample, pixelshuffle, pixelunshuffle, the tensor ops reshape, "
        "permute, pad, squeeze, unsqueeze, slice, chunk and mean, the merges add, sub, mul, "
        f"div and cat, and shape-preserving "
        f"{', '.join(others)}"
    )


# --- evaluation -----------------------------------------------------------------------------------


class Applied(NamedTuple):
    """What one layer computes; run_plan adds the layer's number, name and inputs."""

    type: str
    summary: str
    output: Shape
    params: int = 0
    macs: int = 0
    rf: ReceptiveField | None = None
    shape: LayerShape | None = None
    mac_count: MacCount | None = None
    non_trainable: int = 0  # BatchNorm's running mean and variance


@dataclass(frozen=True)
class Failure:
    """The first layer of a run that fails, and why (the error carries the layer's location)."""

    layer: PlannedLayer
    error: ConvcalcError

    @property
    def message(self) -> str:
        return str(self.error)


def run_network(
    spec: NetworkSpec, input_shape: Shape | None = None, batch: int | None = None
) -> NetworkResult:
    """Plan and run a parsed spec (see plan_network, run_plan)."""
    return run_plan(plan_network(spec), input_shape, batch)


def network_input(plan: Plan, input_shape: Shape | None, batch: int | None) -> Shape:
    """(N, C, *spatial): the shape given, else the spec's; the batch given, else the spec's."""
    shape_in = input_shape or plan.input
    if shape_in is None:
        hint = f" ({plan.input_hint})" if plan.input_hint else ""
        raise MalformedInputError(
            "input: give the input shape (C, *spatial) with --in or `input = [...]` in the "
            f"spec{hint}"
        )
    return (batch or plan.batch or 1, *shape_in)


def run_plan(
    plan: Plan, input_shape: Shape | None = None, batch: int | None = None
) -> NetworkResult:
    """Apply every layer to its inputs; stop at the first invalid one with its index and name."""
    outcome = evaluate(plan, network_input(plan, input_shape, batch))
    if isinstance(outcome, Failure):
        raise outcome.error
    return outcome


class Memo:
    """Layer shapes already computed in a size sweep, by layer and input shape."""

    def __init__(self) -> None:
        self.specs: dict[tuple[int, ...], LayerSpec] = {}
        self.convs: dict[
            tuple[int, Shape], tuple[LayerSpec, LayerShape, Shape] | ConvcalcError
        ] = {}
        self.applied: dict[tuple[int, Shape], Applied] = {}  # shapes only, no counts
        self.dims: dict[int, dict[tuple[int, int], DimShape]] = {}  # by layer: (axis, size)


def evaluate(plan: Plan, full_input: Shape) -> NetworkResult | Failure:
    """Run the plan on ``full_input`` (N, C, *spatial): every layer's shapes, counts and
    receptive field, or the first layer that is invalid (check_shapes is a size sweep's
    shapes-only run)."""
    spatial_in = full_input[2:]
    shapes: list[Shape] = [full_input]
    rfs: list[ReceptiveField | None] = [ReceptiveField.identity(len(spatial_in))]
    results: list[LayerResult] = []
    for planned in plan.layers:
        inputs = tuple(shapes[s] for s in planned.sources)
        in_rfs = tuple(rfs[s] for s in planned.sources)
        try:
            applied = _apply(planned, inputs, in_rfs, spatial_in, True, None)
            expect, expect_text = _expected(planned.expect, shapes, results, full_input)
        except ConvcalcError as error:
            return Failure(planned, type(error)(f"{planned.where}: {error}"))
        result = LayerResult(
            planned.number,
            planned.name,
            applied.type,
            applied.summary,
            inputs,
            applied.output,
            applied.params,
            applied.macs,
            applied.rf,
            expect,
            expect_text,
            applied.shape,
            tuple(plan.tensor_name(s) for s in planned.sources),
            planned.explicit_from,
            applied.mac_count,
            applied.non_trainable,
            planned.source_labels,
        )
        results.append(result)
        shapes.append(applied.output)
        rfs.append(applied.rf)
    readers: list[list[int]] = [[] for _ in range(len(plan.layers) + 1)]
    for planned in plan.layers:
        for source in planned.sources:
            readers[source].append(planned.number)
    return NetworkResult(
        full_input,
        tuple(results),
        plan.source,
        plan.is_graph,
        tuple(tuple(r) for r in readers),
    )


def check_shapes(plan: Plan, full_input: Shape, memo: Memo) -> Shape | Failure:
    """A size sweep's run: the output shape, or the first layer in file order that fails (it
    is invalid for its input, its merge does not line up, or its ``expect`` does not hold)."""
    spatial_in = full_input[2:]
    shapes: list[Shape] = [full_input]
    for planned in plan.layers:
        sources = planned.sources
        if type(planned.layer) is PointwiseLayer:  # the shape passes through: nothing to check
            got = shapes[sources[0]]
        else:
            inputs = (
                (shapes[sources[0]],) if len(sources) == 1 else tuple(shapes[s] for s in sources)
            )
            try:
                got = _apply(planned, inputs, (), spatial_in, False, memo).output
            except ConvcalcError as error:
                return Failure(planned, type(error)(f"{planned.where}: {error}"))
        shapes.append(got)
        if planned.expect is not None:
            want = _wanted(planned.expect, plan, shapes)
            if want not in (got, got[1:]):
                line = _mismatch_line(
                    planned.number, planned.name, planned.type, got, planned.expect.text, want
                )
                return Failure(planned, ConvcalcError("expect failed: " + line))
    return shapes[-1]


def _wanted(expect: Expect, plan: Plan, shapes: list[Shape]) -> Shape:
    if expect.shape is not None:
        return expect.shape
    assert expect.layer is not None, "an expect is a shape or a reference"
    if expect.layer == 0 or expect.side is Side.OUTPUT:
        return shapes[expect.layer]
    return shapes[plan.layers[expect.layer - 1].sources[0]]


def _expected(
    expect: Expect | None, shapes: list[Shape], results: list[LayerResult], full_input: Shape
) -> tuple[Shape | None, str | None]:
    if expect is None:
        return None, None
    if expect.shape is not None:
        return expect.shape, expect.text
    assert expect.layer is not None, "an expect is a shape or a reference"
    if expect.layer == 0:
        return full_input, expect.text
    target = results[expect.layer - 1]
    return (target.input_shape if expect.side is Side.INPUT else shapes[expect.layer]), expect.text


def _apply(
    planned: PlannedLayer,
    inputs: tuple[Shape, ...],
    rfs: tuple[ReceptiveField | None, ...],
    net_spatial: Shape,
    detail: bool,
    memo: Memo | None,
) -> Applied:
    layer = planned.layer
    current = inputs[0]
    rf = rfs[0] if rfs else None
    match layer:
        case ConvLayer():
            return _conv(planned.number, layer, current, rf, detail, memo)
        case AdaptiveLayer():
            return _adaptive(layer, current, rf, detail)
        case PointwiseLayer(name=name, params=params, non_trainable=kept):
            return Applied(name, name, current, params, 0, rf, non_trainable=kept)
        case BatchNormLayer():
            return _batchnorm(layer, current, rf)
        case UpsampleLayer():
            return _upsample(layer, current, rf, detail)
        case FlattenLayer():
            return _flatten(layer, current, rf)
        case LinearLayer():
            return _linear(layer, current, rf)
        case MergeLayer(constant=None):
            output = merge_shape(layer, inputs, planned.source_labels)
            merged = _merge_rf(rfs, inputs, output, net_spatial) if detail else None
            summary = f"cat dim{layer.dim}" if layer.op is MergeOp.CAT else layer.op.value
            return Applied(layer.op.value, summary, output, rf=merged)
        case MergeLayer(constant=constant):
            assert constant is not None, "matched above when None"
            labels = (planned.source_labels[0], "the constant")
            output = merge_shape(layer, (current, constant), labels)
            same = output == current
            summary = f"{layer.op.value} constant {'x'.join(map(str, constant)) or 'scalar'}"
            return Applied(layer.op.value, summary, output, rf=rf if same else None)
        case (
            ReshapeLayer()
            | PermuteLayer()
            | PadLayer()
            | SqueezeLayer()
            | UnsqueezeLayer()
            | MeanLayer()
            | SliceLayer()
            | ChunkLayer()
            | PixelShuffleLayer()
        ):
            output = tensor_op_shape(layer, current)
            return Applied(
                _tensor_op_name(layer),
                _tensor_op_summary(layer),
                output,
                rf=_tensor_op_rf(layer, current, output, rf, len(net_spatial)) if detail else None,
            )
        case _:
            assert_never(layer)


_TENSOR_OP_NAMES: dict[type, str] = {
    ReshapeLayer: "reshape",
    PermuteLayer: "permute",
    PadLayer: "pad",
    SqueezeLayer: "squeeze",
    UnsqueezeLayer: "unsqueeze",
    MeanLayer: "mean",
    SliceLayer: "slice",
    ChunkLayer: "chunk",
}


def _tensor_op_name(layer: TensorOp) -> str:
    if isinstance(layer, PixelShuffleLayer):
        return layer.name
    return _TENSOR_OP_NAMES[type(layer)]


def _tensor_op_summary(layer: TensorOp) -> str:
    match layer:
        case ReshapeLayer(shape=shape):
            return f"reshape {list(shape)}"
        case PermuteLayer(dims=dims):
            return f"permute {list(dims)}"
        case PadLayer(pads=pads):
            return "pad " + ",".join(f"{a}:{b}" for a, b in pads)
        case SqueezeLayer(dims=dims):
            return "squeeze" + ("" if dims is None else f" {list(dims)}")
        case UnsqueezeLayer(dims=dims):
            return f"unsqueeze {list(dims)}"
        case MeanLayer(dims=dims, keepdim=keepdim):
            return f"mean {list(dims)}" + (" keepdim" if keepdim else "")
        case SliceLayer(dims=dims, starts=starts, stops=stops, steps=steps):
            parts = (
                f"{d}:[{a}:{'' if b >= 2**62 else b}{'' if c == 1 else f':{c}'}]"
                for d, a, b, c in zip(dims, starts, stops, steps)
            )
            return "slice " + " ".join(parts)
        case ChunkLayer(dim=dim, chunks=chunks, index=index):
            return f"chunk {index} of {chunks} on dim {dim}"
        case PixelShuffleLayer(factor=r):
            return f"{layer.name} {layer.keyword}={r}"
        case _:
            assert_never(layer)


def _tensor_op_rf(
    layer: TensorOp, shape: Shape, out: Shape, rf: ReceptiveField | None, ndim: int
) -> ReceptiveField | None:
    """A pad shifts the field's start; ops that leave the spatial dimensions alone keep it; a
    mean over every spatial dimension, or anything ending at (N, features), sees the whole
    input; anything else has no single field."""
    if rf is None or rf.whole_input:
        return rf
    if isinstance(layer, PadLayer):
        full = ((0, 0),) * (len(shape) - len(layer.pads)) + layer.pads
        if len(shape) != ndim + 2 or any(p != (0, 0) for p in full[:2]):
            return None
        before = [Fraction(b) for b, _ in full[2:]]
        return ReceptiveField(
            rf.size, rf.jump, tuple(s - b * j for s, b, j in zip(rf.start, before, rf.jump))
        )
    if isinstance(layer, PixelShuffleLayer):
        if ndim != 2 or len(shape) != 4:
            return None
        r = layer.factor
        if layer.up:  # output (h, w) is input (h // r, w // r): nearest upsampling's field
            return ReceptiveField(rf.size, tuple(j / r for j in rf.jump), rf.start)
        return rf.window([r, r], [Fraction(r)] * 2, [Fraction(r - 1, 2)] * 2)
    if isinstance(layer, MeanLayer) and len(shape) == ndim + 2:
        if {d % len(shape) for d in layer.dims} >= set(range(2, ndim + 2)):
            return _whole(rf)
    if len(out) <= 2:
        return _whole(rf)
    return rf if keeps_spatial(layer, shape, out, ndim) else None


def _spatial(current: Shape, ndim: int | None, what: str) -> Shape:
    if ndim is not None and len(current) != ndim + 2:
        raise ConvcalcError(
            f"input: {what} expects (N, C, {', '.join(dimension_names(ndim))}) "
            f"but gets {shape_text(current)}"
        )
    return current[2:]


def _conv(
    number: int,
    layer: ConvLayer,
    current: Shape,
    rf: ReceptiveField | None,
    detail: bool,
    memo: Memo | None,
) -> Applied:
    if memo is not None and not detail:
        known = memo.applied.get((number, current))
        if known is not None:
            return known
    found = memo.convs.get((number, current)) if memo is not None else None
    if found is None:
        try:
            found = _conv_shape(number, layer, current, memo)
        except ConvcalcError as error:
            found = error
        if memo is not None:
            memo.convs[(number, current)] = found
    if isinstance(found, ConvcalcError):
        raise found
    spec, result, out = found
    if not detail:
        light = Applied(spec.name, "", out, shape=result)
        if memo is not None:
            memo.applied[(number, current)] = light
        return light
    params, macs = _conv_counts(spec, current, out)
    mac_count = None if spec.kind.is_pool else mac_split(spec, result, current, out)
    return Applied(
        spec.name, _summary(spec), out, params, macs, _conv_rf(spec, rf, result), result, mac_count
    )


def _conv_shape(
    number: int, layer: ConvLayer, current: Shape, memo: Memo | None
) -> tuple[LayerSpec, LayerShape, Shape]:
    """The layer resolved for this input: its spec (which, for PyTorch's rules without an
    output_size, depends on the channels and the number of dimensions only, so a sweep
    resolves it once) and its shape."""
    kind = layer.op.kind
    ndim = layer.op.ndim or len(current) - 2
    if ndim < 1:
        raise ConvcalcError(
            f"input: {kind.value} needs spatial dimensions, got {shape_text(current)}"
        )
    _spatial(current, ndim, f"{kind.value}{ndim}d")
    c_in = current[1]
    given = layer.args.in_channels
    if given is not None and given != c_in:
        raise ConvcalcError(f"in_channels: {given} given, but the input has {c_in} channels")
    # PyTorch's padding never depends on the input size; TF/Keras/ONNX 'same' does
    size_free = layer.convention == "torch" and layer.args.output_shape is None
    key = (number, c_in, ndim) if size_free else (number, c_in, *current[2:])
    spec = memo.specs.get(key) if memo is not None else None
    if spec is None:
        from convcalc.conventions import resolve_args

        out_channels = c_in if kind.is_pool else layer.args.out_channels
        args = replace(layer.args, in_channels=c_in, out_channels=out_channels)
        spec = resolve_args(layer.convention, OpName(kind, ndim), current[2:], args).spec
        spec = replace(spec, bias=layer.bias)
        if memo is not None:
            memo.specs[key] = spec
    known = memo.dims.setdefault(number, {}) if memo is not None else None
    result = layer_shape(spec, current[2:], current[0], known)
    out = (current[0], spec.out_channels or c_in, *result.output)
    return spec, result, out


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


def landing_count(count: int, stride: int, offset: int, bound: int) -> int:
    """How many x in [0, count) put x*stride + offset inside [0, bound).

    >>> landing_count(5, 1, -1, 6)  # a conv's first tap over padding 1: output 0 reads a zero
    4
    """
    low = max(0, -(offset // stride))
    high = min(count - 1, (bound - 1 - offset) // stride)
    return max(0, high - low + 1)


def mac_split(spec: LayerSpec, result: LayerShape, current: Shape, out: Shape) -> MacCount:
    """A conv's MACs split into useful ones and those on zeros (module docstring), exactly:
    per dimension, each kernel tap lands on a real input element for a range of positions."""
    kernel = math.prod(spec.kernel_size)
    useful_taps = 1
    for dim, k, d, (before, _) in zip(result.dims, spec.kernel_size, spec.dilation, spec.padding):
        if spec.kind is OpKind.CONV:  # output o, tap t reads input o*s - p + t*d
            useful_taps *= sum(
                landing_count(dim.output, dim.stride, t * d - before, dim.input) for t in range(k)
            )
        else:  # input i, tap t writes output i*s - p + t*d
            useful_taps *= sum(
                landing_count(dim.input, dim.stride, t * d - before, dim.output) for t in range(k)
            )
    n, c_in, c_out = current[0], current[1], out[1]
    pairs = n * c_out * (c_in // spec.groups)  # (batch, output channel, input channel) triples
    useful = pairs * useful_taps
    if spec.kind is OpKind.CONV:
        return MacCount(useful, pairs * math.prod(out[2:]) * kernel - useful, 0)
    scatter = pairs * math.prod(current[2:]) * kernel
    direct = pairs * math.prod(out[2:]) * kernel
    return MacCount(useful, direct - useful, scatter - useful)


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

    parts = [spec.name, *(f"{k}={_setting(v)}" for k, v in spec.settings)]
    parts.append(f"k{one(spec.kernel_size)}")
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


def _setting(value: Fraction | float) -> str:
    if isinstance(value, float):
        return "inf" if value > 0 else "-inf"
    return str(value) if value.denominator == 1 else str(float(value))


def _adaptive(
    layer: AdaptiveLayer, current: Shape, rf: ReceptiveField | None, detail: bool
) -> Applied:
    ndim = layer.ndim
    spatial = _spatial(current, ndim, f"adaptive pool {ndim}d")
    out = [size if want is None else want for size, want in zip(spatial, layer.output_size)]
    kind = f"{layer.kind.value.replace('adaptive', 'adaptive_')}{ndim}d"
    kind = kind.replace("avgpool", "avg_pool").replace("maxpool", "max_pool")
    new_rf = rf
    if detail and rf is not None and not rf.whole_input:
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
    return Applied(kind, f"{kind} out{'x'.join(map(str, out))}", (*current[:2], *out), rf=new_rf)


def _batchnorm(layer: BatchNormLayer, current: Shape, rf: ReceptiveField | None) -> Applied:
    channels = current[1] if len(current) > 1 else current[0]
    if layer.num_features is not None and layer.num_features != channels:
        raise ConvcalcError(
            f"num_features: {layer.num_features} given, but the input has {channels} channels"
        )
    expected_rank = {1: (2, 3), 2: (4,), 3: (5,)}[layer.ndim]
    if len(current) not in expected_rank:
        raise ConvcalcError(
            f"input: batchnorm{layer.ndim}d does not take a {len(current)}-d input "
            f"{shape_text(current)}"
        )
    params = (2 if layer.bias else 1) * channels if layer.affine else 0
    name = f"batchnorm{layer.ndim}d"
    stats = 2 * channels if layer.running_stats else 0
    return Applied(name, f"{name} {channels}", current, params, 0, rf, non_trainable=stats)


def upsample_size(size: int, scale: int | float) -> int:
    """PyTorch's interpolate: ``floor(float(in) * scale_factor)`` (integer scales exactly).

    >>> upsample_size(7, 2), upsample_size(7, 1.5)
    (14, 10)
    """
    if isinstance(scale, int):
        return size * scale
    product = float(size) * float(scale)
    if not math.isfinite(product):
        raise ConvcalcError(
            f"scale_factor: {size} x {scale} overflows a float (PyTorch computes the size in "
            "floating point)"
        )
    return math.floor(product)


def _upsample(
    layer: UpsampleLayer, current: Shape, rf: ReceptiveField | None, detail: bool
) -> Applied:
    spatial = current[2:]
    if not spatial:
        raise ConvcalcError(
            f"input: upsampling needs spatial dimensions, got {shape_text(current)}"
        )
    if layer.size is not None:
        sizes = layer.size
        out = list(sizes * len(spatial) if len(sizes) == 1 else sizes)
        if len(out) != len(spatial):
            raise ConvcalcError(f"size: give 1 or {len(spatial)} values for {shape_text(current)}")
        label = f"upsample size{'x'.join(map(str, out))}"
    else:
        assert layer.scale is not None, "planning keeps exactly one of size and scale"
        factors = layer.scale * len(spatial) if len(layer.scale) == 1 else layer.scale
        if len(factors) != len(spatial):
            raise ConvcalcError(
                f"scale_factor: give 1 or {len(spatial)} values for {shape_text(current)}"
            )
        out = [upsample_size(n, f) for n, f in zip(spatial, factors)]
        if min(out) < 1:
            raise ConvcalcError(f"scale_factor: output size {out} is not positive")
        label = f"upsample x{'x'.join(str(f) for f in dict.fromkeys(factors))}"
    new_rf = rf
    if detail and rf is not None and not rf.whole_input:
        # nearest: output j copies input floor(j * in / out); element 0 copies input 0.
        scales = [Fraction(o, n) for o, n in zip(out, spatial)]
        new_rf = ReceptiveField(rf.size, tuple(j / s for j, s in zip(rf.jump, scales)), rf.start)
    return Applied("upsample", label, (*current[:2], *out), rf=new_rf)


def _flatten(layer: FlattenLayer, current: Shape, rf: ReceptiveField | None) -> Applied:
    rank = len(current)
    lo, hi = layer.start_dim % rank, layer.end_dim % rank
    if not (-rank <= layer.start_dim < rank and -rank <= layer.end_dim < rank and lo <= hi):
        raise ConvcalcError(
            f"start_dim/end_dim: {layer.start_dim}..{layer.end_dim} do not fit a {rank}-d input"
        )
    out = (*current[:lo], math.prod(current[lo : hi + 1]), *current[hi + 1 :])
    return Applied("flatten", "flatten", out, rf=_whole(rf) if len(out) <= 2 else rf)


def _whole(rf: ReceptiveField | None) -> ReceptiveField | None:
    if rf is None:
        return None
    return ReceptiveField(rf.size, rf.jump, rf.start, whole_input=True)


def _linear(layer: LinearLayer, current: Shape, rf: ReceptiveField | None) -> Applied:
    features = current[-1]
    if layer.in_features is not None and layer.in_features != features:
        raise ConvcalcError(
            f"in_features: {layer.in_features} given, but the input's last dimension is "
            f"{features} (input {shape_text(current)}; flatten first?)"
        )
    out = (*current[:-1], layer.out_features)
    params = features * layer.out_features + (layer.out_features if layer.bias else 0)
    macs = math.prod(out) * features
    return Applied(
        "linear",
        f"linear {features}->{layer.out_features}",
        out,
        params,
        macs,
        _whole(rf),
    )


# --- merges ---------------------------------------------------------------------------------------


def merge_shape(layer: MergeLayer, inputs: tuple[Shape, ...], labels: tuple[str, ...]) -> Shape:
    """The output of add/mul (PyTorch broadcasting) or cat (torch.cat), or the error naming
    the dimension, both inputs and what each gives."""
    match layer.op:
        case MergeOp.ADD | MergeOp.SUB | MergeOp.MUL | MergeOp.DIV:
            return _broadcast(inputs, labels)
        case MergeOp.CAT:
            return _cat(layer.dim, inputs, labels)
        case _:
            assert_never(layer.op)


def _mismatch(
    dim: int, labels: tuple[str, str], sizes: tuple[int, int], shapes: tuple[Shape, Shape]
) -> ConvcalcError:
    return ConvcalcError(
        f"dim {dim}: {labels[0]} gives {sizes[0]}, {labels[1]} gives {sizes[1]} "
        f"({labels[0]} {shape_text(shapes[0])}, {labels[1]} {shape_text(shapes[1])})"
    )


def _broadcast(inputs: tuple[Shape, ...], labels: tuple[str, ...]) -> Shape:
    rank = max(len(shape) for shape in inputs)
    out = [1] * rank
    owner = [0] * rank  # which input set each output dimension
    for k, shape in enumerate(inputs):
        for axis, size in enumerate(shape, start=rank - len(shape)):
            if size == out[axis] or size == 1:
                continue
            if out[axis] == 1:
                out[axis], owner[axis] = size, k
                continue
            first = owner[axis]
            raise _mismatch(
                axis,
                (labels[first], labels[k]),
                (out[axis], size),
                (inputs[first], shape),
            )
    return tuple(out)


def _cat(dim: int, inputs: tuple[Shape, ...], labels: tuple[str, ...]) -> Shape:
    first = inputs[0]
    rank = len(first)
    for label, shape in zip(labels[1:], inputs[1:]):
        if len(shape) != rank:
            raise ConvcalcError(
                f"{labels[0]} is {rank}-d {shape_text(first)}, {label} is {len(shape)}-d "
                f"{shape_text(shape)}; cat joins tensors of one rank"
            )
    if not -rank <= dim < rank:
        raise ConvcalcError(f"dim: {dim} is out of range for {rank}-d inputs (-{rank}..{rank - 1})")
    axis = dim % rank
    for label, shape in zip(labels[1:], inputs[1:]):
        for other in range(rank):
            if other != axis and shape[other] != first[other]:
                raise _mismatch(
                    other, (labels[0], label), (first[other], shape[other]), (first, shape)
                )
    return (*first[:axis], sum(shape[axis] for shape in inputs), *first[axis + 1 :])


def _merge_rf(
    rfs: tuple[ReceptiveField | None, ...],
    inputs: tuple[Shape, ...],
    output: Shape,
    net_spatial: Shape,
) -> ReceptiveField | None:
    """The union of the inputs' windows (module docstring)."""
    if any(rf is None for rf in rfs):
        return None
    fields = [rf for rf in rfs if rf is not None]
    if any(rf.whole_input for rf in fields):
        return _whole(fields[0])
    ndim = len(net_spatial)
    if len(output) != ndim + 2 or any(len(shape) != ndim + 2 for shape in inputs):
        return None
    sliding: list[ReceptiveField] = []
    whole = False
    for rf, shape in zip(fields, inputs):
        if not any(shape[2 + axis] == 1 < output[2 + axis] for axis in range(ndim)):
            sliding.append(rf)
            continue
        # broadcast: one window for every output position; regular only if it is everything
        if not all(
            rf.bounds(axis)[0] <= 0 and rf.bounds(axis)[1] >= net_spatial[axis] - 1
            for axis in range(ndim)
        ):
            return None
        whole = True
    if whole:
        return _whole(fields[0])
    jumps = {rf.jump for rf in sliding}
    if len(jumps) != 1:
        return None
    lows = [min(rf.bounds(axis)[0] for rf in sliding) for axis in range(ndim)]
    highs = [max(rf.bounds(axis)[1] for rf in sliding) for axis in range(ndim)]
    return ReceptiveField(
        tuple(high - low + 1 for low, high in zip(lows, highs)),
        sliding[0].jump,
        tuple((low + high) / 2 for low, high in zip(lows, highs)),
    )


def mismatch_text(layer: LayerResult) -> str:
    """One line naming the layer, what it gives and what was expected."""
    assert layer.expect is not None, "only a layer with an expect can mismatch"
    return _mismatch_line(
        layer.index, layer.name, layer.type, layer.output_shape, layer.expect_text, layer.expect
    )


def _mismatch_line(
    number: int, name: str, kind: str, output: Shape, text: str | None, want: Shape
) -> str:
    return (
        f'layer {number} "{name}" ({kind}): output {shape_text(output)}, expected {text} = '
        f"{shape_text(want)}"
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
