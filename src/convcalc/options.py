"""The command-line options, as data: one table that builds the typer commands (``cli.py``) and the
start-up fast path of ``convcalc shape`` (``entry.py``), which parses without importing typer.

Standard library only. Each option is declared once here: its flags, its help, its default, the
type it is read as. ``cli.annotated`` turns an ``Opt`` into the ``Annotated[...]`` typer reads;
``parse_fast`` reads argv against a table and answers None whenever anything is not plainly
well formed, so that typer (with its usage errors, ``--help`` and completion) handles it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any


class Format(enum.StrEnum):
    """Output formats shared by every command (not every command offers all)."""

    TABLE = "table"
    JSON = "json"
    PLAIN = "plain"
    MARKDOWN = "markdown"
    CSV = "csv"
    TOML = "toml"  # net: the network as an editable spec
    TORCH = "torch"  # net: the network as a runnable PyTorch module
    SVG = "svg"  # shape, trace, net: a picture
    HTML = "html"  # trace: a page that steps through the trace


class Kind(enum.Enum):
    """How an option's value is read."""

    TEXT = "text"  # a string the core parses (sizes, paddings: their grammar is in specs.py)
    INT = "int"  # an integer, strictly (specs.parse_int) and at least ``minimum``
    FLAG = "flag"  # present or not
    FORMAT = "format"  # one of Format
    ARGUMENT = "argument"  # the positional OP
    CHOICE = "choice"  # one of the values of ``choices`` (a StrEnum)
    TRISTATE = "tristate"  # --flag / --no-flag, or neither (None)
    MULTI = "multi"  # a text option given any number of times (a list)


@dataclass(frozen=True)
class Opt:
    """One option: the parameter name the command takes, its flags, and how it is read."""

    param: str
    flags: tuple[str, ...]
    kind: Kind
    default: Any
    help: str
    metavar: str | None = None
    minimum: int = 1
    required: bool = False
    choices: type[enum.StrEnum] | None = None
    completions: tuple[str, ...] = ()  # what the shell completes (the formats a command offers)


def _op_help() -> str:
    """The OP argument's help, from the op table: each family and what it is."""
    from convcalc.ops import OPS

    families = "; ".join(
        f"{f.kind.value}{'1d/2d/3d' if f.dimensioned and len(f.ndims) > 1 else ''}: "
        f"{f.description.split(',')[0]}"
        for f in OPS.values()
    )
    return (
        f"{families}. Without 1d/2d/3d the dimensions come from --in. Aliases such as "
        "conv_transpose2d, deconv2d, max_pool2d, Conv2d, im2col are accepted."
    )


