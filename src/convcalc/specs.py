"""Operation names and layer parameters: parsing, broadcasting and the frozen spec objects.

Standard library only, so that a shape query stays fast to start.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from convcalc.errors import ConvcalcError, MalformedInputError
from convcalc.ops import ALIASES, FLAGS, OPS, OpKind, Param, op_list, op_names

# A family's own setting (LPPool's norm_type): exact unless it is infinite.
SettingValue = Fraction | float
Settings = tuple[tuple[str, SettingValue], ...]

__all__ = ["OpKind", "Param"]  # re-exported: the op table lives in ops.py


# conv2d, convtranspose2d; Keras' Conv2DTranspose (the dimensions before "transpose"); a bare
# family. The "d" is required: "conv2" is a typo to point out, not a name to complete.
_OP_RE = re.compile(r"^(?P<kind>[a-z]+?)(?P<ndim>[123])d(?P<suffix>transpose)?$|^(?P<bare>[a-z]+)$")


@dataclass(frozen=True)
class OpName:
    """A parsed operation name: its kind and, when the name says it, its dimensionality."""

    kind: OpKind
    ndim: int | None

    def __str__(self) -> str:
        return f"{self.kind.value}{self.ndim}d" if self.ndim else self.kind.value


def parse_op(name: str) -> OpName:
    """Parse an op name such as ``conv2d``, ``ConvTranspose2d``, ``max_pool1d`` or ``deconv``.

    >>> parse_op("conv_transpose2d")
    OpName(kind=<OpKind.CONVTRANSPOSE: 'convtranspose'>, ndim=2)
    >>> parse_op("maxpool").ndim is None
    True
    """
    folded = re.sub(r"[\s_\-.]", "", name.strip().lower())
    folded = folded.removeprefix("torchnn").removeprefix("nn")
    match = _OP_RE.match(folded)
    if match:
        stem = (match.group("kind") or match.group("bare")) + (match.group("suffix") or "")
        ndim = int(match.group("ndim")) if match.group("ndim") else None
        kind = ALIASES.get(stem)
        if kind is not None and (ndim is None or ndim in kind.family.ndims):
            return OpName(kind, ndim)
    import difflib

    close = difflib.get_close_matches(folded, op_names(), n=1, cutoff=0.6)
    hint = f"did you mean {close[0]}? " if close else ""
    raise MalformedInputError(
        f"unknown op {name!r}: {hint}expected one of {op_list()}, optionally with 1d, 2d or 3d "
        "(e.g. conv2d, convtranspose1d, maxpool3d)"
    )


# The documented forms of a size option: one integer, or one per dimension separated by "x", "×"
# or "," (spaces around a separator, or spaces alone, are fine), optionally in () or [].
# Anything else is malformed: "3x", "x3", "5,,5", "2.5", "1e3", "+3", "٣".
_INTEGER = r"-?[0-9]+"
_SEPARATOR = r"(?:\s*[x×,]\s*|\s+)"
_SIZE_LIST = re.compile(rf"({_INTEGER}(?:{_SEPARATOR}{_INTEGER})*)")
# Exact arithmetic has no upper limit, but a size with more digits than this is a typo or an
# attack (Python refuses to even read 4,300 digits); 10**60 is far past any real layer.
MAX_DIGITS = 60
SIZE_FORMS = "one integer, or one per dimension as 5x7 or 5,7"


def parse_int(text: str, name: str, *, minimum: int | None = None) -> int:
    """One integer in the documented form (ASCII digits, optional minus, at most MAX_DIGITS).

    >>> parse_int("12", "--groups")
    12
    >>> parse_int("1e3", "--groups")
    Traceback (most recent call last):
    ...
    convcalc.errors.MalformedInputError: --groups: '1e3' is not an integer
    """
    cleaned = text.strip()
    if not re.fullmatch(_INTEGER, cleaned):
        raise MalformedInputError(f"{name}: {text!r} is not an integer")
    return _checked(cleaned, name, minimum)


def _checked(digits: str, name: str, minimum: int | None) -> int:
    if len(digits.lstrip("-")) > MAX_DIGITS:
        raise MalformedInputError(
            f"{name}: a value with {len(digits.lstrip('-'))} digits is out of range "
            f"(at most {MAX_DIGITS} digits)"
        )
    value = int(digits)
    if minimum is not None and value < minimum:
        rule = "positive" if minimum == 1 else f">= {minimum}"
        raise MalformedInputError(f"{name}: every value must be {rule}, got {value}")
    return value


def is_range(text: str) -> bool:
    """Whether an --in value is a range of sizes (``3,16..512``), which net sweeps."""
    return ".." in text


def parse_size_list(text: str, name: str, *, minimum: int = 0) -> tuple[int, ...]:
    """Parse ``5``, ``5x7``, ``5,7``, ``(5, 7)`` or ``5 7`` into a tuple of ints >= minimum.

    >>> parse_size_list("5x7", "input")
    (5, 7)
    >>> parse_size_list("1000000000", "input")
    (1000000000,)
    >>> parse_size_list("3x", "kernel_size")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    convcalc.errors.MalformedInputError: kernel_size: '3x' is not one integer, or one per ...
    """
    cleaned = text.strip()
    if len(cleaned) >= 2 and (cleaned[0], cleaned[-1]) in (("(", ")"), ("[", "]")):
        cleaned = cleaned[1:-1].strip()
    if not _SIZE_LIST.fullmatch(cleaned):
        raise MalformedInputError(f"{name}: {text!r} is not {SIZE_FORMS}")
    parts = re.split(_SEPARATOR, cleaned)
    return tuple(_checked(part, name, minimum) for part in parts)


def broadcast(values: Sequence[int], ndim: int, name: str) -> tuple[int, ...]:
    """Repeat a single value for every dimension, or check there is one per dimension.

    >>> broadcast((3,), 2, "kernel_size")
    (3, 3)
    """
    if len(values) == 1:
        return tuple(values) * ndim
    if len(values) != ndim:
        raise MalformedInputError(
            f"{name}: got {len(values)} values {tuple(values)} for a {ndim}-d op; "
            f"give one value or {ndim}"
        )
    return tuple(values)


class PaddingMode(enum.StrEnum):
    """PyTorch's string paddings for convolutions."""

    SAME = "same"
    VALID = "valid"


