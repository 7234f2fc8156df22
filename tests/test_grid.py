"""The network table drawn directly (grid.py) is the table rich's Table draws: the same
characters at every width, the same visible styles on a terminal; and the indenting JSON
encoder writes what json.dumps writes, number lists on one line, strings untouched."""

from __future__ import annotations

import importlib.util
import io
import json
import random
import re
from typing import Any

import pytest
from rich.console import Console
from rich.text import Text

import convcalc.render as render
from convcalc.memory import NetworkReport, memory
from convcalc.network import load_network, run_network
from convcalc.serialize import dumps

NETWORKS = [
    ("examples/resnet18.toml", None),
    ("examples/unet.toml", None),
    ("examples/dcgan_generator.toml", None),
    ("examples/tiny_unet.onnx", (3, 64, 64)),
    (
        "conv2d k7 s2 p3 c64 name=stem; maxpool2d k3 s2 p1; convtranspose2d k4 s2 p1 c32; "
        "upsample x3; conv2d k5 p4 d2 c16; adaptiveavgpool2d out3",
        (3, 225, 223),
    ),
]
WIDTHS = [20, 23, 27, 31, 38, 44, 52, 60, 67, 80, 95, 120, 250]


def _drawn(report: NetworkReport, width: int, direct: bool, terminal: bool) -> str:
    saved = render.draw_grid
    if not direct:
        render.draw_grid = lambda *args, **kwargs: None  # type: ignore[assignment]
    try:
        buffer = io.StringIO()
        console = render.make_console(buffer, width, terminal, "truecolor" if terminal else None)
        render.print_network(console, report)
    finally:
        render.draw_grid = saved
    return buffer.getvalue()


def _visible(ansi: str) -> list[tuple[str, str | None]]:
    """Each character with the style it shows in (a space's style shows only if underlined)."""
    text = Text.from_ansi(ansi)
    styles: list[str | None] = [None] * len(text.plain)
    for span in text.spans:
        for i in range(span.start, span.end):
            styles[i] = str(span.style)
    return [
        (c, s if c.strip() or (s and "underline" in s) else None)
        for c, s in zip(text.plain, styles, strict=True)
    ]


@pytest.mark.parametrize(("spec", "shape"), NETWORKS)
def test_grid_draws_what_rich_draws(spec: str, shape: tuple[int, ...] | None) -> None:
    if spec.endswith(".onnx"):
        pytest.importorskip("onnx")
    result = run_network(load_network(spec), shape)
    report = NetworkReport(result, memory(result))
    for width in WIDTHS:
        assert _drawn(report, width, True, False) == _drawn(report, width, False, False), width
        assert _visible(_drawn(report, width, True, True)) == _visible(
            _drawn(report, width, False, True)
        ), width


def test_grid_is_used_and_fast_enough() -> None:
    """A 600-layer chain at 80 columns: drawn directly (not through rich's Table)."""
    from convcalc.grid import draw_grid

    spec = "; ".join(["conv2d k3 p1 c8", "relu"] * 300)
    result = run_network(load_network(spec), (8, 16, 16))
    report = NetworkReport(result, memory(result))
    calls: list[bool] = []

    def spy(*args: Any, **kwargs: Any) -> Any:
        drawn = draw_grid(*args, **kwargs)
        calls.append(drawn is not None)
        return drawn

    saved = render.draw_grid
    render.draw_grid = spy  # type: ignore[assignment]
    try:
        console = Console(file=io.StringIO(), width=80, highlight=False)
        render.print_network(console, report)
    finally:
        render.draw_grid = saved
    assert calls == [True]


def _rich_piped(printer: Any, report: Any, width: int) -> str:
    """What rich draws for a pipe at ``width`` (render_text's post-processing included)."""
    buffer = io.StringIO()
    printer(render.make_console(buffer, width, False, None), report)
    return "".join(line.rstrip() + "\n" for line in buffer.getvalue().split("\n")[:-1])


HOSTILE_NAMES = (
    "a[/]b",
    "é×ß/ünï.çødé",
    "/features/denseblock1/denselayer1/norm1/BatchNormalization",
    "x\u00a0y  z",
    "Ωμέγα",
)


def _reports() -> list[NetworkReport]:
    from convcalc.netspec import NetworkSpec

    reports = []
    for spec, shape in NETWORKS:
        if spec.endswith(".onnx") and importlib.util.find_spec("onnx") is None:
            continue
        result = run_network(load_network(spec), shape)
        reports.append(NetworkReport(result, memory(result)))
    layers: list[dict[str, Any]] = [
        {"layer": "conv2d", "out_channels": 8, "kernel_size": 1, "name": name}
        for name in HOSTILE_NAMES
    ]
    layers.append({"layer": "add", "from": [HOSTILE_NAMES[0], HOSTILE_NAMES[3]]})
    result = run_network(NetworkSpec((3, 33, 33), layers, source="hostile names"))
    reports.append(NetworkReport(result, memory(result)))
    return reports


