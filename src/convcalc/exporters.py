"""A network written back out: as an editable TOML spec (``net --format toml``; reading it back
gives the same numbers) and as a runnable PyTorch module (``net --format torch``: an
``nn.Sequential`` for a plain stack, a class with a ``forward`` for a graph). Standard library
only; the PyTorch text is text, torch is not imported.
"""

from __future__ import annotations

import json
import keyword
import math
import re
from dataclasses import replace
from typing import TYPE_CHECKING, Any, assert_never

from convcalc.boundary import display, quoted_escapes, scalar_text
from convcalc.specs import OpKind
from convcalc.tensorops import (
    ChunkLayer,
    ExpandLayer,
    MeanLayer,
    PadLayer,
    PermuteLayer,
    PixelShuffleLayer,
    ReshapeLayer,
    SliceLayer,
    SqueezeLayer,
    UnsqueezeLayer,
)

if TYPE_CHECKING:
    from convcalc.netlayers import LayerResult, NetworkResult, NormLayer, Plan, PlannedLayer
    from convcalc.netspec import NetworkSpec


# --- TOML -----------------------------------------------------------------------------------------


def toml_value(value: Any) -> str:
    """One TOML value: integers, floats, booleans, strings and (nested) lists.

    >>> toml_value([[1, 2], [0, 0]]), toml_value("a\\"b"), toml_value(1.5), toml_value(True)
    ('[[1, 2], [0, 0]]', '"a\\\\"b"', '1.5', 'true')
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if value is None:
        raise ValueError("TOML has no null")
    raise TypeError(f"no TOML form for {value!r}")


def _toml_string(text: str) -> str:
    """A TOML basic string: JSON's escapes, which TOML shares, plus DEL and C1 controls escaped
    and lone surrogates (no Unicode scalar value) replaced.

    >>> print(_toml_string(chr(27) + chr(127) + chr(0xD800)))
    "\\u001b\\u007f�"
    """
    return quoted_escapes(json.dumps(scalar_text(text), ensure_ascii=False))


_FIRST_KEYS = ("name", "layer", "from")


def to_toml(spec: NetworkSpec, input_shape: tuple[int, ...] | None, batch: int | None) -> str:
    """The spec as TOML: ``input``, ``batch`` and one ``[[layer]]`` table per layer, name, layer
    and from first; comments say where it came from and what to edit."""
    import textwrap

    def comment(text: str) -> list[str]:  # TOML comments hold no control characters
        safe = display(text)
        return textwrap.wrap(safe, 96, initial_indent="# ", subsequent_indent="#   ")

    shape = input_shape or spec.input
    lines = [
        *comment(
            f"{spec.source or 'network'} as a convcalc spec: `convcalc net FILE` reads it back."
        ),
        '# Each layer reads the one before it unless `from` names others (a name, or "input").',
    ]
    for note in spec.notes:
        lines.extend(comment(note))
    notes_at = dict(spec.comments)
    if shape is not None:
        lines.append(f"input = {toml_value(list(shape))}")
    else:
        lines.append("# input = [C, H, W]  (give it here or with --in)")
    if batch or spec.batch:
        lines.append(f"batch = {batch or spec.batch}")
    for index, layer in enumerate(spec.layers):
        lines.append("")
        if index in notes_at:
            lines.extend(comment(notes_at[index]))
        lines.append("[[layer]]")
        keys = [k for k in _FIRST_KEYS if k in layer] + [k for k in layer if k not in _FIRST_KEYS]
        for key in keys:
            if layer[key] is None:
                continue
            lines.append(f"{_toml_key(key)} = {toml_value(layer[key])}")
    return "\n".join(lines) + "\n"


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else _toml_string(key)


# --- PyTorch --------------------------------------------------------------------------------------

_ACTIVATIONS = {
    "relu": "ReLU()",
    "relu6": "ReLU6()",
    "leakyrelu": "LeakyReLU()",
    "gelu": "GELU()",
    "silu": "SiLU()",
    "swish": "SiLU()",
    "elu": "ELU()",
    "selu": "SELU()",
    "sigmoid": "Sigmoid()",
    "tanh": "Tanh()",
    "hardswish": "Hardswish()",
    "hardsigmoid": "Hardsigmoid()",
    "hardtanh": "Hardtanh()",
    "clip": "Hardtanh()",
    "mish": "Mish()",
    "identity": "Identity()",
    "softmax": "Softmax(dim=1)",
    "logsoftmax": "LogSoftmax(dim=1)",
    "dropout": "Dropout()",
    "dropout1d": "Dropout1d()",
    "dropout2d": "Dropout2d()",
    "dropout3d": "Dropout3d()",
    "alphadropout": "AlphaDropout()",
}


_RESERVED = ("x", "forward", "self", "F", "nn", "torch", "model", "Net", "OrderedDict", "y")


def _identifier(name: str, taken: set[str], counters: dict[str, int]) -> str:
    """A Python identifier for a layer name (ASCII, never a keyword or a name the module uses),
    unique among ``taken``; ``counters`` keeps many equal names linear."""
    base = re.sub(r"[^A-Za-z0-9_]", "_", name).strip("_") or "layer"
    if base[0].isdigit() or keyword.iskeyword(base) or keyword.issoftkeyword(base):
        base = f"l{base}" if base[0].isdigit() else f"{base}_"
    candidate, n = base, counters.get(base, 2)
    while candidate in taken or candidate in _RESERVED:
        candidate = f"{base}_{n}"
        n += 1
    counters[base] = n
    taken.add(candidate)
    return candidate


def _one(values: tuple[int, ...]) -> str:
    return str(values[0]) if len(set(values)) == 1 else str(tuple(values))


def _pad_args(pairs: tuple[tuple[int, int], ...]) -> str:
    """F.pad's order: the last dimension first, (before, after) each."""
    flat = [v for before, after in reversed(pairs) for v in (before, after)]
    return "(" + ", ".join(map(str, flat)) + ")"


