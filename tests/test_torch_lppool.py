"""LPPool against real PyTorch: output sizes and errors over generated 1-3d layers (stride,
ceil_mode), traced values in float64 (integer powers, fractional and negative p, inf, ceil_mode
windows clipped at the end, negative inputs), networks, printed models and torch code."""

from __future__ import annotations

import json
import math
import random
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from convcalc.errors import ConvcalcError  # noqa: E402
from convcalc.families.lppool import pooled  # noqa: E402
from convcalc.specs import LayerArgs  # noqa: E402
from convcalc.trace import trace_args  # noqa: E402

pytestmark = pytest.mark.torch


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "convcalc", *args], capture_output=True, text=True, check=False
    )


def _torch_shape(
    ndim: int,
    p: float,
    k: tuple[int, ...],
    s: tuple[int, ...] | None,
    ceil: bool,
    size: tuple[int, ...],
) -> tuple[int, ...] | None:
    layer = getattr(torch.nn, f"LPPool{ndim}d")(
        p, k if ndim > 1 else k[0], None if s is None else (s if ndim > 1 else s[0]), ceil_mode=ceil
    )
    try:
        out = layer(torch.ones((1, 1, *size), dtype=torch.float64))
    except (RuntimeError, ValueError):
        return None
    return tuple(out.shape[2:])


@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_shapes_and_errors_match_torch(ndim: int) -> None:
    """Generated layers: the same output size, or exit 1 where torch raises."""
    rng = random.Random(f"lppool-shape-{ndim}")
    refused = 0
    for _ in range(40):
        k = tuple(rng.randint(1, 4) for _ in range(ndim))
        s = None if rng.random() < 0.3 else tuple(rng.randint(1, 4) for _ in range(ndim))
        ceil = rng.random() < 0.5
        size = tuple(rng.randint(1, 9) for _ in range(ndim))
        want = _torch_shape(ndim, 2, k, s, ceil, size)
        args = [
            "shape",
            f"lppool{ndim}d",
            "--in",
            "x".join(map(str, size)),
            "--k",
            "x".join(map(str, k)),
            "--norm-type",
            "2",
            "--json",
        ]
        if s is not None:
            args += ["--s", "x".join(map(str, s))]
        if ceil:
            args.append("--ceil")
        from convcalc.conventions import shape_query

        layer = LayerArgs(kernel_size=k, stride=s, ceil_mode=ceil, settings=(("norm_type", "2"),))
        try:
            _, got = shape_query("torch", f"lppool{ndim}d", size, layer)
            found: tuple[int, ...] | None = tuple(got.output)
        except ConvcalcError:
            found = None
        assert found == want, (k, s, ceil, size)
        refused += want is None
    assert refused  # the generated cases include torch's errors
    result = _cli("shape", "lppool2d", "--in", "7", "--k", "3", "--s", "2", "--ceil", "--json")
    assert result.returncode == 0 and json.loads(result.stdout)["output"] == [3, 3]
    result = _cli("shape", "lppool3d", "--in", "2x5x5", "--k", "3", "--norm-type", "2")
    assert (
        result.returncode == 1
        and "smaller than" in result.stderr.lower()
        or "kernel" in result.stderr
    )


def test_refusals() -> None:
    """Padding, dilation, p = 0 and other frameworks are refused with the flag named."""
    for extra, code, words in (
        (["--p", "1"], 2, "takes no padding"),
        (["--d", "2"], 2, "takes no dilation"),
        (["--norm-type", "0"], 1, "ZeroDivisionError"),
        (["--norm-type", "two"], 2, "not a number"),
        (["--convention", "tf"], 1, "PyTorch's"),
    ):
        result = _cli("shape", "lppool2d", "--in", "8", "--k", "2", *extra)
        assert result.returncode == code, (extra, result.stderr)
        assert words in result.stderr, (extra, result.stderr)
    result = _cli("shape", "maxpool2d", "--in", "8", "--k", "2", "--norm-type", "2")
    assert result.returncode == 2 and "lppool only" in result.stderr