Padding = tuple[tuple[int, int], ...]


PaddingArg = tuple[int, ...] | tuple[tuple[int, int], ...] | str


@dataclass(frozen=True)
class LayerArgs:
    """A layer's arguments as the user gave them, in PyTorch's keywords: parsed once at the edge
    (the CLI's option strings, a TOML layer), not yet resolved against an input size or a
    framework. The one carrier between modules: conventions.resolve_args, shape_query, compare
    and trace.trace_args take it (no ``**options`` dicts)."""

    kernel_size: tuple[int, ...] | None = None
    stride: tuple[int, ...] | None = None
    padding: PaddingArg = (0,)  # per side, one per dimension, before:after pairs, or a mode
    dilation: tuple[int, ...] = (1,)
    output_padding: tuple[int, ...] | None = None
    ceil_mode: bool = False
    count_include_pad: bool | None = None  # None: the framework's default
    output_shape: tuple[int, ...] | None = None  # a transposed conv's requested output size
    groups: int = 1
    in_channels: int | None = None
    out_channels: int | None = None
    # a family's own settings as given, by keyword (``--norm-type 2``: ("norm_type", "2"))
    settings: tuple[tuple[str, str], ...] = ()


class ViewName(enum.StrEnum):
    """How a traced convolution is shown (``--view``; trace.py builds each): a transposed conv
    as scatter, zero-insertion conv or matrix; a conv as im2col; any op as its steps."""

    AUTO = "auto"
    SCATTER = "scatter"
    CONV = "conv"
    MATRIX = "matrix"
    STEPS = "steps"
    IM2COL = "im2col"  # a convolution as one matrix product (trace.py: im2col_view)


class OutputPaddingLimit(enum.Enum):
    """How large a transposed conv's output_padding may be."""

    STRIDE_OR_DILATION = "output_padding < max(stride, dilation)"  # torch
    STRIDE = "output_padding < stride"  # Keras, onnxruntime


