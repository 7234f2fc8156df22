"""Framework conventions: how PyTorch, TensorFlow, Keras and ONNX turn a layer's arguments into
explicit per-side padding (and, for transposed convs, output_padding).

Every framework then uses the same output-size rules (``shapes``); only the padding they resolve
and the limits they enforce differ. Checked against tensorflow-cpu/Keras 3 and onnxruntime in the
tests (where they install):

- TF/Keras ``'same'``: ``out = ceil(in / s)``, total padding ``max((out-1)*s + k_eff - in, 0)``,
  ``total // 2`` before and the extra pixel after; ``'valid'``: no padding. Pools ignore padding
  (an average divides by the real elements only). Keras forbids dilation > 1 with stride > 1.
- Keras ``ConvNDTranspose``: without output_padding ``'same'`` gives ``in*s`` and ``'valid'``
  ``in*s + max(k_eff - s, 0)``; with it, ``(in-1)*s + k_eff - 2*pad + output_padding`` with
  ``pad = k_eff // 2`` for same and 0 for valid. The result is the full scatter cropped by
  ``total // 2`` at the start (total = full - out), extra zeros at the end if out is larger.
  output_padding must be smaller than the stride.
- ONNX ``auto_pad``: SAME_UPPER is TF's SAME, SAME_LOWER puts the extra pixel before, VALID none,
  NOTSET takes ``pads`` (begin, end). ConvTranspose with ``output_shape`` (or SAME_*) crops
  ``total = (in-1)*s + output_padding + k_eff - out``: SAME_UPPER ``total // 2`` at the start,
  otherwise ``total - total // 2`` at the start; a negative total appends zeros. Pools: pads must be
  smaller than the kernel; ceil_mode drops a last window that starts in the right padding, as
  torch does. output_padding must be smaller than the stride.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from convcalc.errors import ConvcalcError, MalformedInputError
from convcalc.shapes import ceil_div, dilated_kernel_extent, transposed_size
from convcalc.specs import (
    TORCH_RULES,
    LayerArgs,
    LayerSpec,
    OpKind,
    OpName,
    OutputPaddingLimit,
    PaddingArg,
    Param,
    PoolPadLimit,
    Rules,
    SettingValue,
    broadcast,
    build_spec,
    check_applicable,
    dimension_names,
    spec_from_args,
)

if TYPE_CHECKING:
    from convcalc.shapes import AnyShape


class Convention(enum.StrEnum):
    """Whose rules a layer follows."""

    TORCH = "torch"
    TF = "tf"
    KERAS = "keras"
    ONNX = "onnx"

    def __str__(self) -> str:
        return self.value


# Each framework's limits on the shared size rules (shapes.py reads them from the spec).
_NOT_TORCH = Rules(
    output_padding_limit=OutputPaddingLimit.STRIDE,  # Keras; TF's and ORT's conv-back checks
    pool_pad_limit=PoolPadLimit.NONE,  # TF/Keras compute SAME padding themselves
    symmetric_pool_padding=False,
    avgpool3d_input_holds_kernel=False,
)
RULES: dict[Convention, Rules] = {
    Convention.TORCH: TORCH_RULES,
    Convention.TF: _NOT_TORCH,
    Convention.KERAS: _NOT_TORCH,
    Convention.ONNX: replace(
        _NOT_TORCH, pool_pad_limit=PoolPadLimit.BELOW_KERNEL, truncating_division=True
    ),
}


_MODES = {
    "causal": "causal",
    "same": "same",
    "valid": "valid",
    "same_upper": "same_upper",
    "same_lower": "same_lower",
    "notset": "notset",
    "upper": "same_upper",
    "lower": "same_lower",
}


@dataclass(frozen=True)
class Resolved:
    """A layer resolved under a convention: the spec (explicit pads) and how it was resolved."""

    convention: Convention
    spec: LayerSpec
    notes: tuple[str, ...]
    call: str  # the framework call this corresponds to
    input_size: tuple[int, ...] = ()


@dataclass(frozen=True)
class _Request:
    """A layer's arguments, broadcast to every dimension, before a convention resolves them."""

    convention: Convention
    name: Any  # specs.OpName
    ndim: int
    sizes: tuple[int, ...]
    kernel: tuple[int, ...]
    strides: tuple[int, ...]
    padding: Any
    mode: str | None
    dilations: tuple[int, ...]
    output_padding: tuple[int, ...] | None
    ceil_mode: bool
    count_include_pad: bool | None
    output_shape: tuple[int, ...] | None
    groups: int
    settings: tuple[tuple[str, str], ...] = ()

    @property
    def kind(self) -> OpKind:
        return self.name.kind  # type: ignore[no-any-return]


