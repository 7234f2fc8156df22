"""The backward pass of a convolution or a transposed convolution, exactly, with its working.

Given dL/dY (``grad_out``, the output's layout without the batch):

- conv: ``grad_input`` is the transposed convolution of dY with the same weight, stride, padding,
  dilation and groups (output_padding = the input elements no window reached, so the size comes
  back); ``grad_weight[o, c, m] = sum_j x[c, j*s + m*d - p] * dY[o, j]``, a correlation of the
  input with dY, i.e. ``dY @ columnsᵀ`` on the im2col columns of the input (seed 001's
  ``dW = col.T @ dout``); ``grad_bias[o] = sum_j dY[o, j]``.
- transposed conv, the mirror image: ``grad_input`` is the convolution of dY with the same weight
  (a transposed conv's gradient is a conv); ``grad_weight[c, o, m] = sum_i x[c, i] *
  dY[o, i*s + m*d - p]``, i.e. ``x @ columnsᵀ`` on the im2col columns of dY.

The grad_input is a Trace of that (transposed) convolution, so its multiply-accumulates are
shown like any trace's. Everything is exact (Python ints and fractions in object arrays).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace

import numpy as np

from convcalc.errors import MalformedInputError
from convcalc.reference import unfold_columns
from convcalc.shapes import LayerShape, shape_of
from convcalc.specs import LayerSpec, OpKind
from convcalc.steps import Trace
from convcalc.trace import explain


@dataclass
class Backward:
    """dL/dX, dL/dW, dL/db of a traced layer, full layouts (C, *spatial) and PyTorch's weight
    layout; ``input_trace`` computes grad_input step by step."""

    grad_out: np.ndarray  # (C_out, *spatial_out)
    grad_input: np.ndarray  # (C_in, *spatial_in)
    grad_weight: np.ndarray  # the weight's layout
    grad_bias: np.ndarray  # (C_out,)
    input_trace: Trace  # the (transposed) convolution that gives grad_input
    grad_input_op: str  # that op, in words: "conv_transpose2d(dY, w, stride=2, ...)"
    # grad_weight as a matrix product: (rows @ columns.T), block per group
    weight_rows: np.ndarray  # dY (conv) or x (transposed conv), (C, L)
    weight_columns: np.ndarray  # im2col of x (conv) or of dY (transposed conv), (C * prod(k), L)
    groups: int = 1

    def weight_terms(self, index: tuple[int, ...]) -> list[tuple[object, object]]:
        """The factor pairs whose products sum to ``grad_weight[index]``: the index's row of
        the column matrix against the channel's row of dY (conv) or x (transposed conv)."""
        shape = self.grad_weight.shape
        per = int(np.prod(shape[1:]))
        group = index[0] // (shape[0] // self.groups)
        flat = int(np.ravel_multi_index(index[1:], shape[1:]))
        column = self.weight_columns[group * per + flat]
        return list(zip(column.tolist(), self.weight_rows[index[0]].tolist()))


def arrange_grad_out(trace: Trace, grad_out: np.ndarray) -> np.ndarray:
    """dY in the output's full layout (C_out, *spatial_out); a plain matrix for one channel."""
    shape = trace.output_shape
    if grad_out.shape == shape[1:] and shape[0] == 1:
        return grad_out.reshape(shape)
    if grad_out.shape != shape:
        plain = f" (or {list(shape[1:])} as a plain matrix)" if shape[0] == 1 else ""
        raise MalformedInputError(
            f"grad_out (--grad-out): dL/dY has the output's layout {list(shape)}{plain}, "
            f"got shape {list(grad_out.shape)}"
        )
    return grad_out


