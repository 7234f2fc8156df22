"""Where a spec comes from: a file or text, the reader picked by extension and content (TOML,
ONNX, Keras, PyTorch's printed model, the inline form). It stands above the readers and
``netspec``, which the readers build on, so nothing below imports back up to it. Standard library
only; a reader is imported when its file is given.
"""

from __future__ import annotations

import re
from pathlib import Path

from convcalc.boundary import (
    check_layer_count,
    check_numbers,
    decode,
    display,
    read_bytes,
    read_text,
)
from convcalc.errors import InputError, MalformedInputError
from convcalc.netspec import NetworkSpec, parse_inline, parse_toml


def load_network(text: str) -> NetworkSpec:
    """A spec from a file or text (see ``_load``), its numbers and size within the limits
    whichever reader read it."""
    network = _load(text)
    if not network.layers and not network.modules:  # a gate must not pass on nothing
        raise InputError(
            f"spec: {display(network.source)} has no layers; add [[layer]] tables (e.g. "
            'layer = "conv2d", out_channels = 16, kernel_size = 3)'
        )
    check_layer_count(len(network.layers), network.source)
    check_numbers([network.layers, list(network.input or ()), network.batch], network.source)
    return network


def _load(text: str) -> NetworkSpec:
    """A spec from a file or text, the reader picked by extension and content: TOML
    (``.toml``, or text with ``[[layer]]``), ONNX (``.onnx``), Keras (``.keras`` archives and
    ``model.to_json()`` text, ``.json``), PyTorch's ``print(model)`` (``.txt``, or text that
    looks like it), ``-`` for standard input; otherwise the inline form
    ``"conv2d k7 s2 p3 c64; maxpool2d k3 s2 p1"``."""
    if not text.strip():
        raise MalformedInputError(
            'spec: empty; give a .toml file or layers such as "conv2d k3 c16; maxpool2d k2"'
        )
    if text == "-":
        return _by_content(_nonempty(read_text("-", "spec"), "standard input"), "<stdin>")
    if text.lstrip().startswith("{"):  # Keras JSON given as text
        return _by_content(text, "<spec>")
    path = Path(text)
    shown = display(text)
    looks_like_path = re.fullmatch(r"[^\s;]*(/|\.[A-Za-z]+)", text.strip()) is not None
    if looks_like_path and "->" not in text and not _exists(path):
        raise InputError(f"spec: no such file: {shown}")
    if "\n" not in text and _is_dir(path):
        raise InputError(f"spec: {shown} is a directory; give a .toml file or layers")
    if text.endswith(".toml") or ("\n" not in text and _exists(path)):
        suffix = path.suffix.lower()
        if suffix == ".onnx":
            from convcalc.read_onnx import read_onnx

            return read_onnx(path)
        if suffix == ".keras":
            from convcalc.read_keras import read_keras_archive

            return read_keras_archive(path)
        data = read_bytes(text, "spec")
        kind = _binary_kind(data)
        if kind is not None:
            raise InputError(f"spec: {shown} is {kind}; {READS}")
        content = _nonempty(decode(data, "spec", text), text)
        if suffix == ".toml":
            return parse_toml(content, str(path))
        return _by_content(content, str(path))
    if "[[layer]]" in text or "\n" in text:
        return _by_content(text, "<spec>")
    return parse_inline(text)


def _nonempty(content: str, source: str) -> str:
    """A spec with nothing in it is no network of 0 layers: a gate must not pass on nothing."""
    if not content.strip():
        raise InputError(
            f"spec: {display(source)} is empty; give a .toml spec, a model file, or layers such "
            'as "conv2d k3 c16; maxpool2d k2"'
        )
    return content


def _by_content(content: str, source: str) -> NetworkSpec:
    """TOML, Keras JSON or a printed PyTorch model, told apart by their first characters."""
    stripped = content.lstrip()
    if stripped.startswith("{"):
        from convcalc.read_keras import read_keras_json

        return read_keras_json(content, source)
    if "[[layer]]" in content or re.match(r"(#.*\n|\s)*\w+\s*=", content):
        return parse_toml(content, source)
    if re.match(r"[A-Za-z_][\w.]*\(", stripped):
        from convcalc.read_torch import read_torch_repr

        return read_torch_repr(content, source)
    if "=" not in stripped.replace("name=", "").replace("expect=", "") and re.match(
        r"[A-Za-z]+[0-9]*d?\b", stripped
    ):  # the inline form, piped: "conv2d k3 c16; maxpool2d k2"
        try:
            return parse_inline(";".join(stripped.splitlines()), source)
        except MalformedInputError:
            raise _not_a_spec(stripped, source) from None
    if not re.search(r"(?m)^\s*(\[|[\w\"'.-]+\s*=)", content):  # no TOML key or table at all
        raise _not_a_spec(stripped, source)
    return parse_toml(content, source)


def _not_a_spec(text: str, source: str) -> InputError:
    first = text.splitlines()[0][:40] if text else ""
    return InputError(
        f"spec: {display(source)} is text in none of these forms (it begins "
        f"{display(repr(first))}); {READS}"
    )


# What `net` reads, for a message about a file that is something else.
READS = (
    "convcalc net reads a TOML spec (.toml), an ONNX model (.onnx), a Keras model (.keras, or "
    "model.to_json() text), PyTorch's print(model) text (.txt), or inline layers"
)

# Leading bytes of files people hand to `net` by mistake.
_MAGIC = (
    (
        b"PK\x03\x04",
        "a zip archive (a .keras model is one: name it .keras; a PyTorch checkpoint "
        "is one too: convcalc reads print(model) text)",
    ),
    (b"\x89HDF", "an HDF5 file (Keras weights: convcalc reads model.to_json() or .keras)"),
    (b"\x93NUMPY", "a .npy array (trace data: convcalc trace --x @FILE.npy)"),
    (b"\x80\x02", "a Python pickle (never unpickled)"),
    (b"\x80\x04", "a Python pickle (never unpickled)"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"%PDF", "a PDF document"),
)


def _binary_kind(data: bytes) -> str | None:
    """What a file that is not text is, by its first bytes (None for text)."""
    for magic, kind in _MAGIC:
        if data.startswith(magic):
            return kind
    head = data[:4096]
    if b"\x00" not in head:
        return None
    if head[:1] == b"\x08" and (b"pytorch" in head or b"onnx" in head or b"ai.onnx" in head):
        return "an ONNX model without the .onnx extension (name it .onnx)"
    return "binary data, not a UTF-8 text file"


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except (OSError, ValueError):
        return False


def _exists(path: Path) -> bool:
    """Anything at ``path``: a file, or a FIFO or device, which the reader then refuses."""
    try:
        return path.exists() and not path.is_dir()
    except (OSError, ValueError):
        return False
