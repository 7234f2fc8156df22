"""Layers that move a tensor's elements without a window: reshape, permute, pad (or crop),
squeeze, unsqueeze and mean over dimensions. What exported models (ONNX, Keras) put between
their convolutions: channel shuffles, SE gates, heads. Shape rules as PyTorch's (``reshape``
with ``-1`` inferred and, as ONNX's Reshape, ``0`` copying the input's size), standard library
only. Dimensions count the batch: 0 is N, 1 is C.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import assert_never

from convcalc.errors import ConvcalcError
from convcalc.specs import shape_text

Shape = tuple[int, ...]


@dataclass(frozen=True)
class ReshapeLayer:
    """``x.reshape(shape)``: ``-1`` is inferred (once), ``0`` copies the input's size there."""

    shape: tuple[int, ...]


@dataclass(frozen=True)
class PermuteLayer:
    """``x.permute(dims)`` (ONNX Transpose)."""

    dims: tuple[int, ...]


@dataclass(frozen=True)
class PadLayer:
    """``F.pad`` / ONNX Pad / Keras ZeroPadding and Cropping: (before, after) per dimension,
    from the first; negative values crop."""

    pads: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class SqueezeLayer:
    """``x.squeeze(dims)``: drop the listed size-1 dimensions (all of them when none listed)."""

    dims: tuple[int, ...] | None


@dataclass(frozen=True)
class UnsqueezeLayer:
    """``x.unsqueeze``: insert size-1 dimensions at the listed positions of the output."""

    dims: tuple[int, ...]


@dataclass(frozen=True)
class MeanLayer:
    """``x.mean(dims, keepdim)`` (ONNX ReduceMean, Keras global pools); ``x.sum``, ``amax``,
    ``amin`` and the L2 norm the same shape (ONNX ReduceSum, ReduceMax, ReduceMin, ReduceL2:
    ``F.normalize``'s)."""

    dims: tuple[int, ...]
    keepdim: bool
    reduce: str = "mean"  # mean, sum, max, min or l2


@dataclass(frozen=True)
class ExpandLayer:
    """``x.expand(shape)`` as ONNX's Expand broadcasts: the input and ``shape`` broadcast
    together (numpy's rule, either side's 1 giving way; new dimensions in front)."""

    shape: tuple[int, ...]


@dataclass(frozen=True)
class SliceLayer:
    """``x[..., start:stop:step, ...]`` on the listed dimensions (ONNX Slice): Python's
    clamping, so ``stop`` may be past the end; negative values count from the end."""

    dims: tuple[int, ...]
    starts: tuple[int, ...]
    stops: tuple[int, ...]
    steps: tuple[int, ...]


@dataclass(frozen=True)
class ChunkLayer:
    """``x.chunk(chunks, dim)[index]`` (ONNX Split into equal parts): parts of
    ``ceil(size / chunks)``, the last one shorter."""

    dim: int
    chunks: int
    index: int


@dataclass(frozen=True)
class PixelShuffleLayer:
    """``nn.PixelShuffle(r)`` (``up``): (*, C*r*r, H, W) -> (*, C, H*r, W*r), ONNX DepthToSpace;
    ``nn.PixelUnshuffle(r)``: the reverse, ONNX SpaceToDepth. On the last three dimensions."""

    factor: int
    up: bool

    @property
    def name(self) -> str:
        return "pixelshuffle" if self.up else "pixelunshuffle"

    @property
    def torch_name(self) -> str:
        return "PixelShuffle" if self.up else "PixelUnshuffle"

    @property
    def keyword(self) -> str:
        return "upscale_factor" if self.up else "downscale_factor"


TensorOp = (
    ReshapeLayer
    | PermuteLayer
    | PadLayer
    | SqueezeLayer
    | UnsqueezeLayer
    | MeanLayer
    | ExpandLayer
    | SliceLayer
    | ChunkLayer
    | PixelShuffleLayer
)


def _axis(dim: int, rank: int, what: str) -> int:
    if not -rank <= dim < rank:
        raise ConvcalcError(f"{what}: dimension {dim} is out of range for a {rank}-d input")
    return dim % rank


