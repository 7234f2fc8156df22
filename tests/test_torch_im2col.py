"""`trace conv --view im2col` against real PyTorch: the column matrix equals
torch.nn.functional.unfold(x)[0], and weight_matrix @ columns (+ bias) equals the conv, for
generated 1-d and 2-d layers with channels, groups, stride, padding and dilation."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
from typer.testing import CliRunner

torch = pytest.importorskip("torch")
F = torch.nn.functional

from convcalc.cli import app  # noqa: E402
from convcalc.specs import ViewName  # noqa: E402
from convcalc.trace import choose_view, im2col_view, trace_layer  # noqa: E402

pytestmark = pytest.mark.torch


def _data(rng: random.Random, shape: tuple[int, ...]) -> np.ndarray:
    return np.array([rng.randint(-4, 4) for _ in range(int(np.prod(shape)))], dtype=object).reshape(
        shape
    )


@pytest.mark.parametrize("ndim", [1, 2])
def test_columns_are_unfold_and_product_is_the_conv(ndim: int) -> None:
    rng = random.Random(f"im2col-{ndim}")
    checked = 0
    for _ in range(60):
        groups = rng.choice([1, 1, 2])
        c_in = groups * rng.randint(1, 2)
        c_out = groups * rng.randint(1, 2)
        size = tuple(rng.randint(2, 7) for _ in range(ndim))
        k = tuple(rng.randint(1, 3) for _ in range(ndim))
        s = tuple(rng.randint(1, 2) for _ in range(ndim))
        p = tuple(rng.randint(0, 1) for _ in range(ndim))
        d = tuple(rng.randint(1, 2) for _ in range(ndim))
        x, w = _data(rng, (c_in, *size)), _data(rng, (c_out, c_in // groups, *k))
        b = _data(rng, (c_out,)) if rng.random() < 0.5 else None
        try:
            t = trace_layer(f"conv{ndim}d", x, w, b, stride=s, padding=p, dilation=d, groups=groups)
        except Exception:  # noqa: BLE001 - a layer torch rejects too (checked elsewhere)
            continue
        view = im2col_view(t)
        # torch's unfold is 2-d only: a 1-d layer is a 2-d one of height 1
        lead = (lambda v, one: (one, *v)) if ndim == 1 else (lambda v, one: v)
        xt = torch.tensor(x.astype(float)).reshape(1, c_in, *lead(size, 1))
        cols = F.unfold(xt, lead(k, 1), dilation=lead(d, 1), padding=lead(p, 0), stride=lead(s, 1))[
            0
        ]
        np.testing.assert_array_equal(view.columns.astype(float), cols.numpy())
        conv = getattr(F, f"conv{ndim}d")(
            torch.tensor(x.astype(float))[None],
            torch.tensor(w.astype(float)),
            None if b is None else torch.tensor(b.astype(float)),
            s,
            p,
            d,
            groups,
        )[0]
        np.testing.assert_array_equal(view.product.astype(float).reshape(conv.shape), conv.numpy())
        if groups == 1:
            np.testing.assert_array_equal(
                view.weight_matrix.astype(float), w.astype(float).reshape(c_out, -1)
            )
        checked += 1
    assert checked > 30


def test_cli_json_has_columns_and_weight_matrix(runner: CliRunner) -> None:
    result = runner.invoke(
        app,
        ["trace", "conv2d", "--x", "arange:4x4", "--w", "1,2;3,4", "--view", "im2col", "--json"],
    )
    data = json.loads(result.stdout)
    xt = torch.arange(1.0, 17.0).reshape(1, 1, 4, 4)
    assert data["columns"] == F.unfold(xt, 2)[0].int().tolist()
    assert data["weight_matrix"] == [[1, 2, 3, 4]]
    assert data["view"] == "im2col" and data["output"][0] == [44, 54, 64]


def test_im2col_is_for_convolutions() -> None:
    x = np.array([[1, 2], [3, 4]], dtype=object)
    t = trace_layer("maxpool2d", x, kernel_size=(2,))
    with pytest.raises(Exception, match="applies to convolutions only"):
        choose_view(t, ViewName.IM2COL)
