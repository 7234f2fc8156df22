"""Adaptive pools against real PyTorch: output sizes, the windows (read back from values), and
traced values in float64, over generated sizes including out > in and uneven splits."""

from __future__ import annotations

import random

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from convcalc.conventions import shape_query  # noqa: E402
from convcalc.specs import LayerArgs  # noqa: E402
from convcalc.trace import trace_layer  # noqa: E402

pytestmark = pytest.mark.torch


def test_article_table() -> None:
    """FRAMEWORKS.md's table: 5->3 avg [1.5, 3, 4.5], 10->4 windows, 3->5 repeats."""
    x = np.array([1, 2, 3, 4, 5], dtype=object)
    t = trace_layer("adaptiveavgpool1d", x, output_shape=(3,))
    assert [float(v) for v in t.display_output] == [1.5, 3.0, 4.5]
    _, shape = shape_query("torch", "adaptivemaxpool1d", (10,), LayerArgs(output_shape=(4,)))
    assert shape.dims[0].windows == ((0, 3), (2, 5), (5, 8), (7, 10))  # type: ignore[union-attr]


@pytest.mark.parametrize("kind", ["avg", "max"])
@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_adaptive_pools_match_torch(kind: str, ndim: int) -> None:
    rng = random.Random(f"adaptive-{kind}-{ndim}")
    cls = getattr(torch.nn, f"Adaptive{kind.title()}Pool{ndim}d")
    for _ in range(40 if ndim < 3 else 15):
        size = tuple(rng.randint(1, 9 if ndim < 3 else 5) for _ in range(ndim))
        out = tuple(rng.randint(1, 11 if ndim < 3 else 6) for _ in range(ndim))
        channels = rng.randint(1, 3)
        values = [rng.randint(-9, 9) for _ in range(channels * int(np.prod(size)))]
        x = np.array(values, dtype=object).reshape((channels, *size))
        t = trace_layer(f"adaptive{kind}pool{ndim}d", x, output_shape=out)
        theirs = cls(out)(torch.tensor(values, dtype=torch.float64).reshape(1, channels, *size))
        assert tuple(theirs.shape[2:]) == t.shape.output
        assert t.output is not None
        np.testing.assert_allclose(
            t.output.astype(float), theirs[0].numpy(), rtol=1e-12, err_msg=str((size, out))
        )
        for step in t.iter_steps():  # element by element, as the table shows it
            assert step.value == t.output[step.index]
