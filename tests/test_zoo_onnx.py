"""Real models exported to ONNX (timm, torchvision, segmentation-models-pytorch; a sample that
covers what their exports hold: LayerNormalization, GroupNorm as InstanceNormalization, layer
scales, GELU's Erf, attention's MatMul of two activations, TF-style padding computed in the
graph, a one-input Concat): the output shape as torch's, the parameters as torch counts them,
the MACs as torch's forward hooks see them, and the multiply-accumulates between two
activations (attention's MatMul, `total_matmul_macs`) as torch's FLOP counter sees its bmm.
Exported once per run; skipped where a library is absent."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from zoo import build

pytestmark = [pytest.mark.torch, pytest.mark.frameworks]

SAMPLE = [
    ("timm", "convnext_tiny"),
    ("torchvision", "convnext_tiny"),
    ("timm", "mobilevit_xs"),
    ("timm", "tf_mixnet_s"),
    ("smp", "FPN"),
    ("timm", "densenet121"),
    ("timm", "efficientnet_b0"),
    ("torchvision", "mobilenet_v3_small"),
    ("torchvision", "regnet_y_400mf"),
    ("timm", "dpn68"),
    ("timm", "hrnet_w18_small"),
    ("smp", "Unet"),
    ("torchvision", "googlenet"),
    ("timm", "nf_resnet26"),  # weights standardised inside the graph (a gain counted once)
    ("timm", "edgenext_x_small"),  # a position encoding made by a conv over constants
]


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return {"dir": tmp_path_factory.mktemp("zoo_onnx")}


# Also exported by torch.export (dynamo=True): Gather with stored indices (as_strided), Where
# with a stored fill value, GatherND (an adaptive pool that does not divide), attention.
DYNAMO = [
    ("timm", "resnet18"),
    ("timm", "convnext_tiny"),
    ("timm", "mobilevit_xs"),
    ("smp", "PSPNet"),
    ("torchvision", "mobilenet_v3_small"),
]
CASES = [(*case, "legacy") for case in SAMPLE] + [(*case, "dynamo") for case in DYNAMO]


@pytest.mark.parametrize(
    ("library", "name", "exporter"), CASES, ids=[f"{a}-{b}-{c}" for a, b, c in CASES]
)
def test_onnx_export_reads_exactly(
    library: str, name: str, exporter: str, exports: dict[str, Any]
) -> None:
    """The torch.export exporter folds BatchNorm into the conv before it writes the file, so
    its files hold fewer parameters than torch counts; there the count is at most torch's."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnx")
    from torch.utils.flop_counter import FlopCounterMode

    model = build(library, name, fused_attention=False)  # q @ k^T as a bmm the counter sees
    x = torch.zeros(1, 3, 224, 224)
    macs = 0

    def hook(module: Any, inputs: Any, output: Any) -> None:  # what torch's forward computes
        nonlocal macs
        if isinstance(module, torch.nn.Conv2d):
            macs += (
                output.numel() * module.in_channels // module.groups * module.weight[0, 0].numel()
            )
        elif isinstance(module, torch.nn.Linear):
            macs += output.numel() * module.in_features

    handles = [m.register_forward_hook(hook) for m in model.modules()]
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        want = list(model(x).shape)
    flops = counter.get_flop_counts()["Global"]
    between_activations = sum(v for op, v in flops.items() if str(op).startswith("aten.bmm")) // 2
    for handle in handles:
        handle.remove()
    path = Path(exports["dir"]) / f"{library}_{name}_{exporter}.onnx"
    try:
        if exporter == "dynamo":
            pytest.importorskip("onnxscript")
            import contextlib
            import io

            with contextlib.redirect_stdout(io.StringIO()):  # the exporter's progress lines
                torch.onnx.export(model, (x,), str(path), dynamo=True)
        else:
            torch.onnx.export(model, x, str(path), dynamo=False, do_constant_folding=False)
    except Exception as error:  # noqa: BLE001 - an exporter that cannot: not convcalc's case
        pytest.skip(f"torch.onnx.export failed: {error}")
    result = subprocess.run(
        [sys.executable, "-m", "convcalc", "net", str(path), "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["output_shape"] == want
    params = sum(p.numel() for p in model.parameters())
    if exporter == "dynamo":
        assert 0 < data["total_params"] <= params
    else:
        assert data["total_params"] == params
    assert data["total_macs"] == macs
    assert data["total_matmul_macs"] == between_activations
