"""The network table drawn directly (grid.py) is the table rich's Table draws: the same
characters at every width, the same visible styles on a terminal; and the indenting JSON
encoder writes what json.dumps writes, number lists on one line, strings untouched."""

from __future__ import annotations

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


def test_ascii_wrap_is_richs_wrap() -> None:
    """The grid's own wrap of ASCII text (names, summaries) gives the lines rich's Text.wrap
    gives: breaks, folded long words, whitespace at the ends, left and right justified."""
    from convcalc.grid import _wrap_ascii

    console = Console(width=200)
    rng = random.Random(18)
    for _ in range(3000):
        text = "".join(rng.choice("ab/._:<-, 0123 ") for _ in range(rng.randint(0, 60)))
        width = rng.randint(1, 30)
        right = rng.random() < 0.5
        justify = "right" if right else "left"
        want = [line.plain for line in Text(text).wrap(console, width, justify=justify)]
        assert _wrap_ascii(text, width, right) == want, (text, width, right)
