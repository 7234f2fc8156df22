"""The vocabulary of a network: the typed layers planning makes of ``[[layer]]`` tables, the
plan, and the per-layer and whole-network results. Data only; standard library only."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from convcalc.shapes import LayerShape
from convcalc.specs import (
    LayerArgs,
    OpKind,
    OpName,
)
from convcalc.tensorops import (
    TensorOp,
)

Shape = tuple[int, ...]


class MergeOp(enum.Enum):
    """Layers that combine several inputs."""

    ADD = "add"  # elementwise, PyTorch broadcasting
    SUB = "sub"
    MUL = "mul"  # elementwise, PyTorch broadcasting (an SE gate C x 1 x 1 times C x H x W)
    DIV = "div"
    CAT = "cat"  # torch.cat along ``dim`` (1 = channels, counted with the batch dimension)


# --- typed layers (what planning makes of a [[layer]] table) -----------------------------------


@dataclass(frozen=True)
class ConvLayer:
    """A layer of the op table: conv, transposed conv, max or average pool."""

    op: OpName
    args: LayerArgs  # in_channels as given (checked against the input), None otherwise
    bias: bool
    convention: str = "torch"  # whose padding rules: torch, tf, keras or onnx (conventions.py)
    # parameters its weight is computed from beyond the weight (a weight standardisation's gain)
    extra_params: int = 0


@dataclass(frozen=True)
class AdaptiveLayer:
    """An adaptive pool; ``None`` in output_size keeps that dimension's input size (torch)."""

    kind: OpKind
    ndim: int
    output_size: tuple[int | None, ...]


@dataclass(frozen=True)
class PointwiseLayer:
    """Activations, dropout, identity, softmax: the shape passes through."""

    name: str
    params: int  # PReLU's num_parameters
    non_trainable: int = 0  # statistics it keeps (Keras' Normalization: mean, variance, count)


@dataclass(frozen=True)
class BatchNormLayer:
    ndim: int
    num_features: int | None
    affine: bool
    running_stats: bool = True  # track_running_stats: a running mean and variance per channel
    bias: bool = True  # torch 2.13's BatchNorm(bias=False) learns the scale only


@dataclass(frozen=True)
class InferredLayer:
    """An ONNX op convcalc has no rule for, without parameters, whose output shape ONNX's shape
    inference fixed for the file's input: valid for those input shapes only."""

    op: str
    inputs: tuple[Shape, ...]  # the input shapes the file was inferred for
    output: Shape


class NormKind(enum.Enum):
    """Normalisations besides BatchNorm, torch's names."""

    LAYER = "layernorm"  # over the trailing dimensions normalized_shape
    LAYER2D = "layernorm2d"  # over the channels of (N, C, H, W) (timm's and torchvision's)
    GROUP = "groupnorm"  # channels in num_groups groups
    INSTANCE = "instancenorm"  # each channel of each sample


@dataclass(frozen=True)
class NormLayer:
    """LayerNorm, LayerNorm2d, GroupNorm, InstanceNorm1d/2d/3d: the shape passes through;
    parameters a weight and a bias (LayerNorm's bias optional) of the normalized size."""

    kind: NormKind
    shape: tuple[int, ...]  # normalized_shape; (num_groups, num_channels); (num_features,)
    affine: bool
    bias: bool = True
    ndim: int | None = None  # instancenorm1d/2d/3d


@dataclass(frozen=True)
class UpsampleLayer:
    """Nearest-style resizing: by a size or a scale factor per dimension (one given)."""

    size: tuple[int, ...] | None
    scale: tuple[int | float, ...] | None


@dataclass(frozen=True)
class FlattenLayer:
    start_dim: int
    end_dim: int


@dataclass(frozen=True)
class LinearLayer:
    in_features: int | None
    out_features: int
    bias: bool