def broadcast_shape(a: Shape, b: Shape, what: str) -> Shape:
    """numpy's broadcasting of two shapes (aligned at the end, a 1 giving way)."""
    if min((*a, *b), default=1) < 1:
        raise ConvcalcError(f"{what}: sizes must be positive: {list(a)} and {list(b)}")
    width = max(len(a), len(b))
    left, right = (1,) * (width - len(a)) + a, (1,) * (width - len(b)) + b
    out = []
    for x, y in zip(left, right, strict=True):
        if x != y and 1 not in (x, y):
            raise ConvcalcError(
                f"{what}: {shape_text(a)} and {shape_text(b)} do not broadcast ({x} against {y})"
            )
        out.append(y if x == 1 else x)
    return tuple(out)


def matmul_shape(a: Shape, b: Shape) -> Shape:
    """``torch.matmul``'s output shape (numpy's matmul): a 1-d operand is a row (first) or a
    column (second) vector whose added dimension is dropped again; the last dimension of ``a``
    meets the second-last of ``b``; the dimensions before the last two broadcast."""
    if not a or not b:
        raise ConvcalcError("both arguments to matmul need to be at least 1D")
    left = (1, *a) if len(a) == 1 else a
    right = (*b, 1) if len(b) == 1 else b
    if left[-1] != right[-2]:
        raise ConvcalcError(
            f"shapes {shape_text(a)} and {shape_text(b)} cannot be multiplied "
            f"({left[-1]} against {right[-2]})"
        )
    batch = broadcast_shape(left[:-2], right[:-2], "matmul's batch dimensions")
    rows = () if len(a) == 1 else (left[-2],)
    columns = () if len(b) == 1 else (right[-1],)
    return (*batch, *rows, *columns)


