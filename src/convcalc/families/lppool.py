"""Power-average pooling, torch.nn.LPPool1d/2d/3d: ``(sum of x**p over the window)**(1/p)``.

PyTorch computes it as ``avg_pool(x.pow(p), kernel_size, stride, 0, ceil_mode)``, multiplied by
the kernel's size and raised to ``1/p``. So its size rule is the pool rule without padding (and
AvgPool3d's rule that the input hold the kernel), and a window that ceil_mode clips at the input's
end is not the sum of the powers it reads: avg_pool divides by the clipped count and the product
by the whole kernel scales it up, ``sum * prod(kernel_size) / count``. ``p = inf`` is the max of
``|x|``, ``p = -inf`` the min. Values stay exact while they can (integer powers, roots that are
exact); an irrational root is a float, and a root of a negative sum is nan, as in torch.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import TYPE_CHECKING

from convcalc.errors import MalformedInputError
from convcalc.families.base import Family, RawTable, one, setting_json
from convcalc.families.pool import onnx_pool
from convcalc.ops import OpKind
from convcalc.specs import LayerSpec, SettingValue

if TYPE_CHECKING:
    import numpy as np

    from convcalc.steps import Step, Trace

Value = int | Fraction | float


class LPPool(Family):
    net_keys = frozenset({"kernel_size", "stride", "ceil_mode"})
    printed_positional = ("norm_type", "kernel_size", "stride")
    onnx_ops = ("LpPool",)

    def step(self, trace: Trace, o: int, pos: tuple[int, ...]) -> Step:
        from convcalc.steps import Step, Term, positions, window_of

        spec, x = trace.spec, trace.x
        p = norm_type(spec)
        in_size = x.shape[1:]
        starts = [j * s for j, s in zip(pos, spec.stride)]
        terms = []
        for m in positions(spec.kernel_size):
            at = tuple(st + mi for st, mi in zip(starts, m))
            if all(a < n for a, n in zip(at, in_size)):  # ceil_mode: the overhang is not read
                value = x[(o, *at)]
                terms.append(Term((o, *at), value, None, None, power(value, p)))
        kernel = math.prod(spec.kernel_size)
        total = _sum(t.product for t in terms)
        value = pooled([t.input_value for t in terms], total, kernel, p)
        return Step(
            (o, *pos),
            tuple(terms),
            value,
            total=total,
            divisor=len(terms),
            divisor_reason=f"{len(terms)} of {kernel}",
            window=window_of(starts, spec),
        )

    def reference(
        self, spec: LayerSpec, x: np.ndarray, w: np.ndarray | None, b: np.ndarray | None
    ) -> np.ndarray:
        """Vectorised over the kernel offsets: one strided slice of the powers (and of a count
        of real elements) per offset, then each window's root."""
        import numpy as np

        from convcalc.shapes import layer_shape
        from convcalc.steps import positions

        p = norm_type(spec)
        out_size = layer_shape(spec, tuple(x.shape[1:])).output
        reach = [(o - 1) * s + k for o, s, k in zip(out_size, spec.stride, spec.kernel_size)]
        grown = tuple(max(r, n) for r, n in zip(reach, x.shape[1:]))
        powers = np.zeros((x.shape[0], *grown), dtype=object)
        real = np.zeros(grown, dtype=np.int64)
        inside = tuple(slice(0, n) for n in x.shape[1:])
        flat = [power(v, p) for v in x.reshape(-1)]
        powers[(slice(None), *inside)] = np.array(flat, dtype=object).reshape(x.shape)
        real[inside] = 1
        total = np.zeros((x.shape[0], *out_size), dtype=object)
        count = np.zeros(out_size, dtype=np.int64)
        for m in positions(spec.kernel_size):
            cut = tuple(
                slice(mi, mi + s * (o - 1) + 1, s) for mi, s, o in zip(m, spec.stride, out_size)
            )
            total = total + powers[(slice(None), *cut)]
            count = count + real[cut]
        kernel = math.prod(spec.kernel_size)
        out = np.empty(total.shape, dtype=object)
        for index in positions(tuple(total.shape)):
            window = None
            if isinstance(p, float):  # max or min of |x|: read the window again
                starts = [j * s for j, s in zip(index[1:], spec.stride)]
                cut = tuple(slice(st, st + k) for st, k in zip(starts, spec.kernel_size))
                window = list(x[(index[0], *cut)].reshape(-1))  # type: ignore[arg-type]
            out[index] = pooled(window or [], total[index], kernel, p, int(count[index[1:]]))
        return out

    def step_text(self, trace: Trace, step: Step) -> tuple[str, str]:
        from convcalc.steps import approx, num

        p = norm_type(trace.spec)
        kernel = math.prod(trace.spec.kernel_size)
        values = [num(t.input_value) for t in step.terms]
        if isinstance(p, float):
            which = "max" if p > 0 else "min"
            return f"{which}(|{'|, |'.join(values)}|)", approx(step.value)
        shown = _number(p)
        powers = " + ".join(f"{v}^{shown}" for v in values)
        work = f"{powers} = {num(step.total)}"
        count = step.divisor or 0
        if count != kernel:
            scaled = _scaled(step.total, kernel, count)
            work += (
                f"\n× {kernel}/{count} = {num(scaled)}: ceil_mode clipped the window to {count} "
                f"of {kernel} elements; torch averages them and multiplies by {kernel}"
            )
        work += f"\n{num(_scaled(step.total, kernel, count))}^(1/{shown})"
        return work, approx(step.value)

    def params(self, spec: LayerSpec) -> dict[str, object]:
        params: dict[str, object] = {k: setting_json(v) for k, v in spec.settings}
        return params | {
            "kernel_size": list(spec.kernel_size),
            "stride": list(spec.stride),
            "ceil_mode": spec.ceil_mode,
        }

    def torch_layer(self, spec: LayerSpec, c_in: int, c_out: int, padding: str) -> str:
        return (
            f"LPPool{spec.ndim}d(norm_type={_python(norm_type(spec))}, "
            f"kernel_size={one(spec.kernel_size)}, stride={one(spec.stride)}, "
            f"ceil_mode={spec.ceil_mode})"
        )

    def from_onnx(self, op: str, attrs: RawTable, window: RawTable) -> RawTable:
        """ONNX's LpPool: ``(sum |x|**p)**(1/p)``, p an integer (default 2)."""
        layer = onnx_pool(self.kind, attrs, window)
        layer.pop("convention", None)  # ONNX's explicit pads: a padding LPPool refuses by name
        if layer.get("dilation") == [1] * len(layer["kernel_size"]):
            del layer["dilation"]
        if layer.get("padding") in ([0] * len(layer["kernel_size"]), 0):
            del layer["padding"]
        return {"layer": layer.pop("layer"), "norm_type": int(attrs.get("p", 2)), **layer}


