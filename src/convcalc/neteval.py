"""One layer of a network on one input shape: its output shape, parameters, MACs and receptive
field (``apply``); conv and pool layers through their op family's size rule. Standard library
only."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import NamedTuple, assert_never

from convcalc.errors import ConvcalcError
from convcalc.netlayers import (
    AdaptiveLayer,
    BatchNormLayer,
    ConvLayer,
    FlattenLayer,
    InferredLayer,
    LayerResult,
    LinearLayer,
    MacCount,
    MatMulLayer,
    MergeLayer,
    MergeOp,
    NormKind,
    NormLayer,
    PlannedLayer,
    PointwiseLayer,
    ReceptiveField,
    UpsampleLayer,
)
from convcalc.shapes import DimShape, LayerShape, layer_shape
from convcalc.specs import (
    LayerSpec,
    OpKind,
    OpName,
    dimension_names,
    shape_text,
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
    keeps_spatial,
    matmul_shape,
    tensor_op_shape,
)

Shape = tuple[int, ...]


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
    matmul_macs: int = 0  # products of two activations (attention's MatMul), not in macs


def activation_products(op: str, inputs: tuple[Shape, ...], output: Shape) -> int:
    """The multiply-accumulates of an ONNX MatMul of two activations (attention's ``q @ k^T``
    and ``attn @ v``): every output element sums over the shared dimension, the first input's
    last; batch dimensions broadcast into the output. 0 for any other op passed through."""
    if op != "MatMul" or len(inputs) != 2 or not inputs[0]:
        return 0
    return math.prod(output) * inputs[0][-1]


@dataclass(frozen=True)
class Failure:
    """The first layer of a run that fails, and why (the error carries the layer's location)."""

    layer: PlannedLayer
    error: ConvcalcError

    @property
    def message(self) -> str:
        return str(self.error)


class Memo:
    """Layer shapes already computed in a size sweep, by layer and input shape."""

    def __init__(self) -> None:
        self.specs: dict[tuple[int, ...], LayerSpec] = {}
        self.convs: dict[
            tuple[int, Shape], tuple[LayerSpec, LayerShape, Shape] | ConvcalcError
        ] = {}
        self.applied: dict[tuple[int, Shape], Applied] = {}  # shapes only, no counts
        self.dims: dict[int, dict[tuple[int, int], DimShape]] = {}  # by layer: (axis, size)


def apply_layer(
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
        case NormLayer():
            return _norm(layer, current, rf)
        case InferredLayer(op=op, inputs=wanted, output=output):
            if wanted and all(w == output for w in wanted) and len(set(inputs)) == 1:
                output = current  # elementwise (its file says out == in): any size passes
            elif wanted and tuple(inputs) != wanted:
                raise ConvcalcError(
                    f"input: the file gives this {op}'s output {shape_text(output)} for the "
                    f"input {', '.join(map(shape_text, wanted))}, not "
                    f"{', '.join(map(shape_text, inputs))}; convcalc has no rule for {op}: "
                    "export the model at this input size"
                )
            return Applied(
                op.lower(),
                f"{op} (shape from the file)",
                output,
                0,
                0,
                None,
                matmul_macs=activation_products(op, inputs, output),
            )
        case MatMulLayer():
            output = matmul_shape(inputs[0], inputs[1])
            products = activation_products("MatMul", inputs, output)
            return Applied("matmul", "matmul", output, 0, 0, None, matmul_macs=products)
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
            params = math.prod(constant) if layer.learned else layer.params
            summary += " (learned)" if params else ""
            macs = layer.macs * (current[0] if current else 1)  # per sample, as the batch runs
            return Applied(layer.op.value, summary, output, params, macs, rf=rf if same else None)
        case (
            ReshapeLayer()
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
    ExpandLayer: "expand",
    SliceLayer: "slice",
    ChunkLayer: "chunk",
}


def _tensor_op_name(layer: TensorOp) -> str:
    if isinstance(layer, PixelShuffleLayer):
        return layer.name
    if isinstance(layer, MeanLayer):
        return layer.reduce
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
        case MeanLayer(dims=dims, keepdim=keepdim, reduce=reduce):
            return f"{reduce} {list(dims)}" + (" keepdim" if keepdim else "")
        case ExpandLayer(shape=shape):
            return f"expand {list(shape)}"
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
    params += layer.extra_params
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


def _norm(layer: NormLayer, current: Shape, rf: ReceptiveField | None) -> Applied:
    """The shape passes through, checked as torch checks it."""
    name = layer.kind.value + (f"{layer.ndim}d" if layer.ndim else "")
    channels = current[1] if len(current) > 1 else current[0]
    size = math.prod(layer.shape)
    match layer.kind:
        case NormKind.LAYER:
            tail = current[len(current) - len(layer.shape) :]
            if len(current) < len(layer.shape) or tail != layer.shape:
                raise ConvcalcError(
                    f"normalized_shape: {list(layer.shape)} is not the input's trailing "
                    f'dimensions {shape_text(current)}; torch: "Given normalized_shape='
                    f"{list(layer.shape)}, expected input with shape [*, "
                    f'{", ".join(map(str, layer.shape))}]"'
                )
            params = size * (2 if layer.bias else 1) if layer.affine else 0
        case NormKind.LAYER2D:
            if len(current) < 2 or (layer.shape and (channels,) != layer.shape):
                raise ConvcalcError(
                    f"num_channels: {size} given, but the input {shape_text(current)} has "
                    f"{channels} channels"
                )
            params = channels * (2 if layer.bias else 1) if layer.affine else 0
        case NormKind.GROUP:
            groups, wanted = layer.shape
            if len(current) < 2 or channels != wanted:
                raise ConvcalcError(
                    f"num_channels: {wanted} given, but the input {shape_text(current)} has "
                    f'{channels} channels; torch: "Expected number of channels in input to be '
                    'divisible by num_groups"'
                    if channels % groups
                    else f"num_channels: {wanted} given, but the input has {channels} channels"
                )
            params = 2 * channels if layer.affine else 0
        case NormKind.INSTANCE:
            assert layer.ndim is not None, "an instancenorm is 1d, 2d or 3d"
            if len(current) not in (layer.ndim + 1, layer.ndim + 2):
                raise ConvcalcError(
                    f"input: {name} does not take a {len(current)}-d input {shape_text(current)}"
                )
            if layer.affine and layer.shape != (channels,):
                raise ConvcalcError(
                    f"num_features: {size} given, but the input has {channels} channels"
                )
            params = 2 * channels if layer.affine else 0
        case _:
            assert_never(layer.kind)
    return Applied(name, f"{name} {size if layer.shape else ''}".strip(), current, params, 0, rf)


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
    return mismatch_line(
        layer.index, layer.name, layer.type, layer.output_shape, layer.expect_text, layer.expect
    )


def mismatch_line(
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