def tensor_op_shape(op: TensorOp, shape: Shape) -> Shape:
    """The output shape of a tensor op, or PyTorch's objection.

    >>> tensor_op_shape(ReshapeLayer((0, 2, -1, 7, 7)), (1, 8, 7, 7))
    (1, 2, 4, 7, 7)
    >>> tensor_op_shape(PadLayer(((0, 0), (0, 0), (1, 2), (-1, 0))), (1, 3, 5, 5))
    (1, 3, 8, 4)
    """
    rank = len(shape)
    match op:
        case ReshapeLayer(shape=target):
            return _reshape(shape, target)
        case PermuteLayer(dims=dims):
            if sorted(d % rank if -rank <= d < rank else d for d in dims) != list(range(rank)):
                raise ConvcalcError(
                    f"dims: {list(dims)} is not a permutation of the {rank} dimensions of "
                    f"{shape_text(shape)}"
                )
            return tuple(shape[d % rank] for d in dims)
        case PadLayer(pads=pads):
            if len(pads) > rank:
                raise ConvcalcError(f"pads: {len(pads)} dimensions given for a {rank}-d input")
            full = ((0, 0),) * (rank - len(pads)) + pads
            out = tuple(size + before + after for size, (before, after) in zip(shape, full))
            if min(out) < 1:
                raise ConvcalcError(
                    f"pads: {[list(p) for p in full]} leave {shape_text(out)} from "
                    f"{shape_text(shape)}; every size must stay positive"
                )
            return out
        case SqueezeLayer(dims=dims):
            if dims is None:
                return tuple(size for size in shape if size != 1)
            axes = {_axis(d, rank, "dims") for d in dims}
            return tuple(size for i, size in enumerate(shape) if not (i in axes and size == 1))
        case UnsqueezeLayer(dims=dims):
            out_rank = rank + len(dims)
            axes = {_axis(d, out_rank, "dims") for d in dims}
            if len(axes) != len(dims):
                raise ConvcalcError(f"dims: {list(dims)} repeats a dimension")
            sizes = iter(shape)
            return tuple(1 if i in axes else next(sizes) for i in range(out_rank))
        case MeanLayer(dims=dims, keepdim=keepdim):
            axes = {_axis(d, rank, "dims") for d in dims}
            if keepdim:
                return tuple(1 if i in axes else size for i, size in enumerate(shape))
            return tuple(size for i, size in enumerate(shape) if i not in axes)
        case ExpandLayer(shape=target):
            return broadcast_shape(shape, target, "expand")
        case SliceLayer(dims=dims, starts=starts, stops=stops, steps=steps):
            lengths = list(shape)
            for dim, start, stop, step in zip(dims, starts, stops, steps):
                axis = _axis(dim, rank, "dims")
                if step == 0:
                    raise ConvcalcError("steps: a slice's step cannot be 0")
                lengths[axis] = len(range(*slice(start, stop, step).indices(shape[axis])))
                if lengths[axis] == 0:
                    raise ConvcalcError(
                        f"slice {start}:{stop}:{step} of dimension {axis} (size {shape[axis]}) "
                        "leaves nothing"
                    )
            return tuple(lengths)
        case ChunkLayer(dim=dim, chunks=chunks, index=index):
            axis = _axis(dim, rank, "dim")
            size = -(-shape[axis] // chunks)
            length = min(size * (index + 1), shape[axis]) - size * index
            if length < 1:
                raise ConvcalcError(
                    f"chunk {index} of {chunks}: dimension {axis} has {shape[axis]} elements, "
                    f"parts of {size}, so there is no part {index}"
                )
            return tuple(length if i == axis else n for i, n in enumerate(shape))
        case PixelShuffleLayer(factor=r, up=up):
            return _pixel_shuffle(shape, r, up)
        case _:
            assert_never(op)


def _pixel_shuffle(shape: Shape, r: int, up: bool) -> Shape:
    """torch's pixel_shuffle / pixel_unshuffle shape check and result, with its messages."""
    what = "pixel_shuffle" if up else "pixel_unshuffle"
    if len(shape) < 3:
        raise ConvcalcError(
            f"{what} expects input to have at least 3 dimensions, but got input with "
            f"{len(shape)} dimension(s)"
        )
    *lead, c, h, w = shape
    if up:
        if c % (r * r):
            raise ConvcalcError(
                f"{what} expects its input's 'channel' dimension to be divisible by the square "
                f"of upscale_factor, but input.size(-3)={c} is not divisible by {r * r}"
            )
        return (*lead, c // (r * r), h * r, w * r)
    for label, size, axis in (("height", h, -2), ("width", w, -1)):
        if size % r:
            raise ConvcalcError(
                f"{what} expects {label} to be divisible by downscale_factor, but "
                f"input.size({axis})={size} is not divisible by {r}"
            )
    return (*lead, c * r * r, h // r, w // r)


def _reshape(shape: Shape, target: tuple[int, ...]) -> Shape:
    total = math.prod(shape)
    sizes = [shape[i] if size == 0 and i < len(shape) else size for i, size in enumerate(target)]
    if any(size < -1 for size in sizes) or sizes.count(-1) > 1:
        raise ConvcalcError(f"shape: {list(target)}: sizes are positive, 0 (copy) or one -1")
    known = math.prod(size for size in sizes if size != -1)
    if -1 in sizes:
        if known == 0 or total % known:
            raise ConvcalcError(
                f"shape: {list(target)} is invalid for an input of {total:,} elements "
                f"{shape_text(shape)}"
            )
        sizes[sizes.index(-1)] = total // known
    elif known != total:
        raise ConvcalcError(
            f"shape: {list(target)} holds {known:,} elements, the input {shape_text(shape)} "
            f"{total:,}"
        )
    return tuple(sizes)


def keeps_spatial(op: TensorOp, shape: Shape, out: Shape, ndim: int) -> bool:
    """Whether the trailing ``ndim`` (spatial) dimensions come through unchanged, so a receptive
    field carries over (a channel shuffle's reshape and permute)."""
    if ndim == 0 or len(shape) < ndim or len(out) < ndim or shape[-ndim:] != out[-ndim:]:
        return False
    match op:
        case PermuteLayer(dims=dims):
            rank = len(shape)
            return [d % rank for d in dims[-ndim:]] == list(range(rank - ndim, rank))
        case PadLayer() | PixelShuffleLayer():
            return False  # network.py moves the field instead
        case (
            (ReshapeLayer() | SqueezeLayer() | UnsqueezeLayer() | MeanLayer() | SliceLayer())
            | ChunkLayer()
            | ExpandLayer()
        ):
            return True
        case _:
            assert_never(op)
