"""The op kinds and the facts about each that the layers below the families read: its names on
the command line, the dimensions it comes in, the parameters it takes, which shared size rule
sizes it, whether it is a pool (stride defaults to the kernel) or carries weights, and the
settings of its own (``--norm-type``).

A family's behaviour (evaluator, reference, working, torch code, reader and exporter names, net
layer) lives in its module under ``families/``, found through the registry there: a new family is
its entry here, its module, its registry line and its tests.

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
    LPPOOL = "lppool"

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
        return OPS[self].weighted


class SizeRule(enum.Enum):
    """The shared integer rules of ``shapes.py``, one of which sizes each family."""

    CONV = "conv"  # floor((in + 2p - d*(k-1) - 1) / s) + 1
    TRANSPOSED = "transposed"  # (in - 1)*s - 2p + d*(k-1) + output_padding + 1
    POOL = "pool"  # the conv rule with ceil_mode and torch's pool limits
    BLOCKS = "blocks"  # the conv rule, at least one block (Unfold)
    ADAPTIVE = "adaptive"  # windows from the output size asked for
    FOLD = "fold"  # columns (C*prod(k), L) back to an image


@dataclass(frozen=True)
class Setting:
    """A parameter only one family takes (LPPool's norm_type): its keyword, its flag, its help.
    The command line offers a flag for every family's settings; the value is a number."""

    keyword: str
    flag: str
    help: str
    metavar: str = "N"
    required: bool = True
    nonzero: str = ""  # when 0 is refused: what the framework says


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
    rule: SizeRule = SizeRule.CONV
    weighted: bool = False  # takes a weight (and a bias)
    # runs through torch's avg_pool: AvgPool3d's input must hold the kernel
    averaging: bool = False
    settings: tuple[Setting, ...] = ()
    # the conventions that have it (compare, --convention); torch always
    conventions: frozenset[str] = frozenset({"torch", "tf", "keras", "onnx"})

    def takes_param(self, param: Param) -> bool:
        return param in self.takes

    def setting(self, keyword: str) -> Setting | None:
        return next((s for s in self.settings if s.keyword == keyword), None)


def all_settings() -> tuple[Setting, ...]:
    """Every family's own settings, once each by keyword (the command line offers them all)."""
    seen: dict[str, Setting] = {}
    for family in OPS.values():
        for setting in family.settings:
            seen.setdefault(setting.keyword, setting)
    return tuple(seen.values())


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
            weighted=True,
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
            rule=SizeRule.TRANSPOSED,
            weighted=True,
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
            rule=SizeRule.POOL,
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
            rule=SizeRule.POOL,
            averaging=True,
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
            rule=SizeRule.ADAPTIVE,
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
            rule=SizeRule.ADAPTIVE,
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
            rule=SizeRule.BLOCKS,
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
            rule=SizeRule.FOLD,
        ),
        OpFamily(
            OpKind.LPPOOL,
            "LPPool",
            ("lppool", "lppooling", "powerpool"),
            (1, 2, 3),
            frozenset({Param.KERNEL_SIZE, Param.STRIDE, Param.CEIL_MODE}),
            True,
            "power-average pooling, torch.nn.LPPoolNd: (sum of x**p over the window)**(1/p)",
            rule=SizeRule.POOL,
            averaging=True,  # torch runs it through avg_pool
            settings=(
                Setting(
                    "norm_type",
                    "--norm-type",
                    "LPPool: the power p (norm_type), e.g. 2, 1.5 or inf",
                    "P",
                    required=False,
                    nonzero="torch computes 1/norm_type and raises ZeroDivisionError",
                ),
            ),
            conventions=frozenset({"torch"}),
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