OP = Opt("op", (), Kind.ARGUMENT, None, _op_help(), required=True)
IN = Opt(
    "input_size",
    ("--in", "--input-size"),
    Kind.TEXT,
    None,
    "Spatial input size: one integer for every dimension, or one per dimension as 5x7 or 5,7; "
    "a..b[:step] sweeps every size in a range. For `conv`, `maxpool`... without 1d/2d/3d the "
    "count sets the dimensions. For fold: the L of its input (optional; it is checked).",
    metavar="SIZE",
)
KERNEL = Opt(
    "kernel", ("--k", "--kernel-size"), Kind.TEXT, None, "Kernel size (e.g. 3 or 3x5).", "K"
)
STRIDE = Opt(
    "stride",
    ("--s", "--stride"),
    Kind.TEXT,
    None,
    "Stride. Default 1 for convs, the kernel for pools.",
    "S",
)
PADDING = Opt(
    "padding",
    ("--p", "--padding"),
    Kind.TEXT,
    "0",
    "Padding per side: an integer, one per dimension, or 'same'/'valid' (convs).",
    "P",
)
DILATION = Opt("dilation", ("--d", "--dilation"), Kind.TEXT, "1", "Dilation.", "D")
OUTPUT_PADDING = Opt(
    "output_padding",
    ("--op", "--output-padding"),
    Kind.TEXT,
    None,
    "Transposed convs: extra size on the far side; must be < max(stride, dilation).",
    "OP",
)
CEIL = Opt("ceil", ("--ceil", "--ceil-mode"), Kind.FLAG, False, "Pools: round the output size up.")
GROUPS = Opt("groups", ("--groups",), Kind.INT, 1, "Convs: channel groups.", "N")
BATCH = Opt("batch", ("--batch",), Kind.INT, None, "Batch size N for tensor shapes.", "N")
CIN = Opt("cin", ("--cin", "--in-channels"), Kind.INT, None, "Input channels C_in.", "N")
COUT = Opt("cout", ("--cout", "--out-channels"), Kind.INT, None, "Output channels C_out.", "N")
CONVENTION = Opt(
    "convention",
    ("--convention",),
    Kind.TEXT,
    "torch",
    "Whose rules: torch (default), tf, keras or onnx. tf/keras take --p same/valid; onnx takes "
    "same_upper/same_lower/valid or before:after pads.",
    "NAME",
)
OUTPUT_SHAPE = Opt(
    "output_shape",
    ("--out", "--output-size", "--output-shape"),
    Kind.TEXT,
    None,
    "The output size asked for: an adaptive pool's output_size; a transposed conv's "
    "forward(output_size=) (ONNX/TF output_shape), from which output_padding and cropping follow.",
    "SIZE",
)
JSON = Opt("as_json", ("--json",), Kind.FLAG, False, "Shortcut for --format json.")
PLAIN = Opt("plain", ("--plain",), Kind.FLAG, False, "Shortcut for --format plain.")


def format_opt(*offered: Format) -> Opt:
    """``--format`` naming the formats a command offers."""
    names = [f.value for f in offered]
    return Opt(
        "fmt",
        ("--format",),
        Kind.FORMAT,
        None,
        f"Output format: {', '.join(names)} (default: table).",
        "|".join(names),
        completions=tuple(names),
    )


TRACE_OP = Opt(
    "op",
    (),
    Kind.ARGUMENT,
    None,
    "conv, convtranspose, maxpool, avgpool, adaptiveavgpool, adaptivemaxpool with 1d/2d/3d or "
    "without (dimensions from the input matrix); unfold; fold (its --x is the column matrix "
    "(C*prod(k), L), with --out).",
    required=True,
)
DATA_FORMS = (
    "'1,2;3,4' (rows by ';'), a JSON array, @file (.json .csv .npy), '-' (JSON on stdin), or "
    "arange:5x5 / ones:3x3 / zeros / eye:3 / full:2x2:7"
)
X = Opt(
    "x",
    ("--x", "--input"),
    Kind.TEXT,
    None,
    f"Input: {DATA_FORMS}. A plain matrix is one channel; (C_in, *spatial) for more.",
    "DATA",
    required=True,
)
W = Opt(
    "w",
    ("--w", "--weight"),
    Kind.TEXT,
    None,
    "Weight, same forms. Conv (C_out, C_in/groups, *k), transposed conv (C_in, C_out/groups, "
    "*k); a plain kernel for one channel per group.",
    "DATA",
)
B = Opt("b", ("--b", "--bias"), Kind.TEXT, None, "Bias (C_out,), e.g. '1,2'.", "DATA")
GRAD_OUT = Opt(
    "grad_out",
    ("--grad-out",),
    Kind.TEXT,
    None,
    "Convs and transposed convs: dL/dY (the output's layout, same forms as --x); traces the "
    "backward pass: grad_input, grad_weight, grad_bias.",
    "DATA",
)
COUNT_INCLUDE_PAD = Opt(
    "count_include_pad",
    ("--count-include-pad", "--no-count-include-pad"),
    Kind.TRISTATE,
    None,
    "Avg pools: divide by the window including padding (torch's default; TF/Keras never count "
    "it; ONNX's default does not).",
)