def same_pads(
    size: int, kernel: int, stride: int, dilation: int, extra_before: bool = False
) -> tuple[int, int]:
    """TF's SAME (ONNX SAME_UPPER; ``extra_before`` for SAME_LOWER).

    >>> same_pads(5, 2, 1, 1), same_pads(5, 2, 1, 1, extra_before=True)
    ((0, 1), (1, 0))
    """
    extent = dilated_kernel_extent(kernel, dilation)
    out = ceil_div(size, stride)
    total = max((out - 1) * stride + extent - size, 0)
    small, large = total // 2, total - total // 2
    return (large, small) if extra_before else (small, large)


def resolve(
    convention: Convention | str,
    op: str,
    input_size: tuple[int, ...],
    *,
    kernel_size: tuple[int, ...] | None,
    stride: tuple[int, ...] | None = None,
    padding: PaddingArg = (0,),
    dilation: tuple[int, ...] = (1,),
    output_padding: tuple[int, ...] | None = None,
    ceil_mode: bool = False,
    count_include_pad: bool | None = None,
    output_shape: tuple[int, ...] | None = None,
    groups: int = 1,
    in_channels: int | None = None,
    out_channels: int | None = None,
) -> Resolved:
    """``resolve_args`` with the arguments as keywords (the Python API).

    >>> r = resolve("keras", "conv2d", (5, 5), kernel_size=(3,), stride=(2,), padding="same")
    >>> r.spec.padding
    ((1, 1), (1, 1))
    """
    args = LayerArgs(
        kernel_size,
        stride,
        padding,
        dilation,
        output_padding,
        ceil_mode,
        count_include_pad,
        output_shape,
        groups,
        in_channels,
        out_channels,
    )
    return resolve_args(convention, op, input_size, args)


def resolve_args(
    convention: Convention | str, op: str | OpName, input_size: tuple[int, ...], args: LayerArgs
) -> Resolved:
    """Resolve a layer written in a framework's terms into explicit pads and a LayerSpec."""
    try:
        convention = Convention(str(convention).lower())
    except ValueError:
        raise MalformedInputError(
            f"convention: expected torch, tf, keras or onnx, got {convention!r}"
        ) from None
    resolved = _resolve(convention, op, input_size, args)
    ndim = resolved.spec.ndim
    if resolved.spec.kind is not OpKind.FOLD:  # a Fold's input size is its L
        resolved = replace(
            resolved, input_size=tuple(input_size * ndim if len(input_size) == 1 else input_size)
        )
    in_channels, out_channels = args.in_channels, args.out_channels
    if in_channels is None and out_channels is None or resolved.spec.kind in FOLDING:
        return resolved
    from convcalc.specs import _check_channels

    spec = resolved.spec
    out = in_channels if spec.kind.is_pool and out_channels is None else out_channels
    _check_channels(spec.kind, spec.groups, in_channels, out)
    return replace(resolved, spec=replace(spec, in_channels=in_channels, out_channels=out))


def shape_query(
    convention: Convention | str,
    op: str | OpName,
    input_size: tuple[int, ...],
    args: LayerArgs,
    batch: int | None = None,
) -> tuple[Resolved, AnyShape]:
    """``convcalc shape``'s one question: the layer resolved under a convention and its output
    size at one input size. A sweep asks it once per size (``solve.sweep``), so every row of a
    sweep is exactly this answer."""
    from convcalc.shapes import shape_of

    resolved = resolve_args(convention, op, input_size, args)
    return resolved, shape_of(resolved.spec, resolved.input_size, batch)


def _resolve(
    convention: Convention, op: str | OpName, input_size: tuple[int, ...], args: LayerArgs
) -> Resolved:
    kernel_size, stride, padding = args.kernel_size, args.stride, args.padding
    dilation, output_padding, ceil_mode = args.dilation, args.output_padding, args.ceil_mode
    count_include_pad, output_shape, groups = (
        args.count_include_pad,
        args.output_shape,
        args.groups,
    )
    from convcalc.specs import parse_op

    name = op if isinstance(op, OpName) else parse_op(op)
    if name.kind.is_adaptive:
        return _adaptive(convention, name, input_size, args)
    if name.kind in (OpKind.UNFOLD, OpKind.FOLD):
        return _folding(convention, name, input_size, args)
    if kernel_size is None:
        raise MalformedInputError(f"{name} needs a kernel size (--k)")
    ndim = name.ndim or len(input_size)
    sizes = broadcast(input_size, ndim, "input size")
    kind = name.kind
    kernel = broadcast(kernel_size, ndim, "kernel_size")
    strides = (
        broadcast(stride, ndim, "stride")
        if stride is not None
        else (kernel if kind.is_pool else (1,) * ndim)
    )
    dilations = broadcast(dilation, ndim, "dilation")
    check_applicable(kind, dilations, output_padding or (0,), ceil_mode, groups)
    mode = _MODES.get(padding.lower()) if isinstance(padding, str) else None
    if isinstance(padding, str) and mode is None:
        raise MalformedInputError(f"padding: unknown mode {padding!r}")
    request = _Request(
        convention,
        name,
        ndim,
        sizes,
        kernel,
        strides,
        padding,
        mode,
        dilations,
        output_padding,
        ceil_mode,
        count_include_pad,
        output_shape,
        groups,
        args.settings,
    )
    if convention.value not in kind.family.conventions:
        raise ConvcalcError(
            f"convention: {convention.value} has no {kind.torch_name} (it is PyTorch's); "
            "use --convention torch"
        )
    if args.settings and convention is not Convention.TORCH:
        raise MalformedInputError(
            f"{args.settings[0][0]}: a PyTorch setting; use --convention torch"
        )
    if output_shape is not None and kind is not OpKind.CONVTRANSPOSE:
        check_applicable(kind, (1,), (0,), False, 1, {Param.OUTPUT_SIZE: True})
    if convention is Convention.TORCH:
        return _torch(request)
    if convention in (Convention.TF, Convention.KERAS):
        return _tf(request)
    return _onnx(request)


