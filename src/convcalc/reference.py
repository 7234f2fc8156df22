"""Independent vectorised numpy implementations of every op, on exact object arrays.

Used to cross-check every trace (which works element by element). Layouts are PyTorch's without
the batch: input ``(C_in, *spatial)``, conv weight ``(C_out, C_in/groups, *k)``, transposed-conv
weight ``(C_in, C_out/groups, *k)``, bias ``(C_out,)``.
"""

from __future__ import annotations

import itertools
from fractions import Fraction

import numpy as np

from convcalc.shapes import dilated_kernel_extent, layer_shape, transposed_size
from convcalc.specs import LayerSpec, OpKind
from convcalc.tensors import normalise, pad


def _ints(array: np.ndarray) -> np.ndarray | None:
    """The array as int64 when it holds only Python ints below 2**62 in magnitude."""
    if array.size == 0 or set(map(type, array.flat)) != {int}:
        return None
    low, high = min(array.flat), max(array.flat)
    if max(-low, high) >= 2**62:
        return None
    return array.astype(np.int64)


def int64_operands(
    spec: LayerSpec, x: np.ndarray, w: np.ndarray, b: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None] | None:
    x64, w64 = _ints(x), _ints(w)
    b64 = None if b is None else _ints(b)
    if x64 is None or w64 is None or (b is not None and b64 is None):
        return None
    # every output is a sum of at most (C_in/groups) * prod(k) products, plus the bias
    terms = (x.shape[0] // spec.groups) * int(np.prod(spec.kernel_size))
    bound = int(np.abs(x64).max()) * int(np.abs(w64).max()) * terms
    bound += 0 if b64 is None else int(np.abs(b64).max())
    return (x64, w64, b64) if bound < 2**62 else None


def _offsets(kernel: tuple[int, ...]) -> itertools.product[tuple[int, ...]]:
    return itertools.product(*(range(k) for k in kernel))


def _zeros(shape: tuple[int, ...], fill: object = 0, like: np.ndarray | None = None) -> np.ndarray:
    if like is not None and like.dtype != object:
        return np.zeros(shape, dtype=like.dtype)
    array = np.empty(shape, dtype=object)
    array.fill(fill)
    return array


def conv(spec: LayerSpec, x: np.ndarray, w: np.ndarray, b: np.ndarray | None) -> np.ndarray:
    out_size = layer_shape(spec, tuple(x.shape[1:])).output
    widths = [(0, 0), *spec.padding]
    padded = pad(x, widths) if x.dtype == object else np.pad(x, widths)
    c_out, groups = w.shape[0], spec.groups
    cin_g, cout_g = x.shape[0] // groups, c_out // groups
    out = _zeros((c_out, *out_size), like=x)
    for m in _offsets(spec.kernel_size):
        window = tuple(
            slice(mi * d, mi * d + s * (o - 1) + 1, s)
            for mi, d, s, o in zip(m, spec.dilation, spec.stride, out_size)
        )
        patch = padded[(slice(None), *window)]
        for g in range(groups):
            taps = w[(slice(g * cout_g, (g + 1) * cout_g), slice(None), *m)]  # type: ignore[arg-type]
            out[g * cout_g : (g + 1) * cout_g] += np.tensordot(
                taps, patch[g * cin_g : (g + 1) * cin_g], axes=([1], [0])
            )
    return _add_bias(out, b)


def conv_transpose(
    spec: LayerSpec, x: np.ndarray, w: np.ndarray, b: np.ndarray | None
) -> np.ndarray:
    out_size = layer_shape(spec, tuple(x.shape[1:])).output
    canvas = conv_transpose_canvas(spec, x, w)
    crop = tuple(slice(p, p + o) for (p, _), o in zip(spec.padding, out_size))
    return _add_bias(canvas[(slice(None), *crop)].copy(), b)


def conv_transpose_canvas(spec: LayerSpec, x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """The scatter-add of every x[c, i] * w[c] at i*s before the padding is cropped, with room
    for output_padding at the end: (C_out, *full)."""
    in_size = tuple(x.shape[1:])
    groups = spec.groups
    cin_g, cout_g = x.shape[0] // groups, w.shape[1]
    full = tuple(
        transposed_size(n, k, s, (0, 0), d)
        for n, s, d, k in zip(in_size, spec.stride, spec.dilation, spec.kernel_size)
    )
    # room for output_padding past the full result
    canvas = _zeros(
        (cout_g * groups, *(f + op for f, op in zip(full, spec.output_padding))), like=x
    )
    for m in _offsets(spec.kernel_size):
        target = tuple(
            slice(mi * d, mi * d + s * (n - 1) + 1, s)
            for mi, d, s, n in zip(m, spec.dilation, spec.stride, in_size)
        )
        for g in range(groups):
            taps = w[(slice(g * cin_g, (g + 1) * cin_g), slice(None), *m)]  # type: ignore[arg-type]
            canvas[(slice(g * cout_g, (g + 1) * cout_g), *target)] += np.tensordot(
                taps, x[g * cin_g : (g + 1) * cin_g], axes=([0], [0])
            )
    return canvas


def _add_bias(out: np.ndarray, b: np.ndarray | None) -> np.ndarray:
    if b is not None:
        out += b.reshape((-1,) + (1,) * (out.ndim - 1))
    return out


def _pool_windows(
    spec: LayerSpec, padded: np.ndarray, out_size: tuple[int, ...]
) -> list[np.ndarray]:
    patches = []
    for m in _offsets(spec.kernel_size):
        window = tuple(
            slice(mi * d, mi * d + s * (o - 1) + 1, s)
            for mi, d, s, o in zip(m, spec.dilation, spec.stride, out_size)
        )
        patches.append(padded[(slice(None), *window)])
    return patches


def _trimmed(
    spec: LayerSpec, x: np.ndarray, trim_end: bool = True
) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Negative padding (onnxruntime's SAME pools) trims the input; the rest pads it. (A max
    pool's windows still read the end of the input: only averages trim it, see trace.py.)"""
    cut = tuple(
        slice(max(-a, 0), n - (max(-z, 0) if trim_end else 0))
        for (a, z), n in zip(spec.padding, x.shape[1:])
    )
    return x[(slice(None), *cut)], [(max(a, 0), max(z, 0)) for a, z in spec.padding]


def _extra(
    spec: LayerSpec,
    in_size: tuple[int, ...],
    out_size: tuple[int, ...],
    pads: list[tuple[int, int]],
) -> list[int]:
    """How far ceil-mode windows reach past the right padding, per dimension."""
    return [
        max(0, (o - 1) * s + dilated_kernel_extent(k, d) - (n + a + z))
        for o, s, d, k, n, (a, z) in zip(
            out_size, spec.stride, spec.dilation, spec.kernel_size, in_size, pads
        )
    ]


def max_pool(spec: LayerSpec, x: np.ndarray) -> np.ndarray:
    out_size = layer_shape(spec, tuple(x.shape[1:])).output
    x, pads = _trimmed(spec, x, trim_end=False)
    in_size = tuple(x.shape[1:])
    extra = _extra(spec, in_size, out_size, pads)
    widths = [(0, 0)] + [(a, z + e) for (a, z), e in zip(pads, extra)]
    padded = pad(x, widths, float("-inf"))
    patches = _pool_windows(spec, padded, out_size)
    out = patches[0].copy()
    for patch in patches[1:]:
        out = np.where(patch > out, patch, out)
    return out


def avg_pool(spec: LayerSpec, x: np.ndarray) -> np.ndarray:
    out_size = layer_shape(spec, tuple(x.shape[1:])).output
    x, pads = _trimmed(spec, x)
    in_size = tuple(x.shape[1:])
    extra = _extra(spec, in_size, out_size, pads)
    widths = [(0, 0)] + [(a, z + e) for (a, z), e in zip(pads, extra)]
    padded = pad(x, widths)
    # Which padded positions count towards the divisor: real input only, or input and padding
    # (but never the ceil-mode overhang past the right padding).
    counted = pad(np.ones((1, *in_size), dtype=object), widths)
    if spec.count_include_pad:
        inside = tuple(slice(0, n + a + z) for n, (a, z) in zip(in_size, pads))
        counted[(slice(None), *inside)] = 1
    total: np.ndarray = sum(_pool_windows(spec, padded, out_size))  # type: ignore[assignment]
    count: np.ndarray = sum(_pool_windows(spec, counted, out_size))  # type: ignore[assignment]
    result = np.empty(total.shape, dtype=object)
    result.reshape(-1)[:] = [
        t // c if type(t) is int and t % c == 0 else normalise(Fraction(t) / c)
        for t, c in zip(total.reshape(-1), np.broadcast_to(count, total.shape).reshape(-1))
    ]
    return result


def adaptive_pool(spec: LayerSpec, x: np.ndarray) -> np.ndarray:
    """Adaptive average or max pool: one window per output element, each computed with numpy
    on its slice (exact: sums of Python ints and fractions, a Fraction for each average)."""
    from convcalc.shapes import adaptive_shape

    shape = adaptive_shape(spec, tuple(x.shape[1:]))
    out = np.empty((x.shape[0], *shape.output), dtype=object)
    average = spec.kind is OpKind.ADAPTIVEAVGPOOL
    for pos in itertools.product(*(range(n) for n in shape.output)):
        cut: tuple[slice, ...] = tuple(slice(*dim.window(i)) for dim, i in zip(shape.dims, pos))
        window = x[(slice(None), *cut)]
        flat = window.reshape(x.shape[0], -1)
        if average:
            count = flat.shape[1]
            out[(slice(None), *pos)] = [  # type: ignore[index]
                t // count if type(t) is int and t % count == 0 else normalise(Fraction(t) / count)
                for t in flat.sum(axis=1)
            ]
        else:
            out[(slice(None), *pos)] = flat.max(axis=1)  # type: ignore[index]
    return out


def fold(spec: LayerSpec, x: np.ndarray) -> np.ndarray:
    """col2im: each row (channel, kernel offset) of the columns scattered back at its offset,
    one numpy slice per kernel offset, overlaps added; then the padding cropped."""
    from convcalc.shapes import fold_shape

    shape = fold_shape(spec, int(x.shape[1]))
    blocks, out = shape.blocks.output, spec.output_size
    offsets = list(_offsets(spec.kernel_size))
    channels = x.shape[0] // len(offsets)
    padded = _zeros((channels, *(n + a + z for n, (a, z) in zip(out, spec.padding))))
    rows = x.reshape(channels, len(offsets), *blocks)
    for n, m in enumerate(offsets):
        target = tuple(
            slice(mi * d, mi * d + s * (b - 1) + 1, s)
            for mi, d, s, b in zip(m, spec.dilation, spec.stride, blocks)
        )
        padded[(slice(None), *target)] += rows[:, n]
    crop = tuple(slice(a, a + n) for n, (a, _) in zip(out, spec.padding))
    return padded[(slice(None), *crop)].copy()


def unfold_columns(x: np.ndarray, spec: LayerSpec) -> np.ndarray:
    """im2col, exactly: every window of the padded input ``x`` (C, *spatial) of the sliding
    layer ``spec`` as a column, rows ordered (channel, *kernel offset), columns the output
    positions in row-major order: ``torch.nn.functional.unfold(x)[0]``. Built with one numpy
    slice per kernel offset, so it costs the size of the result."""
    shape = layer_shape(spec, tuple(x.shape[1:]))
    out = shape.output
    offsets = list(_offsets(spec.kernel_size))
    widths = [(0, 0), *spec.padding]
    padded = pad(x, widths) if x.dtype == object else np.pad(x, widths)
    columns = np.empty((x.shape[0], len(offsets), int(np.prod(out))), dtype=object)
    for n, m in enumerate(offsets):
        window = tuple(
            slice(mi * d, mi * d + s * (o - 1) + 1, s)
            for mi, d, s, o in zip(m, spec.dilation, spec.stride, out)
        )
        columns[:, n, :] = padded[(slice(None), *window)].reshape(x.shape[0], -1)
    return columns.reshape(x.shape[0] * len(offsets), -1)
