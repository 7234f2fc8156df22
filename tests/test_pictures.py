"""Pictures: the SVG's structure (cells, frames, windows) checked against the shapes and the
trace's own windows; the HTML page's data; the network picture's boxes and skip arrows; the
limits and errors. The browser tests are in test_browser.py."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from typer.testing import CliRunner

from convcalc.cli import app
from convcalc.conventions import shape_query
from convcalc.pictures import axis_of, figure_of, figure_svg
from convcalc.specs import LayerArgs, parse_op
from convcalc.trace import ConvView, conv_view, trace_layer

NS = {"s": "http://www.w3.org/2000/svg"}
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SEED_X = "1,2,3,4,5;6,7,8,9,10;11,12,13,14,15;16,17,18,19,20;21,22,23,24,25"


def svg(runner: CliRunner, *args: str) -> ET.Element:
    result = runner.invoke(app, [*args, "--format", "svg"])
    assert result.exit_code == 0, result.stdout + result.stderr
    return ET.fromstring(result.stdout)


def groups(root: ET.Element, cls: str) -> list[ET.Element]:
    return [g for g in root.iter("{http://www.w3.org/2000/svg}g") if g.get("class") == cls]


def test_conv_svg_structure(runner: CliRunner) -> None:
    """5x5, k3 s2 p1: a 7x7 canvas (25 data, 24 padding cells), 3x3 outputs, 9 animated frames
    of 9 kernel cells each, outputs filling in; no script."""
    root = svg(runner, "shape", "conv2d", "--in", "5", "--k", "3", "--s", "2", "--p", "1")
    cells = groups(root, "input")[0].findall("s:rect", NS)
    kinds = [c.get("class", "").split()[1] for c in cells]
    assert len(cells) == 49 and kinds.count("data") == 25 and kinds.count("pad") == 24
    assert len(groups(root, "output")[0].findall("s:rect", NS)) == 9
    frames = groups(root, "frame")
    assert len(frames) == 9
    for number, frame in enumerate(frames):
        assert len([r for r in frame.findall("s:rect", NS) if r.get("class") == "tap"]) == 9
        assert len([r for r in frame.findall("s:rect", NS) if r.get("class") == "now"]) == 1
        assert frame.find("s:animate", NS) is not None
        # without animation the last window stands (issue 19: the finished figure)
        assert frame.get("visibility") == (None if number == 8 else "hidden")
    results = groups(root, "result")
    assert len(results) == 9 and all(r.get("visibility") is None for r in results)
    assert not list(root.iter("{http://www.w3.org/2000/svg}script"))
    texts = " ".join(t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text"))
    assert "conv2d: 5×5 -> 3×3" in texts and "padding 1×1" in texts


def test_still_frame(runner: CliRunner) -> None:
    """--frame 1,2: one window shown, the outputs computed up to it, nothing animated."""
    root = svg(runner, "shape", "conv2d", "--in", "5", "--k", "3", "--frame", "1,2")
    assert len(groups(root, "frame")) == 1 and groups(root, "frame")[0].get("data-frame") == "5"
    assert not list(root.iter("{http://www.w3.org/2000/svg}animate"))
    shown = [g for g in groups(root, "result") if g.get("visibility") != "hidden"]
    assert len(shown) == 6


@pytest.mark.parametrize(
    ("op", "size", "args"),
    [
        (
            "conv2d",
            (6, 7),
            LayerArgs(kernel_size=(3, 2), stride=(2, 1), padding=(1, 0), dilation=(1, 2)),
        ),
        (
            "maxpool2d",
            (9, 5),
            LayerArgs(kernel_size=(4, 2), stride=(4, 2), padding=(2, 1), ceil_mode=True),
        ),
        (
            "avgpool1d",
            (11,),
            LayerArgs(kernel_size=(3,), stride=(2,), padding=(1,), ceil_mode=True),
        ),
        ("conv1d", (8,), LayerArgs(kernel_size=(3,), stride=(3,), padding=(2,), dilation=(2,))),
    ],
)
def test_windows_are_the_traces(op: str, size: tuple[int, ...], args: LayerArgs) -> None:
    """Every frame's footprint is the window the trace reads for that output (its first and
    last element per dimension, with the dilation between)."""
    import numpy as np

    x = np.arange(1, 1 + int(np.prod(size))).reshape(size)
    w = np.ones(args.kernel_size, dtype=int) if "conv" in op else None
    trace = trace_layer(
        op,
        x,
        w,
        kernel_size=args.kernel_size,
        stride=args.stride,
        padding=args.padding,
        dilation=args.dilation,
        ceil_mode=args.ceil_mode,
    )
    fig = figure_of(trace.shape, trace)
    for step in trace.iter_steps():
        position = step.index[1:]
        for axis, index, (start, stop), dim in zip(
            fig.axes, position, step.window, trace.shape.dims
        ):
            taps = axis.taps[index]
            assert (taps[0], taps[-1] + 1) == (start, stop), (op, position)
            assert all(b - a == dim.dilation for a, b in zip(taps, taps[1:]))


def test_transposed_conv_is_its_conv_view() -> None:
    """A transposed conv is drawn as its conv view: the zero-inserted input, padded by
    d(k-1)-p, windows of the stride-1 conv that the conv view traces."""
    import numpy as np

    trace = trace_layer(
        "convtranspose2d",
        np.arange(1, 7).reshape(2, 3),
        np.ones((3, 2), dtype=int),
        stride=(2, 3),
        padding=(1, 0),
        output_padding=(1, 2),
    )
    view = conv_view(trace)
    assert isinstance(view, ConvView)
    fig = figure_of(trace.shape, trace)
    for axis, dim in zip(fig.axes, trace.shape.dims):
        assert axis.kinds.count("data") == dim.input
        assert axis.kinds.count("zero") == (dim.input - 1) * (dim.stride - 1)
    for step in view.trace.iter_steps():
        position = step.index[1:]
        for axis, index, (start, stop) in zip(fig.axes, position, step.window):
            before = -min(0, axis.lo)
            taps = axis.taps[index]
            assert (taps[0], taps[-1] + 1) == (start - before, stop - before)


def test_dropped_ceil_window(runner: CliRunner) -> None:
    """PyTorch drops a ceil_mode window that starts in the padding (9, k4 s4 p2: 3 not 4): the
    picture marks it."""
    root = svg(
        runner, "shape", "maxpool1d", "--in", "9", "--k", "4", "--s", "4", "--p", "2", "--ceil"
    )
    dropped = [
        r for r in root.iter("{http://www.w3.org/2000/svg}rect") if r.get("class") == "dropped"
    ]
    assert len(dropped) == 1 and len(groups(root, "frame")) == 3
    shape = shape_query(
        "torch",
        parse_op("maxpool1d"),
        (9,),
        LayerArgs(kernel_size=(4,), stride=(4,), padding=(2,), ceil_mode=True),
    )[1]
    assert axis_of(shape.dims[0]).dropped == (10, 11, 12, 13)


def test_trace_svg_numbers(runner: CliRunner) -> None:
    """The seed article's 5x5 / 3x3 example: input numbers in the cells, 411 and 456 among the
    output values."""
    root = svg(runner, "trace", "conv2d", "--x", SEED_X, "--w", "1,2,3;4,5,6;7,8,9")
    inputs = [t.text for t in groups(root, "input")[0].findall("s:text", NS)]
    assert inputs == [str(v) for v in range(1, 26)]
    values = [t.text for g in groups(root, "result") for t in g.findall("s:text", NS)]
    assert values[:3] == ["411", "456", "501"] and len(values) == 9


def test_trace_html_page(runner: CliRunner, tmp_path: Path) -> None:
    """One self-contained page: the figure, every step with its terms and running sums, no
    external resources; -o writes it to a file."""
    path = tmp_path / "page.html"
    result = runner.invoke(
        app,
        [
            "trace",
            "conv2d",
            "--x",
            SEED_X,
            "--w",
            "1,2,3;4,5,6;7,8,9",
            "--format",
            "html",
            "-o",
            str(path),
        ],
    )
    assert result.exit_code == 0 and result.stdout == ""
    page = path.read_text()
    steps = json.loads(
        re.search(
            r'<script type="application/json" id="steps"[^>]*>(.*?)</script>', page, re.S
        ).group(1)
    )
    assert len(steps) == 9 and steps[0]["result"] == "= 411" and steps[0]["terms"][-1][1] == "411"
    assert not re.search(r'(src|href)="(https?:)?//', page) and "<svg" in page
    assert page.count('class="frame"') == 1  # one window, moved by the page's script
    assert [len(step["cells"]) for step in steps] == [10] * 9  # 3x3 window and the output


def test_transposed_trace_page_has_its_views(runner: CliRunner) -> None:
    """A transposed conv's page: its conv-view figure, and the scatter and matrix views."""
    base = [
        "trace",
        "convtranspose2d",
        "--x",
        "1,2;3,4",
        "--w",
        "1,0;0,1",
        "--s",
        "2",
        "--format",
        "html",
    ]
    scatter = runner.invoke(app, [*base, "--view", "scatter"]).stdout
    assert "scatter view" in scatter and "inserted zero" in scatter
    matrix = runner.invoke(app, [*base, "--view", "matrix"]).stdout
    assert "matrix view" in matrix
    im2col = runner.invoke(
        app,
        [
            "trace",
            "conv2d",
            "--x",
            SEED_X,
            "--w",
            "1,0;0,1",
            "--view",
            "im2col",
            "--format",
            "html",
        ],
    ).stdout
    assert "im2col view" in im2col