class PoolPadLimit(enum.Enum):
    """How large a pool's padding may be."""

    HALF_KERNEL = "padding <= kernel_size // 2"  # torch
    BELOW_KERNEL = "padding < kernel_size"  # onnxruntime
    NONE = "no limit"  # a padding the framework computes itself (TF's SAME)


@dataclass(frozen=True)
class Rules:
    """The limits a framework puts on the shared size rules: chosen per convention in
    conventions.py, read by shapes.py (never a string flag tested inside a rule)."""

    output_padding_limit: OutputPaddingLimit = OutputPaddingLimit.STRIDE_OR_DILATION
    pool_pad_limit: PoolPadLimit = PoolPadLimit.HALF_KERNEL
    # onnxruntime divides in C++: a negative span rounds toward zero, and its SAME pools may
    # carry a negative padding (they trim the input)
    truncating_division: bool = False
    # torch's pools take symmetric padding only
    symmetric_pool_padding: bool = True
    # torch's AvgPool3d: the unpadded input must hold the kernel
    avgpool3d_input_holds_kernel: bool = True


TORCH_RULES = Rules()


@dataclass(frozen=True)
class LayerSpec:
    """A fully resolved layer: one value per spatial dimension for every parameter.

    ``padding`` holds (before, after) per dimension; PyTorch's integer padding is symmetric and
    ``padding='same'`` puts the odd extra pixel after. ``padding_mode`` records a string padding.
    """

    kind: OpKind
    ndim: int
    kernel_size: tuple[int, ...]
    stride: tuple[int, ...]
    padding: Padding
    dilation: tuple[int, ...]
    output_padding: tuple[int, ...]
    ceil_mode: bool = False
    groups: int = 1
    count_include_pad: bool = True
    padding_mode: PaddingMode | None = None
    in_channels: int | None = None
    out_channels: int | None = None
    bias: bool = True
    convention: str = "torch"  # whose layer this is: torch, tf, keras, onnx (see conventions.py)
    rules: Rules = TORCH_RULES  # that framework's limits
    output_size: tuple[int, ...] = ()  # adaptive pools: the output asked for, per dimension
    settings: Settings = ()  # the family's own settings (LPPool's norm_type), by keyword

    def setting(self, keyword: str) -> SettingValue:
        """A setting the family requires (build_spec checked it is there)."""
        return dict(self.settings)[keyword]

    @property
    def name(self) -> str:
        if not self.kind.family.dimensioned:
            return self.kind.value
        return f"{self.kind.value}{self.ndim}d"

    @property
    def symmetric_padding(self) -> tuple[int, ...] | None:
        """The per-dimension padding when every dimension pads both sides equally."""
        if all(before == after for before, after in self.padding):
            return tuple(before for before, _ in self.padding)
        return None


def shape_text(shape: tuple[int, ...]) -> str:
    """A tensor shape as messages and tables write it: ``(1, 64, 32, 32)``."""
    return "(" + ", ".join(str(v) for v in shape) + ")"


def dimension_names(ndim: int) -> tuple[str, ...]:
    """PyTorch's letters for spatial dimensions: L; H, W; D, H, W."""
    return {1: ("L",), 2: ("H", "W"), 3: ("D", "H", "W")}.get(
        ndim, tuple(f"d{i}" for i in range(ndim))
    )


def _pairs(values: Sequence[int] | Sequence[tuple[int, int]], ndim: int) -> Padding:
    pairs = [v if isinstance(v, tuple) else (v, v) for v in values]
    if len(pairs) == 1:
        pairs = pairs * ndim
    if len(pairs) != ndim:
        raise MalformedInputError(
            f"padding: got {len(pairs)} values for a {ndim}-d op; give one value or {ndim}"
        )
    for before, after in pairs:
        if before < 0 or after < 0:
            raise MalformedInputError(f"padding must be non-negative, got {min(before, after)}")
    return tuple(pairs)


def same_padding(kernel: int, dilation: int) -> tuple[int, int]:
    """PyTorch's padding='same' for stride 1: total ``d*(k-1)``, the odd extra pixel after.

    >>> same_padding(4, 1)
    (1, 2)
    """
    total = dilation * (kernel - 1)  # the dilated extent less one (shapes.py imports specs)
    return total // 2, total - total // 2