FOLDING = (OpKind.UNFOLD, OpKind.FOLD)


def _folding(
    convention: Convention, name: OpName, input_size: tuple[int, ...], args: LayerArgs
) -> Resolved:
    """Unfold (im2col) and Fold (col2im): PyTorch's, 2-d. Fold's input size is its L."""
    torch_name = name.kind.torch_name
    if convention is not Convention.TORCH:
        raise ConvcalcError(f"convention: {convention.value} has no {torch_name} (PyTorch's)")
    if name.ndim not in (None, 2):
        raise MalformedInputError(f"{name}: PyTorch's {torch_name} is 2-d (4-D input) only")
    fold = name.kind is OpKind.FOLD
    if not fold and len(input_size) not in (1, 2):
        raise MalformedInputError(
            f"input size: {torch_name} takes 2 spatial sizes (H, W), got {len(input_size)}"
        )
    if fold and len(input_size) > 1:
        raise MalformedInputError(
            "input size: Fold's input is the column matrix (C*prod(k), L): give L, e.g. --in 9"
        )
    if fold and args.output_shape is None:
        raise MalformedInputError("output_size (--out): Fold needs the output size, e.g. --out 4x4")
    rows = args.in_channels
    spec = spec_from_args(OpName(name.kind, 2), None, args, rows)
    if fold and rows is not None:
        per = 1
        for k in spec.kernel_size:
            per *= k
        if rows % per:
            # torch: "Expected size of input's dimension 1 to be divisible by the product of
            # kernel_size"
            raise ConvcalcError(
                f"in_channels (--cin): the input's rows C*prod(k) = {rows} must be divisible by "
                f"the product of kernel_size {per}"
            )
        spec = replace(spec, out_channels=rows // per)
    args_text = f"kernel_size={_one(spec.kernel_size)}, stride={_one(spec.stride)}"
    if fold:
        args_text = f"output_size={_one(spec.output_size)}, " + args_text
    sizes = input_size if fold else broadcast(input_size, 2, "input size")
    return Resolved(Convention.TORCH, spec, (), f"torch.nn.{torch_name}({args_text})", tuple(sizes))


def _adaptive(
    convention: Convention, name: OpName, input_size: tuple[int, ...], args: LayerArgs
) -> Resolved:
    """Adaptive pools: PyTorch's and Keras 3's (the same windows); TF has none, ONNX only the
    global pool (out = 1)."""
    if convention not in (Convention.TORCH, Convention.KERAS):
        raise ConvcalcError(
            f"convention: {convention.value} has no {name.kind.torch_name} (adaptive pools are "
            "PyTorch's and Keras 3's; ONNX has GlobalAveragePool/GlobalMaxPool, out = 1)"
        )
    ndim = name.ndim or len(input_size)
    spec = spec_from_args(name, ndim, args)
    size = "x".join(map(str, spec.output_size))
    if convention is Convention.KERAS:
        keras = (
            "AdaptiveAveragePooling"
            if name.kind is OpKind.ADAPTIVEAVGPOOL
            else ("AdaptiveMaxPooling")
        )
        call = f"keras.layers.{keras}{ndim}D(output_size={_one(spec.output_size)})"
        return Resolved(Convention.KERAS, replace(spec, convention="keras"), (), call)
    return Resolved(Convention.TORCH, spec, (), f"torch.nn.{name.kind.torch_name}{ndim}d({size})")


def _spec(
    r: _Request,
    pads: tuple[tuple[int, int], ...],
    op: tuple[int, ...] = (0,),
    *,
    ceil_mode: bool = False,
    count_include_pad: bool,
) -> LayerSpec:
    """The LayerSpec of a request once its framework's padding is resolved."""
    kind, ndim = r.kind, r.ndim
    if r.convention is Convention.ONNX and kind.is_pool and min(min(p) for p in pads) < 0:
        # onnxruntime's negative SAME padding of pools (see _ort_pool_same): keep it as it is
        spec = _spec(
            r, ((0, 0),) * ndim, op, ceil_mode=ceil_mode, count_include_pad=count_include_pad
        )
        return replace(spec, padding=pads)
    spec = build_spec(
        f"{kind.value}{ndim}d",
        kernel_size=r.kernel,
        stride=r.strides,
        padding=pads,
        dilation=r.dilations if kind is not OpKind.AVGPOOL else (1,),
        output_padding=op,
        ceil_mode=ceil_mode,
        groups=r.groups,
        count_include_pad=count_include_pad,
    )
    return replace(spec, convention=r.convention.value, rules=RULES[r.convention])


def _torch(r: _Request) -> Resolved:
    name, ndim, sizes, kernel, strides, padding = (
        r.name,
        r.ndim,
        r.sizes,
        r.kernel,
        r.strides,
        r.padding,
    )
    dilations, output_padding, ceil_mode = r.dilations, r.output_padding, r.ceil_mode
    count_include_pad, output_shape, groups = r.count_include_pad, r.output_shape, r.groups
    if not isinstance(padding, str) and any(isinstance(p, tuple) and p[0] != p[1] for p in padding):
        raise ConvcalcError(
            "padding: PyTorch layers pad both sides equally; pad asymmetrically "
            "with F.pad first, or use --convention tf/onnx"
        )
    op = output_padding or (0,)
    notes = []
    if output_shape is not None:
        if name.kind is not OpKind.CONVTRANSPOSE:
            raise MalformedInputError("--output-shape applies to transposed convolutions only")
        base = build_spec(
            name,
            ndim=ndim,
            kernel_size=kernel,
            stride=strides,
            padding=padding,
            dilation=dilations,
            groups=groups,
        )
        from convcalc.shapes import layer_shape

        without = layer_shape(base, sizes).output
        wanted = broadcast(output_shape, ndim, "--output-size")
        op = tuple(w - o for w, o in zip(wanted, without))
        notes.append(
            f"forward(output_size={list(wanted)}) picks output_padding "
            f"{list(op)} = output_size - {list(without)}"
        )
        # torch's _output_padding: valid sizes run from the size without output_padding to
        # that + stride - 1 (not max(stride, dilation) - 1, which an explicit one may reach)
        largest = [o + s - 1 for o, s in zip(without, strides)]
        if any(not (lo <= w <= hi) for w, lo, hi in zip(wanted, without, largest)):
            reachable = ", ".join(
                f"{label} {lo}..{hi}" if lo != hi else f"{label} {lo}"
                for label, lo, hi in zip(dimension_names(ndim), without, largest)
            )
            raise ConvcalcError(
                f"output_size: {size_text(wanted)} cannot be reached from input "
                f"{size_text(sizes)}: this layer gives {reachable} (output_padding 0 up to "
                'stride - 1); torch: "requested an output size of ..., but '
                'valid sizes range from ..."'
            )
    spec = build_spec(
        name,
        ndim=ndim,
        kernel_size=kernel,
        stride=strides,
        padding=padding,
        dilation=dilations,
        output_padding=op,
        ceil_mode=ceil_mode,
        groups=groups,
        count_include_pad=True if count_include_pad is None else count_include_pad,
        settings=r.settings,
    )
    return Resolved(Convention.TORCH, spec, tuple(notes), _torch_call(spec))


def size_text(sizes: tuple[int, ...]) -> str:
    return "x".join(map(str, sizes))


def _torch_call(spec: LayerSpec) -> str:
    """The torch.nn call, from what the family takes: its settings first (LPPool's norm_type)."""
    given = dict(spec.settings)
    args = [  # a setting not given (a shape needs no norm_type) shows its flag's metavar
        f"{s.keyword}={_number(given[s.keyword]) if s.keyword in given else s.metavar}"
        for s in spec.kind.family.settings
    ]
    args += [f"kernel_size={_one(spec.kernel_size)}", f"stride={_one(spec.stride)}"]
    if spec.padding_mode is not None:
        args.append(f"padding='{spec.padding_mode.value}'")
    elif spec.kind.family.takes_param(Param.PADDING):
        args.append(f"padding={_one(tuple(b for b, _ in spec.padding))}")
    if any(d != 1 for d in spec.dilation):
        args.append(f"dilation={_one(spec.dilation)}")
    if any(spec.output_padding):
        args.append(f"output_padding={_one(spec.output_padding)}")
    if spec.ceil_mode:
        args.append("ceil_mode=True")
    return f"torch.nn.{spec.kind.torch_name}{spec.ndim}d({', '.join(args)})"


def _number(value: SettingValue) -> str:
    """A setting as Python writes it: 2, 1.5, float('inf')."""
    if isinstance(value, float):
        return "float('inf')" if value > 0 else "-float('inf')"
    return str(value.numerator) if value.denominator == 1 else repr(float(value))


def _one(values: tuple[int, ...]) -> str:
    return str(values[0]) if len(set(values)) == 1 else str(tuple(values))


def _tf(r: _Request) -> Resolved:
    convention, kind, ndim, sizes, kernel, strides = (
        r.convention,
        r.kind,
        r.ndim,
        r.sizes,
        r.kernel,
        r.strides,
    )
    padding, mode, dilations = r.padding, r.mode, r.dilations
    ceil_mode, count_include_pad = r.ceil_mode, r.count_include_pad
    who = "Keras" if convention is Convention.KERAS else "TensorFlow"
    if ceil_mode:
        raise MalformedInputError(f"ceil_mode: {who} pools have no ceil_mode (use padding='same')")
    if count_include_pad:
        raise MalformedInputError(f"count_include_pad: {who} average pools never count padding")
    if mode == "causal" and not (kind is OpKind.CONV and ndim == 1):
        raise MalformedInputError(f"padding: {who} takes 'causal' for Conv1D only")
    if mode not in (None, "same", "valid", "causal"):
        raise MalformedInputError(f"padding: {who} takes 'same' or 'valid', got {padding!r}")
    if mode is None and all((p if isinstance(p, tuple) else (p, p)) == (0, 0) for p in padding):
        mode = "valid"  # no padding is exactly 'valid'
    if mode is None and (convention is Convention.KERAS or kind is not OpKind.CONV):
        raise MalformedInputError(
            f"padding: {who} {'layers' if convention is Convention.KERAS else 'pools'} take "
            "'same' or 'valid' (explicit padding: tf.nn.conv with --convention tf, or a "
            "ZeroPadding layer first)"
        )
    if any(d > 1 for d in dilations) and any(s > 1 for s in strides):
        raise ConvcalcError(
            f"dilation: {who} does not support dilation > 1 together with stride > 1"
        )
    if kind is OpKind.CONVTRANSPOSE:
        return _keras_transpose(r)
    labels = dimension_names(ndim)
    notes = []
    if mode == "same":
        pads = tuple(same_pads(n, k, s, d) for n, k, s, d in zip(sizes, kernel, strides, dilations))
        for label, n, s, (b, a) in zip(labels, sizes, strides, pads):
            notes.append(
                f"{label}: SAME: out = ceil({n}/{s}) = {ceil_div(n, s)}, total padding "
                f"{b + a}: {b} before, {a} after"
            )
    elif mode == "valid":
        pads = ((0, 0),) * ndim
    elif mode == "causal":
        # Keras Conv1D(padding='causal'): all d*(k-1) padding before, none after
        pads = ((dilations[0] * (kernel[0] - 1), 0),)
        notes.append(f"causal: {pads[0][0]} before (d*(k-1)), 0 after")
    else:
        pairs = [p if isinstance(p, tuple) else (p, p) for p in padding]
        pads = tuple(pairs * ndim if len(pairs) == 1 else pairs)
    spec = _spec(r, pads, count_include_pad=False)
    layer = {"conv": "Conv", "maxpool": "MaxPooling", "avgpool": "AveragePooling"}[kind.value]
    call = (
        f"keras.layers.{layer}{ndim}D(..., {_one(kernel)}, strides={_one(strides)}, "
        f"padding='{mode}')"
        if mode
        else f"tf.nn.convolution(..., strides={_one(strides)}, padding={[list(p) for p in pads]})"
    )
    if kind.is_pool:
        notes.append(
            f"{who} pools ignore the padding: max never picks it, average divides by "
            "the real elements"
        )
    return Resolved(convention, spec, tuple(notes), call)


def _crop_to(full: int, out: int, before: int) -> tuple[int, int, int]:
    """(pad_before, pad_after, output_padding) that keep ``out`` elements of a ``full`` scatter
    starting at ``before`` (zeros appended when ``out`` reaches past the end)."""
    after = full - before - out
    if after >= 0:
        return before, after, 0
    return before, 0, -after


def _keras_transpose(r: _Request) -> Resolved:
    convention, ndim, sizes, kernel, strides = r.convention, r.ndim, r.sizes, r.kernel, r.strides
    mode, dilations, output_padding = r.mode or "valid", r.dilations, r.output_padding
    output_shape = r.output_shape
    ops = (
        None
        if output_padding is None
        else (output_padding * ndim if len(output_padding) == 1 else output_padding)
    )
    labels = dimension_names(ndim)
    if any(d > 1 for d in dilations):
        # Conv2DBackpropInput: "Current CPU implementations do not yet support dilation rates
        # larger than 1"
        raise ConvcalcError(
            "dilation: TensorFlow's CPU kernel for transposed convolutions does "
            "not support dilation > 1"
        )
    pads, extra, notes = [], [], []
    for axis, (n, k, s, d) in enumerate(zip(sizes, kernel, strides, dilations)):
        extent = dilated_kernel_extent(k, d)
        if ops is not None and ops[axis] >= s:
            raise ConvcalcError(
                f"output_padding: {ops[axis]} must be smaller than stride ({s}) "
                f"in dimension {labels[axis]} (Keras)"
            )
        if output_shape is not None:
            out = (output_shape * ndim if len(output_shape) == 1 else output_shape)[axis]
            rule = f"output_shape {out}"
        elif ops is None:
            out = n * s if mode == "same" else n * s + max(extent - s, 0)
            rule = (
                f"'{mode}': in*s" + ("" if mode == "same" else " + max(k_eff - s, 0)") + f" = {out}"
            )
        else:
            pad = extent // 2 if mode == "same" else 0
            out = transposed_size(n, k, s, (pad, pad), d, ops[axis])
            rule = (
                f"(in-1)*s + k_eff - 2*{pad} + output_padding = ({n}-1)*{s} + {extent} - "
                f"{2 * pad} + {ops[axis]} = {out}"
            )
        full = transposed_size(n, k, s, (0, 0), d)
        total = max(full - out, 0)
        if mode == "same" and ceil_div(out, s) != n:
            # conv2d_backprop_input: "Size of out_backprop doesn't match computed"
            raise ConvcalcError(
                f"output_padding: the output {out} does not come back to {n} under TF's SAME "
                f"conv (ceil({out}/{s}) = {ceil_div(out, s)}) in dimension {labels[axis]}; "
                "TensorFlow rejects it"
            )
        if mode == "valid" and output_shape is not None and out >= full + s:
            # conv2d_backprop_input: the VALID conv of the output must give the input back
            raise ConvcalcError(
                f"output_shape: {out} is {out - full} past the full result {full} in dimension "
                f"{labels[axis]}; TensorFlow's VALID needs {full} <= output < {full + s}"
            )
        if mode == "valid" and out < full:
            raise ConvcalcError(f"output size: {out} is smaller than the valid output {full}")
        before, after, op = _crop_to(full, out, total // 2 if mode == "same" else 0)
        pads.append((before, after))
        extra.append(op)
        notes.append(
            f"{labels[axis]}: {rule}; full scatter {full}, crop {before} before, "
            f"{after} after" + (f", {op} zero(s) appended" if op else "")
        )
    spec = _spec(r, tuple(pads), tuple(extra), count_include_pad=True)
    args = f"strides={_one(strides)}, padding='{mode}'"
    if ops is not None:
        args += f", output_padding={_one(tuple(ops))}"
    call = f"keras.layers.Conv{ndim}DTranspose(..., {_one(kernel)}, {args})"
    if output_shape is not None:
        call = (
            f"tf.nn.conv_transpose(x, w, output_shape=[N, {', '.join(map(str, output_shape))}"
            f", C], strides={_one(strides)}, padding='{mode.upper()}')"
        )
    return Resolved(
        convention,
        spec,
        tuple(notes),
        call,
    )


def _onnx(r: _Request) -> Resolved:
    kind, ndim, sizes, kernel, strides, padding = (
        r.kind,
        r.ndim,
        r.sizes,
        r.kernel,
        r.strides,
        r.padding,
    )
    mode, dilations, ceil_mode = r.mode, r.dilations, r.ceil_mode
    count_include_pad = r.count_include_pad
    if mode == "same":
        mode = "same_upper"
        r = replace(r, mode=mode)
    labels = dimension_names(ndim)
    notes = []
    if kind is OpKind.CONVTRANSPOSE:
        return _onnx_transpose(r)
    if mode in ("same_upper", "same_lower"):
        if kind is OpKind.CONV and any(d > 1 for d in dilations):
            raise ConvcalcError(
                "dilation: onnxruntime does not support dilation > 1 with "
                "auto_pad SAME_UPPER/SAME_LOWER for Conv"
            )
        if kind.is_pool:
            dilated = any(d > 1 for d in dilations)
            pads = tuple(
                _ort_pool_same(kind, n, k, s, mode, label, dilated)
                for n, k, s, label in zip(sizes, kernel, strides, labels)
            )
        else:
            pads = tuple(
                same_pads(n, k, s, d, extra_before=mode == "same_lower")
                for n, k, s, d in zip(sizes, kernel, strides, dilations)
            )
        for label, (b, a) in zip(labels, pads):
            notes.append(f"{label}: {mode.upper()}: {b} before, {a} after")
    elif mode == "valid":
        pads = ((0, 0),) * ndim
    else:
        pads = _explicit(padding, ndim)
    spec = _spec(r, pads, ceil_mode=ceil_mode, count_include_pad=bool(count_include_pad))
    op_type = {"conv": "Conv", "maxpool": "MaxPool", "avgpool": "AveragePool"}[kind.value]
    attrs = f"kernel_shape={list(kernel)}, strides={list(strides)}"
    attrs += (
        f", auto_pad='{mode.upper()}'"
        if mode and mode != "notset"
        else f", pads={[b for b, _ in pads] + [a for _, a in pads]}"
    )
    if ceil_mode:
        attrs += ", ceil_mode=1"
    if kind is OpKind.AVGPOOL:
        attrs += f", count_include_pad={int(bool(count_include_pad))}"
    return Resolved(Convention.ONNX, spec, tuple(notes), f"onnx {op_type}({attrs})")


def _ort_pool_same(
    kind: OpKind, size: int, kernel: int, stride: int, mode: str, label: str, dilated: bool
) -> tuple[int, int]:
    """onnxruntime's pools size SAME padding by the undilated kernel and do not clamp it at 0;
    its plain MaxPool kernel rejects a negative one, the dilated one (MaxPool with a dilation
    above 1) does not."""
    needed = (ceil_div(size, stride) - 1) * stride + kernel - size

    def c_div(a: int, b: int) -> int:  # C++ division truncates toward zero
        return a // b if a >= 0 else -(-a // b)

    head = c_div(needed, 2) if mode == "same_upper" else c_div(needed + 1, 2)
    if needed >= 0:
        return head, needed - head
    if kind is OpKind.MAXPOOL and not dilated:
        raise ConvcalcError(
            f"padding: onnxruntime's MaxPool computes a negative SAME padding here "
            f"((ceil(in/s) - 1)*s + k - in = {needed} in dimension {label}) and rejects it "
            '("padding values must be non-negative")'
        )
    return head, needed - head  # negative: onnxruntime trims the input (and shifts windows)


def _explicit(padding: Any, ndim: int) -> tuple[tuple[int, int], ...]:
    pairs = [p if isinstance(p, tuple) else (p, p) for p in padding]
    if len(pairs) == 1:
        pairs = pairs * ndim
    if len(pairs) != ndim:
        raise MalformedInputError(f"padding: give 1 or {ndim} values (before:after each)")
    return tuple(pairs)


def _onnx_transpose(r: _Request) -> Resolved:
    ndim, sizes, kernel, strides, padding = r.ndim, r.sizes, r.kernel, r.strides, r.padding
    mode, dilations, output_padding = r.mode, r.dilations, r.output_padding
    output_shape = r.output_shape
    labels = dimension_names(ndim)
    ops = (
        (0,) * ndim
        if output_padding is None
        else (output_padding * ndim if len(output_padding) == 1 else output_padding)
    )
    pads, extra, notes = [], [], []
    explicit = (
        _explicit(padding, ndim)
        if mode in (None, "notset") and not isinstance(padding, str)
        else None
    )
    for axis, (n, k, s, d) in enumerate(zip(sizes, kernel, strides, dilations)):
        if ops[axis] >= s:
            raise ConvcalcError(
                f"output_padding: {ops[axis]} must be smaller than stride ({s}) "
                f"in dimension {labels[axis]} (onnxruntime)"
            )
        full = transposed_size(n, k, s, (0, 0), d, ops[axis])
        if output_shape is not None or mode in ("same_upper", "same_lower"):
            if output_shape is not None:
                out = (output_shape * ndim if len(output_shape) == 1 else output_shape)[axis]
            else:
                out = max(n * s, 0)
            total = full - out
            head = total // 2 if mode == "same_upper" else total - total // 2
            if total < 0:
                head = 0
                if output_shape is None:
                    out = full  # SAME never pads: onnxruntime returns the full result
            before, after, op = _crop_to(full - ops[axis], out, head)
            notes.append(
                f"{labels[axis]}: output {out}: total padding {full} - {out} = "
                f"{max(total, 0) if output_shape is None else total}, {before} before, "
                f"{after} after" + (f", {op} zero(s) appended" if op else "")
            )
            pads.append((before, after))
            extra.append(op)
        else:
            pads.append(explicit[axis] if explicit else (0, 0))
            extra.append(ops[axis])
    spec = _spec(r, tuple(pads), tuple(extra), count_include_pad=True)
    attrs = f"kernel_shape={list(kernel)}, strides={list(strides)}"
    if output_shape is not None:
        attrs += f", output_shape={list(output_shape)}"
    if mode and mode != "notset":
        attrs += f", auto_pad='{mode.upper()}'"
    elif explicit:
        attrs += f", pads={[b for b, _ in explicit] + [a for _, a in explicit]}"
    if any(ops):
        attrs += f", output_padding={list(ops)}"
    return Resolved(Convention.ONNX, spec, tuple(notes), f"onnx ConvTranspose({attrs})")


def torch_equivalent(resolved: Resolved) -> str:
    """PyTorch code that computes the same thing as a layer resolved under another convention.

    >>> r = resolve("keras", "conv2d", (225, 225), kernel_size=(2,), stride=(2,), padding="same")
    >>> torch_equivalent(r)
    'F.pad(x, (0, 1, 0, 1)) then torch.nn.Conv2d(kernel_size=2, stride=2, padding=0)'
    """
    spec = resolved.spec
    pads = spec.padding
    symmetric = all(b == a for b, a in pads)
    name = f"torch.nn.{spec.kind.torch_name}{spec.ndim}d"
    common = f"kernel_size={_one(spec.kernel_size)}, stride={_one(spec.stride)}"
    if any(d != 1 for d in spec.dilation):
        common += f", dilation={_one(spec.dilation)}"
    # F.pad takes the last dimension first: (left, right, top, bottom, ...)
    torch_pad = tuple(v for b, a in reversed(pads) for v in (b, a))
    if spec.kind is OpKind.CONVTRANSPOSE:
        if symmetric:
            text = f"{name}({common}, padding={_one(tuple(b for b, _ in pads))}"
            if any(spec.output_padding):
                text += f", output_padding={_one(spec.output_padding)}"
            return text + ")"
        crops = ", ".join(f"{b}:" + (f"-{a}" if a else "") for b, a in pads)
        text = f"{name}({common}, padding=0"
        if any(spec.output_padding):
            text += f", output_padding={_one(spec.output_padding)}"
        return text + f") then y[..., {crops}] (crop {list(map(list, pads))} before:after)"
    if (
        symmetric
        and spec.kind is not OpKind.MAXPOOL
        and not (spec.kind is OpKind.AVGPOOL and any(b for b, _ in pads) and spec.count_include_pad)
    ):
        extra = ""
        if spec.kind is OpKind.AVGPOOL and any(b for b, _ in pads):
            extra = ", count_include_pad=False"
        if spec.ceil_mode:
            extra += ", ceil_mode=True"
        return f"{name}({common}, padding={_one(tuple(b for b, _ in pads))}{extra})"
    if spec.kind.is_pool and all(b == 0 for b, _ in pads) and resolved.input_size:
        # Padding only after: torch's ceil_mode hangs the last window past the end the same way
        # (max ignores the overhang, the average divides by the real elements), if the counts
        # agree.
        from convcalc.shapes import layer_shape, pool_dim

        target = layer_shape(spec, resolved.input_size).output
        ceil = tuple(
            pool_dim(n, k, s, 0, d, True).output
            for n, k, s, d in zip(resolved.input_size, spec.kernel_size, spec.stride, spec.dilation)
        )
        if ceil == target and any(a for _, a in pads):
            return f"{name}({common}, ceil_mode=True)"
    if spec.kind is OpKind.MAXPOOL:
        if symmetric:
            ceil_arg = ", ceil_mode=True" if spec.ceil_mode else ""
            return f"{name}({common}, padding={_one(tuple(b for b, _ in pads))}{ceil_arg})"
        return f"F.pad(x, {torch_pad}, value=float('-inf')) then {name}({common})"
    if spec.kind is OpKind.AVGPOOL:
        if symmetric and not spec.count_include_pad:
            return (
                f"{name}({common}, padding={_one(tuple(b for b, _ in pads))}, "
                "count_include_pad=False)"
            )
        return (
            "no one-line equivalent: the average divides by the real elements of a window "
            f"padded {list(map(list, pads))}; sum with F.pad + {name}(divisor_override=1) "
            "and divide by the count of ones pooled the same way"
        )
    return f"F.pad(x, {torch_pad}) then {name}({common}, padding=0)"


@dataclass(frozen=True)
class Comparison:
    """One layer under one convention: its shape, or why that framework rejects it."""

    convention: Convention
    resolved: Resolved | None
    output: tuple[int, ...] | None
    error: str | None


def compare(op: str | OpName, input_size: tuple[int, ...], args: LayerArgs) -> list[Comparison]:
    """The same layer arguments under every convention (errors kept, not raised)."""
    from convcalc.shapes import shape_of

    rows = []
    for convention in Convention:
        try:
            resolved = resolve_args(convention, op, input_size, args)
            output = shape_of(resolved.spec, resolved.input_size).output
            rows.append(Comparison(convention, resolved, output, None))
        except ConvcalcError as error:
            rows.append(Comparison(convention, None, None, str(error)))
    return rows