def _view_opt() -> Opt:
    from convcalc.specs import ViewName

    return Opt(
        "view",
        ("--view",),
        Kind.CHOICE,
        ViewName.AUTO,
        "Transposed convs: scatter, conv (zero-insertion), matrix (Cᵀ); convs: im2col (one "
        "matrix product); any op: steps. auto picks the one that teaches best.",
        choices=ViewName,
    )


AT = Opt(
    "at",
    ("--at",),
    Kind.TEXT,
    None,
    "Show one output element: i,j (every output channel) or c,i,j.",
    "INDEX",
)
MAX_STEPS = Opt(
    "max_steps",
    ("--max-steps",),
    Kind.INT,
    None,
    "Show at most N steps (table default 64; JSON default all).",
    "N",
    minimum=0,
)

SHAPE_FORMATS = (Format.TABLE, Format.JSON, Format.PLAIN)
FRAME = Opt(
    "frame",
    ("--frame",),
    Kind.TEXT,
    None,
    "--format svg: draw one output position as a still (e.g. 1,2) instead of the animation.",
    "I,J",
)
OUTPUT_FILE = Opt(
    "output_file",
    ("-o", "--output"),
    Kind.TEXT,
    None,
    "Write to FILE instead of standard output.",
    "FILE",
)
# A flag for every family's own setting (LPPool's --norm-type), from the op table; the values
# reach the core as LayerArgs.settings (requests.layer_args).
SETTING_PREFIX = "setting_"


def _setting_opts() -> tuple[Opt, ...]:
    from convcalc.ops import all_settings

    return tuple(
        Opt(f"{SETTING_PREFIX}{s.keyword}", (s.flag,), Kind.TEXT, None, s.help, s.metavar)
        for s in all_settings()
    )


SETTINGS = _setting_opts()


SHAPE = (
    OP,
    IN,
    KERNEL,
    STRIDE,
    PADDING,
    DILATION,
    OUTPUT_PADDING,
    CEIL,
    GROUPS,
    BATCH,
    CIN,
    COUT,
    CONVENTION,
    OUTPUT_SHAPE,
    *SETTINGS,
    format_opt(*SHAPE_FORMATS, Format.SVG),
    FRAME,
    OUTPUT_FILE,
    JSON,
    PLAIN,
)


TRACE = (
    TRACE_OP,
    X,
    W,
    B,
    GRAD_OUT,
    KERNEL,
    STRIDE,
    PADDING,
    DILATION,
    OUTPUT_PADDING,
    CEIL,
    GROUPS,
    COUNT_INCLUDE_PAD,
    CONVENTION,
    OUTPUT_SHAPE,
    *SETTINGS,
    _view_opt(),
    AT,
    MAX_STEPS,
    format_opt(*SHAPE_FORMATS, Format.SVG, Format.HTML),
    FRAME,
    OUTPUT_FILE,
    JSON,
    PLAIN,
)


def _required(opt: Opt, **changes: Any) -> Opt:
    from dataclasses import replace

    return replace(opt, required=True, **changes)


def _argument(help_text: str) -> Opt:
    return Opt("op", (), Kind.ARGUMENT, None, help_text, required=True)


def _int(
    param: str, flags: tuple[str, ...], help_text: str, default: Any = None, minimum: int = 1
) -> Opt:
    return Opt(param, flags, Kind.INT, default, help_text, "N", minimum=minimum)


