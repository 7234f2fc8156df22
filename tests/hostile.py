"""A corpus of hostile and broken inputs for every reader and command (issue 16), run as real
processes under a memory and time bound. ``python tests/hostile.py`` prints the ones that fail;
tests/test_untrusted.py runs each as a test.

Each case is (name, argv, files, stdin, allowed exit codes). Files are written into a fresh
directory, which is the working directory of the run; the check is: an allowed exit code, no
traceback, one line on stderr (or one JSON object on stdout with --json), no escape sequence or
control character on either stream, within the time and memory bound, and no file of the
directory changed but what -o names.
"""

from __future__ import annotations

import functools
import io
import json
import os
import resource
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
MEMORY_BYTES = 2 * 2**30
SECONDS = 20


@dataclass(frozen=True)
class Case:
    name: str
    argv: tuple[str, ...]
    files: dict[str, bytes] = field(default_factory=dict)
    stdin: bytes | None = None
    exits: tuple[int, ...] = (1, 2)
    changes: tuple[str, ...] = ()  # files the run may create or change (-o)
    build: Callable[[], bytes] | None = None  # the one file's bytes, built when the case runs


def _keras(layers: list[object], extra: dict[str, object] | None = None) -> bytes:
    model = {
        "class_name": "Sequential",
        "config": {"name": "m", "layers": layers, **(extra or {})},
        "keras_version": "3.0.0",
    }
    return json.dumps(model).encode()


def _input_layer(shape: object) -> dict[str, object]:
    return {"class_name": "InputLayer", "config": {"batch_shape": shape, "name": "in"}}


def _conv(**config: object) -> dict[str, object]:
    base: dict[str, object] = {
        "name": "c",
        "filters": 4,
        "kernel_size": [3, 3],
        "strides": [1, 1],
        "padding": "valid",
        "use_bias": True,
    }
    base.update(config)
    return {"class_name": "Conv2D", "config": {k: v for k, v in base.items() if v is not ...}}