def build_spec(
    op: str | OpName,
    *,
    ndim: int | None = None,
    kernel_size: Sequence[int] | None = None,
    stride: Sequence[int] | None = None,
    padding: Sequence[int] | Sequence[tuple[int, int]] | PaddingMode | str = (0,),
    dilation: Sequence[int] = (1,),
    output_padding: Sequence[int] = (0,),
    ceil_mode: bool = False,
    groups: int = 1,
    count_include_pad: bool = True,
    in_channels: int | None = None,
    out_channels: int | None = None,
    bias: bool = True,
    output_size: Sequence[int] | None = None,
    settings: Sequence[tuple[str, str]] = (),
) -> LayerSpec:
    """Resolve PyTorch-style layer arguments into a LayerSpec: the one place defaults and
    op-specific rules are applied (stride defaults to the kernel for pools, 'same' padding, groups;
    an adaptive pool's output size).

    >>> build_spec("maxpool2d", kernel_size=(2,)).stride
    (2, 2)
    >>> build_spec("conv1d", kernel_size=(4,), padding="same").padding
    ((1, 2),)
    """
    name = op if isinstance(op, OpName) else parse_op(op)
    kind = name.kind
    if name.ndim is not None and ndim is not None and name.ndim != ndim:
        raise MalformedInputError(
            f"{name} is {name.ndim}-d but the input has {ndim} spatial dimension(s)"
        )
    dims = kind.family.ndims
    ndim = name.ndim or ndim or (dims[0] if len(dims) == 1 else None)
    if ndim is not None and ndim not in (1, 2, 3):
        raise MalformedInputError(
            f"{name}: PyTorch has 1d, 2d and 3d layers; the sizes give {ndim} dimensions"
        )
    if ndim is None:
        raise MalformedInputError(f"{name}: say 1d, 2d or 3d, or give one input size per dimension")
    if kind.is_adaptive:
        given = {
            Param.KERNEL_SIZE: kernel_size is not None,
            Param.STRIDE: stride is not None,
            Param.PADDING: padding not in ((0,), 0, "valid"),
        }
        check_applicable(kind, tuple(dilation), tuple(output_padding), ceil_mode, groups, given)
        return _adaptive_spec(kind, ndim, output_size, in_channels, out_channels)
    if output_size is not None:
        check_applicable(kind, (1,), (0,), False, 1, {Param.OUTPUT_SIZE: True})
    if kernel_size is None:
        raise MalformedInputError(f"{kind.value}{ndim}d needs a kernel size (--k)")
    kernel = broadcast(kernel_size, ndim, "kernel_size")
    strides = (
        kernel if stride is None and kind.is_pool else broadcast(stride or (1,), ndim, "stride")
    )
    dilations = broadcast(dilation, ndim, "dilation")
    out_pads = broadcast(output_padding, ndim, "output_padding")
    padded = padding not in ((0,), 0, "valid") and not (
        isinstance(padding, (tuple, list)) and all(p in (0, (0, 0)) for p in padding)
    )
    check_applicable(kind, dilations, out_pads, ceil_mode, groups, {Param.PADDING: padded})
    for label, values in (("kernel_size", kernel), ("stride", strides), ("dilation", dilations)):
        if min(values) < 1:
            raise MalformedInputError(f"{label}: must be positive, got {min(values)}")
    if min(out_pads) < 0:
        raise MalformedInputError(f"output_padding: must be non-negative, got {min(out_pads)}")
    mode, pads = _resolve_padding(kind, padding, kernel, strides, dilations, ndim)
    _check_channels(kind, groups, in_channels, out_channels)
    wanted = () if output_size is None else broadcast(output_size, ndim, "output_size (--out)")
    resolved_settings = resolve_settings(kind, settings)
    return LayerSpec(
        kind,
        ndim,
        kernel,
        strides,
        pads,
        dilations,
        out_pads,
        ceil_mode,
        groups,
        count_include_pad,
        mode,
        in_channels,
        in_channels if kind.is_pool and out_channels is None else out_channels,
        bias,
        output_size=wanted,
        settings=resolved_settings,
    )


_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]{1,3})?")