def to_torch(plan: Plan, result: NetworkResult) -> str:
    """A runnable module that reproduces the run's shapes and parameter counts. Layers under
    TF/Keras/ONNX padding rules become PyTorch layers with the padding resolved for this input
    size (an ``F.pad`` before them where it is uneven)."""
    from convcalc.netlayers import MergeLayer

    names: set[str] = set()
    counters: dict[str, int] = {}
    idents = [_identifier(layer.name, names, counters) for layer in plan.layers]
    modules: list[tuple[str, str]] = []  # (identifier, constructor)
    buffers: list[tuple[str, str]] = []
    statements: list[str] = []
    var = {0: "x"}
    sequential = not plan.is_graph
    for planned, layer, ident in zip(plan.layers, result.layers, idents):
        inputs = [var[s] for s in planned.sources]
        module, before, after, expression = _layer_code(planned, layer, ident, inputs)
        if module is not None:
            modules.append((ident, module))
        if isinstance(planned.layer, MergeLayer) and planned.layer.constant is not None:
            ones = f"torch.ones({tuple(planned.layer.constant)})"
            learned = planned.layer.learned or planned.layer.params
            value = f"nn.Parameter({ones})" if learned else ones
            buffers.append((f"{ident}_constant", value))
        if before or after or module is None:
            sequential = False
        statements.extend(before)
        statements.append(f"{ident} = {expression}")
        statements.extend(f"{ident} = {line}" for line in after)
        var[planned.number] = ident
    shape = tuple(result.input_shape)
    header = [
        '"""A PyTorch module written by convcalc (SOURCE names what it was written from).',
        "",
        f"Input {shape}: output {tuple(result.output_shape)}, {result.total_params:,} parameters.",
        '"""',
        "",
        "import torch",
        "import torch.nn.functional as F",
        "from torch import nn",
        "",
        f"SOURCE = {_py_string(plan.source or 'network')}",
        "",
        "",
    ]
    if sequential:
        header[5:5] = ["from collections import OrderedDict", ""]
        body = [
            "model = nn.Sequential(",
            "    OrderedDict(",
            "        [",
        ]
        body += [f'            ("{ident}", nn.{constructor}),' for ident, constructor in modules]
        body += ["        ]", "    )", ")"]
        return _finish(header + body, shape, "model")
    body = ["", "class Net(nn.Module):", "    def __init__(self) -> None:"]
    body.append("        super().__init__()")
    for ident, constructor in modules:
        body.append(f"        self.{ident} = nn.{constructor}")
    for ident, value in buffers:
        if value.startswith("nn.Parameter("):  # a learned constant: a parameter, counted
            body.append(f"        self.{ident} = {value}")
        else:
            body.append(f'        self.register_buffer("{ident}", {value})')
    body += ["", "    def forward(self, x: torch.Tensor) -> torch.Tensor:"]
    body += [f"        {line}" for line in statements]
    body.append(f"        return {var[plan.layers[-1].number] if plan.layers else 'x'}")
    body += ["", "", "model = Net()"]
    return _finish(header + body[1:], shape, "model")


