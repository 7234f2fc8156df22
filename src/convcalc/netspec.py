"""Network specs as written: a TOML file, the inline form, or a model file read by its reader
(ONNX, Keras, PyTorch's printed model), each becoming a ``NetworkSpec`` of ``[[layer]]`` tables
in PyTorch's keyword names. ``network.plan_network`` types them. Standard library only (the
readers import what they need when a model file is given).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from convcalc.boundary import (
    MAX_DIGITS,
    check_layer_count,
    check_nesting,
    display,
)
from convcalc.errors import ConvcalcError, InputError, MalformedInputError
from convcalc.specs import parse_int, parse_size_list

Shape = tuple[int, ...]


@dataclass(frozen=True)
class ModuleParams:
    """A printed module's own parameters (its children apart), from its printed arguments;
    None when its class does not show them."""

    path: str
    cls: str
    params: int | None


@dataclass(frozen=True)
class NetworkSpec:
    """A parsed network: input shape (C, *spatial) without the batch, and its layers as
    written (PyTorch keyword tables); plan_network types them."""

    input: Shape | None
    layers: list[dict[str, Any]]
    batch: int | None = None
    source: str = ""
    notes: tuple[str, ...] = ()  # what a reader wants said (--format toml writes them)
    input_hint: str = ""  # what a reader knows of the input when its sizes are not fixed
    # (C, *spatial) with None where the file leaves a size open (channels known): net without
    # --in reports what holds at every size (netopen)
    open_input: tuple[int | None, ...] | None = None
    comments: tuple[tuple[int, str], ...] = ()  # (layer index, a note --format toml puts there)
    unclear: tuple[str, ...] = ()  # containers whose forward a printed model does not show
    # a printed model: every module's own parameters, and the modules net cannot run
    modules: tuple[ModuleParams, ...] = ()
    opaque: tuple[str, ...] = ()

    @property
    def shapes_known(self) -> bool:
        """Whether the layers are the data flow: no container hides its forward, no module is
        of a class net cannot run."""
        return not self.unclear and not self.opaque

    def check_runnable(self) -> None:
        """A printed PyTorch model whose containers are not plain sequences cannot be run as
        a chain: say which, and how to go on, rather than compute a wrong one."""
        if self.opaque:
            shown = ", ".join(self.opaque[:6]) + (", ..." if len(self.opaque) > 6 else "")
            raise ConvcalcError(
                f"{self.source}: {len(self.opaque)} module(s) of classes net does not run: "
                f"{shown}; export the model to ONNX (torch.onnx.export) and read that"
            )
        if not self.unclear:
            return
        shown = ", ".join(self.unclear[:6]) + (", ..." if len(self.unclear) > 6 else "")
        raise ConvcalcError(
            f"{self.source}: {len(self.unclear)} container(s) are not plain sequences and their "
            f"forward is not in the printed model: {shown} (a residual block adds its input, "
            "a U-Net concatenates); write the model as a spec with --format toml, edit the "
            "`from` keys there, and run that"
        )


def append_layer(
    layers: list[dict[str, Any]], name: str, layer: dict[str, Any], sources: list[str]
) -> None:
    """Append a ``[[layer]]`` table named ``name`` reading ``sources`` (layer names or
    "input"), the way the model readers write specs: ``from`` only where it is not the layer
    before, which a spec reads by default."""
    previous = layers[-1]["name"] if layers else "input"
    table = {"name": name, **layer}
    if sources != [previous]:
        table["from"] = sources[0] if len(sources) == 1 else sources
    layers.append(table)


# --- parsing ---------------------------------------------------------------------------------


def parse_toml(content: str, source: str) -> NetworkSpec:
    """The TOML form: ``input = [C, H, W]``, optional ``batch``, and ``[[layer]]`` tables with
    PyTorch's keyword names."""
    import tomllib  # here: an ONNX, Keras or printed model never needs it

    shown = display(source)
    check_nesting(content, source)
    check_layer_count(content.count("[[layer]]"), source)  # before the parser builds them
    try:
        data = tomllib.loads(content)
    except tomllib.TOMLDecodeError as error:
        raise InputError(f"spec: {shown} is not valid TOML ({error})") from None
    except (ValueError, RecursionError):  # an integer past Python's digit limit
        raise InputError(
            f"spec: {shown}: an integer of thousands of digits; at most {MAX_DIGITS} (see Limits "
            "in the README)"
        ) from None
    unknown = set(data) - {"input", "batch", "layer", "name", "description"}
    if unknown:
        raise InputError(
            f"spec: unknown top-level key(s) {display(str(sorted(unknown)))} in {shown}"
        )
    layers = data.get("layer", [])
    if not isinstance(layers, list) or not all(isinstance(layer, dict) for layer in layers):
        raise InputError(f"spec: {shown}: write each layer as a [[layer]] table")
    check_layer_count(len(layers), source)
    shape = data.get("input")
    if shape is not None:
        shape = _int_tuple(shape, "input")
    batch = data.get("batch")
    if batch is not None and (not isinstance(batch, int) or isinstance(batch, bool) or batch < 1):
        raise InputError(f"spec: {shown}: batch must be a positive integer, got {batch!r}")
    return NetworkSpec(shape, [dict(layer) for layer in layers], batch, source)