def _net_options() -> tuple[Opt, ...]:
    from convcalc.memory import Dtype, Optimizer

    return (
        Opt(
            "spec",
            (),
            Kind.ARGUMENT,
            None,
            "A TOML file (input = [C, H, W] and [[layer]] tables with PyTorch's keyword names; "
            'a layer reads the one before it, or what `from = "enc2"` names; merges: layer = '
            '"add", "mul", "cat"); a model: ONNX (.onnx, with convcalc[onnx]), Keras (.keras, '
            "model.to_json() in .json) or PyTorch's print(model) (.txt, or - for stdin); or an "
            'inline linear stack: "conv2d k7 s2 p3 c64; maxpool2d k3 s2 p1 -> relu".',
            required=True,
        ),
        Opt(
            "input_size",
            ("--in", "--input"),
            Kind.TEXT,
            None,
            "Input shape without the batch, (C, *spatial); overrides the spec's. A range such as "
            "3,16..512 (every spatial dimension takes each size) or 3,224,16..512 (per "
            "dimension) reports which input sizes the network accepts.",
            "C,H,W",
        ),
        BATCH,
        Opt(
            "near",
            ("--near",),
            Kind.INT,
            None,
            "Name the valid input sizes nearest to N (every spatial dimension N), within the "
            "--in range if one is given.",
            "N",
        ),
        Opt(
            "dtype",
            ("--dtype",),
            Kind.CHOICE,
            Dtype.FLOAT32,
            "Element type for the memory figures.",
            choices=Dtype,
        ),
        Opt(
            "optimizer",
            ("--optimizer",),
            Kind.CHOICE,
            Optimizer.ADAM,
            "Optimizer for the training-memory estimate (states per parameter: sgd 0, "
            "momentum 1, adam 2).",
            choices=Optimizer,
        ),
        Opt(
            "check",
            ("--check",),
            Kind.FLAG,
            False,
            "Exit 1 if any layer's `expect` does not hold (with a range: if any size fails).",
        ),
        format_opt(*NET_FORMATS),
        OUTPUT_FILE,
        JSON,
        PLAIN,
    )


NET_FORMATS = (
    Format.TABLE,
    Format.JSON,
    Format.PLAIN,
    Format.MARKDOWN,
    Format.CSV,
    Format.TOML,
    Format.TORCH,
    Format.SVG,
)
NET = _net_options()
DIFF_FORMATS = (Format.TABLE, Format.JSON, Format.PLAIN, Format.MARKDOWN)


def _diff_options() -> tuple[Opt, ...]:
    spec, input_size, batch, _near, dtype, optimizer = NET[:6]
    return (
        Opt(
            "a",
            (),
            Kind.ARGUMENT,
            None,
            "The network before the change: anything `convcalc net` reads (- for stdin, once).",
            required=True,
        ),
        Opt(
            "b",
            (),
            Kind.ARGUMENT,
            None,
            "The network after the change (another format is fine).",
            required=True,
        ),
        input_size,
        batch,
        dtype,
        optimizer,
        Opt(
            "fail_on",
            ("--fail-on",),
            Kind.MULTI,
            None,
            "A budget for CI, repeatable: params>+5%, peak>+0, macs>+1G, training>+512MiB. With "
            "any, the exit status is 1 only when a budget is exceeded.",
            "RULE",
        ),
        format_opt(*DIFF_FORMATS),
        OUTPUT_FILE,
        JSON,
        PLAIN,
    )