def _zip(members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _zip_bomb() -> bytes:
    config = _keras([_input_layer([None, 8, 8, 3]), _conv()])
    return _zip({"config.json": config, "model.weights.h5": b"\0" * (300 * 2**20)})


def _zip_bomb_config() -> bytes:
    return _zip({"config.json": b" " * (400 * 2**20) + b"{}"})


def _zip_unknown_method() -> bytes:
    data = bytearray(_zip({"config.json": _keras([_input_layer([None, 8, 8, 3]), _conv()])}))
    # compression method fields: local header (offset 8) and central directory entry
    data[8:10] = (99).to_bytes(2, "little")
    central = data.find(b"PK\x01\x02")
    data[central + 10 : central + 12] = (99).to_bytes(2, "little")
    return bytes(data)


def _zip_encrypted() -> bytes:
    data = bytearray(_zip({"config.json": _keras([_input_layer([None, 8, 8, 3]), _conv()])}))
    data[6] |= 1
    central = data.find(b"PK\x01\x02")
    data[central + 8] |= 1
    return bytes(data)


def _deep_json(depth: int) -> bytes:
    return b'{"class_name": "Sequential", "config": ' + b"[" * depth + b"]" * depth + b"}"


def _deep_toml(depth: int) -> bytes:
    return b"input = " + b"[" * depth + b"]" * depth + b"\n"


# 3,000 layers that keep the size and one no input size survives: every size runs every layer
DEEP = (
    b"input = [3, 64, 64]\n"
    + b'[[layer]]\nlayer = "conv2d"\nout_channels = 3\nkernel_size = 1\n' * 3000
    + b'[[layer]]\nlayer = "conv2d"\nout_channels = 4\nkernel_size = 9000\n'
)
TOML_OK = b'input = [3, 8, 8]\n[[layer]]\nlayer = "conv2d"\nout_channels = 4\nkernel_size = 3\n'
ESC = "\x1b]0;pwned\x07\x1b[2J"


def _named(name: str) -> bytes:
    return (
        'input = [3, 8, 8]\n[[layer]]\nname = "' + name + '"\nlayer = "conv2d"\n'
        "out_channels = 4\nkernel_size = 3\n"
    ).encode()


def _printed(body: str) -> bytes:
    return ("Net(\n" + body + "\n)\n").encode()


CASES: list[Case] = [
    # --- terminal injection ---------------------------------------------------------------
    Case(
        "esc name table",
        ("net", "t.toml"),
        {"t.toml": _named("\\u001b]0;pwned\\u0007x")},
        exits=(0,),
    ),
    Case(
        "esc name plain",
        ("net", "t.toml", "--format", "markdown"),
        {"t.toml": _named("\\u001b[2Jx")},
        exits=(0,),
    ),
    Case(
        "esc name csv",
        ("net", "t.toml", "--format", "csv"),
        {"t.toml": _named("\\u001b[2Jx")},
        exits=(0,),
    ),
    Case(
        "newline name forges error",
        ("net", "t.toml", "--in", "3,2,2"),
        {"t.toml": _named("a\\nError: forged")},
    ),
    Case(
        "esc name error",
        ("net", "t.toml", "--in", "3,2,2"),
        {"t.toml": _named("\\u001b]0;pwned\\u0007")},
    ),
    Case("bidi name", ("net", "t.toml"), {"t.toml": _named("\\u202eabc")}, exits=(0,)),
    # rich markup and emoji codes in a name: printed as themselves (a name of `a[/]b` was an
    # internal error where the table's memory rules name the peak layer)
    Case("markup name", ("net", "t.toml"), {"t.toml": _named("a[/]b")}, exits=(0,)),
    Case("markup name plain", ("net", "t.toml", "--plain"), {"t.toml": _named("[/x]")}, exits=(0,)),
    Case(
        "markup name diff",
        ("diff", "t.toml", "u.toml"),
        {"t.toml": _named("a[/]b"), "u.toml": _named("[bold]")},
        exits=(0, 1),
    ),
    Case(
        "esc in layer kind",
        ("net", "t.toml"),
        {"t.toml": b'input=[3,8,8]\n[[layer]]\nlayer="\\u001b[2Jconv"\n'},
    ),
    Case("esc in inline", ("net", "conv2d k3 c4 name=\x1b[2J", "--in", "3,8,8"), exits=(0, 1, 2)),
    Case("esc in inline token", ("net", "conv2d k3\x1b[2J c4", "--in", "3,8,8")),
    Case("esc in op name", ("shape", "conv2d\x1b[2J", "--in", "5", "--k", "3")),
    Case("esc in size", ("shape", "conv2d", "--in", "5\x1b[2J", "--k", "3")),
    Case("esc in file name", ("net", "x\x1b[2J.toml")),
    Case(
        "esc in keras name",
        ("net", "m.json", "--in", "3,2,2"),
        {"m.json": _keras([_input_layer([None, 2, 2, 3]), _conv(name="\x1b]0;x\x07")])},
    ),
    Case(
        "esc in printed name",
        ("net", "m.txt", "--in", "3,2,2"),
        {"m.txt": _printed("  (\x1b[2J): Conv2d(3, 4, kernel_size=(3, 3), stride=(1, 1))")},
    ),
    Case(
        "esc in printed class",
        ("net", "m.txt", "--in", "3,8,8"),
        {"m.txt": _printed("  (a): Conv\x1b[2Jd(3, 4)")},
    ),
    Case("esc in trace data", ("trace", "conv2d", "--x", "1,2;3,\x1b[2J", "--w", "1")),
    Case(
        "esc in json error",
        ("net", "t.toml", "--in", "3,2,2", "--json"),
        {"t.toml": _named("\\u001b]0;pwned\\u0007")},
    ),
    Case(
        "esc expect",
        ("net", "t.toml", "--check"),
        {
            "t.toml": b'input=[3,8,8]\n[[layer]]\nlayer="conv2d"\nout_channels=4\nkernel_size=3\nexpect="\\u001b[2J"\n'
        },
    ),
    # --- generated code and documents ----------------------------------------------------
    Case(
        "torch code name",
        ("net", "t.toml", "--format", "torch"),
        {"t.toml": _named('x\\"\\"\\"+__import__(\\"os\\").system(\\"id\\")+\\"\\"\\"')},
        exits=(0,),
    ),
    Case(
        "torch code file name",
        ("net", 'x"""+__import__("os").system("id")+"""y.toml', "--format", "torch"),
        {'x"""+__import__("os").system("id")+"""y.toml': TOML_OK},
        exits=(0,),
    ),
    Case(
        "toml newline file name",
        ("net", "a\nb.toml", "--format", "toml"),
        {"a\nb.toml": TOML_OK},
        exits=(0,),
    ),
    Case(
        "torch unicode name",
        ("net", "t.toml", "--format", "torch"),
        {"t.toml": _named("²")},
        exits=(0,),
    ),
    Case(
        "svg name",
        ("net", "t.toml", "--format", "svg"),
        {"t.toml": _named("</text><script>alert(1)</script>\\u0001")},
        exits=(0,),
    ),
    # --- -o -------------------------------------------------------------------------------
    Case(
        "-o failed run",
        ("net", "bad.toml", "-o", "keep.txt"),
        {"bad.toml": b"input = [", "keep.txt": b"precious\n"},
    ),
    Case("-o onto input", ("net", "t.toml", "-o", "t.toml"), {"t.toml": TOML_OK}),
    Case(
        "-o onto input relative",
        ("net", "./t.toml", "--format", "toml", "-o", "t.toml"),
        {"t.toml": TOML_OK},
    ),
    # --- stdin ------------------------------------------------------------------------------
    Case(
        "stdin inline",
        ("net", "-", "--in", "3,8,8", "--plain"),
        stdin=b"conv2d k3 c4\n",
        exits=(0, 2),
    ),
    Case("stdin garbage", ("net", "-", "--in", "3,8,8"), stdin=b"\x00\x01garbage"),
    Case("stdin empty", ("net", "-", "--in", "3,8,8"), stdin=b""),
    Case("stdin zero", ("net", "-"), stdin=None),  # /dev/zero, see below
    Case("stdin closed", ("net", "-", "--in", "3,8,8"), stdin=b"<closed>"),
    Case(
        "stdout closed", ("shape", "conv2d", "--in", "5", "--k", "3"), stdin=b"<closed>", exits=(2,)
    ),
    Case(
        "stdout closed solve",
        ("solve", "conv2d", "--in", "224", "--out", "112"),
        stdin=b"<closed>",
        exits=(2,),
    ),
    Case(
        "stderr closed", ("shape", "conv2d", "--in", "5", "--k", "0"), stdin=b"<closed>", exits=(2,)
    ),
    Case("trace x zero dev", ("trace", "conv2d", "--x", "@/dev/zero", "--w", "1")),
    Case("trace x fifo", ("trace", "conv2d", "--x", "@fifo", "--w", "1")),
    Case("net fifo", ("net", "fifo.toml")),
    Case("net dev zero", ("net", "/dev/zero")),
    Case("net dev zero toml", ("net", "/dev/zero", "--format", "toml")),
    # --- numbers --------------------------------------------------------------------------
    Case(
        "keras negative dim",
        ("net", "m.json", "--plain"),
        {"m.json": _keras([_input_layer([None, 8, 8, -3]), _conv()])},
    ),
    Case(
        "keras huge float dim",
        ("net", "m.json", "--json"),
        {"m.json": _keras([_input_layer([None, 1e308, 8, 3]), _conv()])},
    ),
    Case(
        "keras float dim",
        ("net", "m.json"),
        {"m.json": _keras([_input_layer([None, 8.5, 8, 3]), _conv()])},
    ),
    Case(
        "keras bool dim",
        ("net", "m.json"),
        {"m.json": _keras([_input_layer([None, True, 8, 3]), _conv()])},
    ),
    Case(
        "keras missing filters",
        ("net", "m.json"),
        {"m.json": _keras([_input_layer([None, 8, 8, 3]), _conv(filters=...)])},
    ),
    Case(
        "keras filters string",
        ("net", "m.json"),
        {"m.json": _keras([_input_layer([None, 8, 8, 3]), _conv(filters="abc")])},
    ),
    Case(
        "keras strides null",
        ("net", "m.json"),
        {"m.json": _keras([_input_layer([None, 8, 8, 3]), _conv(strides=None)])},
    ),
    Case(
        "keras kernel nan",
        ("net", "m.json"),
        {
            "m.json": _keras([_input_layer([None, 8, 8, 3]), _conv()]).replace(
                b"[3, 3]", b"[NaN, 3]"
            )
        },
    ),
    Case(
        "keras kernel 1e400",
        ("net", "m.json"),
        {
            "m.json": _keras([_input_layer([None, 8, 8, 3]), _conv()]).replace(
                b"[3, 3]", b"[1e400, 3]"
            )
        },
    ),
    Case(
        "keras huge int",
        ("net", "m.json"),
        {
            "m.json": _keras([_input_layer([None, 8, 8, 3]), _conv()]).replace(
                b'"filters": 4', b'"filters": ' + b"9" * 5000
            )
        },
    ),
    Case(
        "keras layer not object",
        ("net", "m.json"),
        {"m.json": _keras([_input_layer([None, 8, 8, 3]), 5])},
    ),
    Case(
        "keras layers not list",
        ("net", "m.json"),
        {"m.json": b'{"class_name": "Sequential", "config": {"layers": 5}}'},
    ),
    Case(
        "keras config not object",
        ("net", "m.json"),
        {"m.json": b'{"class_name": "Sequential", "config": 5}'},
    ),
    Case("keras no class", ("net", "m.json"), {"m.json": b'{"config": {"layers": []}}'}),
    Case(
        "keras functional broken inbound",
        ("net", "m.json"),
        {
            "m.json": b'{"class_name": "Functional", "config": {"name": "f", "layers": [{"class_name": "InputLayer", "name": "in", "config": {"batch_shape": [null, 8, 8, 3], "name": "in"}, "inbound_nodes": []}, {"class_name": "Conv2D", "name": "c", "config": {"name": "c", "filters": 4, "kernel_size": [3, 3]}, "inbound_nodes": [{"args": [5]}]}], "input_layers": [["in", 0, 0]], "output_layers": [["c", 0, 0]]}}'
        },
    ),
    Case(
        "keras functional inbound junk",
        ("net", "m.json"),
        {
            "m.json": b'{"class_name": "Functional", "config": {"name": "f", "layers": [{"class_name": "InputLayer", "name": "in", "config": {"batch_shape": [null, 8, 8, 3], "name": "in"}, "inbound_nodes": []}, {"class_name": "Conv2D", "name": "c", "config": {"name": "c", "filters": 4, "kernel_size": [3, 3]}, "inbound_nodes": [[["nope", 0, 0, {}]]]}], "input_layers": [["in", 0, 0]], "output_layers": [["c", 0, 0]]}}'
        },
    ),
    Case(
        "keras functional inbound null",
        ("net", "m.json"),
        {
            "m.json": b'{"class_name": "Functional", "config": {"name": "f", "layers": [{"class_name": "InputLayer", "name": "in", "config": {"batch_shape": [null, 8, 8, 3], "name": "in"}, "inbound_nodes": []}, {"class_name": "Conv2D", "name": "c", "config": {"name": "c", "filters": 4, "kernel_size": [3, 3]}, "inbound_nodes": null}], "input_layers": [["in", 0, 0]], "output_layers": [["c", 0, 0]]}}'
        },
    ),
    Case(
        "keras dense units float",
        ("net", "m.json"),
        {
            "m.json": _keras(
                [
                    _input_layer([None, 8]),
                    {"class_name": "Dense", "config": {"name": "d", "units": 2.5}},
                ]
            )
        },
    ),
    Case(
        "keras pool size zero",
        ("net", "m.json"),
        {
            "m.json": _keras(
                [
                    _input_layer([None, 8, 8, 3]),
                    {"class_name": "MaxPooling2D", "config": {"name": "p", "pool_size": [0, 2]}},
                ]
            )
        },
    ),
    Case("json deep", ("net", "m.json"), {"m.json": _deep_json(10000)}),
    Case("json deep stdin", ("net", "-"), stdin=_deep_json(100000)),
    Case("toml deep", ("net", "t.toml"), {"t.toml": _deep_toml(10000)}),
    Case(
        "toml huge int",
        ("net", "t.toml"),
        {"t.toml": b"input = [3, " + b"9" * 5000 + b", 8]\n[[layer]]\nlayer='relu'\n"},
    ),
    Case(
        "toml 60+ digit",
        ("net", "t.toml"),
        {"t.toml": b"input = [3, " + b"9" * 80 + b", 8]\n[[layer]]\nlayer='relu'\n"},
    ),
    Case(
        "toml huge size",
        ("net", "t.toml", "--json"),
        {
            "t.toml": b"input = [3, "
            + b"9" * 50
            + b", "
            + b"9" * 50
            + b"]\n[[layer]]\nlayer='conv2d'\nout_channels=4\nkernel_size=3\n"
        },
        exits=(0, 1, 2),
    ),
    Case(
        "toml float size",
        ("net", "t.toml"),
        {"t.toml": b"input = [3, 1e308, 8]\n[[layer]]\nlayer='relu'\n"},
    ),
    Case(
        "toml inf",
        ("net", "t.toml"),
        {
            "t.toml": b"input = [3, 8, 8]\n[[layer]]\nlayer='conv2d'\nout_channels=4\nkernel_size=inf\n"
        },
    ),
    Case(
        "toml nan",
        ("net", "t.toml"),
        {"t.toml": b"input = [3, 8, 8]\n[[layer]]\nlayer='upsample'\nscale_factor=nan\n"},
    ),
    Case(
        "toml scale inf",
        ("net", "t.toml"),
        {"t.toml": b"input = [3, 8, 8]\n[[layer]]\nlayer='upsample'\nscale_factor=1e308\n"},
    ),
    Case("toml layer not table", ("net", "t.toml"), {"t.toml": b"input = [3, 8, 8]\nlayer = 5\n"}),
    Case(
        "toml layer missing kind",
        ("net", "t.toml"),
        {"t.toml": b"input = [3, 8, 8]\n[[layer]]\nout_channels = 4\n"},
    ),
    Case(
        "toml kind not string",
        ("net", "t.toml"),
        {"t.toml": b"input = [3, 8, 8]\n[[layer]]\nlayer = 4\n"},
    ),
    Case(
        "toml name not string",
        ("net", "t.toml"),
        {"t.toml": b"input = [3, 8, 8]\n[[layer]]\nlayer = 'relu'\nname = 4\n"},
    ),
    Case(
        "toml from weird",
        ("net", "t.toml"),
        {"t.toml": b"input = [3, 8, 8]\n[[layer]]\nlayer = 'relu'\nfrom = {a=1}\n"},
    ),
    Case(
        "toml expect weird",
        ("net", "t.toml"),
        {"t.toml": b"input = [3, 8, 8]\n[[layer]]\nlayer = 'relu'\nexpect = {a=1}\n"},
    ),
    Case(
        "toml batch huge",
        ("net", "t.toml"),
        {"t.toml": b"input = [3, 8, 8]\nbatch = " + b"9" * 18 + b"\n[[layer]]\nlayer = 'relu'\n"},
        exits=(0, 1, 2),
    ),
    Case(
        "toml huge channels memory",
        ("net", "t.toml", "--json"),
        {
            "t.toml": b"input = [3, 8, 8]\n[[layer]]\nlayer = 'conv2d'\nout_channels = "
            + b"9" * 40
            + b"\nkernel_size=3\n"
        },
        exits=(0, 1, 2),
    ),
    Case("toml not utf8", ("net", "t.toml"), {"t.toml": b"\xff\xfe input"}),
    Case("toml binary", ("net", "t.bin"), {"t.bin": bytes(range(256)) * 10}),
    Case("toml garbage text", ("net", "t.txt"), {"t.txt": b"hello world\n"}),
    Case(
        "toml 1M layers",
        ("net", "t.toml"),
        {"t.toml": b"input=[3,8,8]\n" + b"[[layer]]\nlayer='relu'\n" * 1_000_000},
        exits=(0, 1, 2),
    ),
    Case(
        "inline 1M layers",
        ("net", "-", "--in", "3,8,8"),
        stdin=b"relu;" * 1_000_000,
        exits=(0, 1, 2),
    ),
    # --- printed models --------------------------------------------------------------------
    Case(
        "printed huge repeat",
        ("net", "m.txt"),
        {"m.txt": b"Net(\n  (0-99999999): 100000000 x ReLU()\n)\n"},
    ),
    Case(
        "printed nested repeats",
        ("net", "m.txt"),
        {
            "m.txt": (
                "Net(\n"
                + "".join("  " * (i + 1) + "(0-9): 10 x Sequential(\n" for i in range(9))
                + "  " * 10
                + "(0): ReLU()\n"
                + "".join("  " * (9 - i) + ")\n" for i in range(9))
                + ")\n"
            ).encode()
        },
    ),
    Case(
        "printed zero repeat",
        ("net", "m.txt"),
        {"m.txt": b"Net(\n  (0-0): 0 x Block(\n    (a): ReLU()\n  )\n)\n"},
    ),
    Case(
        "printed prelu abc",
        ("net", "m.txt"),
        {"m.txt": _printed("  (a): PReLU(num_parameters=abc)")},
    ),
    Case(
        "printed zeropad tuple",
        ("net", "m.txt", "--in", "3,8,8"),
        {"m.txt": _printed("  (a): ZeroPad2d((1, 2))")},
        exits=(0, 1, 2),
    ),
    Case(
        "printed conv junk",
        ("net", "m.txt"),
        {"m.txt": _printed("  (a): Conv2d(3, 4, kernel_size=(a, b))")},
    ),
    Case(
        "printed conv huge",
        ("net", "m.txt"),
        {"m.txt": _printed("  (a): Conv2d(3, " + "9" * 5000 + ", kernel_size=(3, 3))")},
    ),
    Case(
        "printed conv nested",
        ("net", "m.txt"),
        {"m.txt": _printed("  (a): Conv2d(3, 4, kernel_size=" + "(" * 5000 + ")" * 5000 + ")")},
    ),
    Case(
        "printed unbalanced",
        ("net", "m.txt"),
        {"m.txt": b"Net(\n  (a): Sequential(\n    (b): ReLU()\n"},
    ),
    Case(
        "printed deep",
        ("net", "m.txt"),
        {
            "m.txt": (
                "Net(\n"
                + "".join(" " * i + "(a): Sequential(\n" for i in range(5000))
                + ")\n" * 5000
            ).encode()
        },
    ),
    Case(
        "printed 50k lines",
        ("net", "m.txt", "--in", "3,8,8"),
        {"m.txt": _printed("\n".join(f"  ({i}): ReLU()" for i in range(50_000)))},
        exits=(0, 1, 2),
    ),
    Case(
        "printed conv float",
        ("net", "m.txt"),
        {"m.txt": _printed("  (a): Conv2d(3, 4.5, kernel_size=(3, 3))")},
    ),
    Case(
        "printed conv neg",
        ("net", "m.txt"),
        {"m.txt": _printed("  (a): Conv2d(3, -4, kernel_size=(3, 3))")},
    ),
    Case(
        "printed linear inf",
        ("net", "m.txt"),
        {"m.txt": _printed("  (a): Linear(in_features=inf, out_features=4, bias=True)")},
    ),
    # --- archives --------------------------------------------------------------------------
    Case("keras zip bomb", ("net", "m.keras"), {"m.keras": b""}, exits=(0, 1, 2)),  # filled below
    Case("keras zip config bomb", ("net", "m.keras"), {"m.keras": b""}),
    Case("keras zip unknown method", ("net", "m.keras"), {"m.keras": b""}),
    Case("keras zip encrypted", ("net", "m.keras"), {"m.keras": b""}),
    Case("keras zip truncated", ("net", "m.keras"), {"m.keras": b""}),
    Case("keras zip no config", ("net", "m.keras"), {"m.keras": b""}),
    Case("keras not zip", ("net", "m.keras"), {"m.keras": b"not a zip"}),
    Case("keras zip config not utf8", ("net", "m.keras"), {"m.keras": b""}),
    # --- ONNX ------------------------------------------------------------------------------
    Case("onnx garbage", ("net", "m.onnx"), {"m.onnx": b"\x08\x07garbage" * 10}),
    Case("onnx empty", ("net", "m.onnx"), {"m.onnx": b""}),
    Case("onnx truncated", ("net", "m.onnx"), {"m.onnx": b""}),
    # --- trace data ------------------------------------------------------------------------
    Case("trace 65 dims", ("trace", "conv2d", "--x", "[" * 65 + "1" + "]" * 65, "--w", "1")),
    Case("trace 1/0", ("trace", "conv2d", "--x", "1/0,1;1,1", "--w", "1")),
    Case(
        "trace json deep",
        ("trace", "conv2d", "--x", "-", "--w", "1"),
        stdin=b"[" * 100000 + b"]" * 100000,
    ),
    Case(
        "trace npy garbage",
        ("trace", "conv2d", "--x", "@x.npy", "--w", "1"),
        {"x.npy": b"\x93NUMPY garbage"},
    ),
    Case("trace npy pickle", ("trace", "conv2d", "--x", "@x.npy", "--w", "1"), {"x.npy": b""}),
    Case(
        "trace csv huge number",
        ("trace", "conv2d", "--x", "@x.csv", "--w", "1"),
        {"x.csv": b"1," + b"9" * 5000 + b"\n1,1\n"},
    ),
    Case("trace file missing", ("trace", "conv2d", "--x", "@nope.csv", "--w", "1")),
    Case("trace dir", ("trace", "conv2d", "--x", "@.", "--w", "1")),
    # --- solvers and sweeps ------------------------------------------------------------------
    Case(
        "invert huge stride",
        ("invert", "conv1d", "--in", "1000000000", "--k", "1", "--s", "1000000000"),
        exits=(0, 1, 2),
    ),
    Case(
        "invert 10**20",
        ("invert", "conv1d", "--in", "1" + "0" * 20, "--k", "3", "--s", "1" + "0" * 19),
        exits=(0, 1, 2),
    ),
    Case("solve huge", ("solve", "conv1d", "--in", "1" + "0" * 20, "--out", "7"), exits=(0, 1, 2)),
    Case(
        "solve huge max",
        ("solve", "conv1d", "--in", "1000", "--out", "7", "--k-max", "1000000000"),
        exits=(0, 1, 2),
    ),
    Case(
        "shape sweep huge", ("shape", "conv1d", "--in", "1..100000000", "--k", "3"), exits=(0, 1, 2)
    ),
    Case(
        "shape sweep huge json",
        ("shape", "conv1d", "--in", "1..10000000", "--k", "3", "--json"),
        exits=(0, 1, 2),
    ),
    Case(
        "net sweep huge",
        ("net", "unet.toml", "--in", "3,1..100000"),
        {"unet.toml": (EXAMPLES / "unet.toml").read_bytes()},
        exits=(0, 1, 2),
    ),
    Case(
        "diff long runs of alike layers",
        ("diff", "relu;" * 20000, "relu;" * 20001, "--in", "3,8,8", "--plain"),
        exits=(1,),
    ),
    Case(
        "net near deep",
        ("net", "deep.toml", "--in", "3", "--near", "10"),
        {"deep.toml": DEEP},
        exits=(0, 1, 2),
    ),
    Case(
        "net sweep deep",
        ("net", "deep.toml", "--in", "3,1..100"),
        {"deep.toml": DEEP},
        exits=(0, 1, 2),
    ),
    Case(
        "net near huge",
        ("net", "unet.toml", "--in", "3", "--near", "1" + "0" * 20),
        {"unet.toml": (EXAMPLES / "unet.toml").read_bytes()},
        exits=(0, 1, 2),
    ),
    Case(
        "shape 10**60",
        ("shape", "conv2d", "--in", "1" + "0" * 59, "--k", "3", "--json"),
        exits=(0,),
    ),
    Case(
        "net 10**20 memory",
        ("net", "conv2d k3 c64; relu", "--in", "3," + "1" + "0" * 20 + ",8", "--json"),
        exits=(0, 1, 2),
    ),
    Case(
        "net 10**59 memory",
        (
            "net",
            "conv2d k3 c64; relu",
            "--in",
            "3," + "9" * 59 + "," + "9" * 59,
            "--dtype",
            "float64",
        ),
        exits=(0, 1, 2),
    ),
    Case(
        "trace json of a million steps",
        ("trace", "conv2d", "--x", "ones:1000x1000", "--w", "1", "--json"),
    ),
    Case(
        "trace json with gradients over budget",
        (
            "trace",
            "conv2d",
            "--x",
            "arange:300x300",
            "--w",
            "ones:3x3",
            "--grad-out",
            "ones:298x298",
            "--json",
        ),
    ),
    Case(
        "trace max-steps huge",
        ("trace", "conv2d", "--x", "ones:1000x1000", "--w", "1", "--max-steps", "99999999"),
    ),
    Case("trace arange huge", ("trace", "conv2d", "--x", "arange:" + "9" * 30, "--w", "1")),
]


def _onnx_model(kind: str) -> bytes:
    """Small hostile ONNX graphs (built with the onnx package, where it is installed)."""
    try:
        from onnx import TensorProto, helper
    except ImportError:
        return b""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    w = helper.make_tensor("w", TensorProto.FLOAT, [4, 3, 3, 3], [0.0] * 108)
    nodes: list[object] = []
    inits = [w]
    if kind == "conv one input":
        nodes = [helper.make_node("Conv", ["x"], ["y"], name="c")]
    elif kind == "maxpool no kernel":
        nodes = [helper.make_node("MaxPool", ["x"], ["y"], name="p")]
    elif kind == "constant of shape":
        shape = helper.make_tensor("s", TensorProto.INT64, [2], [40000, 40000])
        inits.append(shape)
        nodes = [
            helper.make_node("ConstantOfShape", ["s"], ["big"], name="cos"),
            helper.make_node("Add", ["x", "big"], ["y"], name="add"),
        ]
    elif kind == "escape name":
        nodes = [helper.make_node("Conv", ["x", "w"], ["y"], name="\x1b]0;pwned\x07\x1b[2J")]
    elif kind in ("external outside", "external huge"):
        w = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[4, 3, 3, 3])
        w.data_location = TensorProto.EXTERNAL
        location = "../../../etc/passwd" if kind == "external outside" else "weights.bin"
        entry = w.external_data.add()
        entry.key, entry.value = "location", location
        inits = [w]
        nodes = [helper.make_node("Conv", ["x", "w"], ["y"], name="c", kernel_shape=[3, 3])]
    elif kind == "many nodes":
        names = ["x"] + [f"t{i}" for i in range(150_000)]
        nodes = [
            helper.make_node("Relu", [names[i]], [names[i + 1]], name="same")
            for i in range(len(names) - 1)
        ]
        y = helper.make_tensor_value_info(names[-1], TensorProto.FLOAT, None)
    elif kind == "many same names":
        names = ["x"] + [f"t{i}" for i in range(20_000)]
        nodes = [
            helper.make_node("Relu", [names[i]], [names[i + 1]], name="same")
            for i in range(len(names) - 1)
        ]
        y = helper.make_tensor_value_info(names[-1], TensorProto.FLOAT, None)
    graph = helper.make_graph(nodes, "g", [x], [y], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    return bytes(model.SerializeToString())


ONNX_CASES = [
    Case("onnx conv one input", ("net", "m.onnx"), {"m.onnx": b""}),
    Case("onnx maxpool no kernel", ("net", "m.onnx"), {"m.onnx": b""}),
    Case("onnx constant of shape", ("net", "m.onnx"), {"m.onnx": b""}),
    Case("onnx escape name", ("net", "m.onnx", "--in", "3,2,2"), {"m.onnx": b""}),
    Case("onnx external outside", ("net", "m.onnx"), {"m.onnx": b""}, exits=(0, 1, 2)),
    Case("onnx external huge", ("net", "m.onnx"), {"m.onnx": b""}, exits=(0, 1, 2)),
    Case("onnx many nodes", ("net", "m.onnx"), {"m.onnx": b""}),
    Case("onnx many same names", ("net", "m.onnx", "--json"), {"m.onnx": b""}, exits=(0,)),
]


def _fill() -> None:
    """The cases whose files are built rather than written."""
    built = {
        "keras zip bomb": _zip_bomb,
        "keras zip config bomb": _zip_bomb_config,
        "keras zip unknown method": _zip_unknown_method,
        "keras zip encrypted": _zip_encrypted,
        "keras zip truncated": lambda: _zip(
            {"config.json": _keras([_input_layer([None, 8, 8, 3]), _conv()])}
        )[:60],
        "keras zip no config": lambda: _zip({"other.json": b"{}"}),
        "keras zip config not utf8": lambda: _zip({"config.json": b"\xff\xfe"}),
        "onnx truncated": lambda: (ROOT / "examples" / "tiny_unet.onnx").read_bytes()[:200],
        "trace npy pickle": _npy_pickle,
    }
    try:
        import onnx  # noqa: F401

        CASES.extend(ONNX_CASES)
    except ImportError:
        pass
    for case in ONNX_CASES:
        built[case.name] = functools.partial(_onnx_model, case.name.removeprefix("onnx "))
    for index, case in enumerate(CASES):
        if case.name in built:
            CASES[index] = Case(
                case.name,
                case.argv,
                case.files,
                case.stdin,
                case.exits,
                case.changes,
                built[case.name],
            )


def _npy_pickle() -> bytes:
    header = "{'descr': '|O', 'fortran_order': False, 'shape': (1,), }"
    header += " " * (118 - len(header)) + "\n"
    return (
        b"\x93NUMPY\x01\x00"
        + len(header).to_bytes(2, "little")
        + header.encode()
        + b"\x80\x04K\x01."
    )


_fill()


def _limit() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_BYTES, MEMORY_BYTES))


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else b"")
        for p in folder.rglob("*")
        if not p.is_fifo()
    }


