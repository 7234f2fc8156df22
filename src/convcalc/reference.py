"""Independent vectorised numpy implementations of every op, on exact object arrays.

Used to cross-check every trace (which works element by element). Layouts are PyTorch's without
the batch: input ``(C_in, *spatial)``, conv weight ``(C_out, C_in/groups, *k)``, transposed-conv
weight ``(C_in, C_out/groups, *k)``, bias ``(C_out,)``.
"""

from __future__ import annotations

import itertools
from fractions import Fraction

import numpy as np

from convcalc.shapes import layer_shape
from convcalc.specs import LayerSpec, OpKind
from convcalc.tensors import normalise, pad


def run(spec: LayerSpec, x: np.ndarray, w: np.ndarray | None, b: np.ndarray | None) -> np.ndarray:
    """Apply the layer to ``x`` of shape (C, *spatial) and return (C_out, *spatial_out)."""
    if spec.kind is OpKind.CONV:
        assert w is not None
        return conv(spec, x, w, b)
    if spec.kind is OpKind.CONVTRANSPOSE:
        assert w is not None
        return conv_transpose(spec, x, w, b)
    if spec.kind is OpKind.MAXPOOL:
        return max_pool(spec, x)
    return avg_pool(spec, x)


def _offsets(kernel: tuple[int, ...]) -> itertools.product[tuple[int, ...]]:
    return itertools.product(*(range(k) for k in kernel))


def _zeros(shape: tuple[int, ...], fill: object = 0) -> np.ndarray:
    array = np.empty(shape, dtype=object)
    array.fill(fill)
    return array


def conv(spec: LayerSpec, x: np.ndarray, w: np.ndarray, b: np.ndarray | None) -> np.ndarray:
    out_size = layer_shape(spec, tuple(x.shape[1:])).output
    padded = pad(x, [(0, 0), *spec.padding])
    c_out, groups = w.shape[0], spec.groups
    cin_g, cout_g = x.shape[0] // groups, c_out // groups
    out = _zeros((c_out, *out_size))
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
    in_size = tuple(x.shape[1:])
    out_size = layer_shape(spec, in_size).output
    groups = spec.groups
    cin_g, cout_g = x.shape[0] // groups, w.shape[1]
    full = tuple(
        (n - 1) * s + d * (k - 1) + 1
        for n, s, d, k in zip(in_size, spec.stride, spec.dilation, spec.kernel_size)
    )
    # room for output_padding past the full result
    canvas = _zeros((cout_g * groups, *(f + op for f, op in zip(full, spec.output_padding))))
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
    crop = tuple(slice(p, p + o) for (p, _), o in zip(spec.padding, out_size))
    return _add_bias(canvas[(slice(None), *crop)].copy(), b)


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


def _extra(spec: LayerSpec, in_size: tuple[int, ...], out_size: tuple[int, ...]) -> list[int]:
    """How far ceil-mode windows reach past the right padding, per dimension."""
    return [
        max(0, (o - 1) * s + d * (k - 1) + 1 - (n + 2 * p))
        for o, s, d, k, n, (p, _) in zip(
            out_size, spec.stride, spec.dilation, spec.kernel_size, in_size, spec.padding
        )
    ]


def max_pool(spec: LayerSpec, x: np.ndarray) -> np.ndarray:
    in_size = tuple(x.shape[1:])
    out_size = layer_shape(spec, in_size).output
    extra = _extra(spec, in_size, out_size)
    pads = [(0, 0)] + [(p, p + e) for (p, _), e in zip(spec.padding, extra)]
    padded = pad(x, pads, float("-inf"))
    patches = _pool_windows(spec, padded, out_size)
    out = patches[0].copy()
    for patch in patches[1:]:
        out = np.where(patch > out, patch, out)
    return out


def avg_pool(spec: LayerSpec, x: np.ndarray) -> np.ndarray:
    in_size = tuple(x.shape[1:])
    out_size = layer_shape(spec, in_size).output
    extra = _extra(spec, in_size, out_size)
    pads = [(0, 0)] + [(p, p + e) for (p, _), e in zip(spec.padding, extra)]
    padded = pad(x, pads)
    # Which padded positions count towards the divisor: real input only, or input and padding
    # (but never the ceil-mode overhang past the right padding).
    counted = pad(np.ones((1, *in_size), dtype=object), pads)
    if spec.count_include_pad:
        inside = tuple(slice(0, n + 2 * p) for n, (p, _) in zip(in_size, spec.padding))
        counted[(slice(None), *inside)] = 1
    total: np.ndarray = sum(_pool_windows(spec, padded, out_size))  # type: ignore[assignment]
    count: np.ndarray = sum(_pool_windows(spec, counted, out_size))  # type: ignore[assignment]
    result = np.empty(total.shape, dtype=object)
    result.reshape(-1)[:] = [
        normalise(Fraction(t) / c)
        for t, c in zip(total.reshape(-1), np.broadcast_to(count, total.shape).reshape(-1))
    ]
    return result