def parse_number(text: str, name: str) -> SettingValue:
    """A setting's value: an integer or a decimal, exact (``2``, ``1.5``, ``-1``), or ``inf``.

    >>> parse_number("1.5", "--norm-type")
    Fraction(3, 2)
    >>> parse_number("-inf", "--norm-type")
    -inf
    """
    cleaned = text.strip().lower()
    if cleaned in ("inf", "+inf", "infinity", "-inf", "-infinity"):
        return float("-inf") if cleaned.startswith("-") else float("inf")
    if len(cleaned) > MAX_DIGITS or not _NUMBER.fullmatch(cleaned):
        raise MalformedInputError(f"{name}: {text!r} is not a number (e.g. 2, 1.5 or inf)")
    return Fraction(cleaned)


def resolve_settings(kind: OpKind, given: Sequence[tuple[str, str]]) -> Settings:
    """A family's own settings, parsed and checked against what it takes and requires."""
    family = kind.family
    values: dict[str, SettingValue] = {}
    for keyword, text in given:
        setting = family.setting(keyword)
        if setting is None:
            which = [f.kind.value for f in OPS.values() if f.setting(keyword)]
            flag = next(s.flag for f in OPS.values() for s in f.settings if s.keyword == keyword)
            raise MalformedInputError(
                f"{keyword} ({flag}): PyTorch's {kind.torch_name} takes no {keyword}; it applies "
                f"to {', '.join(which)} only"
            )
        value = parse_number(text, f"{keyword} ({setting.flag})")
        if value == 0 and setting.nonzero:
            raise ConvcalcError(f"{keyword} ({setting.flag}): {setting.nonzero}")
        values[keyword] = value
    for setting in family.settings:
        if setting.required and setting.keyword not in values:
            raise MalformedInputError(
                f"{setting.keyword} ({setting.flag}): {kind.torch_name} needs it ({setting.help})"
            )
    return tuple((s.keyword, values[s.keyword]) for s in family.settings if s.keyword in values)


def spec_from_args(
    name: OpName, ndim: int | None, args: LayerArgs, in_channels: int | None = None
) -> LayerSpec:
    """``build_spec`` on the typed carrier, PyTorch's defaults (the families with no framework
    quirks resolve this way)."""
    return build_spec(
        name,
        ndim=ndim,
        kernel_size=args.kernel_size,
        stride=args.stride,
        padding=args.padding,
        dilation=args.dilation,
        output_padding=args.output_padding or (0,),
        ceil_mode=args.ceil_mode,
        groups=args.groups,
        in_channels=in_channels,
        output_size=args.output_shape,
        settings=args.settings,
    )


def _adaptive_spec(
    kind: OpKind,
    ndim: int,
    output_size: Sequence[int] | None,
    in_channels: int | None,
    out_channels: int | None,
) -> LayerSpec:
    if output_size is None:
        raise MalformedInputError(
            f"output_size (--out): {kind.torch_name}{ndim}d needs the output size, e.g. --out 7"
        )
    wanted = broadcast(output_size, ndim, "output_size (--out)")
    if min(wanted) < 0:
        # torch: "elements of output_size must be greater than or equal to 0"
        raise MalformedInputError(f"output_size (--out): elements must be >= 0, got {min(wanted)}")
    _check_channels(kind, 1, in_channels, out_channels)
    zeros = (0,) * ndim
    return LayerSpec(
        kind,
        ndim,
        zeros,
        (1,) * ndim,
        ((0, 0),) * ndim,
        (1,) * ndim,
        zeros,
        in_channels=in_channels,
        out_channels=in_channels,
        output_size=wanted,
    )


def check_applicable(
    kind: OpKind,
    dilations: tuple[int, ...],
    out_pads: tuple[int, ...],
    ceil_mode: bool,
    groups: int,
    more: dict[Param, bool] | None = None,
) -> None:
    """A parameter given to a family that does not take it (the op table says which do)."""
    given = {
        Param.DILATION: any(d != 1 for d in dilations),
        Param.OUTPUT_PADDING: any(out_pads),
        Param.CEIL_MODE: ceil_mode,
        Param.GROUPS: groups != 1,
        **(more or {}),
    }
    for param, used in given.items():
        if used and not kind.family.takes_param(param):
            which = [f.kind.value for f in OPS.values() if f.takes_param(param)]
            raise MalformedInputError(
                f"{param.value} ({FLAGS[param]}): PyTorch's {kind.torch_name} takes no "
                f"{param.value}; it applies to {', '.join(which)} only"
            )
    if groups < 1:
        raise MalformedInputError(f"groups: must be positive, got {groups}")


