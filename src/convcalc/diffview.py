"""Plain-data views of ``convcalc diff`` (JSON, plain text, markdown, and the pieces the table
uses): apart from ``serialize`` so that a shape query never imports the diff.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, assert_never

from convcalc.boundary import display
from convcalc.diff import Delta, LayerDiff, Metric, NetworkDiff, Status
from convcalc.specs import shape_text

if TYPE_CHECKING:
    from convcalc.memory import NetworkReport
    from convcalc.netlayers import LayerResult


def change_details(row: LayerDiff) -> list[str]:
    """What changed in a pair, with both values: ``params 513,000 -> 5,130``."""
    a, b = row.a, row.b
    if a is None or b is None:
        return []
    details = []
    for change in row.changes:
        match change:
            case "kind" | "settings":
                details.append(f"{a.summary} -> {b.summary}")
            case "kernel" | "stride" | "dilation":
                details.append(f"{change} {_window_text(a, change)} -> {_window_text(b, change)}")
            case "padding":
                details.append(f"padding {_window_text(a, change)} -> {_window_text(b, change)}")
            case "channels":
                details.append(f"channels {a.output_shape[1]} -> {b.output_shape[1]}")
            case "output shape":
                details.append(
                    f"output {shape_text(a.output_shape)} -> {shape_text(b.output_shape)}"
                )
            case "params":
                details.append(f"params {a.params:,} -> {b.params:,}")
            case "non-trainable params":
                details.append(
                    f"non-trainable {a.non_trainable_params:,} -> {b.non_trainable_params:,}"
                )
            case "MACs":
                details.append(f"MACs {a.macs:,} -> {b.macs:,}")
            case "inputs":
                details.append(f"inputs {', '.join(a.sources)} -> {', '.join(b.sources)}")
            case _:
                details.append(change)
    return details


def _window_text(layer: LayerResult, attribute: str) -> str:
    assert layer.shape is not None, "window attributes are compared between windowed layers"
    if attribute == "padding":
        return "x".join(f"{d.pad_before}:{d.pad_after}" for d in layer.shape.dims)
    return "x".join(str(getattr(d, attribute)) for d in layer.shape.dims)


def layer_label(layer: LayerResult | None) -> str:
    """A layer as a diff shows it: its name and summary."""
    if layer is None:
        return ""
    return layer.summary if layer.name == str(layer.index) else f"{layer.name}: {layer.summary}"


def delta_text(delta: Delta) -> str:
    """``-507,870 (-4.34%)``, ``0``, or ``+1,024`` where A is 0."""
    if delta.delta == 0:
        return "0"
    ratio = delta.ratio
    return f"{delta.delta:+,}" + ("" if ratio is None else f" ({float(ratio) * 100:+.2f}%)")


def diff_dict(diff: NetworkDiff) -> dict[str, Any]:
    """``diff --json``."""
    a, b = diff.a.result, diff.b.result
    data: dict[str, Any] = {
        "a": a.source,
        "b": b.source,
        "identical": diff.identical,
        "counts": {status.value: diff.count(status) for status in Status},
        "layers": [
            {
                "status": row.status.value,
                "a": row.a.name if row.a is not None else None,
                "b": row.b.name if row.b is not None else None,
                "a_layer": row.a.summary if row.a is not None else None,
                "b_layer": row.b.summary if row.b is not None else None,
                "changes": list(row.changes),
                "details": change_details(row),
            }
            for row in diff.layers
        ],
        "output_shape": {"a": list(a.output_shape), "b": list(b.output_shape)},
        "totals": {
            metric.value: {"a": delta.a, "b": delta.b, "delta": delta.delta}
            for metric, delta in diff.totals
        },
        "peak_layer": {
            "a": _peak_name(diff.a),
            "b": _peak_name(diff.b),
        },
        "receptive_field": {"a": output_rf(diff.a), "b": output_rf(diff.b)},
    }
    if diff.sizes is not None:
        data["sizes"] = {
            "tried": diff.sizes.tried,
            "only_a": [list(s) if isinstance(s, tuple) else s for s in diff.sizes.only_a],
            "only_b": [list(s) if isinstance(s, tuple) else s for s in diff.sizes.only_b],
        }
    return data


def _peak_name(report: NetworkReport) -> str | None:
    peak = report.memory.peak_layer
    return report.result.layers[peak - 1].name if peak else None


def output_rf(report: NetworkReport) -> str | None:
    from convcalc.neteval import rf_text

    layers = report.result.layers
    return rf_text(layers[-1].rf) or None if layers else None


TOTAL_LABELS = {
    Metric.PARAMS: "params",
    Metric.NON_TRAINABLE_PARAMS: "non-trainable params",
    Metric.MACS: "MACs",
    Metric.FLOPS: "FLOPs",
    Metric.MATMUL_MACS: "MatMul MACs",
    Metric.ACTIVATION_BYTES: "activation bytes",
    Metric.PEAK_ACTIVATION_BYTES: "peak bytes",
    Metric.TRAINING_BYTES: "training bytes",
}


def diff_summary(diff: NetworkDiff) -> str:
    """``identical`` or ``1 changed, 2 added, 0 removed, 64 same``."""
    if diff.identical:
        return "identical"
    counts = ", ".join(
        f"{diff.count(s)} {s.value}"
        for s in (Status.CHANGED, Status.ADDED, Status.REMOVED, Status.SAME)
    )
    return f"different: {counts}"


def diff_plain(diff: NetworkDiff) -> str:
    """``diff --plain``: the verdict, one line per layer that is not the same, one per total."""
    lines = [diff_summary(diff)]
    for row in diff.layers:
        match row.status:
            case Status.SAME:
                continue
            case Status.CHANGED:
                assert row.a is not None and row.b is not None
                lines.append(f"changed {row.a.name}: {'; '.join(change_details(row))}")
            case Status.ADDED:
                lines.append(f"added {layer_label(row.b)}")
            case Status.REMOVED:
                lines.append(f"removed {layer_label(row.a)}")
            case _:
                assert_never(row.status)
    for metric, delta in diff.shown_totals:
        lines.append(f"{metric.value} {delta.a} {delta.b} {delta.delta:+d}")
    lines.extend(sizes_lines(diff))
    return "\n".join(display(line) for line in lines)


def sizes_lines(diff: NetworkDiff) -> list[str]:
    if diff.sizes is None:
        return []

    def text(sizes: tuple[Any, ...]) -> str:
        shown = ", ".join("x".join(map(str, s)) if isinstance(s, tuple) else str(s) for s in sizes)
        return shown if len(sizes) <= 12 else ", ".join(shown.split(", ")[:12]) + ", ..."

    lines = []
    if diff.sizes.only_a:
        lines.append(f"sizes only A accepts ({len(diff.sizes.only_a)}): {text(diff.sizes.only_a)}")
    if diff.sizes.only_b:
        lines.append(f"sizes only B accepts ({len(diff.sizes.only_b)}): {text(diff.sizes.only_b)}")
    if not lines:
        lines.append(f"both accept the same input sizes ({diff.sizes.tried} tried)")
    return lines


def collapsed(rows: tuple[LayerDiff, ...], keep: int = 1) -> list[LayerDiff | Skipped]:
    """The rows with each run of more than 2*keep+1 same, added or removed layers cut to its
    ends and a count between them (a changed layer is always shown), so that a table shows
    what changed at a glance; JSON and --plain list every layer."""
    out: list[LayerDiff | Skipped] = []
    run: list[LayerDiff] = []

    def flush() -> None:
        if len(run) > 2 * keep + 1:
            out.extend(run[:keep])
            out.append(Skipped(run[0].status, len(run) - 2 * keep))
            out.extend(run[-keep:])
        else:
            out.extend(run)
        run.clear()

    for row in rows:
        if run and (row.status is not run[0].status or row.status is Status.CHANGED):
            flush()
        run.append(row)
    flush()
    return out


@dataclass(frozen=True)
class Skipped:
    """Layers a diff table leaves out: how many, of which status."""

    status: Status
    count: int

    @property
    def text(self) -> str:
        return f"... {self.count} more {self.status.value} layers"


# How a diff marks each row, in every format
MARKS = {Status.SAME: "=", Status.CHANGED: "~", Status.ADDED: "+", Status.REMOVED: "-"}


def diff_markdown(diff: NetworkDiff) -> str:
    """``diff --format markdown``: for a pull-request comment."""
    a, b = diff.a.result, diff.b.result
    lines = [
        f"**{display(a.source or 'A')}** -> **{display(b.source or 'B')}**: {diff_summary(diff)}",
        "",
        "| | A | B | what changed |",
        "|---|---|---|---|",
    ]

    def cell(text: str) -> str:
        return display(text).replace("|", "\\|")

    for item in collapsed(diff.layers):
        if isinstance(item, Skipped):
            side = f"| {item.text} | |" if item.status is Status.REMOVED else f"| | {item.text} |"
            lines.append(f"| {MARKS[item.status]} {side} |")
            continue
        details = "; ".join(change_details(item))
        lines.append(
            f"| {MARKS[item.status]} | {cell(layer_label(item.a))} | {cell(layer_label(item.b))} "
            f"| {cell(details)} |"
        )
    lines += ["", "| total | A | B | change |", "|---|---:|---:|---:|"]
    for metric, delta in diff.shown_totals:
        lines.append(
            f"| {TOTAL_LABELS[metric]} | {delta.a:,} | {delta.b:,} | {delta_text(delta)} |"
        )
    lines.append(f"| output | {shape_text(a.output_shape)} | {shape_text(b.output_shape)} | |")
    lines.append(f"| receptive field | {output_rf(diff.a) or '-'} | {output_rf(diff.b) or '-'} | |")
    sizes = sizes_lines(diff)
    if sizes:
        lines.append("")
        lines.extend(f"- {display(line)}" for line in sizes)
    return "\n".join(lines)