def run_case(case: Case, folder: Path) -> list[str]:
    """The problems with one case run in ``folder`` (empty when it passes)."""
    for name, data in case.files.items():
        (folder / name).write_bytes(case.build() if case.build is not None else data)
    if case.name == "onnx external huge":  # 2.5 GB of weights beside the model (a sparse file)
        with open(folder / "weights.bin", "wb") as handle:
            handle.truncate(2_500_000_000)
    if any(a == "@fifo" for a in case.argv) or "fifo.toml" in case.argv:
        os.mkfifo(folder / ("fifo" if "@fifo" in case.argv else "fifo.toml"))
    before = _snapshot(folder)
    env = {**os.environ, "COLUMNS": "80", "PYTHONPATH": str(ROOT / "src")}
    env.pop("CONVCALC_DEBUG", None)
    if case.name == "stdin zero":
        stdin_file = open("/dev/zero", "rb")  # noqa: SIM115
    elif case.stdin == b"<closed>":
        stdin_file = None
    else:
        stdin_file = None
    started = time.monotonic()
    try:
        process = (
            subprocess.run(
                [sys.executable, "-m", "convcalc", *case.argv],
                input=case.stdin if case.stdin not in (None, b"<closed>") else None,
                stdin=stdin_file
                if stdin_file is not None
                else (
                    subprocess.DEVNULL
                    if case.stdin is None
                    else (None if case.stdin != b"<closed>" else subprocess.DEVNULL)
                ),
                capture_output=True,
                cwd=folder,
                env=env,
                timeout=SECONDS * 3,
                preexec_fn=_limit,
            )
            if case.stdin != b"<closed>"
            else _run_closed_stdin(case, folder, env)
        )
    except subprocess.TimeoutExpired:
        return [f"no answer in {SECONDS * 3} s"]
    finally:
        if stdin_file is not None:
            stdin_file.close()
    elapsed = time.monotonic() - started
    problems = []
    out = process.stdout.decode("utf-8", "replace")
    err = process.stderr.decode("utf-8", "replace")
    if process.returncode not in case.exits:
        problems.append(f"exit {process.returncode}, wanted {case.exits}")
    if "Traceback" in err or "internal error" in err or "MemoryError" in err:
        problems.append("traceback or internal error")
    if elapsed > SECONDS:
        problems.append(f"took {elapsed:.1f} s")
    if process.returncode != 0:
        lines = [line for line in err.splitlines() if line.strip()]
        if "--json" in case.argv:
            try:
                json.loads(out)
            except ValueError:
                problems.append("--json error is not one JSON object on stdout")
        elif "stderr closed" in case.name:
            pass  # nowhere to say it: the exit status does
        elif process.returncode == 1 and out and not err:
            pass  # a result that says no (nothing solved, a failed --check)
        elif not any(line.startswith("Error:") for line in lines):
            problems.append("no Error: line on stderr")
        else:
            first = next(i for i, line in enumerate(lines) if line.startswith("Error:"))
            if len(lines) - first != 1:
                problems.append(f"error takes {len(lines) - first} lines")
    check_for_escapes = "torch" not in case.argv
    for stream, text in (("stdout", out), ("stderr", err)):
        bad = [
            c
            for c in text
            if (ord(c) < 32 and c not in "\n\t")
            or c == "\x7f"
            or 0x202A <= ord(c) <= 0x202E
            or 0x2066 <= ord(c) <= 0x2069
        ]
        if bad and check_for_escapes:
            problems.append(f"control characters on {stream}: {sorted(set(bad))!r}")
    after = _snapshot(folder)
    for name in set(before) | set(after):
        if before.get(name) != after.get(name) and name not in case.changes:
            problems.append(f"file {name!r} changed")
    if "torch" in case.argv and process.returncode == 0:
        problems.extend(_check_torch_code(process.stdout.decode(), folder))
    if os.environ.get("HOSTILE_SHOW"):
        print(f"{case.name}: exit {process.returncode}: {(err or out)[-240:]!r}")
    if problems:
        problems.append(f"exit {process.returncode}; stderr: {err[-300:]!r}; stdout: {out[:200]!r}")
    return problems