def _resolve_padding(
    kind: OpKind,
    padding: Sequence[int] | Sequence[tuple[int, int]] | PaddingMode | str,
    kernel: tuple[int, ...],
    strides: tuple[int, ...],
    dilations: tuple[int, ...],
    ndim: int,
) -> tuple[PaddingMode | None, Padding]:
    if isinstance(padding, str):
        try:
            mode = PaddingMode(padding.lower())
        except ValueError:
            if padding.lower() in ("same_upper", "same_lower", "notset"):
                raise MalformedInputError(
                    f"padding: {padding!r} is ONNX's auto_pad; add --convention onnx"
                ) from None
            if padding.lower() == "causal":
                raise MalformedInputError(
                    "padding: 'causal' is Keras's Conv1D padding; add --convention keras"
                ) from None
            raise MalformedInputError(
                "padding: expected an integer, one per dimension, 'same' or 'valid', "
                f"got {padding!r}"
            ) from None
        if kind is not OpKind.CONV:
            raise ConvcalcError(
                f"padding: PyTorch accepts padding='{mode.value}' only for ConvNd, not "
                f"{kind.torch_name}"
            )
        if mode is PaddingMode.VALID:
            return mode, ((0, 0),) * ndim
        if any(s != 1 for s in strides):
            # torch: "padding='same' is not supported for strided convolutions"
            raise ConvcalcError(
                f"padding: 'same' is not supported for strided convolutions (stride={strides})"
            )
        return mode, tuple(same_padding(k, d) for k, d in zip(kernel, dilations))
    return None, _pairs(padding, ndim)


def _check_channels(
    kind: OpKind, groups: int, in_channels: int | None, out_channels: int | None
) -> None:
    for label, value in (("in_channels", in_channels), ("out_channels", out_channels)):
        if value is not None and value < 1:
            raise MalformedInputError(f"{label}: must be positive, got {value}")
    if kind.is_pool:
        if in_channels is not None and out_channels is not None and in_channels != out_channels:
            raise ConvcalcError(
                f"out_channels: a pool keeps the channels, got in_channels={in_channels} and "
                f"out_channels={out_channels}"
            )
        return
    # torch: "in_channels must be divisible by groups" / "out_channels must be divisible by groups"
    for label, value in (("in_channels", in_channels), ("out_channels", out_channels)):
        if value is not None and value % groups:
            raise ConvcalcError(f"groups: {label}={value} must be divisible by groups={groups}")


def parse_padding(
    text: str, name: str = "padding"
) -> tuple[int, ...] | tuple[tuple[int, int], ...] | str:
    """Parse ``--p``: ``1``, ``1x2``, ``same``/``valid``, or ``before:after`` per dimension.

    >>> parse_padding("same")
    'same'
    >>> parse_padding("1x0")
    (1, 0)
    >>> parse_padding("1:2,0")
    ((1, 2), (0, 0))
    """
    cleaned = text.strip().lower().replace("-", "_")
    if cleaned in ("same", "valid", "same_upper", "same_lower", "notset", "causal"):
        return cleaned
    if ":" not in cleaned:
        return parse_size_list(text, name)
    inner = cleaned.strip()
    if len(inner) >= 2 and (inner[0], inner[-1]) in (("(", ")"), ("[", "]")):
        inner = inner[1:-1].strip()
    pair = rf"{_INTEGER}(?::{_INTEGER})?"
    if not re.fullmatch(rf"{pair}(?:{_SEPARATOR}{pair})*", inner):
        raise MalformedInputError(
            f"{name}: {text!r} is not an integer, one per dimension, or before:after per "
            "dimension (e.g. 1:2 or 1:2,0)"
        )
    pairs = []
    for part in re.split(_SEPARATOR, inner):
        values = [_checked(piece, name, 0) for piece in part.split(":")]
        pairs.append((values[0], values[-1]))
    return tuple(pairs)
