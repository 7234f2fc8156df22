"""Pictures in the style of the conv_arithmetic figures and the seed articles: the input grid with
its padding drawn apart from the data, a transposed conv's inserted zeros, the dilated kernel's
footprint sliding over it, the output grid filling in. One self-contained SVG (SMIL animation,
one frame per output position; no script), a still of one frame, or an HTML page that steps
through a trace with buttons and arrow keys. Text is text (searchable); colours differ in
lightness as well as hue, so a greyscale print keeps them apart. Standard library only.

Geometry comes from the shapes (``DimShape``), values from a ``Trace``; nothing is recomputed.
"""

from __future__ import annotations

import html
import json
import math
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from convcalc.errors import MalformedInputError
from convcalc.specs import OpKind

if TYPE_CHECKING:
    from convcalc.memory import NetworkReport
    from convcalc.shapes import DimShape, LayerShape
    from convcalc.steps import Step, Trace

MAX_CELLS = 40_000  # input canvas and output cells in one picture
MAX_FRAMES = 4_096  # animated frames (one per output position); --frame draws any one
FRAME_SECONDS = 0.8

STYLE = """
text{font-family:DejaVu Sans,Arial,sans-serif;fill:#111}
.title{font-size:15px;font-weight:bold}.label{font-size:12px}.small{font-size:10px}
.cell{stroke:#333;stroke-width:1}
.data{fill:#cfe2f3}.pad{fill:#ffffff;stroke:#777;stroke-dasharray:4 2}
.zero{fill:#e9e9e9;stroke:#777;stroke-dasharray:1 2}
.over{fill:#ffffff;stroke:#bbb;stroke-dasharray:1 3}
.out{fill:#ffffff}.done{fill:#7fb3d5}
.tap{fill:#12355b;fill-opacity:0.35;stroke:#000;stroke-width:2.5}
.now{fill:#c0392b;fill-opacity:0.45;stroke:#000;stroke-width:3}
.dropped{fill:none;stroke:#c0392b;stroke-width:2;stroke-dasharray:6 3}
.v{font-size:11px;text-anchor:middle;dominant-baseline:central}
.box{fill:#eef4fa;stroke:#12355b;stroke-width:1.5}.edge{stroke:#333;stroke-width:1.5;fill:none}
.skip{stroke:#c0392b;stroke-width:1.5;fill:none;stroke-dasharray:5 3}
"""


def _escape(text: str) -> str:
    """Text from input as SVG/HTML data: what XML forbids dropped, controls shown escaped, markup
    escaped."""
    from convcalc.boundary import xml_text

    return html.escape(xml_text(text))


@dataclass(frozen=True)
class Axis:
    """One spatial dimension of a figure: the canvas cells the windows move over (input
    coordinates for a conv or pool, zero-inserted coordinates for a transposed conv) and, per
    output position, the cells its window reads."""

    lo: int  # first canvas coordinate drawn
    kinds: tuple[str, ...]  # per canvas cell: data, pad, zero (inserted), over (past the padding)
    sources: tuple[int | None, ...]  # per canvas cell: the input index it shows
    taps: tuple[tuple[int, ...], ...]  # per output index: canvas coordinates of its window
    dropped: tuple[int, ...] = ()  # a ceil_mode window PyTorch drops (it starts in the padding)

    @property
    def size(self) -> int:
        return len(self.kinds)