@dataclass(frozen=True)
class MatMulLayer:
    """``torch.matmul(a, b)`` of two tensors the network computes (attention's ``q @ k^T`` and
    ``attn @ v``; ONNX MatMul of two activations): no parameters; its products are counted
    apart from MACs (``matmul_macs``)."""


@dataclass(frozen=True)
class MergeLayer:
    op: MergeOp
    dim: int  # cat only
    constant: Shape | None = None  # an elementwise op with a constant of this shape (one input)
    learned: bool = False  # the constant is a parameter (a layer scale): its elements count
    params: int = 0  # or the parameters it is computed from (a model reader's count)
    macs: int = 0  # what computing the constant costs (a conv over a position grid)


Layer = (
    ConvLayer
    | AdaptiveLayer
    | PointwiseLayer
    | BatchNormLayer
    | NormLayer
    | InferredLayer
    | UpsampleLayer
    | FlattenLayer
    | LinearLayer
    | MatMulLayer
    | MergeLayer
    | TensorOp
)


class Side(enum.Enum):
    INPUT = "input"
    OUTPUT = "output"


@dataclass(frozen=True)
class Expect:
    """What a layer's output should be: a shape, or another tensor's shape (``enc1.input``)."""

    text: str
    shape: Shape | None = None
    layer: int | None = None  # 0: the network input
    side: Side = Side.OUTPUT


@dataclass(frozen=True)
class PlannedLayer:
    """One layer ready to run: typed parameters, resolved inputs (0 = the network input)."""

    number: int
    name: str
    type: str  # as written in the spec
    layer: Layer
    sources: tuple[int, ...]
    expect: Expect | None = None
    explicit_from: bool = False
    source_labels: tuple[str, ...] = ()  # how messages name the inputs

    @property
    def where(self) -> str:
        named = f' "{self.name}"' if self.name != str(self.number) else ""
        return f"layer {self.number}{named} ({self.type or '?'})"


@dataclass(frozen=True)
class Plan:
    """A network planned once: run it on any input with run_plan."""

    layers: tuple[PlannedLayer, ...]
    input: Shape | None
    batch: int | None
    source: str
    input_hint: str = ""
    open_input: tuple[int | None, ...] | None = None  # (C, *spatial), None where the file is open

    @property
    def is_graph(self) -> bool:
        """True when some layer reads anything but the layer just before it."""
        return any(layer.sources != (layer.number - 1,) for layer in self.layers)

    def tensor_name(self, index: int) -> str:
        """A tensor's name: ``input`` (0) or the name of the layer making it (its number when
        it has no name); ``source_label`` makes it readable in messages."""
        return "input" if index == 0 else self.layers[index - 1].name

    def spatial_ndim(self) -> int | None:
        """How many spatial dimensions the network takes: from ``input`` or its first layer
        that says (conv2d: 2)."""
        if self.input is not None:
            return len(self.input) - 1
        for planned in self.layers:
            match planned.layer:
                case ConvLayer(op=op) if op.ndim:
                    return op.ndim
                case AdaptiveLayer(ndim=ndim) | BatchNormLayer(ndim=ndim) if ndim > 1:
                    return ndim
                case _:
                    continue
        return None


# --- results ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReceptiveField:
    """Per spatial dimension: size and jump in input pixels, start (centre of element 0)."""

    size: tuple[Fraction, ...]
    jump: tuple[Fraction, ...]
    start: tuple[Fraction, ...]
    whole_input: bool = False  # after flatten/linear every output sees the whole input

    @classmethod
    def identity(cls, ndim: int) -> ReceptiveField:
        one, zero = Fraction(1), Fraction(0)
        return cls((one,) * ndim, (one,) * ndim, (zero,) * ndim)

    def window(
        self, extents: Sequence[int], strides: Sequence[Fraction], offsets: Sequence[Fraction]
    ) -> ReceptiveField:
        """After a sliding window of ``extents`` (in this layer's input elements), moving by
        ``strides`` elements, whose first window is centred ``offsets`` elements from element 0."""
        return ReceptiveField(
            tuple(r + (e - 1) * j for r, e, j in zip(self.size, extents, self.jump)),
            tuple(j * s for j, s in zip(self.jump, strides)),
            tuple(st + o * j for st, o, j in zip(self.start, offsets, self.jump)),
        )

    def bounds(self, axis: int) -> tuple[Fraction, Fraction]:
        """First and last input coordinate output element 0 sees along ``axis``."""
        half = (self.size[axis] - 1) / 2
        return self.start[axis] - half, self.start[axis] + half


