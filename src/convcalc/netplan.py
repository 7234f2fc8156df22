"""Planning a network once: every ``[[layer]]`` table typed and checked against what its kind
takes (the op families' keys, the tensor ops', the merges'), every ``from`` resolved to an
earlier layer. Standard library only."""

from __future__ import annotations

import math
import re
from dataclasses import replace
from typing import Any, assert_never

from convcalc.errors import ConvcalcError, MalformedInputError
from convcalc.netlayers import (
    AdaptiveLayer,
    BatchNormLayer,
    ConvLayer,
    Expect,
    FlattenLayer,
    InferredLayer,
    Layer,
    LinearLayer,
    MatMulLayer,
    MergeLayer,
    MergeOp,
    NormKind,
    NormLayer,
    Plan,
    PlannedLayer,
    PointwiseLayer,
    Side,
    UpsampleLayer,
)
from convcalc.netspec import NetworkSpec, _as_list, _flag, _int, _int_tuple
from convcalc.specs import (
    LayerArgs,
    OpKind,
    OpName,
    parse_op,
    parse_size_list,
)
from convcalc.tensorops import (
    ChunkLayer,
    ExpandLayer,
    MeanLayer,
    PadLayer,
    PermuteLayer,
    PixelShuffleLayer,
    ReshapeLayer,
    SliceLayer,
    SqueezeLayer,
    TensorOp,
    UnsqueezeLayer,
)

