"""convcalc: shapes and arithmetic of convolution layers, exactly as PyTorch computes them.

The Python API is the CLI's core (standard library only at import time):

>>> from convcalc import conv_output_size, conv_transpose_output_size
>>> conv_output_size(224, 3, stride=2, padding=1)
112
>>> conv_transpose_output_size(112, 3, stride=2, padding=1, output_padding=1)
224
"""

from __future__ import annotations

from convcalc.errors import ConvcalcError, MalformedInputError
from convcalc.shapes import (
    DimShape,
    LayerShape,
    conv_dim,
    conv_output_size,
    conv_transpose_dim,
    conv_transpose_output_size,
    dilated_kernel_extent,
    layer_shape,
    pool_dim,
    pool_output_size,
)
from convcalc.specs import LayerSpec, OpKind, build_spec, parse_op

__version__ = "0.1.0"

__all__ = [
    "ConvcalcError",
    "DimShape",
    "LayerShape",
    "LayerSpec",
    "MalformedInputError",
    "OpKind",
    "__version__",
    "build_spec",
    "conv_dim",
    "conv_output_size",
    "conv_transpose_dim",
    "conv_transpose_output_size",
    "dilated_kernel_extent",
    "layer_shape",
    "parse_op",
    "pool_dim",
    "pool_output_size",
]
