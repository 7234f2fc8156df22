"""Unfold (im2col) and Fold (col2im) against real PyTorch: shapes, torch's errors, and traced
values, over generated 2-d layers; the articles' examples."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
from typer.testing import CliRunner

torch = pytest.importorskip("torch")
F = torch.nn.functional

from convcalc import ConvcalcError  # noqa: E402
from convcalc.cli import app  # noqa: E402
from convcalc.conventions import shape_query  # noqa: E402
from convcalc.specs import LayerArgs  # noqa: E402
from convcalc.trace import trace_layer  # noqa: E402

pytestmark = pytest.mark.torch


def test_article_examples(runner: CliRunner) -> None:
    """FRAMEWORKS.md: arange 4x4, k2 s2 -> columns [[1,3,9,11],...]; fold(unfold(x, 2)) ->
    [1,4,6,4, 10,24,28,16, ...]."""
    data = json.loads(
        runner.invoke(
            app, ["trace", "unfold", "--x", "arange:4x4", "--k", "2", "--s", "2", "--json"]
        ).stdout
    )
    assert data["output"] == [[1, 3, 9, 11], [2, 4, 10, 12], [5, 7, 13, 15], [6, 8, 14, 16]]
    x = torch.arange(1.0, 17.0).reshape(1, 1, 4, 4)
    cols = F.unfold(x, 2)[0].int().tolist()
    folded = json.loads(
        runner.invoke(
            app, ["trace", "fold", "--x", json.dumps(cols), "--k", "2", "--out", "4x4", "--json"]
        ).stdout
    )
    assert sum(folded["output"], []) == [1, 4, 6, 4, 10, 24, 28, 16, 18, 40, 44, 24, 13, 28, 30, 16]
    assert folded["steps"][5]["divisor"] == 4  # pixel (1, 1) gets four contributions


def test_unfold_shapes_errors_and_values() -> None:
    rng = random.Random("unfold")
    agreed = 0
    for _ in range(150):
        c = rng.randint(1, 3)
        size = (rng.randint(1, 7), rng.randint(1, 7))
        k, s = (rng.randint(1, 4), rng.randint(1, 4)), (rng.randint(1, 3), rng.randint(1, 3))
        p, d = (rng.randint(0, 2), rng.randint(0, 2)), (rng.randint(1, 2), rng.randint(1, 2))
        args = LayerArgs(kernel_size=k, stride=s, padding=p, dilation=d, in_channels=c)
        x = np.array([rng.randint(-5, 5) for _ in range(c * size[0] * size[1])], dtype=object)
        x = x.reshape(c, *size)
        try:
            theirs = F.unfold(
                torch.tensor(x.astype(float))[None], k, dilation=d, padding=p, stride=s
            )[0]
        except RuntimeError:
            theirs = None
        try:
            _, shape = shape_query("torch", "unfold", size, args)
            t = trace_layer("unfold", x, kernel_size=k, stride=s, padding=p, dilation=d)
        except ConvcalcError:
            assert theirs is None, (size, k, s, p, d)
            continue
        assert theirs is not None, (size, k, s, p, d)
        assert shape.tensor_shape("output") == tuple(theirs.shape)
        np.testing.assert_array_equal(t.display_output.astype(float), theirs.numpy())
        for step in t.iter_steps():
            assert step.value == t.output[step.index]
        agreed += 1
    assert agreed > 50


def test_fold_shapes_errors_and_values() -> None:
    rng = random.Random("fold")
    agreed = 0
    for _ in range(150):
        c = rng.randint(1, 2)
        out = (rng.randint(1, 7), rng.randint(1, 7))
        k, s = (rng.randint(1, 3), rng.randint(1, 3)), (rng.randint(1, 3), rng.randint(1, 2))
        p, d = (rng.randint(0, 1), rng.randint(0, 1)), (rng.randint(1, 2), rng.randint(1, 2))
        rows = c * k[0] * k[1] + (1 if rng.random() < 0.1 else 0)
        counts = [
            (o + 2 * pp - dd * (kk - 1) - 1) // ss + 1 for o, kk, ss, pp, dd in zip(out, k, s, p, d)
        ]
        blocks = counts[0] * counts[1] if rng.random() < 0.8 else rng.randint(1, 40)
        if blocks < 1:
            blocks = rng.randint(1, 9)
        x = np.array([rng.randint(-5, 5) for _ in range(rows * blocks)], dtype=object)
        x = x.reshape(rows, blocks)
        try:
            theirs = F.fold(
                torch.tensor(x.astype(float))[None], out, k, dilation=d, padding=p, stride=s
            )[0]
        except RuntimeError:
            theirs = None
        try:
            t = trace_layer(
                "fold", x, kernel_size=k, stride=s, padding=p, dilation=d, output_shape=out
            )
        except ConvcalcError:
            assert theirs is None, (out, k, s, p, d, rows, blocks)
            continue
        assert theirs is not None, (out, k, s, p, d, rows, blocks)
        np.testing.assert_array_equal(t.output.astype(float), theirs.numpy())
        for step in t.iter_steps():
            assert step.value == t.output[step.index]
        agreed += 1
    assert agreed > 5


def test_fold_answers_the_inverse_question(runner: CliRunner) -> None:
    data = json.loads(
        runner.invoke(
            app, ["shape", "fold", "--out", "4x4", "--k", "2", "--cin", "8", "--json"]
        ).stdout
    )
    assert data["required_blocks"] == 9 and data["blocks"] == [3, 3]
    assert data["input_shape"] == [8, 9] and data["output_shape"] == [2, 4, 4]
    wrong = runner.invoke(app, ["shape", "fold", "--in", "8", "--out", "4x4", "--k", "2"])
    assert wrong.exit_code == 1 and "3 * 3 = 9" in wrong.stderr