DIFF = _diff_options()
SOLVE = (
    _argument(
        "conv, convtranspose, maxpool, avgpool or unfold (1d/2d/3d or not: the sizes say how many "
        "dimensions)."
    ),
    _required(IN, help="Input size, one or one per dimension."),
    Opt(
        "output_size",
        ("--out", "--output-size"),
        Kind.TEXT,
        None,
        "The output size wanted.",
        "SIZE",
        required=True,
    ),
    _int("kernel", ("--k", "--kernel-size"), "Fix the kernel size."),
    _int("stride", ("--s", "--stride"), "Fix the stride."),
    _int("padding", ("--p", "--padding"), "Fix the padding.", minimum=0),
    _int("dilation", ("--d", "--dilation"), "Fix the dilation."),
    _int(
        "output_padding",
        ("--op", "--output-padding"),
        "Fix output_padding (transposed convs).",
        minimum=0,
    ),
    CEIL,
    _int("k_max", ("--k-max",), "Largest kernel tried.", 11),
    _int("s_max", ("--s-max",), "Largest stride tried.", 8),
    _int("d_max", ("--d-max",), "Largest dilation tried.", 4),
    _int(
        "p_max",
        ("--p-max",),
        "Largest padding tried (default d*(k-1) for convs, k//2 for pools).",
        minimum=0,
    ),
    _int("limit", ("--limit",), "Candidates shown per size.", 10),
    format_opt(*SHAPE_FORMATS),
    JSON,
    PLAIN,
)
INVERT = (
    _argument("The layer to undo: conv, maxpool, avgpool or convtranspose, as in `shape`."),
    _required(IN),
    KERNEL,
    STRIDE,
    PADDING,
    DILATION,
    Opt(
        "output_padding",
        ("--op", "--output-padding"),
        Kind.TEXT,
        "0",
        OUTPUT_PADDING.help,
        "OP",
    ),
    CEIL,
    format_opt(*SHAPE_FORMATS),
    JSON,
    PLAIN,
)
COMPARE = (
    _argument(
        "conv, convtranspose, maxpool, avgpool (1d/2d/3d); the adaptive pools, unfold and fold "
        "too (PyTorch's, and Keras 3's adaptive pools)."
    ),
    _required(IN),
    KERNEL,
    STRIDE,
    PADDING,
    DILATION,
    OUTPUT_PADDING,
    CEIL,
    OUTPUT_SHAPE,
    format_opt(*SHAPE_FORMATS),
    JSON,
    PLAIN,
)


def parse_fast(args: list[str], table: tuple[Opt, ...]) -> dict[str, Any] | None:
    """Read ``args`` (after the command name) against ``table`` the way click would, or return
    None for anything unusual (an unknown or repeated flag, ``-h``, a bad integer, a missing
    required option, ``--``): the caller then hands the whole command line to typer.

    >>> parse_fast(["conv2d", "--in", "5", "--k=3"], SHAPE)["kernel"]
    '3'
    >>> parse_fast(["conv2d", "--in", "5", "-h"], SHAPE) is None
    True
    """
    from convcalc.errors import MalformedInputError
    from convcalc.specs import parse_int

    by_flag = {flag: opt for opt in table for flag in opt.flags}
    values: dict[str, Any] = {opt.param: opt.default for opt in table}
    positional = [opt for opt in table if opt.kind is Kind.ARGUMENT]
    seen: set[str] = set()
    i = 0
    while i < len(args):
        token = args[i]
        i += 1
        if not token.startswith("-") or token == "-":
            if not positional:
                return None
            values[positional.pop(0).param] = token
            continue
        flag, equals, inline = token.partition("=")
        opt = by_flag.get(flag)
        if opt is None or opt.param in seen:
            return None
        seen.add(opt.param)
        if opt.kind is Kind.FLAG:
            if equals:
                return None
            values[opt.param] = True
            continue
        if not equals:
            if i >= len(args):
                return None
            inline = args[i]
            i += 1
        match opt.kind:
            case Kind.TEXT:
                values[opt.param] = inline
            case Kind.INT:
                try:
                    values[opt.param] = parse_int(inline, opt.param, minimum=opt.minimum)
                except MalformedInputError:
                    return None
            case Kind.FORMAT:
                if inline not in {f.value for f in Format}:
                    return None
                values[opt.param] = Format(inline)
            case Kind.CHOICE:
                assert opt.choices is not None, "a choice option names its choices"
                if inline not in {c.value for c in opt.choices}:
                    return None
                values[opt.param] = opt.choices(inline)
            case Kind.FLAG | Kind.ARGUMENT | Kind.TRISTATE | Kind.MULTI:
                return None
    if positional or any(opt.required and values[opt.param] is None for opt in table):
        return None
    return values
