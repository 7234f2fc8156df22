"""Real PyTorch as the oracle: build the layer, run it, report the output shape or the error.

Imported only by tests that first ``pytest.importorskip("torch")``.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from convcalc.specs import LayerSpec, OpKind

_CLASSES = {
    OpKind.CONV: ("Conv1d", "Conv2d", "Conv3d"),
    OpKind.CONVTRANSPOSE: ("ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d"),
    OpKind.MAXPOOL: ("MaxPool1d", "MaxPool2d", "MaxPool3d"),
    OpKind.AVGPOOL: ("AvgPool1d", "AvgPool2d", "AvgPool3d"),
}


def torch_module(spec: LayerSpec, padding: Any = None) -> torch.nn.Module:
    """The torch.nn module for a spec (construction errors propagate)."""
    cls = getattr(torch.nn, _CLASSES[spec.kind][spec.ndim - 1])
    if padding is None:
        padding = spec.padding_mode.value if spec.padding_mode else spec.symmetric_padding
    if spec.kind is OpKind.CONV:
        return cls(
            spec.in_channels or 1,
            spec.out_channels or 1,
            spec.kernel_size,
            spec.stride,
            padding,
            spec.dilation,
            spec.groups,
            bias=spec.bias,
            dtype=torch.float64,
        )
    if spec.kind is OpKind.CONVTRANSPOSE:
        return cls(
            spec.in_channels or 1,
            spec.out_channels or 1,
            spec.kernel_size,
            spec.stride,
            padding,
            spec.output_padding,
            spec.groups,
            bias=spec.bias,
            dilation=spec.dilation,
            dtype=torch.float64,
        )
    if spec.kind is OpKind.MAXPOOL:
        return cls(spec.kernel_size, spec.stride, padding, spec.dilation, ceil_mode=spec.ceil_mode)
    return cls(
        spec.kernel_size,
        spec.stride,
        padding,
        ceil_mode=spec.ceil_mode,
        count_include_pad=spec.count_include_pad,
    )


def torch_output_shape(spec: LayerSpec, size: tuple[int, ...]) -> tuple[int, ...] | str:
    """The spatial output size torch computes, or the text of the error it raises."""
    try:
        module = torch_module(spec)
        x = torch.zeros((1, spec.in_channels or 1, *size), dtype=torch.float64)
        with torch.no_grad():
            return tuple(module(x).shape[2:])
    except (RuntimeError, ValueError) as error:
        return str(error).splitlines()[0]


__all__ = ["torch_module", "torch_output_shape", "F"]