def test_piped_table_is_what_rich_draws() -> None:
    """For a pipe, netview draws without rich the characters rich draws, at every width (or
    answers None and rich draws them): the grid, the legend and counts, the memory figures
    (whose rule column wraps), the title never wrapped; at 44 columns and wider it draws."""
    from convcalc.netview import network_table, network_text

    for report in _reports():
        for width in [*WIDTHS, *range(30, 130, 7)]:
            drawn = network_text(network_table(report), width)
            if drawn is None:
                assert width < 44, (report.result.source, width)
                continue
            want = _rich_piped(render.print_network, report, width)
            assert drawn == want, (report.result.source, width)


def test_piped_table_of_an_open_input_and_failed_expectations() -> None:
    """The open-size table (netopen) and a table with failed and met expectations."""
    from convcalc.netopen import run_open
    from convcalc.netplan import plan_network
    from convcalc.netspec import NetworkSpec
    from convcalc.netview import network_table, network_text, open_table

    layers: list[dict[str, Any]] = [
        {"layer": "conv2d", "out_channels": 8, "kernel_size": 3, "name": "c1"},
        {"layer": "batchnorm2d", "num_features": 8},
        {"layer": "adaptiveavgpool2d", "output_size": 1},
    ]
    spec = NetworkSpec(None, layers, open_input=(3, None, None))
    opened = run_open(plan_network(spec), None)
    expecting = [
        {"layer": "conv2d", "out_channels": 8, "kernel_size": 3, "expect": [8, 6, 6]},
        {"layer": "conv2d", "out_channels": 4, "kernel_size": 3, "expect": [4, 5, 5]},
    ]
    result = run_network(NetworkSpec((3, 8, 8), expecting))
    report = NetworkReport(result, memory(result))
    for width in WIDTHS:
        drawn = network_text(open_table(opened), width)
        if drawn is not None:
            assert drawn == _rich_piped(render.print_open_result, opened, width), width
        drawn = network_text(network_table(report), width)
        if drawn is not None:
            assert drawn == _rich_piped(render.print_network, report, width), width
    assert network_text(open_table(opened), 80) is not None


def test_a_wide_character_goes_to_rich() -> None:
    """A name with a character wider than a cell (CJK): netview answers None, rich draws."""
    from convcalc.netview import network_table, network_text

    result = run_network(load_network("conv2d k3 c8 name=畳み込み"), (3, 8, 8))
    assert network_text(network_table(NetworkReport(result, memory(result))), 80) is None


_NUMBER_LIST = re.compile(r"\[\s*(-?[0-9][0-9.eE+-]*(?:,\s*-?[0-9][0-9.eE+-]*)*)\s*\]")


def _reference(data: Any) -> str:
    """What dumps wrote before: json.dumps(indent=2), then number lists joined by a regex."""
    text = json.dumps(data, indent=2, ensure_ascii=False)
    return _NUMBER_LIST.sub(lambda m: "[" + re.sub(r",\s+", ", ", m.group(1)) + "]", text)


def test_json_encoder_writes_what_json_dumps_writes() -> None:
    rng = random.Random(18)
    leaves = [None, True, False, 0, -5, 10**20, 1.5, -2.5e-7, float("nan"), float("inf"), "x", ""]

    def value(depth: int = 0) -> Any:
        r = rng.random()
        if depth > 4 or r < 0.3:
            return rng.choice(leaves)
        if r < 0.55:
            return [value(depth + 1) for _ in range(rng.randint(0, 4))]
        if r < 0.7:
            return [rng.choice([1, -2, 3.25, 10**30, 1e300]) for _ in range(rng.randint(0, 5))]
        if r < 0.75:
            return tuple(rng.randint(-9, 9) for _ in range(rng.randint(1, 4)))
        return {rng.choice(["a", "b", "ключ", 'k"q']) + str(i): value(depth + 1) for i in range(4)}

    for _ in range(3000):
        data = value()
        assert dumps(data) == _reference(data)


def test_json_strings_are_never_rewritten() -> None:
    """A layer name that looks like a number list keeps its spaces (the regex rewrote it)."""
    name = "[1,   2]"
    assert json.loads(dumps({"name": name, "shape": [1, 2]}))["name"] == name
    assert dumps({"shape": [1, 2]}) == '{\n  "shape": [1, 2]\n}'
    with pytest.raises(TypeError):
        dumps({"x": object()})