def backward(trace: Trace, grad_out: np.ndarray) -> Backward:
    """The three gradients of a conv or transposed conv for dL/dY = ``grad_out``."""
    spec, x, w = trace.spec, trace.x, trace.w
    if w is None or spec.kind not in (OpKind.CONV, OpKind.CONVTRANSPOSE):
        raise MalformedInputError(
            "--grad-out: the backward pass is traced for convolutions and transposed convolutions"
        )
    shape = trace.shape
    assert isinstance(shape, LayerShape)
    dy = arrange_grad_out(trace, grad_out)
    grad_bias = np.empty(dy.shape[0], dtype=object)
    grad_bias[:] = [sum(dy[o].reshape(-1).tolist(), 0) for o in range(dy.shape[0])]
    if spec.kind is OpKind.CONV:
        # dX: the transposed conv of dY with the same weight; output_padding restores the size
        op = tuple(dim.input - dim.inverse_output for dim in shape.dims)
        back = replace(
            spec,
            kind=OpKind.CONVTRANSPOSE,
            output_padding=op,
            in_channels=dy.shape[0],
            out_channels=x.shape[0],
            bias=False,
            padding_mode=None,
        )
        input_trace = explain(back, dy, w, None, trace.plain)
        words = "conv_transpose"
        columns = unfold_columns(x, spec)  # (C_in * prod(k), L)
        rows = dy.reshape(dy.shape[0], -1)  # (C_out, L)
        grad_weight = _blocks(rows, columns, spec, w.shape)
    else:
        back = replace(
            spec,
            kind=OpKind.CONV,
            output_padding=(0,) * spec.ndim,
            in_channels=dy.shape[0],
            out_channels=x.shape[0],
            bias=False,
        )
        input_trace = explain(back, dy, w, None, trace.plain)
        assert input_trace.output is not None
        # sizes past the input (output_padding >= stride) read no input element: cropped
        crop = tuple(slice(0, n) for n in x.shape[1:])
        input_trace.output = input_trace.output[(slice(None), *crop)]
        words = "conv"
        columns = _first_positions(dy, back, x.shape[1:])
        rows = x.reshape(x.shape[0], -1)  # (C_in, L = input positions)
        grad_weight = _blocks(rows, columns, spec, w.shape)
    assert input_trace.output is not None
    args = ", ".join(
        f"{name}={_one(values)}"
        for name, values in (
            ("stride", spec.stride),
            ("padding", tuple(p for p, _ in spec.padding)),
            ("dilation", spec.dilation),
            ("groups", (spec.groups,)),
        )
    )
    if spec.kind is OpKind.CONV and any(back.output_padding):
        args += f", output_padding={_one(back.output_padding)}"
    return Backward(
        dy,
        input_trace.output,
        grad_weight,
        grad_bias,
        input_trace,
        f"{words}{spec.ndim}d(dY, w, {args})",
        rows,
        columns,
        spec.groups,
    )


def _first_positions(dy: np.ndarray, spec: LayerSpec, in_size: tuple[int, ...]) -> np.ndarray:
    """im2col columns of dY for the conv ``spec``, one per input position (row-major)."""
    columns = unfold_columns(dy, spec)
    out = shape_of(spec, tuple(dy.shape[1:])).output
    keep = [
        n
        for n, pos in enumerate(itertools.product(*(range(o) for o in out)))
        if all(p < i for p, i in zip(pos, in_size))
    ]
    return columns[:, keep]


def _blocks(
    rows: np.ndarray, columns: np.ndarray, spec: LayerSpec, weight_shape: tuple[int, ...]
) -> np.ndarray:
    """grad_weight = rows @ columnsᵀ, group by group, in the weight's layout.

    conv: rows (C_out, L) = dY, columns (C_in * prod(k), L) = im2col(x); weight
    (C_out, C_in/g, *k). transposed conv: rows (C_in, L) = x, columns (C_out * prod(k), L) =
    im2col(dY); weight (C_in, C_out/g, *k)."""
    groups = spec.groups
    lead, per = weight_shape[0], int(np.prod(weight_shape[1:]))
    lead_g = lead // groups
    grad = np.empty((lead, per), dtype=object)
    for g in range(groups):
        block = rows[g * lead_g : (g + 1) * lead_g].dot(columns[g * per : (g + 1) * per].T)
        grad[g * lead_g : (g + 1) * lead_g] = block
    return grad.reshape(weight_shape)


def _one(values: tuple[int, ...]) -> str:
    return str(values[0]) if len(set(values)) == 1 else str(tuple(values))