def _int_tuple(value: Any, what: str) -> Shape:
    if isinstance(value, str):
        return parse_size_list(value, what, minimum=1)
    values = value if isinstance(value, list) else [value]
    if not values or not all(
        isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in values
    ):
        raise MalformedInputError(f"{what}: expected positive integers, got {value!r}")
    return tuple(values)


# Inline tokens: short option -> PyTorch keyword.
_INLINE = {
    "k": "kernel_size",
    "s": "stride",
    "p": "padding",
    "d": "dilation",
    "op": "output_padding",
    "g": "groups",
    "c": "out_channels",
    "out": "output_size",
    "x": "scale_factor",
    "size": "size",
    "f": "out_features",
    "cin": "in_channels",
}
_INLINE_TOKEN = re.compile(r"^(op|out|size|cin|k|s|p|d|g|c|x|f)([0-9][0-9x.,:]*|same|valid)$")


def parse_inline(text: str, source: str = "<inline>") -> NetworkSpec:
    """``conv2d k7 s2 p3 c64; maxpool2d k3 s2 p1 -> relu`` (layers split by ``;`` or ``->``).

    Tokens: k s p d op g (groups) c (out_channels) cin (in_channels) out (adaptive output_size)
    x (scale_factor) size (upsample size) f (linear out_features), ``ceil``, ``nobias``,
    ``name=NAME``, ``expect=enc1.input`` or ``expect=3x64x64``. Per-dimension values: ``k3x5``.

    >>> parse_inline("conv2d k3 s2 c8 -> relu").layers[0]
    {'layer': 'conv2d', 'kernel_size': [3], 'stride': [2], 'out_channels': 8}
    """
    layers = []
    check_layer_count(text.count(";") + text.count("->") + 1, source)
    for number, chunk in enumerate(re.split(r";|->", text), start=1):
        tokens = chunk.split()
        if not tokens:
            continue
        layer: dict[str, Any] = {"layer": tokens[0]}
        for token in tokens[1:]:
            layer.update(_inline_token(token, number))
        layers.append(layer)
    if not layers:
        raise MalformedInputError('spec: no layers (e.g. "conv2d k3 c16; maxpool2d k2")')
    return NetworkSpec(None, layers, None, source)


def _inline_token(token: str, number: int) -> dict[str, Any]:
    lowered = token.lower()
    if lowered in ("ceil", "ceil_mode"):
        return {"ceil_mode": True}
    if lowered in ("nobias", "bias=false"):
        return {"bias": False}
    if lowered.startswith("name="):
        return {"name": token[5:]}
    if lowered.startswith("expect="):
        value = token[7:]
        if re.fullmatch(r"[0-9x×,]+", value):
            return {"expect": list(parse_size_list(value, "expect", minimum=1))}
        return {"expect": value}
    match = _INLINE_TOKEN.match(lowered)
    if not match:
        raise MalformedInputError(
            f"layer {number}: cannot read {token!r} (tokens: k3 s2 p1 d1 op1 g2 c64 cin3 out7 x2 "
            "size64 f10 ceil nobias name=N expect=SHAPE)"
        )
    key, value = _INLINE[match.group(1)], match.group(2)
    if value in ("same", "valid"):
        return {key: value}
    if key == "scale_factor":
        factors = value.split("x") if "x" in value else value.split(",")
        if not all(re.fullmatch(r"[0-9]+(\.[0-9]+)?", f) for f in factors):
            raise MalformedInputError(
                f"layer {number}: {token!r}: scale factors are numbers such as x2 or x1.5 or x2x3"
            )
        return {key: [float(f) if "." in f else int(f) for f in factors]}
    if key == "padding" and ":" in value:
        raise MalformedInputError(f"layer {number}: PyTorch layers take symmetric padding")
    try:
        numbers = list(parse_size_list(value, key))
    except MalformedInputError as error:
        raise MalformedInputError(f"layer {number}: {token!r}: {error}") from None
    scalar_keys = ("out_channels", "in_channels", "groups", "out_features")
    return {key: numbers[0] if key in scalar_keys else numbers}


# --- typed TOML values --------------------------------------------------------------------------


def _as_list(value: Any, key: str) -> list[int]:
    """An integer, a list of integers, or a string in the CLI's size form ("3x3", "3,3")."""
    if isinstance(value, str):
        return list(parse_size_list(value, key))
    values = value if isinstance(value, list) else [value]
    if not values or not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        raise MalformedInputError(
            f"{key}: expected an integer or a list of integers, got {value!r}"
        )
    return values


def _int(raw: dict[str, Any], key: str, default: int | None, minimum: int | None = 1) -> int:
    """A scalar integer parameter: a TOML integer (never a float or bool), or an integer string."""
    value = raw.get(key, default)
    if isinstance(value, str):
        return parse_int(value, key, minimum=minimum)
    if not isinstance(value, int) or isinstance(value, bool):
        raise MalformedInputError(f"{key}: expected an integer, got {value!r}")
    if minimum is not None and value < minimum:
        rule = "positive" if minimum == 1 else f">= {minimum}"
        raise MalformedInputError(f"{key}: must be {rule}, got {value}")
    return value


def _flag(raw: dict[str, Any], key: str, default: bool) -> bool:
    """A boolean parameter: TOML true/false only (a string "false" would be truthy)."""
    value = raw.get(key, default)
    if not isinstance(value, bool):
        raise MalformedInputError(f"{key}: expected true or false, got {value!r}")
    return value