def _run_closed_stdin(
    case: Case, folder: Path, env: dict[str, str]
) -> subprocess.CompletedProcess[bytes]:
    """The command with standard input (or, for the cases named so, stdout or stderr) closed."""
    fd = 1 if "stdout closed" in case.name else 2 if "stderr closed" in case.name else 0
    code = (
        f"import os, runpy, sys; os.close({fd}); sys.argv = ['convcalc', *sys.argv[1:]]; "
        "runpy.run_module('convcalc', run_name='__main__')"
    )
    return subprocess.run(
        [sys.executable, "-c", code, *case.argv],
        capture_output=True,
        cwd=folder,
        env=env,
        timeout=SECONDS * 3,
        preexec_fn=_limit,
    )


def _check_torch_code(code: str, folder: Path) -> list[str]:
    """Generated torch code compiles, and run under a stub torch nothing outside it executes."""
    try:
        compile(code, "generated.py", "exec")
    except SyntaxError as error:
        return [f"generated torch code does not compile: {error}"]
    stub = folder / "stub"
    (stub / "torch").mkdir(parents=True, exist_ok=True)
    (stub / "torch" / "__init__.py").write_text(
        "class _Any:\n"
        "    def __init__(self, *a, **k): pass\n"
        "    def __call__(self, *a, **k): return self\n"
        "    def __getattr__(self, name): return _Any()\n"
        "    def __mro_entries__(self, bases): return (object,)\n"
        "nn = _Any()\nTensor = _Any\n"
        "def __getattr__(name): return _Any()\n"
    )
    (stub / "torch" / "nn.py").write_text(
        "class Module:\n    def __init__(self, *a, **k): pass\n"
        "def __getattr__(name):\n    return lambda *a, **k: None\n"
    )
    (folder / "generated.py").write_text(code)
    audit = (
        "import sys\n"
        "def hook(event, args):\n"
        "    if event in ('os.system', 'subprocess.Popen', 'os.exec', 'os.posix_spawn'):\n"
        "        raise SystemExit('EXECUTED ' + event)\n"
        "sys.addaudithook(hook)\n"
        "import generated\n"
    )
    process = subprocess.run(
        [sys.executable, "-c", audit],
        capture_output=True,
        text=True,
        cwd=folder,
        env={**os.environ, "PYTHONPATH": f"{stub}:{folder}"},
        timeout=60,
    )
    if "EXECUTED" in process.stderr + process.stdout:
        return ["generated torch code executed a command"]
    return []


def main() -> None:
    import tempfile

    wanted = sys.argv[1:]
    failed = 0
    for case in CASES:
        if wanted and not any(w in case.name for w in wanted):
            continue
        with tempfile.TemporaryDirectory() as folder:
            started = time.monotonic()
            problems = run_case(case, Path(folder))
            took = time.monotonic() - started
        if problems:
            failed += 1
            print(f"FAIL {case.name} ({took:.1f}s)")
            for problem in problems:
                print(f"    {problem}")
    print(f"{failed} of {len(CASES)} failed")


if __name__ == "__main__":
    main()