FAMILY = LPPool(OpKind.LPPOOL)


def norm_type(spec: LayerSpec) -> SettingValue:
    """The layer's p (a trace needs it; a shape does not)."""
    if not any(k == "norm_type" for k, _ in spec.settings):
        raise MalformedInputError("norm_type (--norm-type): LPPool's values need p, e.g. 2")
    return spec.setting("norm_type")


def power(x: Value, p: SettingValue) -> Value:
    """``x ** p`` as torch's pow gives it: exact for an integer p, nan for a negative x and a
    fractional p, inf for 0 to a negative power."""
    if isinstance(p, float):  # p = ±inf: the window's max or min of |x|
        return -x if x < 0 else x
    if p.denominator == 1 and not isinstance(x, float):
        n = int(p)
        if n >= 0:
            return Fraction(x) ** n if isinstance(x, Fraction) else int(x) ** n
        return math.inf if x == 0 else Fraction(1) / Fraction(x) ** -n
    return _float_pow(float(x), float(p))


def pooled(
    window: list[Value], total: Value, kernel: int, p: SettingValue, count: int = 0
) -> Value:
    """One output element: ``(total * kernel / count) ** (1/p)``, or max/min of |x| for p = ±inf."""
    from convcalc.tensors import normalise

    if isinstance(p, float):
        magnitudes: list[Fraction | float] = [
            abs(v) if isinstance(v, float) else abs(Fraction(v)) for v in window
        ]
        picked = max(magnitudes) if p > 0 else min(magnitudes)
        return picked if isinstance(picked, float) else normalise(picked)
    count = count or len(window)
    scaled = _scaled(total, kernel, count)
    return _root(scaled, p)


def _scaled(total: Value | None, kernel: int, count: int) -> Value:
    from convcalc.tensors import normalise

    if total is None or count == 0:
        return 0
    if isinstance(total, float):
        return total * kernel / count
    return normalise(Fraction(total) * kernel / count)


def _root(v: Value, p: Fraction) -> Value:
    """``v ** (1/p)``: exact when the root is rational, else a float (nan below zero)."""
    from convcalc.tensors import normalise

    e = 1 / p
    if isinstance(v, float):
        return _float_pow(v, float(e))
    if e.denominator == 1:
        n = int(e)
        if n >= 0:
            return normalise(Fraction(v) ** n)
        return math.inf if v == 0 else normalise(Fraction(1) / Fraction(v) ** -n)
    if v < 0:
        return math.nan
    if v == 0:
        return 0 if e > 0 else math.inf
    base = Fraction(v) ** e.numerator if e > 0 else Fraction(1) / Fraction(v) ** -e.numerator
    top, bottom = (
        _exact_root(base.numerator, e.denominator),
        _exact_root(base.denominator, e.denominator),
    )
    if top is not None and bottom is not None:
        return normalise(Fraction(top, bottom))
    return _float_pow(float(v), float(e))


def _exact_root(n: int, q: int) -> int | None:
    """The integer r with r**q == n (n >= 0), if there is one."""
    if n.bit_length() > 4000:
        return None
    r = round(n ** (1 / q)) if n < 2**1000 else _iroot(n, q)
    for c in (r - 1, r, r + 1):
        if c >= 0 and c**q == n:
            return c
    return None


def _iroot(n: int, q: int) -> int:
    lo, hi = 0, 1 << (n.bit_length() // q + 1)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if mid**q <= n:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _float_pow(x: float, e: float) -> float:
    """IEEE pow as torch applies it: nan for a negative base and a fractional exponent."""
    if math.isnan(x) or math.isnan(e):
        return math.nan
    if x < 0 and (math.isinf(e) or e != int(e)):
        return math.nan
    if x == 0:
        return 0.0 if e > 0 else (1.0 if e == 0 else math.inf)
    try:
        return math.pow(x, e)
    except OverflowError:
        return math.inf if x > 0 or int(e) % 2 == 0 else -math.inf


def _sum(values: object) -> Value:
    total: Value = 0
    for v in values:  # type: ignore[attr-defined]
        total = total + v
    return total


def _number(p: SettingValue) -> str:
    return str(p.numerator) if isinstance(p, Fraction) and p.denominator == 1 else str(float(p))


def _python(p: SettingValue) -> str:
    if isinstance(p, float):
        return "float('inf')" if p > 0 else "-float('inf')"
    return _number(p)
