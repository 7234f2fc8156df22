"""The parameters of a module of PyTorch's ``print(model)`` text, from its printed constructor
arguments: what ``sum(p.numel() for p in module.parameters(recurse=False))`` gives, for the
modules of torch.nn and the common library modules (timm, torchvision, segmentation-models-
pytorch). A module whose class is not known here has ``None``: its parameters cannot be read
from its text. A few containers hold parameters of their own that their text does not show
(ConvNeXt's layer scale); those are counted from their children's sizes.

Standard library only.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from typing import Any

Args = tuple[list[Any], dict[str, Any]]

# Modules with no parameters of their own (activations, dropout, pools, reshapes, identity...).
PARAMETER_FREE = frozenset(
    {
        "ReLU", "ReLU6", "LeakyReLU", "GELU", "SiLU", "ELU", "CELU", "SELU", "GLU", "Sigmoid",
        "Tanh", "Hardswish", "HardSwish", "Hardsigmoid", "HardSigmoid", "Hardtanh", "Mish",
        "Softplus", "Softsign", "Tanhshrink", "Threshold", "LogSigmoid", "Softmax", "Softmax2d",
        "LogSoftmax", "Identity", "Dropout", "Dropout1d", "Dropout2d", "Dropout3d",
        "AlphaDropout", "FeatureAlphaDropout", "DropPath", "DropBlock2d", "StochasticDepth",
        "Flatten", "Unflatten", "Upsample", "UpsamplingNearest2d", "UpsamplingBilinear2d",
        "PixelShuffle", "PixelUnshuffle", "ChannelShuffle", "Permute", "ZeroPad1d", "ZeroPad2d",
        "ZeroPad3d", "ConstantPad1d", "ConstantPad2d", "ConstantPad3d", "ReflectionPad1d",
        "ReflectionPad2d", "ReflectionPad3d", "ReplicationPad1d", "ReplicationPad2d",
        "ReplicationPad3d", "CircularPad1d", "CircularPad2d", "CircularPad3d", "MaxPool1d",
        "MaxPool2d", "MaxPool3d", "AvgPool1d", "AvgPool2d", "AvgPool3d", "LPPool1d", "LPPool2d",
        "LPPool3d", "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveAvgPool3d",
        "AdaptiveMaxPool1d", "AdaptiveMaxPool2d", "AdaptiveMaxPool3d", "MaxPool2dSame",
        "AvgPool2dSame", "SelectAdaptivePool2d", "AdaptiveAvgMaxPool2d", "FastAdaptiveAvgPool",
        "RadixSoftmax", "SelectSeq", "LocalResponseNorm", "FrozenBatchNorm2d",
        "Swish", "MemoryEfficientSwish", "HardMish", "GELUTanh", "QuickGELU", "Activation",
        "ArgMax", "Clamp", "Transpose", "Concat", "Add",
    }
)  # fmt: skip

_CONV = re.compile(
    r"(?:Conv|StdConv|ScaledStdConv|ConvTranspose)([123])d(?:Same)?|Conv2dSame|StdConv2dSame"
)


def own_params(cls: str, args: Args) -> int | None:
    """The module's own parameters from its printed arguments, or None when its class is not
    one whose parameters its text shows."""
    positional, keywords = args
    if cls in PARAMETER_FREE:
        return 0
    if _CONV.fullmatch(cls):
        return _conv(cls, positional, keywords)
    match cls:
        case "Linear" | "NonDynamicallyQuantizableLinear" | "LazyLinear":
            values = _named(("in_features", "out_features"), positional, keywords)
            bias = bool(values.get("bias", True))
            return int(values["in_features"]) * int(values["out_features"]) + (
                int(values["out_features"]) if bias else 0
            )
        case "Bilinear":
            values = _named(("in1_features", "in2_features", "out_features"), positional, keywords)
            out = int(values["out_features"])
            weight = out * int(values["in1_features"]) * int(values["in2_features"])
            return weight + (out if values.get("bias", True) else 0)
        case (
            "BatchNorm1d" | "BatchNorm2d" | "BatchNorm3d" | "SyncBatchNorm" | "BatchNormAct2d"
            | "SyncBatchNormAct" | "BatchNorm2dAct"
        ):  # fmt: skip
            values = _named(("num_features",), positional, keywords)
            return 2 * int(values["num_features"]) if values.get("affine", True) else 0
        case "InstanceNorm1d" | "InstanceNorm2d" | "InstanceNorm3d":
            values = _named(("num_features",), positional, keywords)
            return 2 * int(values["num_features"]) if values.get("affine", False) else 0
        case "GroupNorm" | "GroupNormAct" | "GroupNorm1":
            names = ("num_channels",) if cls == "GroupNorm1" else ("num_groups", "num_channels")
            values = _named(names, positional, keywords)
            return 2 * int(values["num_channels"]) if values.get("affine", True) else 0
        case "LayerNorm" | "LayerNorm2d" | "LayerNormAct" | "LayerNormAct2d" | "RMSNorm":
            values = _named(("normalized_shape",), positional, keywords)
            shape = values["normalized_shape"]
            size = math.prod(shape) if isinstance(shape, (tuple, list)) else int(shape)
            if not values.get("elementwise_affine", True):
                return 0
            return size * (1 if cls == "RMSNorm" or not values.get("bias", True) else 2)
        case "PReLU":
            values = _named(("num_parameters",), positional, keywords)
            return int(values.get("num_parameters", 1))
        case "Embedding":
            values = _named(("num_embeddings", "embedding_dim"), positional, keywords)
            return int(values["num_embeddings"]) * int(values["embedding_dim"])
    return None


def _conv(cls: str, positional: list[Any], keywords: dict[str, Any]) -> int:
    values = _named(("in_channels", "out_channels", "kernel_size"), positional, keywords)
    c_in, c_out = int(values["in_channels"]), int(values["out_channels"])
    kernel = values["kernel_size"]
    groups = int(values.get("groups", 1))
    n = int(re.sub(r"\D", "", cls)[:1] or 2)
    size = math.prod(kernel) if isinstance(kernel, (tuple, list)) else int(kernel) ** n
    if cls.startswith("ConvTranspose"):
        weight = c_in * (c_out // groups) * size
    else:
        weight = c_out * (c_in // groups) * size
    bias = c_out if values.get("bias", True) else 0
    gain = c_out if cls.startswith("ScaledStdConv") else 0  # timm's per-channel gain
    return weight + bias + gain


def _named(names: Sequence[str], positional: list[Any], keywords: dict[str, Any]) -> dict[str, Any]:
    values = dict(zip(names, positional)) | keywords
    for name in names:
        if name not in values:
            raise KeyError(name)
    return values


# Containers with parameters of their own that print(model) does not show, counted from the
# printed arguments of one of their modules (``find("conv_dw")``: the arguments of the module at
# that path under the container). None: the count is not in the text at all.
Find = Callable[[str], Args | None]


def _channels(path: str) -> Callable[[Find], int | None]:
    def rule(find: Find) -> int | None:
        found = find(path)
        if found is None:
            return None
        positional, keywords = found
        values = dict(zip(("in_channels", "out_channels"), positional)) | keywords
        return int(values["out_channels"]) if "out_channels" in values else None

    return rule


def _two_norms(find: Find) -> int | None:
    """EdgeNeXt's SplitTransposeBlock: gamma_xca and gamma, each the size of its norm."""
    found = find("norm")
    if found is None:
        return None
    shape = (dict(zip(("normalized_shape",), found[0])) | found[1]).get("normalized_shape")
    size = math.prod(shape) if isinstance(shape, (tuple, list)) else shape
    return 2 * int(size) if size is not None else None


HIDDEN: dict[str, Callable[[Find], int | None]] = {
    "CNBlock": _channels("block.0"),  # torchvision ConvNeXt: layer_scale (C, 1, 1)
    "ConvNeXtBlock": _channels("conv_dw"),  # timm ConvNeXt: gamma (C,), ls_init_value's default
    "ConvBlock": _channels("conv_dw"),  # timm EdgeNeXt: gamma (C,)
    "SplitTransposeBlock": _two_norms,  # timm EdgeNeXt: gamma_xca, gamma (C,)
    "CrossCovarianceAttn": lambda find: None,  # timm EdgeNeXt: temperature, one per head
}


def hidden_params(cls: str, find: Find) -> int | None:
    """Parameters a container holds itself without printing them: 0 for most, None where the
    text does not tell how many."""
    rule = HIDDEN.get(cls)
    return 0 if rule is None else rule(find)
