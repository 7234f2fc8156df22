"""print(model) of real models (timm, torchvision, segmentation-models-pytorch): every one gives
its exact parameter count; where the text is not the data flow, the JSON says shapes_known false
and exits 0; a chain (VGG) gives its shapes and MACs as torch runs them. Skipped where the
libraries are absent."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from zoo import ALL, build

pytestmark = pytest.mark.torch


def _net(path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "convcalc", "net", str(path), *args],
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize(("library", "name"), ALL, ids=[f"{a}-{b}" for a, b in ALL])
def test_printed_model_params_are_exact(library: str, name: str, tmp_path: Path) -> None:
    model = build(library, name)
    path = tmp_path / f"{name}.txt"
    path.write_text(str(model))
    result = _net(path, "--in", "3,224,224", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["total_params"] == sum(p.numel() for p in model.parameters())
    if data.get("shapes_known") is False:
        assert data["output_shape"] is None
        assert any("torch.onnx.export" in note for note in data["notes"])
        check = _net(path, "--check")
        assert check.returncode == 1 and "not known" in check.stderr


def test_chain_shapes_and_macs_match_torch(tmp_path: Path) -> None:
    """torchvision's VGG11 is a chain: its shapes and MACs as torch's forward hooks see them."""
    torch = pytest.importorskip("torch")
    model = build("torchvision", "vgg11")
    path = tmp_path / "vgg11.txt"
    path.write_text(str(model))
    macs = 0

    def hook(module: object, inputs: tuple[object, ...], output: object) -> None:
        nonlocal macs
        if isinstance(module, torch.nn.Conv2d):
            macs += (
                output.numel() * module.in_channels // module.groups * module.weight[0, 0].numel()
            )  # type: ignore[attr-defined]
        elif isinstance(module, torch.nn.Linear):
            macs += output.numel() * module.in_features  # type: ignore[attr-defined]

    for module in model.modules():
        module.register_forward_hook(hook)
    with torch.no_grad():
        out = model(torch.zeros(1, 3, 224, 224))
    data = json.loads(_net(path, "--in", "3,224,224", "--json").stdout)
    assert data["output_shape"] == list(out.shape)
    assert data["total_macs"] == macs
