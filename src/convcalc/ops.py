"""The op table: one entry per op family, holding what is known about the family as data.

Names and aliases, the dimensions it comes in, the layer parameters it takes, its stride default,
the PyTorch class, and one line of description. The behaviour of a family (its size rule in
``shapes.py``, its trace evaluator in ``trace.py``, its vectorised reference in ``reference.py``)
is dispatched with ``match`` on ``OpKind`` and ``assert_never``, so mypy names every place a new
family must be handled; a new family is one entry here plus those cases, its tests and its docs.

Standard library only (the start-up path of ``convcalc shape`` reads it).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class OpKind(enum.StrEnum):
    """The families of layer whose output size convcalc computes."""

    CONV = "conv"
    CONVTRANSPOSE = "convtranspose"
    MAXPOOL = "maxpool"
    AVGPOOL = "avgpool"
    ADAPTIVEAVGPOOL = "adaptiveavgpool"
    ADAPTIVEMAXPOOL = "adaptivemaxpool"
    UNFOLD = "unfold"
    FOLD = "fold"

    def __str__(self) -> str:
        return self.value

    @property
    def family(self) -> OpFamily:
        return OPS[self]

    @property
    def is_pool(self) -> bool:
        return OPS[self].pool

    @property
    def torch_name(self) -> str:
        return OPS[self].torch_name

    @property
    def is_adaptive(self) -> bool:
        return OPS[self].adaptive

    @property
    def has_weight(self) -> bool:
        return self in (OpKind.CONV, OpKind.CONVTRANSPOSE)


class Param(enum.StrEnum):
    """Layer parameters, by PyTorch's keyword (the CLI maps each to its flag)."""

    KERNEL_SIZE = "kernel_size"
    STRIDE = "stride"
    PADDING = "padding"
    DILATION = "dilation"
    OUTPUT_PADDING = "output_padding"
    CEIL_MODE = "ceil_mode"
    COUNT_INCLUDE_PAD = "count_include_pad"
    GROUPS = "groups"
    PADDING_MODE = "padding='same'/'valid'"
    OUTPUT_SIZE = "output_size"


# the CLI's flag for each parameter, for messages that say what to type
FLAGS = {
    Param.KERNEL_SIZE: "--k",
    Param.STRIDE: "--s",
    Param.PADDING: "--p",
    Param.DILATION: "--d",
    Param.OUTPUT_PADDING: "--op",
    Param.CEIL_MODE: "--ceil",
    Param.COUNT_INCLUDE_PAD: "--count-include-pad",
    Param.GROUPS: "--groups",
    Param.PADDING_MODE: "--p same",
    Param.OUTPUT_SIZE: "--out",
}


@dataclass(frozen=True)
class OpFamily:
    """Everything about one family that is data rather than a rule."""

    kind: OpKind
    torch_name: str  # torch.nn.{torch_name}{1,2,3}d
    aliases: tuple[str, ...]  # spellings, folded: lower case without "_", "-", "nn."
    ndims: tuple[int, ...]
    takes: frozenset[Param]
    pool: bool  # stride defaults to the kernel; keeps the channels; has no weights
    description: str
    # windows from the output size asked for, not a kernel sliding at a stride
    adaptive: bool = False
    # named with its dimensions (conv2d); Unfold and Fold are not
    dimensioned: bool = True

    def takes_param(self, param: Param) -> bool:
        return param in self.takes


_CONV_PARAMS = frozenset(
    {Param.KERNEL_SIZE, Param.STRIDE, Param.PADDING, Param.DILATION, Param.GROUPS}
)