def test_net_svg(runner: CliRunner) -> None:
    """A column of boxes (the input and each layer) and one dashed arrow per skip connection."""
    root = svg(runner, "net", str(EXAMPLES / "unet.toml"))
    boxes = [g for g in groups(root, "layer")]
    assert len(boxes) == 68
    skips = [p for p in root.iter("{http://www.w3.org/2000/svg}path") if p.get("class") == "skip"]
    assert len(skips) == 4 and {p.get("data-to") for p in skips} == {
        f"up{i}.cat" for i in range(1, 5)
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["shape", "conv3d", "--in", "5", "--k", "3"], "1-d and 2-d"),
        (["shape", "conv2d", "--in", "80", "--k", "3"], "--frame"),
        (["shape", "conv2d", "--in", "1..9", "--k", "3"], "not a sweep"),
        (["shape", "conv2d", "--in", "5", "--k", "3", "--frame", "3,0"], "--frame: 3,0"),
        (["shape", "adaptiveavgpool2d", "--in", "5", "--out", "2"], "draws conv"),
        (
            ["trace", "conv2d", "--x", "[[[1,2],[3,4]],[[1,2],[3,4]]]", "--w", "[[[[1]],[[1]]]]"],
            "one channel",
        ),
        (["shape", "conv2d", "--in", "300", "--k", "3"], "at most 40,000"),
    ],
)
def test_picture_errors(runner: CliRunner, args: list[str], message: str) -> None:
    result = runner.invoke(app, [*args, "--format", "svg"])
    assert result.exit_code == 2, result.stdout
    assert message in " ".join(result.stderr.split())


def test_svg_large_still_is_fine() -> None:
    """Beyond the animation limit a still is drawn (one frame)."""
    shape = shape_query("torch", parse_op("conv2d"), (80, 80), LayerArgs(kernel_size=(3,)))[1]
    text = figure_svg(figure_of(shape), (10, 20))
    assert text.count('class="frame"') == 1
