"""Transposed convolution, torch.nn.ConvTransposeNd: its trace step (the gather form of the
scatter), reference, working and torch layer. Its size rule is ``shapes.conv_transpose_dim``;
its other views (scatter, zero-insertion conv, matrix) are in ``trace.py``."""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

from convcalc.families.base import Family, one
from convcalc.families.conv import CONV_KEYS, exact
from convcalc.ops import OpKind
from convcalc.specs import LayerSpec

if TYPE_CHECKING:
    import numpy as np

    from convcalc.steps import Step, Trace


class ConvTranspose(Family):
    net_keys = CONV_KEYS | {"output_padding"}
    printed_positional = ("in_channels", "out_channels", "kernel_size", "stride", "padding")
    onnx_ops = ("ConvTranspose",)

    def step(self, trace: Trace, o: int, pos: tuple[int, ...]) -> Step:
        assert trace.w is not None
        return conv_transpose_step(trace.spec, trace.x, trace.w, trace.b, o, pos)

    def trace_channels(self, trace: Trace) -> int:
        assert trace.w is not None
        return int(trace.w.shape[1]) * trace.spec.groups

    def reference(
        self, spec: LayerSpec, x: np.ndarray, w: np.ndarray | None, b: np.ndarray | None
    ) -> np.ndarray:
        from convcalc.reference import conv_transpose

        return exact(conv_transpose, spec, x, w, b)

    def step_text(self, trace: Trace, step: Step) -> tuple[str, str]:
        from convcalc.steps import num, products_text

        return products_text(step), num(step.value)

    def inverse_name(self, spec: LayerSpec) -> str:
        return f"Conv{spec.ndim}d"

    def torch_layer(self, spec: LayerSpec, c_in: int, c_out: int, padding: str) -> str:
        text = f"ConvTranspose{spec.ndim}d({c_in}, {c_out}, kernel_size={one(spec.kernel_size)}, "
        text += f"stride={one(spec.stride)}, padding={padding}"
        text += f", output_padding={one(spec.output_padding)}, groups={spec.groups}"
        text += f", dilation={one(spec.dilation)}" + ("" if spec.bias else ", bias=False")
        return text + ")"


FAMILY = ConvTranspose(OpKind.CONVTRANSPOSE)


def conv_transpose_step(
    spec: LayerSpec,
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray | None,
    o: int,
    pos: tuple[int, ...],
) -> Step:
    """Gather form of the scatter: output j collects x[i]*w[m] wherever i*s + m*d - p == j."""
    from convcalc.steps import Term, landing, sum_step

    in_size = x.shape[1:]
    groups = spec.groups
    cin_g, cout_g = x.shape[0] // groups, w.shape[1]
    group, oc = divmod(o, cout_g)
    per_dim = landing(spec, pos, in_size)
    terms = []
    for c in range(cin_g):
        channel = group * cin_g + c
        for combo in itertools.product(*per_dim):
            at = tuple(pair[0] for pair in combo)
            taps = tuple(pair[1] for pair in combo)
            value, weight = x[(channel, *at)], w[(channel, oc, *taps)]
            terms.append(Term((channel, *at), value, (channel, oc, *taps), weight, value * weight))
    return sum_step((o, *pos), terms, b, o)
