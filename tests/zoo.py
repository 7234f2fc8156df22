"""Real models of timm, torchvision and segmentation-models-pytorch, built without weights, for
the zoo tests (skipped where a library is absent). torchvision's wheel beside the CPU build of
torch cannot load its C ops; its model code needs only the schemas of two of them, defined here
before it is imported."""

from __future__ import annotations

import importlib
import warnings
from typing import Any

import pytest

TIMM = (
    "resnet18 resnet50 efficientnet_b0 mobilenetv3_large_100 densenet121 regnetx_002 "
    "convnext_tiny mobilevit_xs nf_resnet26 tf_mixnet_s dla34 dpn68 ghostnet_100 "
    "hrnet_w18_small inception_v3 mixnet_s mnasnet_100 res2net50_26w_4s resnest14d rexnet_100 "
    "selecsls42b skresnet18 spnasnet_100 vgg11 cspdarknet53 darknet53 efficientnetv2_rw_s "
    "lcnet_050 repvgg_a0"
).split()
TORCHVISION = (
    "resnet18 mobilenet_v2 mobilenet_v3_small efficientnet_b0 densenet121 squeezenet1_0 "
    "shufflenet_v2_x1_0 mnasnet0_5 regnet_y_400mf convnext_tiny googlenet vgg11"
).split()
SMP = ("Unet", "FPN", "DeepLabV3", "PSPNet", "Linknet")


def _torchvision() -> Any:
    torch = pytest.importorskip("torch")
    try:
        import torchvision

        return torchvision
    except RuntimeError:  # "operator torchvision::nms does not exist": define the schemas
        lib = torch.library.Library("torchvision", "DEF")
        lib.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        lib.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        _torchvision.lib = lib  # type: ignore[attr-defined]  # kept alive
        import importlib
        import sys

        for name in [n for n in sys.modules if n.startswith("torchvision")]:
            del sys.modules[name]
        return importlib.import_module("torchvision")


def build(library: str, name: str, fused_attention: bool = True) -> Any:
    """The model, eval mode, random weights; skips where its library is absent. Without
    ``fused_attention``, timm's attention writes out ``q @ k^T`` and ``attn @ v`` (torch's FLOP
    counter sees those bmm; it does not count the fused CPU kernel)."""
    warnings.filterwarnings("ignore")
    tv = _torchvision() if library in ("torchvision", "timm", "smp") else None
    if tv is None:
        pytest.skip("torchvision is not installed")
    match library:
        case "timm":
            timm = pytest.importorskip("timm")
            layers = importlib.import_module("timm.layers")
            layers.set_fused_attn(fused_attention)
            try:
                model = timm.create_model(name, pretrained=False)
            finally:
                layers.set_fused_attn(True)
        case "torchvision":
            extra = {"aux_logits": False, "init_weights": False} if name == "googlenet" else {}
            model = getattr(tv.models, name)(weights=None, **extra)
        case "smp":
            smp = pytest.importorskip("segmentation_models_pytorch")
            model = getattr(smp, name)("resnet34", encoder_weights=None)
        case _:
            raise ValueError(library)
    return model.eval()


ALL = (
    [("timm", n) for n in TIMM]
    + [("torchvision", n) for n in TORCHVISION]
    + [("smp", n) for n in SMP]
)
