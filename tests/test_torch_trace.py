"""Differential tests: traced values against real PyTorch in float64 (skipped without torch)."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytest

from convcalc import ConvcalcError
from convcalc.trace import trace_layer

torch = pytest.importorskip("torch")
F = torch.nn.functional

pytestmark = pytest.mark.torch


def _tensor(rng: random.Random, shape: tuple[int, ...]) -> np.ndarray:
    values = [rng.randint(-4, 4) for _ in range(int(np.prod(shape)))]
    array = np.empty(len(values), dtype=object)
    array[:] = values
    return array.reshape(shape)


def _case(rng: random.Random, kind: str, ndim: int) -> tuple[dict[str, Any], Any, Any, Any]:
    groups = rng.choice([1, 1, 2, 3]) if kind in ("conv", "convtranspose") else 1
    c_in = groups * rng.randint(1, 2)
    size = tuple(rng.randint(1, 7) for _ in range(ndim))
    k = tuple(rng.randint(1, 3) for _ in range(ndim))
    kw: dict[str, Any] = {
        "stride": tuple(rng.randint(1, 3) for _ in range(ndim)),
        "padding": tuple(rng.randint(0, 2) for _ in range(ndim)),
    }
    x, w, b = _tensor(rng, (c_in, *size)), None, None
    if kind == "conv":
        c_out = groups * rng.randint(1, 2)
        w = _tensor(rng, (c_out, c_in // groups, *k))
        kw["dilation"] = tuple(rng.randint(1, 2) for _ in range(ndim))
        kw["groups"] = groups
        b = _tensor(rng, (c_out,)) if rng.random() < 0.5 else None
        if rng.random() < 0.25:  # torch's 'same': the odd extra padding pixel after
            kw["padding"], kw["stride"] = "same", (1,) * ndim
    elif kind == "convtranspose":
        cout_g = rng.randint(1, 2)
        w = _tensor(rng, (c_in, cout_g, *k))
        kw["dilation"] = tuple(rng.randint(1, 2) for _ in range(ndim))
        kw["output_padding"] = tuple(rng.randint(0, 1) for _ in range(ndim))
        kw["groups"] = groups
        b = _tensor(rng, (cout_g * groups,)) if rng.random() < 0.5 else None
    else:
        kw["kernel_size"] = k
        kw["padding"] = tuple(min(p, kk // 2) for p, kk in zip(kw["padding"], k))
        kw["ceil_mode"] = rng.random() < 0.5
        if kind == "maxpool":
            kw["dilation"] = tuple(rng.randint(1, 2) for _ in range(ndim))
        else:
            kw["count_include_pad"] = rng.random() < 0.5
    return kw, x, w, b


def _torch_run(kind: str, ndim: int, kw: dict[str, Any], x: Any, w: Any, b: Any) -> Any:
    def t(a: Any) -> Any:
        return None if a is None else torch.tensor(a.astype(float), dtype=torch.float64)

    xt = t(x).unsqueeze(0)
    if kind == "conv":
        fn = getattr(F, f"conv{ndim}d")
        out = fn(xt, t(w), t(b), kw["stride"], kw["padding"], kw["dilation"], kw["groups"])
    elif kind == "convtranspose":
        fn = getattr(F, f"conv_transpose{ndim}d")
        out = fn(
            xt,
            t(w),
            t(b),
            kw["stride"],
            kw["padding"],
            kw["output_padding"],
            kw["groups"],
            kw["dilation"],
        )
    elif kind == "maxpool":
        fn = getattr(F, f"max_pool{ndim}d")
        out = fn(
            xt,
            kw["kernel_size"],
            kw["stride"],
            kw["padding"],
            kw["dilation"],
            ceil_mode=kw["ceil_mode"],
        )
    else:
        fn = getattr(F, f"avg_pool{ndim}d")
        out = fn(
            xt,
            kw["kernel_size"],
            kw["stride"],
            kw["padding"],
            ceil_mode=kw["ceil_mode"],
            count_include_pad=kw["count_include_pad"],
        )
    return out[0].numpy()


@pytest.mark.filterwarnings("ignore:Using padding='same'")  # torch's note on even kernels
@pytest.mark.parametrize("ndim", [1, 2, 3])
@pytest.mark.parametrize("kind", ["conv", "convtranspose", "maxpool", "avgpool"])
def test_trace_values_match_torch(kind: str, ndim: int) -> None:
    """For 40 random layers per op and dimensionality (multi-channel, groups, bias, dilation,
    output_padding, ceil_mode, count_include_pad) the traced output equals torch's float64
    output, and both reject the same layers."""
    rng = random.Random(f"trace-{kind}-{ndim}")
    compared = 0
    for _ in range(40 if ndim < 3 else 15):
        kw, x, w, b = _case(rng, kind, ndim)
        try:
            ours = trace_layer(f"{kind}{ndim}d", x, w, b, **kw).output
        except ConvcalcError:
            ours = None
        try:
            theirs = _torch_run(kind, ndim, kw, x, w, b)
        except RuntimeError:
            theirs = None
        assert (ours is None) == (theirs is None), (kw, x.shape)
        if ours is None:
            continue
        compared += 1
        assert ours.shape == theirs.shape
        np.testing.assert_allclose(ours.astype(float), theirs, rtol=1e-12, atol=1e-12)
    assert compared >= 5