def _py_string(text: str) -> str:
    """A Python string literal for text from input: ``repr``, which escapes every control,
    format and separator character (lone surrogates replaced, as UTF-8 cannot carry them)."""
    return repr(scalar_text(text))


def _finish(lines: list[str], shape: tuple[int, ...], model: str) -> str:
    lines += [
        "",
        'if __name__ == "__main__":',
        f"    y = {model}(torch.zeros({shape}))",
        f"    print(tuple(y.shape), sum(p.numel() for p in {model}.parameters()))",
    ]
    return "\n".join(lines) + "\n"


def _layer_code(
    planned: PlannedLayer, layer: LayerResult, ident: str, inputs: list[str]
) -> tuple[str | None, list[str], list[str], str]:
    """(module constructor or None, statements before, rewrites after, the expression)."""
    from convcalc.netlayers import (
        AdaptiveLayer,
        BatchNormLayer,
        ConvLayer,
        FlattenLayer,
        InferredLayer,
        LinearLayer,
        MatMulLayer,
        MergeLayer,
        MergeOp,
        NormLayer,
        PointwiseLayer,
        UpsampleLayer,
    )

    x = inputs[0]
    call = f"self.{ident}({x})"
    kind = planned.layer
    match kind:
        case ConvLayer():
            return _conv_code(layer, ident, x)
        case AdaptiveLayer():
            cls = "AdaptiveAvgPool" if kind.kind is OpKind.ADAPTIVEAVGPOOL else "AdaptiveMaxPool"
            size = tuple(layer.output_shape[2:])
            return f"{cls}{kind.ndim}d({size})", [], [], call
        case PointwiseLayer(name=name):
            folded = re.sub(r"[\s_\-.]", "", name.lower())
            if folded == "prelu":
                return f"PReLU({layer.params})", [], [], call
            return _ACTIVATIONS.get(folded, "Identity()"), [], [], call
        case BatchNormLayer():
            c = layer.input_shape[1]
            extra = (
                ("" if kind.affine else ", affine=False")
                + ("" if kind.running_stats else ", track_running_stats=False")
                + ("" if kind.bias else ", bias=False")
            )
            return f"BatchNorm{kind.ndim}d({c}{extra})", [], [], call
        case NormLayer():
            return _norm_code(kind, layer), [], [], call
        case InferredLayer(op=op):
            from convcalc.errors import ConvcalcError

            raise ConvcalcError(
                f"--format torch: layer {display(planned.name)} is ONNX's {display(op)}, whose "
                "shape ONNX inferred; convcalc has no PyTorch code for it"
            )
        case UpsampleLayer():
            size = tuple(layer.output_shape[2:])
            return f"Upsample(size={size})", [], [], call
        case FlattenLayer():
            return f"Flatten({kind.start_dim}, {kind.end_dim})", [], [], call
        case LinearLayer():
            bias = "" if kind.bias else ", bias=False"
            return (
                f"Linear({layer.input_shape[-1]}, {layer.output_shape[-1]}{bias})",
                [],
                [],
                call,
            )
        case MatMulLayer():
            return None, [], [], f"torch.matmul({inputs[0]}, {inputs[1]})"
        case MergeLayer(op=op, constant=constant):
            operands = inputs + ([f"self.{ident}_constant"] if constant is not None else [])
            match op:
                case MergeOp.CAT:
                    return None, [], [], f"torch.cat([{', '.join(operands)}], dim={kind.dim})"
                case MergeOp.ADD | MergeOp.SUB | MergeOp.MUL | MergeOp.DIV:
                    symbol = {"add": " + ", "sub": " - ", "mul": " * ", "div": " / "}[op.value]
                    return None, [], [], symbol.join(operands)
                case _:
                    assert_never(op)
        case ReshapeLayer():
            out = ("-1", *map(str, layer.output_shape[1:]))
            return None, [], [], f"{x}.reshape({', '.join(out)})"
        case PermuteLayer(dims=dims):
            return None, [], [], f"{x}.permute({', '.join(map(str, dims))})"
        case PadLayer(pads=pads):
            return None, [], [], f"F.pad({x}, {_pad_args(pads)})"
        case SqueezeLayer():
            return None, [], [], f"{x}.reshape({', '.join(map(str, layer.output_shape))})"
        case UnsqueezeLayer():
            return None, [], [], f"{x}.reshape({', '.join(map(str, layer.output_shape))})"
        case MeanLayer(dims=dims, keepdim=keepdim, reduce=reduce):
            if reduce == "l2":
                norm = f"torch.linalg.vector_norm({x}, dim={tuple(dims)}, keepdim={keepdim})"
                return None, [], [], norm
            method = {"mean": "mean", "sum": "sum", "max": "amax", "min": "amin"}[reduce]
            return None, [], [], f"{x}.{method}(dim={tuple(dims)}, keepdim={keepdim})"
        case ExpandLayer():
            return None, [], [], f"{x}.expand({', '.join(map(str, layer.output_shape))})"
        case SliceLayer(dims=dims, starts=starts, stops=stops, steps=steps):
            rank = len(layer.input_shape)
            index = [":"] * rank
            for d, a, b, c in zip(dims, starts, stops, steps):
                stop = "" if b >= 2**62 else str(b)
                index[d % rank] = f"{a}:{stop}" + ("" if c == 1 else f":{c}")
            return None, [], [], f"{x}[{', '.join(index)}]"
        case ChunkLayer(dim=dim, chunks=chunks, index=part):
            return None, [], [], f"{x}.chunk({chunks}, dim={dim})[{part}]"
        case PixelShuffleLayer(factor=r):
            return f"{kind.torch_name}({r})", [], [], f"self.{ident}({x})"
        case _:
            assert_never(kind)