OPS: dict[OpKind, OpFamily] = {
    family.kind: family
    for family in (
        OpFamily(
            OpKind.CONV,
            "Conv",
            ("conv", "convolution"),
            (1, 2, 3),
            _CONV_PARAMS | {Param.PADDING_MODE},
            False,
            "convolution (cross-correlation), torch.nn.ConvNd",
        ),
        OpFamily(
            OpKind.CONVTRANSPOSE,
            "ConvTranspose",
            (
                "convtranspose",
                "transposeconv",
                "transposedconv",
                "convtransposed",
                "deconv",
                "deconvolution",
                "upconv",
            ),
            (1, 2, 3),
            _CONV_PARAMS | {Param.OUTPUT_PADDING, Param.OUTPUT_SIZE},
            False,
            "transposed convolution, torch.nn.ConvTransposeNd",
        ),
        OpFamily(
            OpKind.MAXPOOL,
            "MaxPool",
            ("maxpool", "maxpooling"),
            (1, 2, 3),
            frozenset(
                {Param.KERNEL_SIZE, Param.STRIDE, Param.PADDING, Param.DILATION, Param.CEIL_MODE}
            ),
            True,
            "max pooling, torch.nn.MaxPoolNd",
        ),
        OpFamily(
            OpKind.AVGPOOL,
            "AvgPool",
            ("avgpool", "avgpooling", "averagepool", "averagepooling"),
            (1, 2, 3),
            frozenset(
                {
                    Param.KERNEL_SIZE,
                    Param.STRIDE,
                    Param.PADDING,
                    Param.CEIL_MODE,
                    Param.COUNT_INCLUDE_PAD,
                }
            ),
            True,
            "average pooling, torch.nn.AvgPoolNd",
        ),
        OpFamily(
            OpKind.ADAPTIVEAVGPOOL,
            "AdaptiveAvgPool",
            ("adaptiveavgpool", "adaptiveaveragepool", "adaptiveavgpooling"),
            (1, 2, 3),
            frozenset({Param.OUTPUT_SIZE}),
            True,
            "adaptive average pooling, torch.nn.AdaptiveAvgPoolNd: windows "
            "[floor(i*in/out), ceil((i+1)*in/out))",
            adaptive=True,
        ),
        OpFamily(
            OpKind.ADAPTIVEMAXPOOL,
            "AdaptiveMaxPool",
            ("adaptivemaxpool", "adaptivemaxpooling"),
            (1, 2, 3),
            frozenset({Param.OUTPUT_SIZE}),
            True,
            "adaptive max pooling, torch.nn.AdaptiveMaxPoolNd: windows "
            "[floor(i*in/out), ceil((i+1)*in/out))",
            adaptive=True,
        ),
        OpFamily(
            OpKind.UNFOLD,
            "Unfold",
            ("unfold", "im2col"),
            (2,),
            frozenset({Param.KERNEL_SIZE, Param.STRIDE, Param.PADDING, Param.DILATION}),
            False,
            "im2col, torch.nn.Unfold: every sliding block of the input as a column, "
            "(C, H, W) -> (C*prod(k), L)",
            dimensioned=False,
        ),
        OpFamily(
            OpKind.FOLD,
            "Fold",
            ("fold", "col2im"),
            (2,),
            frozenset(
                {
                    Param.KERNEL_SIZE,
                    Param.STRIDE,
                    Param.PADDING,
                    Param.DILATION,
                    Param.OUTPUT_SIZE,
                }
            ),
            False,
            "col2im, torch.nn.Fold: columns (C*prod(k), L) summed back into (C, *output_size), "
            "overlaps added",
            dimensioned=False,
        ),
    )
}

# folded spelling -> family
ALIASES: dict[str, OpKind] = {alias: f.kind for f in OPS.values() for alias in f.aliases}


def op_list() -> str:
    """The op names for help and error messages: ``conv, convtranspose, maxpool, avgpool``."""
    return ", ".join(kind.value for kind in OPS)


def op_names() -> list[str]:
    """Every op's name as a command takes it, for completion and suggestions: ``conv``,
    ``conv1d``, ``conv2d``, ..., ``unfold``, ``fold``."""
    names = []
    for family in OPS.values():
        names.append(family.kind.value)
        if family.dimensioned:
            names.extend(f"{family.kind.value}{n}d" for n in family.ndims)
    return names
