"""Sweeps (`shape --in a..b`): every row is exactly the single-size query, under every
convention and option; long sweeps are extrapolated over the strides' period and must still
agree with each size computed on its own; the table summarises, --plain lists."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from typer.testing import CliRunner

from convcalc import ConvcalcError
from convcalc.cli import app
from convcalc.conventions import shape_query
from convcalc.solve import SweepRow, summarise, sweep, sweep_row
from convcalc.specs import LayerArgs


def random_layer(rng: random.Random) -> tuple[str, str, LayerArgs]:
    kind = rng.choice(["conv", "convtranspose", "maxpool", "avgpool"])
    ndim = rng.randint(1, 3)
    convention = rng.choice(["torch", "torch", "tf", "keras", "onnx"])
    k = tuple(rng.randint(1, 5) for _ in range(ndim))
    s = tuple(rng.randint(1, 4) for _ in range(ndim))
    d = tuple(rng.randint(1, 3) for _ in range(ndim)) if kind != "avgpool" else (1,)
    layer: dict[str, Any] = {
        "kernel_size": k,
        "stride": s,
        "dilation": d,
        "output_padding": None,
        "ceil_mode": kind.endswith("pool") and rng.random() < 0.4,
        "output_shape": None,
    }
    if convention == "torch":
        layer["padding"] = tuple(rng.randint(0, 3) for _ in range(ndim))
        if kind == "conv" and rng.random() < 0.2:
            layer["padding"], layer["stride"] = "same", (1,)
    elif convention == "onnx":
        layer["padding"] = rng.choice(
            [
                "same_upper",
                "same_lower",
                "valid",
                tuple((rng.randint(0, 2), rng.randint(0, 2)) for _ in range(ndim)),
            ]
        )
    else:
        layer["padding"] = rng.choice(["same", "valid"])
    if kind == "convtranspose" and rng.random() < 0.5:
        layer["output_padding"] = tuple(rng.randint(0, max(x, y) - 1) for x, y in zip(s, d))
    return f"{kind}{ndim}d", convention, LayerArgs(**layer)


def explicit(op: str, convention: str, layer: LayerArgs, size: int) -> SweepRow:
    try:
        return sweep_row(size, shape_query(convention, op, (size,), layer)[1])
    except ConvcalcError as error:
        return SweepRow(size, None, str(error))


@pytest.mark.parametrize("seed", range(4))
def test_every_row_is_the_single_size_query(seed: int) -> None:
    """40 generated layers per seed over 500 sizes (past the explicitly computed head, so the
    extrapolation is what is checked), every size compared."""
    rng = random.Random(f"sweep-{seed}")
    for _ in range(40):
        op, convention, layer = random_layer(rng)
        start = rng.randint(1, 20)
        step = rng.choice([1, 1, 2, 3, 7])
        sizes = range(start, start + 500 * step, step)

        def at(size: int, op: str = op, convention: str = convention, layer: Any = layer) -> Any:
            return shape_query(convention, op, (size,), layer)[1]

        rows = sweep(at, sizes)
        assert len(rows) == len(sizes)
        for size, row in zip(sizes, rows):
            assert row == explicit(op, convention, layer, size), (op, convention, layer, size)


def test_long_sweep_is_extrapolated_and_right() -> None:
    """1..100000 of a k3 s2 conv: the rows equal the formula everywhere."""

    def at(size: int) -> Any:
        return shape_query("torch", "conv1d", (size,), LayerArgs((3,), (2,)))[1]

    rows = sweep(at, range(1, 100_001))
    assert rows[0].error is not None and rows[1].error is not None
    for row in rows[2:]:
        assert row.output == ((row.input - 3) // 2 + 1,)
        assert row.unread == (row.input - 3) % 2
        assert row.needs_output_padding == ((row.input - 3) % 2 or None)


@pytest.mark.parametrize("convention", ["torch", "tf", "keras", "onnx"])
def test_cli_rows_equal_single_calls(runner: CliRunner, convention: str) -> None:
    padding = {"torch": "1", "tf": "same", "keras": "valid", "onnx": "same_upper"}[convention]
    base = ["shape", "conv2d", "--k", "3", "--s", "2", "--p", padding, "--convention", convention]
    sweep_data = json.loads(runner.invoke(app, [*base, "--in", "1..40", "--json"]).stdout)
    assert sweep_data["convention"] == convention
    for row in sweep_data["rows"]:
        single = runner.invoke(app, [*base, "--in", str(row["input"]), "--json"])
        data = json.loads(single.stdout)
        if row["error"] is None:
            assert single.exit_code == 0
            assert row["output_size"] == data["output"] and row["output"] == data["output"][0]
            assert row["unread_input"] == data["dims"][0].get("unread_input", 0)
        else:
            assert single.exit_code == 1 and row["error"] == data["error"]


def test_issue_example_onnx_sweep(runner: CliRunner) -> None:
    """`shape conv1d --in 5..7 --k 2 --s 2 --convention onnx --p same_upper` works."""
    result = runner.invoke(
        app,
        ["shape", "conv1d", "--in", "5..7", "--k", "2", "--s", "2"]
        + ["--convention", "onnx", "--p", "same_upper", "--plain"],
    )
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == ["5 3", "6 3", "7 4"]


def test_table_summarises_and_plain_lists(runner: CliRunner) -> None:
    args = ["shape", "convtranspose1d", "--in", "1..100000", "--k", "3", "--s", "2", "--p", "1"]
    table = runner.invoke(app, args)
    assert table.exit_code == 0
    assert len(table.stdout.splitlines()) <= 24
    conv = runner.invoke(app, ["shape", "conv1d", "--in", "1..100000", "--k", "3", "--s", "2"])
    text = " ".join(conv.stdout.split())
    assert "3..99999 step 2 │ 1..49999 │ 49,999 │ reads every input" in text
    assert "4..100000 step 2 │ 1..49999 │ 49,999 │ ignores the last input" in text
    assert "needs output_padding 1" in text
    plain = runner.invoke(app, [*args, "--plain"])
    lines = plain.stdout.splitlines()
    assert len(lines) == 100_000 and lines[0] == "1 1" and lines[-1] == "100000 199999"


def test_summary_runs_cover_every_size() -> None:
    rng = random.Random("runs")
    for _ in range(40):
        op, convention, layer = random_layer(rng)
        rows = [explicit(op, convention, layer, n) for n in range(1, 200)]
        runs = summarise(rows)
        assert sum(run.count for run in runs) == len(rows)
        covered = sorted(run.first.input + k * run.step for run in runs for k in range(run.count))
        assert covered == list(range(1, 200))