@dataclass(frozen=True)
class MacCount:
    """A conv layer's MACs split by what they multiply (see the module docstring)."""

    useful: int
    zero: int  # a direct form's MACs on zeros: padding, or a transposed conv's inserted zeros
    cropped: int  # a transposed conv's MACs landing in the padding it crops


@dataclass(frozen=True)
class LayerResult:
    """One layer of a network applied to its inputs."""

    index: int
    name: str
    type: str
    summary: str
    input_shapes: tuple[Shape, ...]  # each input: (N, C, *spatial) or (N, features)
    output_shape: Shape
    params: int
    macs: int
    rf: ReceptiveField | None
    expect: Shape | None = None
    expect_text: str | None = None
    shape: LayerShape | None = None
    sources: tuple[str, ...] = ()  # names of the tensors it reads ("input": the network input)
    explicit_from: bool = False
    mac_count: MacCount | None = None
    non_trainable_params: int = 0  # BatchNorm's running mean and variance (Keras counts them)
    source_labels: tuple[str, ...] = ()  # the sources as tables show them ("layer 5")
    matmul_macs: int = 0  # products of two activations (attention's MatMul), not in macs

    @property
    def input_shape(self) -> Shape:
        """The first input (the only one but for a merge)."""
        return self.input_shapes[0]

    @property
    def expect_ok(self) -> bool | None:
        if self.expect is None:
            return None
        return self.expect in (self.output_shape, self.output_shape[1:])

    @property
    def is_merge(self) -> bool:
        return self.type in {op.value for op in MergeOp}

    @property
    def shown_sources(self) -> tuple[str, ...]:
        """The inputs a table names (``<- up3, enc1``): a merge's, or those an explicit
        ``from`` gives; none where a layer reads the one before it."""
        return self.source_labels if self.is_merge or self.explicit_from else ()


@dataclass(frozen=True)
class NetworkResult:
    """Every layer's result, the totals and the expectations that failed."""

    input_shape: Shape
    layers: tuple[LayerResult, ...]
    source: str = ""
    is_graph: bool = False
    readers: tuple[tuple[int, ...], ...] = ()  # per tensor (0 = input): the layers reading it

    @property
    def total_params(self) -> int:
        return sum(layer.params for layer in self.layers)

    @property
    def total_non_trainable_params(self) -> int:
        return sum(layer.non_trainable_params for layer in self.layers)

    @property
    def total_macs(self) -> int:
        return sum(layer.macs for layer in self.layers)

    @property
    def total_matmul_macs(self) -> int:
        """The products of two activations (an attention's MatMul), apart from total_macs,
        which counts the products with learned weights."""
        return sum(layer.matmul_macs for layer in self.layers)

    @property
    def total_flops(self) -> int:
        """FLOPs as 2 x MACs (one multiply and one add per MAC)."""
        return 2 * self.total_macs

    @property
    def total_useful_macs(self) -> int:
        return sum(
            layer.mac_count.useful if layer.mac_count else layer.macs for layer in self.layers
        )

    @property
    def total_zero_macs(self) -> int:
        return sum(layer.mac_count.zero for layer in self.layers if layer.mac_count)

    @property
    def output_shape(self) -> Shape:
        return self.layers[-1].output_shape if self.layers else self.input_shape

    @property
    def mismatches(self) -> list[LayerResult]:
        return [layer for layer in self.layers if layer.expect_ok is False]