def axis_of(dim: DimShape) -> Axis:
    """The canvas of one dimension: a conv's or pool's padded input, or a transposed conv's
    zero-inserted input with its effective padding ``d*(k-1) - p`` (the conv view)."""
    k, d = dim.kernel, dim.dilation
    if dim.kind is OpKind.CONVTRANSPOSE:
        s = dim.stride
        inserted = dim.zero_inserted_input
        before, after = dim.effective_padding
        taps = tuple(tuple(o - before + t * d for t in range(k)) for o in range(dim.output))
        lo = min(-before, 0)
        hi = max(inserted + after, inserted)
        hi = max(hi, max((max(w) + 1 for w in taps), default=hi))

        def kind(c: int) -> tuple[str, int | None]:
            if 0 <= c < inserted:
                return ("data", c // s) if c % s == 0 else ("zero", None)
            return ("pad", None) if -before <= c < inserted + after else ("over", None)

    else:
        s = dim.stride
        before, after = dim.pad_before, dim.pad_after
        taps = tuple(tuple(o * s - before + t * d for t in range(k)) for o in range(dim.output))
        lo = min(-before, min((min(w) for w in taps), default=0))
        hi = max(dim.input + after, max((max(w) + 1 for w in taps), default=0))
        dropped: tuple[int, ...] = ()
        if dim.ceil_dropped_last:
            dropped = tuple(dim.output * s - before + t * d for t in range(k))
            lo, hi = min(lo, min(dropped)), max(hi, max(dropped) + 1)

        def kind(c: int) -> tuple[str, int | None]:
            if 0 <= c < dim.input:
                return "data", c
            return ("pad", None) if -before <= c < dim.input + after else ("over", None)

        cells = [kind(c) for c in range(lo, hi)]
        return Axis(lo, tuple(c[0] for c in cells), tuple(c[1] for c in cells), taps, dropped)
    cells = [kind(c) for c in range(lo, hi)]
    return Axis(lo, tuple(c[0] for c in cells), tuple(c[1] for c in cells), taps)


def _cell_kind(kinds: list[str]) -> str:
    for kind in ("over", "pad", "zero"):
        if kind in kinds:
            return kind
    return "data"


def _frame_order(out: tuple[int, ...]) -> list[tuple[int, ...]]:
    """Output positions in row-major order (one per frame)."""
    if len(out) == 1:
        return [(i,) for i in range(out[0])]
    return [(i, j) for i in range(out[0]) for j in range(out[1])]


def _number(value: Any) -> str:
    """An exact number as the trace prints it: ints whole, Fractions as 41/9, floats short."""
    kind = type(value)
    if kind is int:
        return str(value)
    if kind is Fraction:
        return str(value) if value.denominator != 1 else str(value.numerator)
    if kind is float or getattr(getattr(value, "dtype", None), "kind", "") == "f":
        return f"{float(value):.4g}"
    return str(value)


@dataclass(frozen=True)
class Figure:
    """What one picture shows: axes (rows, cols), the output grid, values where traced."""

    title: str
    axes: tuple[Axis, ...]  # 1 (a row) or 2 (rows, columns)
    out: tuple[int, ...]
    caption: tuple[str, ...]
    values_in: dict[tuple[int, ...], str] | None = None  # by input position
    values_out: dict[tuple[int, ...], str] | None = None  # by output position
    cell: int = 30
    kernel: tuple[tuple[str, ...], ...] = ()  # a trace's weights as drawn (rows of values)
    kernel_label: str = "kernel"

    @property
    def rows(self) -> int:
        return self.axes[0].size if len(self.axes) == 2 else 1

    @property
    def cols(self) -> int:
        return self.axes[-1].size

    @property
    def out_rows(self) -> int:
        return self.out[0] if len(self.out) == 2 else 1

    @property
    def out_cols(self) -> int:
        return self.out[-1]


def figure_of(shape: LayerShape, trace: Trace | None = None) -> Figure:
    """The figure of a layer's shape (and, with a trace, its numbers)."""
    spec = shape.spec
    if spec.ndim not in (1, 2):
        raise MalformedInputError(
            f"--format svg: pictures are 1-d and 2-d; {spec.name} has {spec.ndim} dimensions"
        )
    if spec.kind not in (OpKind.CONV, OpKind.CONVTRANSPOSE, OpKind.MAXPOOL, OpKind.AVGPOOL):
        raise MalformedInputError(
            f"--format svg draws conv, convtranspose, maxpool and avgpool, not {spec.kind.value}"
        )
    axes = tuple(axis_of(dim) for dim in shape.dims)
    out = tuple(dim.output for dim in shape.dims)
    cells = math.prod(a.size for a in axes) + math.prod(out)
    if cells > MAX_CELLS:
        raise MalformedInputError(
            f"--format svg: {cells:,} cells; a picture holds at most {MAX_CELLS:,} (choose a "
            "smaller input)"
        )
    dims = [
        f"{'×'.join(str(d.input) for d in shape.dims)} input",
        f"kernel {'×'.join(str(d.kernel) for d in shape.dims)}",
        f"stride {'×'.join(str(d.stride) for d in shape.dims)}",
    ]
    if any(d.pad_before or d.pad_after for d in shape.dims):
        pads = [
            str(d.pad_before) if d.symmetric else f"{d.pad_before}:{d.pad_after}"
            for d in shape.dims
        ]
        dims.append("padding " + "×".join(pads))
    if any(d.dilation != 1 for d in shape.dims):
        dims.append(f"dilation {'×'.join(str(d.dilation) for d in shape.dims)}")
    if spec.kind is OpKind.CONVTRANSPOSE and any(d.output_padding for d in shape.dims):
        dims.append(f"output_padding {'×'.join(str(d.output_padding) for d in shape.dims)}")
    if spec.ceil_mode:
        dims.append("ceil_mode")
    title = (
        f"{spec.name}: {'×'.join(str(d.input) for d in shape.dims)} -> {'×'.join(map(str, out))}"
    )
    caption = [", ".join(dims)]
    if spec.kind is OpKind.CONVTRANSPOSE:
        eff = "×".join(f"{d.effective_padding[0]}:{d.effective_padding[1]}" for d in shape.dims)
        caption.append(
            f"conv view: {max(d.stride for d in shape.dims) - 1} zero(s) inserted between input "
            f"elements, padding d(k-1)-p = {eff}, the kernel rotated 180°, stride 1"
        )
    if any(a.dropped for a in axes):
        caption.append("dashed red: the last ceil_mode window, dropped (it starts in the padding)")
    values_in = values_out = None
    width = 30
    kernel: tuple[tuple[str, ...], ...] = ()
    kernel_label = "kernel"
    if trace is not None:
        values_in, values_out = _trace_values(trace)
        if trace.w is not None:
            weights = trace.w.reshape(trace.w.shape[2:])
            if spec.kind is OpKind.CONVTRANSPOSE:  # the conv view reads it rotated
                weights = weights[::-1, ::-1] if weights.ndim == 2 else weights[::-1]
                kernel_label = "kernel, rotated 180° (conv view)"
            grid = weights if weights.ndim == 2 else weights.reshape(1, -1)
            kernel = tuple(tuple(_number(v) for v in row) for row in grid.tolist())
        cells_text = [*values_in.values(), *values_out.values(), *(v for r in kernel for v in r)]
        longest = max((len(v) for v in cells_text), default=1)
        width = max(30, 8 * longest + 10)
    return Figure(
        title, axes, out, tuple(caption), values_in, values_out, width, kernel, kernel_label
    )


def _trace_values(trace: Trace) -> tuple[dict[tuple[int, ...], str], dict[tuple[int, ...], str]]:
    if trace.x.shape[0] != 1 or trace.out_channels != 1:
        raise MalformedInputError(
            "--format svg/html draws one channel: give a plain matrix (--x '1,2;3,4') and a "
            f"single kernel (this layer has {trace.x.shape[0]} input and {trace.out_channels} "
            "output channels)"
        )
    x = trace.x[0]
    values_in = {tuple(int(i) for i in index): _number(x[index]) for index in _indices(x.shape)}
    out = trace.output
    values_out: dict[tuple[int, ...], str] = {}
    if out is not None:
        values_out = {
            tuple(int(i) for i in index): _number(out[0][index])
            for index in _indices(out.shape[1:])
        }
    return values_in, values_out


def _indices(shape: tuple[int, ...]) -> list[tuple[int, ...]]:
    import itertools

    return list(itertools.product(*(range(n) for n in shape)))


# --- SVG ------------------------------------------------------------------------------------------


class _Svg:
    def __init__(self) -> None:
        self.parts: list[str] = []

    def add(self, text: str) -> None:
        self.parts.append(text)

    def text(self, x: float, y: float, value: str, cls: str, extra: str = "") -> None:
        self.add(f'<text x="{x:g}" y="{y:g}" class="{cls}"{extra}>{_escape(value)}</text>')

    def rect(self, x: float, y: float, w: float, h: float, cls: str, extra: str = "") -> None:
        self.add(f'<rect x="{x:g}" y="{y:g}" width="{w:g}" height="{h:g}" class="{cls}"{extra}/>')


@dataclass(frozen=True)
class _Layout:
    cell: int
    in_x: int
    in_y: int
    out_x: int
    out_y: int
    width: int
    height: int


def _layout(fig: Figure) -> _Layout:
    c = fig.cell
    in_x, in_y = 20, 60
    out_x = in_x + fig.cols * c + 70
    width = max(out_x + fig.out_cols * c + 20, 520, in_x + 20 + 7 * max(map(len, fig.caption)))
    right = fig.out_rows + (len(fig.kernel) + 2 if fig.kernel else 0)
    grid_bottom = in_y + max(fig.rows, right) * c
    if fig.kernel:
        width = max(width, out_x + len(fig.kernel[0]) * c + 20, out_x + 7 * len(fig.kernel_label))
    height = grid_bottom + 40 + 18 * len(fig.caption) + 30
    return _Layout(c, in_x, in_y, out_x, in_y, width, height)


def _canvas_cell(fig: Figure, position: tuple[int, ...]) -> tuple[int, int]:
    """(row, col) of a canvas coordinate tuple."""
    if len(fig.axes) == 1:
        return 0, position[0] - fig.axes[0].lo
    return position[0] - fig.axes[0].lo, position[1] - fig.axes[1].lo


def _window(fig: Figure, out: tuple[int, ...]) -> list[tuple[int, ...]]:
    if len(fig.axes) == 1:
        return [(c,) for c in fig.axes[0].taps[out[0]]]
    return [(r, c) for r in fig.axes[0].taps[out[0]] for c in fig.axes[1].taps[out[1]]]


def _draw_grids(svg: _Svg, fig: Figure, lay: _Layout) -> None:
    c = lay.cell
    svg.text(lay.in_x, 22, fig.title, "title")
    padded = any("pad" in axis.kinds for axis in fig.axes)
    svg.text(lay.in_x, lay.in_y - 10, "input (padding dashed)" if padded else "input", "label")
    svg.text(lay.out_x, lay.out_y - 10, "output", "label")
    svg.add('<g class="input">')
    for r in range(fig.rows):
        for col in range(fig.cols):
            kinds, sources = [], []
            for axis, index in zip(fig.axes, (r, col) if len(fig.axes) == 2 else (col,)):
                kinds.append(axis.kinds[index])
                sources.append(axis.sources[index])
            kind = _cell_kind(kinds)
            x, y = lay.in_x + col * c, lay.in_y + r * c
            svg.rect(x, y, c, c, f"cell {kind}", f' data-r="{r}" data-c="{col}"')
            if fig.values_in is not None:
                if kind == "data":
                    value = fig.values_in.get(tuple(s for s in sources if s is not None), "")
                else:
                    value = "0" if kind in ("pad", "zero") else ""
                if value:
                    svg.text(x + c / 2, y + c / 2, value, "v")
    svg.add("</g>")
    svg.add('<g class="output">')
    for r in range(fig.out_rows):
        for col in range(fig.out_cols):
            x, y = lay.out_x + col * c, lay.out_y + r * c
            svg.rect(x, y, c, c, "cell out", f' data-r="{r}" data-c="{col}"')
    svg.add("</g>")
    # sizes along the grids
    svg.text(lay.in_x, lay.in_y + fig.rows * c + 16, f"{fig.rows}×{fig.cols} canvas", "small")
    svg.text(
        lay.out_x,
        lay.out_y + fig.out_rows * c + 16,
        f"{'×'.join(map(str, fig.out))}",
        "small",
    )
    if fig.kernel:
        top = lay.out_y + (fig.out_rows + 2) * c
        svg.text(lay.out_x, top - 10, fig.kernel_label, "label")
        svg.add('<g class="kernel">')
        for r, row in enumerate(fig.kernel):
            for col, value in enumerate(row):
                x, y = lay.out_x + col * c, top + r * c
                svg.rect(x, y, c, c, "cell data")
                svg.text(x + c / 2, y + c / 2, value, "v")
        svg.add("</g>")
    right = fig.out_rows + (len(fig.kernel) + 2 if fig.kernel else 0)
    y = lay.in_y + max(fig.rows, right) * c + 40
    for line in fig.caption:
        svg.text(lay.in_x, y, line, "label")
        y += 18


def _dropped(svg: _Svg, fig: Figure, lay: _Layout) -> None:
    c = lay.cell
    for index, axis in enumerate(fig.axes):
        if not axis.dropped:
            continue
        lo, hi = min(axis.dropped), max(axis.dropped)
        if len(fig.axes) == 1:
            x0, y0, w, h = (lo - axis.lo) * c, 0, (hi - lo + 1) * c, c
        elif index == 0:
            x0, y0, w, h = 0, (lo - axis.lo) * c, fig.cols * c, (hi - lo + 1) * c
        else:
            x0, y0, w, h = (lo - axis.lo) * c, 0, (hi - lo + 1) * c, fig.rows * c
        svg.rect(lay.in_x + x0, lay.in_y + y0, w, h, "dropped")


def _output_corner(lay: _Layout, out: tuple[int, ...]) -> tuple[int, int]:
    r, col = (out[0], out[1]) if len(out) == 2 else (0, out[0])
    return lay.out_x + col * lay.cell, lay.out_y + r * lay.cell


def window_cells(fig: Figure, out: tuple[int, ...], lay: _Layout | None = None) -> list[list[int]]:
    """A step's window as [x, y] pixel corners in the figure, the output cell last: what the
    animation's frames, a still and the HTML page's script all draw."""
    lay = lay or _layout(fig)
    cells = []
    for position in _window(fig, out):
        r, col = _canvas_cell(fig, position)
        cells.append([lay.in_x + col * lay.cell, lay.in_y + r * lay.cell])
    cells.append(list(_output_corner(lay, out)))
    return cells


def _draw_window(svg: _Svg, fig: Figure, lay: _Layout, out: tuple[int, ...]) -> None:
    cells = window_cells(fig, out, lay)
    for number, (x, y) in enumerate(cells):
        svg.rect(x, y, lay.cell, lay.cell, "now" if number == len(cells) - 1 else "tap")


def _switch(frame: int, count: int, *, stays: bool) -> str:
    """SMIL: visible from the frame's start (until its end, or for good with ``stays``)."""
    start, stop = frame / count, (frame + 1) / count
    values, times = (
        ("hidden;visible", f"0;{start:.6f}")
        if stays
        else (
            "hidden;visible;hidden",
            f"0;{start:.6f};{stop:.6f}",
        )
    )
    return (
        f'<animate attributeName="visibility" values="{values}" keyTimes="{times}" '
        f'calcMode="discrete" dur="{count * FRAME_SECONDS:g}s" repeatCount="indefinite"/>'
    )


def _results(
    svg: _Svg, fig: Figure, lay: _Layout, order: list[tuple[int, ...]], upto: int | None
) -> None:
    """The output cells (and values), each from its frame on: animated when ``upto`` is None
    (the document itself holds every result, so a viewer that does not animate shows the finished
    figure; the animation hides each until its frame), else those up to ``upto`` shown and the
    rest hidden (the HTML page reveals them)."""
    c = lay.cell
    svg.add('<g class="results">')
    for frame, out in enumerate(order):
        x, y = _output_corner(lay, out)
        hidden = "" if upto is None or frame <= upto else ' visibility="hidden"'
        svg.add(f'<g class="result" data-frame="{frame}"{hidden}>')
        svg.rect(x, y, c, c, "cell done")
        if fig.values_out:
            svg.text(x + c / 2, y + c / 2, fig.values_out.get(out, ""), "v")
        if upto is None:
            svg.add(_switch(frame, len(order), stays=True))
        svg.add("</g>")
    svg.add("</g>")


def figure_svg(fig: Figure, frame: tuple[int, ...] | None = None, *, script: bool = False) -> str:
    """The SVG: animated over every output position, or the still of ``frame`` (its window and
    the outputs computed so far). ``script``: no animation and one empty window group that the
    HTML page draws each step's window into (window_cells gives the cells)."""
    order = _frame_order(fig.out)
    if frame is not None:
        if len(frame) != len(fig.out) or not all(0 <= f < n for f, n in zip(frame, fig.out)):
            raise MalformedInputError(
                f"--frame: {','.join(map(str, frame))} is not an output position of "
                f"{'×'.join(map(str, fig.out))}"
            )
    elif not script and len(order) > MAX_FRAMES:
        raise MalformedInputError(
            f"--format svg: {len(order):,} output positions; an animation has at most "
            f"{MAX_FRAMES:,} frames (draw one with --frame i,j)"
        )
    lay = _layout(fig)
    svg = _Svg()
    svg.add(
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{lay.width}" height="{lay.height}" '
        f'viewBox="0 0 {lay.width} {lay.height}" role="img">'
    )
    svg.add(f"<title>{_escape(fig.title)}</title>")
    svg.add(f"<style>{STYLE}</style>")
    svg.rect(0, 0, lay.width, lay.height, "", ' fill="#ffffff"')
    _draw_grids(svg, fig, lay)
    _dropped(svg, fig, lay)
    if frame is None and script:  # the page moves one window from step to step
        _results(svg, fig, lay, order, -1)
        svg.add('<g class="frame" id="window" data-frame="0"></g>')
    elif frame is None:
        _results(svg, fig, lay, order, None)
        for number, out in enumerate(order):
            # without animation the last window stands (the finished figure); SMIL moves it
            hidden = "" if number == len(order) - 1 else ' visibility="hidden"'
            svg.add(f'<g class="frame" data-frame="{number}"{hidden}>')
            _draw_window(svg, fig, lay, out)
            svg.add(_switch(number, len(order), stays=False))
            svg.add("</g>")
    else:
        current = order.index(frame)
        _results(svg, fig, lay, order, current)
        svg.add(f'<g class="frame" data-frame="{current}">')
        _draw_window(svg, fig, lay, frame)
        svg.add("</g>")
    _legend(svg, fig, lay)
    svg.add("</svg>")
    return "\n".join(svg.parts) + "\n"


def _legend(svg: _Svg, fig: Figure, lay: _Layout) -> None:
    y = lay.height - 22
    x = lay.in_x
    drawn = {kind for axis in fig.axes for kind in axis.kinds}
    items = [
        (cls, label)
        for cls, label in (("data", "input"), ("pad", "padding"), ("zero", "inserted zero"))
        if cls in drawn
    ]  # only what the figure draws: no "padding" in a picture without any
    items += [("tap", "kernel footprint"), ("now", "output")]
    for cls, label in items:
        svg.rect(x, y, 14, 14, f"cell {cls}")
        svg.text(x + 19, y + 11, label, "small")
        x += 24 + 7 * len(label)


# --- HTML -----------------------------------------------------------------------------------------

_SCRIPT = """
const steps = JSON.parse(document.getElementById('steps').textContent);
const cell = Number(document.getElementById('steps').dataset.cell);
const SVG = 'http://www.w3.org/2000/svg';
let current = 0;
function show(k) {
  current = Math.max(0, Math.min(steps.length - 1, k));
  const win = document.getElementById('window');
  win.dataset.frame = String(current);
  win.replaceChildren();
  steps[current].cells.forEach((xy, i) => {
    const r = document.createElementNS(SVG, 'rect');
    r.setAttribute('x', xy[0]); r.setAttribute('y', xy[1]);
    r.setAttribute('width', cell); r.setAttribute('height', cell);
    r.setAttribute('class', i === steps[current].cells.length - 1 ? 'now' : 'tap');
    win.appendChild(r);
  });
  document.querySelectorAll('g.result').forEach(g => g.setAttribute('visibility',
    Number(g.dataset.frame) <= current ? 'visible' : 'hidden'));
  document.querySelectorAll('tr.step').forEach(tr => tr.classList.toggle('current',
    Number(tr.dataset.step) === current));
  document.querySelectorAll('.views td[data-col]').forEach(td => td.classList.toggle('hl',
    Number(td.dataset.col) === current));
  const step = steps[current];
  document.getElementById('where').textContent =
    'step ' + (current + 1) + ' of ' + steps.length + ': output ' + step.at;
  const list = document.getElementById('sum');
  list.replaceChildren();
  step.terms.forEach(t => {
    const li = document.createElement('li');
    li.textContent = t[0] + '   running sum ' + t[1];
    list.appendChild(li);
  });
  document.getElementById('value').textContent = step.result;
  const row = document.querySelector('tr.step.current');
  if (row) row.scrollIntoView({block: 'nearest'});
}
document.getElementById('prev').addEventListener('click', () => show(current - 1));
document.getElementById('next').addEventListener('click', () => show(current + 1));
document.getElementById('first').addEventListener('click', () => show(0));
document.getElementById('last').addEventListener('click', () => show(steps.length - 1));
document.addEventListener('keydown', e => {
  if (e.key === 'ArrowRight' || e.key === 'ArrowDown') { show(current + 1); e.preventDefault(); }
  if (e.key === 'ArrowLeft' || e.key === 'ArrowUp') { show(current - 1); e.preventDefault(); }
  if (e.key === 'Home') show(0);
  if (e.key === 'End') show(steps.length - 1);
});
show(0);
"""

_PAGE_STYLE = """
body{font-family:DejaVu Sans,Arial,sans-serif;margin:1.5em;color:#111;max-width:70em}
button{font-size:1em;margin-right:.4em;padding:.3em .8em}
#where{font-weight:bold;margin:.6em 0}
#sum{font-family:DejaVu Sans Mono,monospace;margin:.3em 0}
#value{font-family:DejaVu Sans Mono,monospace;font-weight:bold}
table{border-collapse:collapse;margin-top:1em;font-family:DejaVu Sans Mono,monospace;font-size:.9em}
td,th{border:1px solid #999;padding:.2em .5em;text-align:left}
tr.current{background:#fde2cf;outline:2px solid #c0392b}
h1{font-size:1.4em}h2{font-size:1.05em;margin-top:1.2em}
.views table{margin:.5em 0}.views td.hl{background:#fde2cf;outline:2px solid #c0392b}
.views td.cropped{background:#e9e9e9;color:#666}
"""


def _step_terms(step: Step, pool: OpKind | None) -> tuple[list[list[str]], str]:
    """Per term: its text and the running sum; and the result line."""
    rows: list[list[str]] = []
    running: Any = 0
    for term in step.terms:
        if term.weight_value is None:  # a pool's window element
            text = f"x{list(term.input_index[1:])} = {_number(term.input_value)}"
            if pool is OpKind.MAXPOOL:
                running = term.input_value if not rows else max(running, term.input_value)
                rows.append([text, f"max so far {_number(running)}"])
                continue
            running = running + term.input_value
        else:
            where = "padding" if term.padding else f"x{list(term.input_index[1:])}"
            text = (
                f"{where} {_number(term.input_value)} × w{list(term.weight_index or ())[2:]} "
                f"{_number(term.weight_value)} = {_number(term.product)}"
            )
            running = running + term.product
        rows.append([text, _number(running)])
    result = f"= {_number(step.value)}"
    if step.bias is not None:
        result = f"+ bias {_number(step.bias)} " + result
    if step.divisor is not None:
        result = f"÷ {step.divisor} ({step.divisor_reason}) " + result
    return rows, result


def trace_html(trace: Trace, view_html: str = "") -> str:
    """One self-contained page: the figure, the steps, previous/next buttons and arrow keys,
    the current window and output cell highlighted, the running sum shown."""
    from convcalc.shapes import LayerShape

    assert isinstance(trace.shape, LayerShape), "pictures draw layers with windows"
    fig = figure_of(trace.shape, trace)
    order = _frame_order(fig.out)
    if len(order) > MAX_FRAMES:
        raise MalformedInputError(
            f"--format html: {len(order):,} steps; a page steps through at most {MAX_FRAMES:,}"
        )
    svg = figure_svg(fig, script=True)
    pool = trace.spec.kind if trace.spec.kind.is_pool else None
    steps = []
    rows = []
    lay = _layout(fig)
    for number, position in enumerate(order):
        step = trace.step_at((0, *position))
        terms, result = _step_terms(step, pool)
        at = "[" + ", ".join(map(str, position)) + "]"
        steps.append(
            {"at": at, "terms": terms, "result": result, "cells": window_cells(fig, position, lay)}
        )
        rows.append(
            f'<tr class="step" data-step="{number}"><td>{number + 1}</td><td>{at}</td>'
            f"<td>{_escape(' + '.join(t[0].split(' = ')[-1] for t in terms) or '-')}</td>"
            f"<td>{_escape(_number(step.value))}</td></tr>"
        )
    data = json.dumps(steps, separators=(",", ":")).replace("</", "<\\/")
    title = _escape(fig.title)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>{_PAGE_STYLE}</style></head>
<body>
<h1>{title}</h1>
<div>{svg}</div>
<div><button id="first">|&lt;</button><button id="prev">&lt; previous</button>
<button id="next">next &gt;</button><button id="last">&gt;|</button>
<span class="small">(or the arrow keys)</span></div>
<div id="where"></div>
<ol id="sum"></ol>
<div>result: <span id="value"></span></div>
{view_html}
<table><thead><tr><th>step</th><th>output</th><th>products</th><th>value</th></tr></thead>
<tbody>{"".join(rows)}</tbody></table>
<script type="application/json" id="steps" data-cell="{fig.cell}">{data}</script>
<script>{_SCRIPT}</script>
</body></html>
"""


def view_tables_html(trace: Trace, view: Any) -> str:
    """The other views of a trace as tables under the figure, their cells tied to the steps:
    the current output's column of a transposed conv's matrix Cᵀ or of a conv's im2col column
    matrix is highlighted, and for the scatter view the full output canvas (before the padding
    crops it) marks the current output's cell and greys what is cropped."""
    from convcalc.trace import Im2colView, MatrixView, ScatterView

    parts = ['<div class="views">']
    if isinstance(view, ScatterView):
        parts.append(
            "<h2>scatter view: each input element times the kernel, added at i·stride; the "
            "full canvas before cropping</h2>"
        )
        full = view.full[0]
        crop = view.crop
        out = tuple(stop - start for start, stop in crop)
        grid = full if full.ndim == 2 else full.reshape(1, -1)
        starts = [start for start, _ in crop] if full.ndim == 2 else [0, crop[0][0]]
        sizes = list(out) if full.ndim == 2 else [1, out[0]]
        rows = []
        for r, row in enumerate(grid.tolist()):
            cells = []
            for col, value in enumerate(row):
                rr, cc = r - starts[0], col - starts[1]
                inside = 0 <= rr < sizes[0] and 0 <= cc < sizes[1]
                attr = f' data-col="{rr * sizes[1] + cc}"' if inside else ' class="cropped"'
                cells.append(f"<td{attr}>{_escape(_number(value))}</td>")
            rows.append("<tr>" + "".join(cells) + "</tr>")
        parts.append(f"<table>{''.join(rows)}</table>")
        parts.append("<p>grey: cropped by the padding; highlighted: the current output.</p>")
    elif isinstance(view, MatrixView):
        parts.append(
            "<h2>matrix view: output = Cᵀ · input (flattened); the current output reads its "
            "column</h2>"
        )
        parts.append(_grid_table(view.matrix))
    elif isinstance(view, Im2colView):
        parts.append(
            "<h2>im2col view: the column matrix, one column per output position (the current "
            "one highlighted)</h2>"
        )
        parts.append(_grid_table(view.columns))
    parts.append("</div>")
    return "".join(parts) if len(parts) > 2 else ""


def _grid_table(values: Any) -> str:
    import numpy as np

    grid = np.asarray(values)
    if grid.ndim == 1:
        grid = grid.reshape(1, -1)
    while grid.ndim > 2:
        grid = grid[0]
    rows = "".join(
        "<tr>"
        + "".join(f'<td data-col="{col}">{_escape(_number(v))}</td>' for col, v in enumerate(row))
        + "</tr>"
        for row in grid.tolist()
    )
    return f"<table>{rows}</table>"


# --- networks -------------------------------------------------------------------------------------


# A network picture puts its boxes in columns of at most this many when it has more (ResNet-18's
# 70 layers were one column 4,000 pixels tall); each column keeps lanes for skip arrows.
NET_COLUMN_ROWS = 24
_LANES = 10


def net_svg(report: NetworkReport) -> str:
    """The network as boxes (name, layer, output shape) in columns read top to bottom, left to
    right, arrows between them, and each skip connection (a `from` that is not the layer before)
    as a dashed arrow: in its column's lanes, or straight across to another column."""
    import math

    result = report.result
    layers = result.layers
    count = len(layers) + 1  # the input box too
    rows = (
        count if count <= NET_COLUMN_ROWS else max(NET_COLUMN_ROWS, math.ceil(math.sqrt(count * 5)))
    )
    columns = math.ceil(count / rows)
    box_w, box_h, gap, left, lane_w = 340, 40, 18, 40, 12
    column_w = box_w + 30 + lane_w * _LANES
    width = left + columns * column_w
    height = 70 + rows * (box_h + gap) + 20
    svg = _Svg()
    svg.add(
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img">'
    )
    title = f"{result.source or 'network'}: {len(layers)} layers"
    svg.add(f"<title>{_escape(title)}</title>")
    svg.add(f"<style>{STYLE}</style>")
    svg.add(
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
        'fill="#333"/></marker></defs>'
    )
    svg.rect(0, 0, width, height, "", ' fill="#ffffff"')
    svg.text(left, 24, title, "title")

    def x_of(index: int) -> int:  # index 0: the network input
        return left + (index // rows) * column_w

    def top(index: int) -> int:
        return 50 + (index % rows) * (box_h + gap)

    def dims(shape: tuple[int, ...]) -> str:
        return "×".join(map(str, shape[1:]))

    svg.add('<g class="layer" data-index="0">')
    svg.rect(x_of(0), top(0), box_w, box_h, "box")
    svg.text(x_of(0) + 10, top(0) + 17, "input", "label")
    svg.text(x_of(0) + 10, top(0) + 32, dims(result.input_shape), "small")
    svg.add("</g>")
    names = {"input": 0} | {layer.name: layer.index for layer in layers}
    lanes = [0] * columns
    skips = 0
    for layer in layers:
        x, y = x_of(layer.index), top(layer.index)
        svg.add(f'<g class="layer" data-index="{layer.index}">')
        svg.rect(x, y, box_w, box_h, "box")
        label = (
            layer.summary if layer.name == str(layer.index) else f"{layer.name}: {layer.summary}"
        )
        svg.text(x + 10, y + 17, f"{layer.index}  {label}"[:52], "label")
        svg.text(x + 10, y + 32, dims(layer.output_shape), "small")
        svg.add("</g>")
        for source in layer.sources:
            origin = names.get(source, layer.index - 1)
            ox, oy = x_of(origin), top(origin)
            if origin == layer.index - 1 and ox == x:
                svg.add(
                    f'<path class="edge" d="M{x + box_w / 2},{oy + box_h} '
                    f'L{x + box_w / 2},{y}" marker-end="url(#arrow)"/>'
                )
                continue
            if origin == layer.index - 1:  # on to the next column: down, across, up to its top
                bottom = oy + box_h + gap / 2
                path = (
                    f"M{ox + box_w / 2},{oy + box_h} L{ox + box_w / 2},{bottom} "
                    f"L{ox + box_w + 15},{bottom} L{ox + box_w + 15},{y - gap / 2} "
                    f"L{x + box_w / 2},{y - gap / 2} L{x + box_w / 2},{y}"
                )
                svg.add(f'<path class="edge" d="{path}" marker-end="url(#arrow)"/>')
                continue
            if ox == x:  # a skip within the column, in one of its lanes
                column = layer.index // rows
                lanes[column] += 1
                lx = x + box_w + 24 + lane_w * (lanes[column] % _LANES)
                path = (
                    f"M{x + box_w},{oy + box_h / 2} L{lx},{oy + box_h / 2} "
                    f"L{lx},{y + box_h / 2} L{x + box_w},{y + box_h / 2}"
                )
            else:  # a skip from an earlier column: straight across
                path = f"M{ox + box_w},{oy + box_h / 2} L{x},{y + box_h / 2}"
            svg.add(
                f'<path class="skip" data-from="{_escape(source)}" '
                f'data-to="{_escape(layer.name)}" d="{path}" marker-end="url(#arrow)"/>'
            )
            skips += 1
    if skips:  # the legend says only what is drawn
        svg.text(left, height - 10, "dashed: a skip connection (from = ...)", "small")
    svg.add("</svg>")
    return "\n".join(svg.parts) + "\n"