def test_narrow_wrap_is_richs_wrap() -> None:
    """gridlayout's wrap of narrow text (names, summaries, the lines under the table) gives the
    lines rich's Text.wrap gives: breaks, folded long words, whitespace at the ends (a
    no-break space among it), left and right justified; narrow is rich's single-cell test."""
    from rich.cells import cell_len

    from convcalc.gridlayout import narrow, wrap

    console = Console(width=200)
    rng = random.Random(18)
    for _ in range(3000):
        text = "".join(rng.choice("ab/._:<-, 0123 é×Ω\u00a0") for _ in range(rng.randint(0, 60)))
        width = rng.randint(1, 30)
        right = rng.random() < 0.5
        justify = "right" if right else "left"
        want = [line.plain for line in Text(text).wrap(console, width, justify=justify)]
        assert narrow(text)
        assert wrap(text, width, right) == want, (text, width, right)
    for code in range(0x3000):
        assert not narrow(chr(code)) or cell_len(chr(code)) == 1, hex(code)


_WIDTH_PROBE = (
    "import json, rich.console as c, convcalc.output as o; k = c.Console(); "
    "print(json.dumps([o.piped_width(), k.is_terminal, k.width]))"
)


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"COLUMNS": "57"},
        {"COLUMNS": "x"},
        {"COLUMNS": "0"},
        {"FORCE_COLOR": "1"},
        {"FORCE_COLOR": ""},
        {"TTY_COMPATIBLE": "0", "FORCE_COLOR": "1"},
        {"TTY_COMPATIBLE": "1"},
        {"NO_COLOR": "1", "COLUMNS": "99"},
    ],
)
@pytest.mark.parametrize("tty", [False, True], ids=["no-tty", "stderr-tty"])
def test_piped_width_is_richs(env: dict[str, str], tty: bool) -> None:
    """The plain drawing is chosen exactly where rich would draw without styles, at rich's
    width: environment variables, and a terminal on stderr (a pipe run from a shell) whose
    width rich takes."""
    import os
    import subprocess
    import sys

    base = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    base = {k: v for k, v in base.items() if k not in ("FORCE_COLOR", "TTY_COMPATIBLE")}
    stderr: Any = subprocess.PIPE
    if tty:
        import fcntl
        import pty
        import struct
        import termios

        leader, follower = pty.openpty()
        fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 101, 0, 0))
        stderr = follower
    try:
        run = subprocess.run(
            [sys.executable, "-c", _WIDTH_PROBE],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr,
            env={**base, **env},
            text=True,
            timeout=60,
            check=True,
        )
    finally:
        if tty:
            os.close(leader)
            os.close(follower)
    ours, terminal, width = json.loads(run.stdout)
    assert ours == (None if terminal or width < 1 else width)
    if not env and tty:
        assert ours == 101


def test_a_piped_net_table_does_not_import_rich() -> None:
    """`convcalc net spec | ...` draws without importing rich the bytes rich draws (the plain
    path switched off)."""
    import os
    import subprocess
    import sys

    code = (
        "import atexit, sys; "
        "atexit.register(lambda: sys.stderr.write('rich' in sys.modules and 'RICH' or 'NORICH')); "
        "import convcalc.output as o; "
        "o.piped_width = (lambda: None) if sys.argv[2] == 'rich' else o.piped_width; "
        "sys.argv = ['convcalc', 'net', sys.argv[1]]; "
        "from convcalc.entry import main; main()"
    )
    env = {**os.environ, "COLUMNS": "80"}
    env.pop("FORCE_COLOR", None)
    env.pop("TTY_COMPATIBLE", None)
    runs = {
        way: subprocess.run(
            [sys.executable, "-c", code, "examples/unet.toml", way],
            capture_output=True,
            stdin=subprocess.DEVNULL,
            text=True,
            env=env,
            timeout=60,
        )
        for way in ("plain", "rich")
    }
    assert runs["plain"].stderr == "NORICH", runs["plain"].stderr
    assert runs["rich"].stderr == "RICH", runs["rich"].stderr
    assert runs["plain"].stdout == runs["rich"].stdout
    assert "total" in runs["plain"].stdout


@pytest.mark.parametrize("width", [70, 75, 80, 90, 100])
def test_numbers_and_shapes_never_fold(width: int) -> None:
    """At 70 columns and wider, every layer's output shape, parameter count and MACs stand
    whole on one line (the U-Net's 64×256×256 folded as 64×256×25 / 6 at 80 columns): the
    receptive field and the bytes wrap at their spaces first, the names wrap (whole words from
    80 columns)."""
    from convcalc.netview import human, network_table, network_text, table_dims

    for spec in ("examples/unet.toml", "examples/resnet18.toml", "examples/se_block.toml"):
        result = run_network(load_network(spec))
        text = network_text(network_table(NetworkReport(result, memory(result))), width)
        assert text is not None
        cells = {cell.strip() for line in text.splitlines() for cell in line.split("│")}
        for layer in result.layers:
            for shown in (table_dims(layer.output_shape), f"{layer.params:,}", human(layer.macs)):
                assert any(c == shown or c.startswith(shown + " ") for c in cells), (spec, shown)
        assert "convtranspose2d" in text or "unet" not in spec or width < 80
