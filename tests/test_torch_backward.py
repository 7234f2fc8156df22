"""The backward pass (`trace ... --grad-out`) against torch autograd in float64: grad_input,
grad_weight and grad_bias of generated convs and transposed convs (1d/2d/3d, groups, stride,
padding, dilation, output_padding), exact integers on our side."""

from __future__ import annotations

import random

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from convcalc import ConvcalcError  # noqa: E402
from convcalc.backward import backward  # noqa: E402
from convcalc.trace import trace_layer  # noqa: E402

pytestmark = pytest.mark.torch


def _data(rng: random.Random, shape: tuple[int, ...]) -> np.ndarray:
    values = [rng.randint(-4, 4) for _ in range(int(np.prod(shape)))]
    return np.array(values, dtype=object).reshape(shape)


def _tensor(a: np.ndarray) -> object:
    return torch.tensor(a.astype(float), dtype=torch.float64, requires_grad=True)


@pytest.mark.parametrize("kind", ["conv", "convtranspose"])
@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_gradients_match_autograd(kind: str, ndim: int) -> None:
    rng = random.Random(f"backward-{kind}-{ndim}")
    checked = 0
    for _ in range(50 if ndim < 3 else 20):
        groups = rng.choice([1, 1, 2])
        c_in, c_out = groups * rng.randint(1, 2), groups * rng.randint(1, 2)
        size = tuple(rng.randint(2, 6 if ndim < 3 else 4) for _ in range(ndim))
        k = tuple(rng.randint(1, 3) for _ in range(ndim))
        s = tuple(rng.randint(1, 3) for _ in range(ndim))
        p = tuple(rng.randint(0, 1) for _ in range(ndim))
        d = tuple(rng.randint(1, 2) for _ in range(ndim))
        op = None
        if kind == "convtranspose" and rng.random() < 0.5:
            op = tuple(rng.randint(0, max(a, b) - 1) for a, b in zip(s, d))
        x = _data(rng, (c_in, *size))
        w_shape = (c_out, c_in // groups, *k) if kind == "conv" else (c_in, c_out // groups, *k)
        w = _data(rng, w_shape)
        b = _data(rng, (c_out,))
        try:
            t = trace_layer(
                f"{kind}{ndim}d",
                x,
                w,
                b,
                stride=s,
                padding=p,
                dilation=d,
                groups=groups,
                output_padding=op,
            )
        except ConvcalcError:
            continue
        assert t.output is not None
        dy = _data(rng, t.output.shape)
        ours = backward(t, dy)
        xt, wt, bt = _tensor(x), _tensor(w), _tensor(b)
        if kind == "conv":
            y = getattr(torch.nn.functional, f"conv{ndim}d")(xt[None], wt, bt, s, p, d, groups)
        else:
            y = getattr(torch.nn.functional, f"conv_transpose{ndim}d")(
                xt[None], wt, bt, s, p, op or 0, groups, d
            )
        assert tuple(y.shape[1:]) == t.output.shape
        y.backward(torch.tensor(dy.astype(float), dtype=torch.float64)[None])
        np.testing.assert_array_equal(ours.grad_input.astype(float), xt.grad.numpy())
        np.testing.assert_array_equal(ours.grad_weight.astype(float), wt.grad.numpy())
        np.testing.assert_array_equal(ours.grad_bias.astype(float), bt.grad.numpy())
        # grad_input element by element, as the table shows its steps
        for step in ours.input_trace.iter_steps():
            if all(i < n for i, n in zip(step.index[1:], x.shape[1:])):
                assert step.value == ours.grad_input[step.index]
        checked += 1
    assert checked >= 10


def test_same_padding_gradient() -> None:
    """padding='same' with an even kernel pads 0 before, 1 after: the gradient is the transposed
    conv with those asymmetric pads, as autograd computes it."""
    x = np.arange(1, 17, dtype=object).reshape(4, 4)
    w = np.ones((2, 2), dtype=object)
    t = trace_layer("conv2d", x, w, padding="same")
    dy = np.arange(1, 17, dtype=object).reshape(4, 4)
    ours = backward(t, dy)
    xt = torch.arange(1.0, 17.0, dtype=torch.float64).reshape(1, 1, 4, 4).requires_grad_()
    wt = torch.ones(1, 1, 2, 2, dtype=torch.float64, requires_grad=True)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        y = torch.nn.functional.conv2d(xt, wt, padding="same")
    y.backward(torch.tensor(dy.astype(float)).reshape(1, 1, 4, 4))
    np.testing.assert_array_equal(ours.grad_input[0].astype(float), xt.grad[0, 0].numpy())
    np.testing.assert_array_equal(ours.grad_weight[0, 0].astype(float), wt.grad[0, 0].numpy())