@pytest.mark.parametrize("p", ["1", "2", "3", "1.5", "-1", "0.5", "inf", "-inf"])
def test_traces_match_torch(p: str) -> None:
    """Every element as torch computes it (float64), 1-3d, ceil_mode windows included."""
    rng = random.Random(f"lppool-trace-{p}")
    for n in range(8):
        ndim = 1 + n % 3
        k = tuple(rng.randint(1, 3) for _ in range(ndim))
        s = tuple(rng.randint(1, 3) for _ in range(ndim))
        size = tuple(rng.randint(max(k), 6 if ndim < 3 else 4) for _ in range(ndim))
        ceil = n % 2 == 0
        low = 0 if p in ("1.5", "0.5", "-1") else -4
        values = [rng.randint(low, 5) for _ in range(2 * math.prod(size))]
        x = np.array(values, dtype=object).reshape((2, *size))
        args = LayerArgs(kernel_size=k, stride=s, ceil_mode=ceil, settings=(("norm_type", p),))
        t = trace_args(f"lppool{ndim}d", x, None, None, args)
        xt = torch.tensor(np.array(values, dtype=np.float64).reshape((1, 2, *size)))
        fn = getattr(torch.nn.functional, f"lp_pool{ndim}d")
        want = fn(xt, float(p), k if ndim > 1 else k[0], s if ndim > 1 else s[0], ceil)[0].numpy()
        got = np.array([float(v) for v in t.output.reshape(-1)]).reshape(want.shape)
        assert np.allclose(got, want, equal_nan=True, rtol=1e-9), (k, s, size, ceil, got, want)
        steps = [float(step.value) for step in t.iter_steps()]
        assert np.allclose(steps, want.reshape(-1), equal_nan=True, rtol=1e-9)


def test_exact_values() -> None:
    """Integers stay exact where the root is rational; an irrational root is a float."""
    assert pooled([3, 4], 25, 2, __import__("fractions").Fraction(2)) == 5
    x = np.array([[3, 4, 1, 1, 5]], dtype=object)
    args = LayerArgs(kernel_size=(2,), stride=(2,), ceil_mode=True, settings=(("norm_type", "2"),))
    t = trace_args("lppool1d", x, None, None, args)
    out = list(t.output.reshape(-1))
    assert out[0] == 5 and type(out[0]) is int
    assert isinstance(out[1], float) and abs(out[1] - math.sqrt(2)) < 1e-15
    # the clipped last window [5]: torch averages 1 element and multiplies by the kernel, 2
    assert abs(out[2] - math.sqrt(50)) < 1e-12
    result = _cli("trace", "lppool1d", "--x", "3,4,1,1,5", "--k", "2", "--ceil", "--norm-type", "2")
    assert result.returncode == 0 and "clipped the window" in result.stdout
    result = _cli("trace", "lppool1d", "--x", "3,4,1,1,5", "--k", "2")
    assert result.returncode == 2 and "--norm-type" in result.stderr


def test_network_printed_and_torch_code(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A net with LPPool: its shapes against torch; print(model) read back; --format torch runs."""
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3),
        torch.nn.LPPool2d(2, 2, ceil_mode=True),
        torch.nn.LPPool2d(1.5, (3, 2), stride=(1, 2)),
    )
    x = torch.zeros(1, 3, 17, 15)
    want = list(model(x).shape)
    printed = tmp_path / "model.txt"
    printed.write_text(str(model))
    result = _cli("net", str(printed), "--in", "3,17,15", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["layers"][-1]["output_shape"] == want
    assert data["total_params"] == sum(p.numel() for p in model.parameters())
    code = _cli("net", str(printed), "--in", "3,17,15", "--format", "torch")
    assert code.returncode == 0 and "nn.LPPool2d(norm_type=1.5" in code.stdout
    namespace: dict[str, object] = {}
    exec(compile(code.stdout, "generated", "exec"), namespace)  # noqa: S102
    net = namespace["model"]
    assert list(net(x).shape) == want  # type: ignore[operator]
    spec = tmp_path / "lp.toml"
    spec.write_text(
        'input = [3, 17, 15]\n[[layer]]\nlayer = "lppool2d"\nnorm_type = 3\nkernel_size = 4\n'
        "stride = 3\n"
    )
    result = _cli("net", str(spec), "--json")
    out = torch.nn.LPPool2d(3, 4, 3)(torch.ones(1, 3, 17, 15))
    assert json.loads(result.stdout)["layers"][-1]["output_shape"] == list(out.shape)


def test_onnx_lppool(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """ONNX LpPool (p, kernel_shape, strides) read as lppool, its shape as onnxruntime's."""
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from onnx import TensorProto, helper

    node = helper.make_node("LpPool", ["x"], ["y"], kernel_shape=[3, 2], strides=[2, 1], p=3)
    graph = helper.make_graph(
        [node],
        "lp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 9, 7])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
    )
    path = tmp_path / "lp.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    want = list(session.run(None, {"x": np.ones((1, 2, 9, 7), dtype=np.float32)})[0].shape)
    result = _cli("net", str(path), "--json")
    assert result.returncode == 0, result.stderr
    layer = json.loads(result.stdout)["layers"][-1]
    assert layer["output_shape"] == want and layer["params"] == 0
