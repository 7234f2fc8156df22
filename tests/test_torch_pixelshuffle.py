"""PixelShuffle and PixelUnshuffle against real PyTorch and onnxruntime: networks over generated
sizes and factors (shapes, params, the errors torch raises), print(model) text read back,
--format torch run, ONNX DepthToSpace (CRD and DCR) and SpaceToDepth."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

pytestmark = pytest.mark.torch


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "convcalc", *args], capture_output=True, text=True, check=False
    )


def _spec(shape: tuple[int, ...], layers: list[tuple[str, int]]) -> str:
    text = f"input = {list(shape)}\n"
    for kind, factor in layers:
        key = "upscale_factor" if kind == "pixelshuffle" else "downscale_factor"
        text += f'[[layer]]\nlayer = "{kind}"\n{key} = {factor}\n'
    return text


def _torch_out(shape: tuple[int, ...], layers: list[tuple[str, int]]) -> list[int] | None:
    x = torch.zeros((1, *shape))
    try:
        for kind, factor in layers:
            cls = torch.nn.PixelShuffle if kind == "pixelshuffle" else torch.nn.PixelUnshuffle
            x = cls(factor)(x)
    except RuntimeError:
        return None
    return list(x.shape)


def test_generated_networks_match_torch(tmp_path: Path) -> None:
    """Random chains of shuffles: the same output, or exit 1 where torch refuses (a channel
    count not divisible by r*r, a size not divisible by r)."""
    from convcalc.errors import ConvcalcError
    from convcalc.loader import load_network
    from convcalc.network import run_network

    rng = random.Random("pixelshuffle")
    refused = 0
    for n in range(120):
        shape = (rng.choice([1, 2, 3, 4, 8, 9, 12, 16, 18]), rng.randint(1, 12), rng.randint(1, 12))
        layers = [
            (rng.choice(["pixelshuffle", "pixelunshuffle"]), rng.randint(1, 3))
            for _ in range(rng.randint(1, 3))
        ]
        want = _torch_out(shape, layers)
        spec = tmp_path / f"n{n}.toml"
        spec.write_text(_spec(shape, layers))
        try:
            got: list[int] | None = list(run_network(load_network(str(spec))).output_shape)
        except ConvcalcError as error:
            assert error.exit_code == 1
            got = None
        assert got == want, (shape, layers)
        refused += want is None
    assert refused > 10  # the generated chains include torch's refusals
    bad = tmp_path / "bad.toml"
    bad.write_text(_spec((5, 3, 3), [("pixelshuffle", 2)]))
    result = _cli("net", str(bad))
    assert result.returncode == 1
    assert "not divisible by 4" in result.stderr and "layer 1 (pixelshuffle)" in result.stderr
    bad.write_text(_spec((4, 5, 4), [("pixelunshuffle", 2)]))
    result = _cli("net", str(bad), "--json")
    assert result.returncode == 1 and "height to be divisible" in json.loads(result.stdout)["error"]
    bad.write_text(_spec((4, 4, 4), [("pixelshuffle", 0)]))
    assert _cli("net", str(bad)).returncode == 2
    bad.write_text('input = [4, 4, 4]\n[[layer]]\nlayer = "pixelshuffle"\n')
    result = _cli("net", str(bad))
    assert result.returncode == 2 and "upscale_factor" in result.stderr


def test_printed_model_and_torch_code(tmp_path: Path) -> None:
    """An ESPCN-style upscaler: print(model) read back exactly; --format torch runs."""
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 64, 5, padding=2),
        torch.nn.Tanh(),
        torch.nn.Conv2d(64, 3 * 9, 3, padding=1),
        torch.nn.PixelShuffle(3),
        torch.nn.PixelUnshuffle(downscale_factor=3),
        torch.nn.PixelShuffle(upscale_factor=3),
    )
    x = torch.zeros(1, 3, 10, 7)
    want = list(model(x).shape)
    printed = tmp_path / "espcn.txt"
    printed.write_text(str(model))
    result = _cli("net", str(printed), "--in", "3,10,7", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["layers"][-1]["output_shape"] == want
    assert data["total_params"] == sum(p.numel() for p in model.parameters())
    code = _cli("net", str(printed), "--in", "3,10,7", "--format", "torch")
    assert code.returncode == 0 and "nn.PixelShuffle(3)" in code.stdout
    namespace: dict[str, object] = {}
    exec(compile(code.stdout, "generated", "exec"), namespace)  # noqa: S102
    assert list(namespace["model"](x).shape) == want  # type: ignore[operator]


@pytest.mark.parametrize(
    ("op", "mode", "shape"),
    [
        ("DepthToSpace", "CRD", (1, 8, 3, 5)),
        ("DepthToSpace", "DCR", (2, 16, 2, 3)),
        ("SpaceToDepth", None, (1, 3, 6, 4)),
    ],
)
def test_onnx_depth_to_space(tmp_path: Path, op: str, mode: str | None, shape: tuple) -> None:  # type: ignore[type-arg]
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from onnx import TensorProto, helper

    attrs = {"blocksize": 2} | ({"mode": mode} if mode else {})
    node = helper.make_node(op, ["x"], ["y"], **attrs)
    graph = helper.make_graph(
        [node],
        "d2s",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
    )
    path = tmp_path / "d2s.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    want = list(session.run(None, {"x": np.zeros(shape, dtype=np.float32)})[0].shape)
    result = _cli("net", str(path), "--json")
    assert result.returncode == 0, result.stderr
    layer = json.loads(result.stdout)["layers"][-1]
    assert layer["output_shape"] == want
    assert layer["type"] == ("pixelshuffle" if op == "DepthToSpace" else "pixelunshuffle")
