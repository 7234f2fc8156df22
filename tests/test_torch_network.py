"""Networks built in real torch from the same specs: shapes, parameters and MACs agree."""

from __future__ import annotations

import math
import random
import re
from pathlib import Path
from typing import Any

import pytest

from convcalc import ConvcalcError
from convcalc.network import load_network, parse_inline, run_network

torch = pytest.importorskip("torch")
nn = torch.nn

pytestmark = pytest.mark.torch
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

_CLASSES = {
    "conv": "Conv",
    "convtranspose": "ConvTranspose",
    "maxpool": "MaxPool",
    "avgpool": "AvgPool",
    "batchnorm": "BatchNorm",
    "adaptiveavgpool": "AdaptiveAvgPool",
    "adaptivemaxpool": "AdaptiveMaxPool",
}


def build_torch(layers: list[dict[str, Any]], channels: int) -> list[Any]:
    """torch.nn modules from the spec's layer tables (PyTorch keyword names as they are)."""
    modules = []
    for layer in layers:
        kwargs = {k: v for k, v in layer.items() if k not in ("layer", "name", "expect")}
        kwargs = {k: (tuple(v) if isinstance(v, list) else v) for k, v in kwargs.items()}
        kind = layer["layer"].lower()
        match = re.fullmatch(r"([a-z]+)([123])d", kind)
        if kind == "relu" or kind == "tanh" or kind == "dropout":
            module = {"relu": nn.ReLU, "tanh": nn.Tanh, "dropout": nn.Dropout}[kind]()
        elif kind == "flatten":
            module = nn.Flatten(**kwargs)
        elif kind == "linear":
            module = nn.Linear(kwargs.pop("in_features", channels), **kwargs)
        elif kind == "upsample":
            scale = kwargs.pop("scale_factor", None)
            if isinstance(scale, tuple) and len(scale) == 1:
                scale = scale[0]
            module = nn.Upsample(scale_factor=scale, **kwargs)
        else:
            assert match, kind
            cls = getattr(nn, f"{_CLASSES[match.group(1)]}{match.group(2)}d")
            if match.group(1).startswith("conv"):
                kwargs.setdefault("in_channels", channels)
            if match.group(1) == "batchnorm":
                kwargs.setdefault("num_features", channels)
            for key in (
                "kernel_size",
                "stride",
                "padding",
                "dilation",
                "output_padding",
                "output_size",
            ):
                if isinstance(kwargs.get(key), tuple) and len(kwargs[key]) == 1:
                    kwargs[key] = kwargs[key][0]
            module = cls(**kwargs)
        modules.append(module)
        channels = getattr(module, "out_channels", getattr(module, "out_features", channels))
    return modules


def torch_profile(layers: list[dict[str, Any]], input_shape: tuple[int, ...]) -> list[tuple]:
    """(output shape, parameters, MACs counted from torch's own shapes) per layer."""
    modules = build_torch(layers, input_shape[1])
    x = torch.zeros(input_shape)
    rows = []
    with torch.no_grad():
        for module in modules:
            module.eval()
            y = module(x)
            params = sum(p.numel() for p in module.parameters())
            if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
                macs = (
                    y.numel() * module.in_channels // module.groups * math.prod(module.kernel_size)
                )
            elif isinstance(module, (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)):
                macs = (
                    x.numel() * module.out_channels // module.groups * math.prod(module.kernel_size)
                )
            elif isinstance(module, nn.Linear):
                macs = y.numel() * module.in_features
            else:
                macs = 0
            rows.append((tuple(y.shape), params, macs))
            x = y
    return rows


def test_vgg16_against_torchvision_layout() -> None:
    """VGG-16 features: the 13 convs of torch hold 14,714,688 parameters and end at 512x7x7."""
    spec = load_network(str(EXAMPLES / "vgg16_features.toml"))
    rows = torch_profile(spec.layers, (1, 3, 224, 224))
    assert rows[-1][0] == (1, 512, 7, 7)
    assert sum(r[1] for r in rows) == 14_714_688


def _random_inline(rng: random.Random) -> str:
    layers = []
    for _ in range(rng.randint(1, 6)):
        kind = rng.choice(
            [
                "conv2d",
                "convtranspose2d",
                "maxpool2d",
                "avgpool2d",
                "relu",
                "batchnorm2d",
                "upsample",
            ]
        )
        if kind in ("conv2d", "convtranspose2d"):
            s = rng.randint(1, 3)
            text = f"{kind} k{rng.randint(1, 4)} s{s} p{rng.randint(0, 2)} c{rng.randint(1, 6)}"
            if kind == "convtranspose2d":
                text += f" op{rng.randint(0, s - 1)}"
            if rng.random() < 0.3:
                text += " nobias"
        elif kind in ("maxpool2d", "avgpool2d"):
            k = rng.randint(1, 3)
            text = f"{kind} k{k} s{rng.randint(1, 3)} p{rng.randint(0, k // 2)}"
            if rng.random() < 0.5:
                text += " ceil"
        elif kind == "upsample":
            text = f"upsample x{rng.choice([2, 3])}"
        else:
            text = kind
        layers.append(text)
    return "; ".join(layers)


def test_random_networks_match_torch() -> None:
    """60 random inline stacks: shapes, parameters and MACs equal torch's, or both reject."""
    rng = random.Random("networks")
    agreed = 0
    for _ in range(60):
        text = _random_inline(rng)
        size = (1, rng.randint(1, 4), rng.randint(4, 20), rng.randint(4, 20))
        spec = parse_inline(text)
        try:
            ours = run_network(spec, size[1:])
            mine = [(layer.output_shape, layer.params, layer.macs) for layer in ours.layers]
        except ConvcalcError:
            mine = None
        try:
            theirs = torch_profile(spec.layers, size)
        except (RuntimeError, ValueError):
            theirs = None
        assert mine == theirs, text
        agreed += mine is not None
    assert agreed >= 20


def test_printed_norm_chain_matches_torch(tmp_path: Path) -> None:
    """GroupNorm, InstanceNorm2d and LayerNorm in a printed chain: shapes and params as torch's;
    --format torch writes them back."""
    torch = pytest.importorskip("torch")
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3),
        torch.nn.GroupNorm(2, 8),
        torch.nn.InstanceNorm2d(8, affine=True),
        torch.nn.Flatten(),
        torch.nn.LayerNorm(8 * 6 * 6),
    )
    path = tmp_path / "norms.txt"
    path.write_text(str(model))
    result = run_network(load_network(str(path)), (3, 8, 8))
    assert result.output_shape == tuple(model(torch.zeros(1, 3, 8, 8)).shape)
    assert result.total_params == sum(p.numel() for p in model.parameters())
