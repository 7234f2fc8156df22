"""Max and average pooling, torch.nn.MaxPoolNd and AvgPoolNd: their trace steps (the first
maximum wins; an average's divisor and why), references, working and torch layers. Their size
rule is the shared pool rule (``shapes.pool_dim``)."""

from __future__ import annotations

import math
from fractions import Fraction
from typing import TYPE_CHECKING

from convcalc.families.base import Family, RawTable, one, pool_params
from convcalc.ops import OpKind
from convcalc.specs import LayerSpec

if TYPE_CHECKING:
    import numpy as np

    from convcalc.steps import Step, Term, Trace

POOL_PRINTED = ("kernel_size", "stride", "padding")


class MaxPool(Family):
    net_keys = frozenset(
        {
            "kernel_size",
            "stride",
            "padding",
            "dilation",
            "ceil_mode",
            "return_indices",
            "convention",
        }
    )
    printed_positional = POOL_PRINTED
    onnx_ops = ("MaxPool",)

    def step(self, trace: Trace, o: int, pos: tuple[int, ...]) -> Step:
        return pool_step(trace.spec, trace.x, o, pos, True)

    def reference(
        self, spec: LayerSpec, x: np.ndarray, w: np.ndarray | None, b: np.ndarray | None
    ) -> np.ndarray:
        from convcalc.reference import max_pool

        return max_pool(spec, x)

    def step_text(self, trace: Trace, step: Step) -> tuple[str, str]:
        from convcalc.steps import approx, pool_text

        return pool_text(step, trace.spec.count_include_pad), approx(step.value)

    def inverse_name(self, spec: LayerSpec) -> str:
        return f"MaxUnpool{spec.ndim}d (or ConvTranspose{spec.ndim}d)"

    def torch_layer(self, spec: LayerSpec, c_in: int, c_out: int, padding: str) -> str:
        text = f"MaxPool{spec.ndim}d({pool_params(spec, padding)}, dilation={one(spec.dilation)}"
        return text + f", ceil_mode={spec.ceil_mode})"

    def from_onnx(
        self, op: str, attrs: dict[str, object], window: dict[str, object]
    ) -> dict[str, object]:
        return onnx_pool(self.kind, attrs, window)


class AvgPool(Family):
    net_keys = frozenset(
        {
            "kernel_size",
            "stride",
            "padding",
            "ceil_mode",
            "count_include_pad",
            "divisor_override",
            "convention",
        }
    )
    printed_positional = POOL_PRINTED
    onnx_ops = ("AveragePool",)

    def step(self, trace: Trace, o: int, pos: tuple[int, ...]) -> Step:
        return pool_step(trace.spec, trace.x, o, pos, False)

    def reference(
        self, spec: LayerSpec, x: np.ndarray, w: np.ndarray | None, b: np.ndarray | None
    ) -> np.ndarray:
        from convcalc.reference import avg_pool

        return avg_pool(spec, x)

    def step_text(self, trace: Trace, step: Step) -> tuple[str, str]:
        from convcalc.steps import approx, pool_text

        return pool_text(step, trace.spec.count_include_pad), approx(step.value)

    def torch_layer(self, spec: LayerSpec, c_in: int, c_out: int, padding: str) -> str:
        return f"AvgPool{spec.ndim}d({pool_params(spec, padding)}, ceil_mode={spec.ceil_mode})"

    def from_onnx(
        self, op: str, attrs: dict[str, object], window: dict[str, object]
    ) -> dict[str, object]:
        layer = onnx_pool(self.kind, attrs, window)
        n = len(layer["kernel_size"])
        if layer.get("dilation") == [1] * n:
            del layer["dilation"]  # an average pool takes none (a real one is refused)
        layer["count_include_pad"] = bool(attrs.get("count_include_pad", 0))
        return layer


def onnx_pool(kind: OpKind, attrs: RawTable, window: RawTable) -> RawTable:
    """An ONNX pool node's ``[[layer]]``: its kernel, the reader's window, ONNX's stride 1."""
    kernel = list(attrs["kernel_shape"])
    n = len(kernel)
    layer: RawTable = {"layer": f"{kind.value}{n}d", "kernel_size": kernel, **window}
    layer.setdefault("stride", [1] * n)  # ONNX's default stride is 1, not the kernel
    if attrs.get("ceil_mode"):
        layer["ceil_mode"] = True
    return layer


MAXPOOL = MaxPool(OpKind.MAXPOOL)
AVGPOOL = AvgPool(OpKind.AVGPOOL)


def pool_step(spec: LayerSpec, x: np.ndarray, c: int, pos: tuple[int, ...], max_pool: bool) -> Step:
    from convcalc.steps import NEG_INF, Term, max_step, positions, window_of

    in_size = x.shape[1:]
    starts = [j * s - p for j, s, (p, _) in zip(pos, spec.stride, spec.padding)]
    terms = []
    for m in positions(spec.kernel_size):
        at = tuple(st + mi * d for st, mi, d in zip(starts, m, spec.dilation))
        # A ceil_mode window hanging past the right padding: those positions are not
        # counted. (onnxruntime's negative SAME padding trims an average's input; a max
        # only ever reads the real input, so padding there changes nothing.)
        if any(
            a >= n + (max(p, 0) if max_pool else p)
            for a, n, (_, p) in zip(at, in_size, spec.padding)
        ):
            continue
        inside = all(0 <= a < n for a, n in zip(at, in_size))
        value = x[(c, *at)] if inside else (NEG_INF if max_pool else 0)
        terms.append(Term((c, *at), value, None, None, value, not inside))
    if max_pool:
        return max_step((c, *pos), terms, window_of(starts, spec))
    return avg_step(spec, (c, *pos), terms, starts, in_size)


def avg_step(
    spec: LayerSpec,
    index: tuple[int, ...],
    terms: list[Term],
    starts: list[int],
    in_size: tuple[int, ...],
) -> Step:
    from convcalc.steps import Step, window_of

    total = sum((t.input_value for t in terms if not t.padding), 0)
    real = sum(1 for t in terms if not t.padding)
    window_size = math.prod(spec.kernel_size)
    if spec.count_include_pad:
        divisor = len(terms)
        if divisor == window_size:
            reason = f"the whole {'x'.join(map(str, spec.kernel_size))} window (count_include_pad)"
        else:
            reason = (
                f"{divisor} of {window_size} window positions: clipped at the padded edge "
                "(ceil_mode)"
            )
    else:
        divisor = real
        reason = "real input elements only (count_include_pad=False)"
    from convcalc.tensors import normalise

    value = normalise(Fraction(total) / divisor)
    return Step(
        index,
        tuple(terms),
        value,
        total=total,
        divisor=divisor,
        divisor_reason=reason,
        window=window_of(starts, spec),
    )