def _norm_code(kind: NormLayer, layer: LayerResult) -> str:
    from convcalc.errors import ConvcalcError
    from convcalc.netlayers import NormKind

    c = layer.input_shape[1] if len(layer.input_shape) > 1 else layer.input_shape[0]
    match kind.kind:
        case NormKind.LAYER:
            extra = ("" if kind.affine else ", elementwise_affine=False") + (
                "" if kind.bias else ", bias=False"
            )
            return f"LayerNorm({list(kind.shape)}{extra})"
        case NormKind.LAYER2D:  # over the channels: GroupNorm(1) normalizes C, H, W together
            raise ConvcalcError(
                "--format torch: layernorm2d has no torch.nn module (timm's LayerNorm2d: "
                "permute, nn.LayerNorm, permute back)"
            )
        case NormKind.GROUP:
            extra = "" if kind.affine else ", affine=False"
            return f"GroupNorm({kind.shape[0]}, {kind.shape[1]}{extra})"
        case NormKind.INSTANCE:
            return f"InstanceNorm{kind.ndim}d({c}{', affine=True' if kind.affine else ''})"
        case _:
            assert_never(kind.kind)


def _conv_code(layer: LayerResult, ident: str, x: str) -> tuple[str, list[str], list[str], str]:
    assert layer.shape is not None, "a conv layer's result carries its shape"
    spec = layer.shape.spec
    n = spec.ndim
    pads = spec.padding
    symmetric = all(b == a and b >= 0 for b, a in pads)
    before: list[str] = []
    after: list[str] = []
    source = x
    padding = tuple(b for b, _ in pads) if symmetric else (0,) * n
    extra_op = spec.output_padding
    if not symmetric and spec.kind is not OpKind.CONVTRANSPOSE:
        # an uneven padding: pad first (zeros; a max pool's padding never wins anyway)
        before.append(f"{ident}_in = F.pad({x}, {_pad_args(pads)})")
        source = f"{ident}_in"
    if not symmetric and spec.kind is OpKind.CONVTRANSPOSE:
        # crop the full scatter instead: before at the start, after less output_padding at the end
        crop = tuple((-b, -(a - o)) for (b, a), o in zip(pads, spec.output_padding))
        after.append(f"F.pad({ident}, {_pad_args(crop)})")
        extra_op = (0,) * n
    from convcalc.families import family

    c_in, c_out = layer.input_shape[1], layer.output_shape[1]
    text = family(spec.kind).torch_layer(
        replace(spec, output_padding=extra_op), c_in, c_out, _one(padding)
    )
    return text, before, after, f"self.{ident}({source})"
