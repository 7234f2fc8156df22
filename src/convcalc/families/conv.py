"""Convolution (cross-correlation), torch.nn.ConvNd: its trace step, reference, working and
torch layer. Its size rule is the shared conv rule (``shapes.conv_dim``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from convcalc.families.base import Family, one
from convcalc.ops import OpKind
from convcalc.specs import LayerSpec

if TYPE_CHECKING:
    import numpy as np

    from convcalc.steps import Step, Trace


# the keys a conv's [[layer]] takes (a transposed conv adds output_padding)
CONV_KEYS = frozenset(
    {
        "convention",
        "in_channels",
        "out_channels",
        "kernel_size",
        "stride",
        "padding",
        "dilation",
        "groups",
        "bias",
        "padding_mode",
        "output_shape",
    }
)


def exact(
    run: Callable[..., np.ndarray],
    spec: LayerSpec,
    x: np.ndarray,
    w: np.ndarray | None,
    b: np.ndarray | None,
) -> np.ndarray:
    """A weighted layer's reference on int64 when every sum fits, else on exact objects."""
    from convcalc.reference import int64_operands

    assert w is not None
    fast = int64_operands(spec, x, w, b)
    if fast is not None:
        return run(spec, *fast).astype(object)
    return run(spec, x, w, b)


class Conv(Family):
    net_keys = CONV_KEYS
    printed_positional = ("in_channels", "out_channels", "kernel_size", "stride", "padding")
    onnx_ops = ("Conv",)

    def step(self, trace: Trace, o: int, pos: tuple[int, ...]) -> Step:
        assert trace.w is not None
        return conv_step(trace.spec, trace.x, trace.w, trace.b, o, pos)

    def trace_channels(self, trace: Trace) -> int:
        assert trace.w is not None
        return int(trace.w.shape[0])

    def reference(
        self, spec: LayerSpec, x: np.ndarray, w: np.ndarray | None, b: np.ndarray | None
    ) -> np.ndarray:
        from convcalc.reference import conv

        return exact(conv, spec, x, w, b)

    def step_text(self, trace: Trace, step: Step) -> tuple[str, str]:
        from convcalc.steps import num, products_text

        return products_text(step), num(step.value)

    def torch_layer(self, spec: LayerSpec, c_in: int, c_out: int, padding: str) -> str:
        text = f"Conv{spec.ndim}d({c_in}, {c_out}, kernel_size={one(spec.kernel_size)}, "
        text += f"stride={one(spec.stride)}, padding={padding}, dilation={one(spec.dilation)}"
        return text + f", groups={spec.groups}" + ("" if spec.bias else ", bias=False") + ")"


FAMILY = Conv(OpKind.CONV)


def conv_step(
    spec: LayerSpec,
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray | None,
    o: int,
    pos: tuple[int, ...],
) -> Step:
    # y[o, j] = b[o] + sum_c sum_m x[c, j*s + m*d - p] * w[o, c, m]  (no kernel flip)
    from convcalc.steps import Term, positions, sum_step, window_of

    groups, in_size = spec.groups, x.shape[1:]
    cin_g, cout_g = x.shape[0] // groups, w.shape[0] // groups
    group = o // cout_g
    starts = [j * s - p for j, s, (p, _) in zip(pos, spec.stride, spec.padding)]
    cells = []
    for m in positions(spec.kernel_size):
        at = tuple(st + mi * d for st, mi, d in zip(starts, m, spec.dilation))
        cells.append((at, all(0 <= a < n for a, n in zip(at, in_size)), m))
    terms = []
    for c in range(cin_g):
        channel = group * cin_g + c
        for at, inside, m in cells:
            value = x[(channel, *at)] if inside else 0
            weight = w[(o, c, *m)]
            terms.append(
                Term((channel, *at), value, (o, c, *m), weight, value * weight, not inside)
            )
    return sum_step((o, *pos), terms, b, o, window_of(starts, spec))