Shape = tuple[int, ...]

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
    # elementwise functions of one tensor (ONNX's decompositions: GELU's Erf, a norm's Sqrt)
    "erf",
    "sqrt",
    "exp",
    "log",
    "abs",
    "neg",
    "reciprocal",
    "floor",
    "ceil",
    "round",
    "sign",
    "softplus",
    "softsign",
    "pow",
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
    return Plan(
        tuple(planned), spec.input, spec.batch, spec.source, spec.input_hint, spec.open_input
    )


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
        case MatMulLayer():
            if len(sources) != 2:
                raise MalformedInputError(
                    f'{kind} multiplies two tensors: from = ["a", "b"], not {len(sources)}'
                )
        case InferredLayer(inputs=inputs):
            if len(sources) != max(len(inputs), 1):
                raise MalformedInputError(
                    f"from: {kind} was inferred for {len(inputs)} input(s), got {len(sources)}"
                )
        case (
            ConvLayer()
            | AdaptiveLayer()
            | PointwiseLayer()
            | BatchNormLayer()
            | NormLayer()
            | UpsampleLayer()
            | FlattenLayer()
            | LinearLayer()
            | ReshapeLayer()
            | PermuteLayer()
            | PadLayer()
            | SqueezeLayer()
            | UnsqueezeLayer()
            | MeanLayer()
            | ExpandLayer()
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
        keys = (
            frozenset({"dim"})
            if op is MergeOp.CAT
            else frozenset({"constant", "learned", "params", "macs"})
        )
        _check_keys(raw, keys, kind)
        constant = None
        if "constant" in raw:
            value = raw["constant"]
            constant = () if value == [] else _int_tuple(value, "constant")
        learned = _flag(raw, "learned", False)
        params = _int(raw, "params", 0, minimum=0)
        if (learned or params) and constant is None:
            raise MalformedInputError("learned: only a merge with a constant learns it")
        macs = _int(raw, "macs", 0, minimum=0)
        return MergeLayer(op, _int(raw, "dim", 1, minimum=None), constant, learned, params, macs)
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
    if folded in ("matmul", "bmm"):
        _check_keys(raw, frozenset(), kind)
        return MatMulLayer()
    if folded == "inferred":
        _check_keys(raw, frozenset({"op", "input_shapes", "output_shape"}), kind)
        inputs = raw.get("input_shapes", [])
        if not isinstance(inputs, list):
            raise MalformedInputError(f"input_shapes: expected a list of shapes, got {inputs!r}")
        return InferredLayer(
            str(_required(raw, "op", kind)),
            tuple(_ints(shape, "input_shapes") for shape in inputs),
            _ints(_required(raw, "output_shape", kind), "output_shape"),
        )
    norm = _plan_norm(folded, kind, raw)
    if norm is not None:
        return norm
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
    extra = frozenset({"extra_params"}) if name.kind.has_weight else frozenset()
    _check_keys(raw, family(name.kind).net_keys | settings | extra, kind)
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
        case "expand":
            _check_keys(raw, frozenset({"shape"}), kind)
            return ExpandLayer(_ints(_required(raw, "shape", kind), "shape"))
        case "mean" | "reducemean" | "reducesum" | "reducemax" | "reducemin" | "reducel2":
            _check_keys(raw, frozenset({"dims", "keepdim"}), kind)
            reduce = "mean" if folded == "mean" else folded.removeprefix("reduce")
            return MeanLayer(
                _ints(_required(raw, "dims", kind), "dims"), _flag(raw, "keepdim", False), reduce
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
    extra = _int(raw, "extra_params", 0, minimum=0)
    return ConvLayer(name, args, _flag(raw, "bias", True), convention, extra)


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


def _plan_norm(folded: str, kind: str, raw: dict[str, Any]) -> NormLayer | None:
    """layernorm (normalized_shape, elementwise_affine, bias), layernorm2d (num_channels),
    groupnorm (num_groups, num_channels, affine), instancenorm1d/2d/3d (num_features, affine)."""
    common = frozenset({"eps", "momentum", "track_running_stats"})
    match folded:
        case "layernorm":
            _check_keys(raw, common | {"normalized_shape", "elementwise_affine", "bias"}, kind)
            shape = _int_tuple(_required(raw, "normalized_shape", kind), "normalized_shape")
            affine = _flag(raw, "elementwise_affine", True)
            return NormLayer(NormKind.LAYER, shape, affine, _flag(raw, "bias", True))
        case "layernorm2d":
            keys = {"num_channels", "normalized_shape", "elementwise_affine", "bias"}
            _check_keys(raw, common | keys, kind)
            given = raw.get("num_channels", raw.get("normalized_shape"))
            shape = () if given is None else _int_tuple(given, "num_channels")  # (): the input's
            affine = _flag(raw, "elementwise_affine", True)
            return NormLayer(NormKind.LAYER2D, shape, affine, _flag(raw, "bias", True))
        case "groupnorm":
            _check_keys(raw, common | {"num_groups", "num_channels", "affine"}, kind)
            groups = _int(_required(raw, "num_groups", kind) and raw, "num_groups", None)
            channels = _int(_required(raw, "num_channels", kind) and raw, "num_channels", None)
            if channels % groups:
                raise ConvcalcError(
                    f"num_groups: num_channels={channels} must be divisible by num_groups={groups}"
                )
            return NormLayer(NormKind.GROUP, (groups, channels), _flag(raw, "affine", True))
        case "instancenorm1d" | "instancenorm2d" | "instancenorm3d":
            _check_keys(raw, common | {"num_features", "affine"}, kind)
            features = _int(raw, "num_features", None) if "num_features" in raw else None
            shape = () if features is None else (features,)
            affine = _flag(raw, "affine", False)
            if affine and features is None:
                raise MalformedInputError("num_features: an affine instancenorm needs it")
            return NormLayer(NormKind.INSTANCE, shape, affine, ndim=int(folded[-2]))
    return None


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
        "layernorm, layernorm2d, groupnorm, instancenorm1d/2d/3d, "
        f"linear, flatten, upsample, pixelshuffle, pixelunshuffle, the tensor ops reshape, "
        "permute, pad, squeeze, unsqueeze, slice, chunk, expand and mean (reducesum, reducemax, "
        "reducemin, reducel2), the merges add, sub, mul, "
        f"div and cat, matmul of two tensors, and shape-preserving "
        f"{', '.join(others)}"
    )
