"""Plain-data views (dicts and strings) of results, for ``--json`` and ``--plain``.

No rich, no numpy: the JSON path of a shape query stays light.
"""

from __future__ import annotations

import json
import math
from json.encoder import encode_basestring as _encode_string
from typing import TYPE_CHECKING, Any, assert_never

from convcalc.boundary import display, quoted_escapes
from convcalc.shapes import AdaptiveDim, AdaptiveShape, AnyShape, DimShape, FoldShape
from convcalc.specs import LayerSpec, OpKind, shape_text

if TYPE_CHECKING:
    from fractions import Fraction

    import numpy as np

    from convcalc.backward import Backward
    from convcalc.conventions import Comparison
    from convcalc.memory import NetworkReport
    from convcalc.modulereport import ModuleReport
    from convcalc.neteval import Failure
    from convcalc.netlayers import LayerResult
    from convcalc.netopen import OpenResult
    from convcalc.netsizes import FailedRun, Near, SizeRecord, SizeSweep
    from convcalc.solve import Candidate, Inversion, Solution, SweepRow
    from convcalc.steps import Step, Trace
    from convcalc.trace import View


def size_text(sizes: tuple[int, ...] | list[int]) -> str:
    """``(2, 2)`` -> ``2x2``."""
    return "x".join(str(size) for size in sizes)


def spec_params(spec: LayerSpec) -> dict[str, Any]:
    """The resolved parameters, one value per spatial dimension (padding as [before, after])."""
    from convcalc.families import family

    return family(spec.kind).params(spec)


def dim_dict(dim: DimShape) -> dict[str, Any]:
    """One dimension's numbers and working."""
    data: dict[str, Any] = {
        "dim": dim.label or "L",
        "input": dim.input,
        "kernel_size": dim.kernel,
        "stride": dim.stride,
        "padding": [dim.pad_before, dim.pad_after],
        "dilation": dim.dilation,
        "kernel_extent": dim.kernel_extent,
        "output": dim.output,
        "formula": dim.formula,
        "substituted": dim.substituted,
        "working": list(dim.working),
        "notes": list(dim.notes),
    }
    if dim.kind is OpKind.CONVTRANSPOSE:
        data["output_padding"] = dim.output_padding
        data["zero_inserted_input"] = dim.zero_inserted_input
        data["effective_padding"] = list(dim.effective_padding)
    else:
        data["unread_input"] = dim.unread_input
    if dim.kind.is_pool:
        data["ceil_mode"] = dim.ceil_mode
        data["floor_output"] = dim.floor_output
        data["ceil_dropped_last"] = dim.ceil_dropped_last
    return data


def layer_shape_dict(result: AnyShape) -> dict[str, Any]:
    """The ``shape --json`` object (an adaptive pool's dims carry its windows)."""
    spec = result.spec
    if isinstance(result, FoldShape):
        return fold_shape_dict(result)
    data: dict[str, Any] = {
        "op": spec.name,
        "kind": spec.kind.value,
        "ndim": spec.ndim,
        "input": list(result.input),
        "output": list(result.output),
        "params": spec_params(spec),
    }
    if isinstance(result, AdaptiveShape):
        data["windows"] = _windows(result)
        dims = [adaptive_dim_dict(dim) for dim in result.dims]
    else:
        dims = [dim_dict(dim) for dim in result.dims]
    data["input_shape"] = _maybe_list(result.tensor_shape("input"))
    data["output_shape"] = _maybe_list(result.tensor_shape("output"))
    data["dims"] = dims
    return data


def _windows(result: AdaptiveShape) -> list[list[list[int]] | None]:
    """Per dimension, the ``[start, end)`` window of every output index (null past
    MAX_LISTED_WINDOWS)."""
    return [None if dim.windows is None else [list(w) for w in dim.windows] for dim in result.dims]


def fold_shape_dict(result: FoldShape) -> dict[str, Any]:
    """``shape fold --json``: the inverse question answered: the L and the rows the input must
    have for the output size asked for, and the sliding blocks per dimension."""
    spec = result.spec
    return {
        "op": spec.name,
        "kind": spec.kind.value,
        "ndim": spec.ndim,
        "input": [result.required],
        "output": list(result.output),
        "params": spec_params(spec),
        "blocks": list(result.blocks.output),
        "required_blocks": result.required,
        "kernel_elements": result.kernel_elements,
        "input_shape": _maybe_list(result.tensor_shape("input")),
        "output_shape": _maybe_list(result.tensor_shape("output")),
        "dims": [dim_dict(dim) for dim in result.blocks.dims],
    }


def adaptive_dim_dict(dim: AdaptiveDim) -> dict[str, Any]:
    """One dimension of an adaptive pool: its windows as [start, end) pairs (null past
    MAX_LISTED_WINDOWS), whether they overlap, and the working."""
    windows = dim.windows
    return {
        "dim": dim.label or "L",
        "input": dim.input,
        "output": dim.output,
        "windows": None if windows is None else [list(w) for w in windows],
        "overlapping": dim.overlapping,
        "repeats_input": dim.output > dim.input,
        "formula": dim.formula,
        "working": list(dim.working),
    }


def _maybe_list(shape: tuple[int, ...] | None) -> list[int] | None:
    return None if shape is None else list(shape)


def error_dict(message: str, exit_code: int) -> dict[str, Any]:
    """The JSON form of an error: ``{"error": ..., "exit_code": ..., "kind": ...}``."""
    kind = "invalid_configuration" if exit_code == 1 else "usage"
    return {"error": message, "kind": kind, "exit_code": exit_code}


# The longest list of input sizes written out; a longer run is given by its ends.
MAX_LISTED = 10_000


def preimage_text(sizes: range) -> str:
    """``7, 8`` or, for a long run, ``7..1000000006 (1,000,000,000 sizes)``."""
    if _count(sizes) <= 16:
        return ", ".join(map(str, sizes))
    return f"{sizes.start}..{sizes.stop - 1} ({_count(sizes):,} sizes)"


def _count(sizes: range) -> int:
    """len() of a range of sizes, which may pass 2**63 (len() raises there)."""
    return sizes.stop - sizes.start


def dumps(data: Any, compact: bool = False) -> str:
    """Stable JSON text: keys in insertion order, two-space indent, number lists on one line.

    ``compact`` gives one line through the C encoder, for large outputs (a traced 32x32 conv
    takes seconds through the indenting encoder and a fraction of one this way).
    """
    if compact:
        return quoted_escapes(json.dumps(data, ensure_ascii=False, separators=(",", ":")))
    out: list[str] = []
    _indented(data, "\n", out)
    return quoted_escapes("".join(out))


def _indented(value: Any, newline: str, out: list[str]) -> None:
    """``value`` as json.dumps(indent=2, ensure_ascii=False) writes it, with every non-empty
    list of finite numbers on one line (``[1, 3, 224, 224]``). About three times as fast as the
    stdlib's indenting encoder, which is pure Python; a 380-layer network's JSON spent 0.1 s
    there."""
    if isinstance(value, str):
        out.append(_encode_string(value))
    elif value is None or isinstance(value, bool | int | float):
        out.append(_scalar(value))
    elif isinstance(value, dict):
        if not value:
            out.append("{}")
            return
        inner = newline + "  "
        first = True
        for key, item in value.items():
            out.append(("{" if first else ",") + inner)
            first = False
            out.append(_encode_string(key if isinstance(key, str) else _scalar(key)) + ": ")
            _indented(item, inner, out)
        out.append(newline + "}")
    elif isinstance(value, list | tuple):
        if not value:
            out.append("[]")
        elif all(_finite_number(item) for item in value):
            out.append("[" + ", ".join(map(_scalar, value)) + "]")
        else:
            inner = newline + "  "
            for i, item in enumerate(value):
                out.append(("[" if i == 0 else ",") + inner)
                _indented(item, inner, out)
            out.append(newline + "]")
    else:
        raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _finite_number(value: Any) -> bool:
    return (isinstance(value, int) and not isinstance(value, bool)) or (
        isinstance(value, float) and math.isfinite(value)
    )


def _scalar(value: Any) -> str:
    """A number, bool or null as json.dumps writes it (NaN and Infinity as it spells them)."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return int.__repr__(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return float.__repr__(value)


def trace_dict(trace: Trace, steps: list[Step], view: View | None = None) -> dict[str, Any]:
    """The ``trace --json`` object (numbers as JSON numbers; fractions as floats)."""
    from convcalc.tensors import to_plain

    spec = trace.spec
    x_shape = list(trace.x.shape[1:]) if trace.plain else list(trace.x.shape)
    data: dict[str, Any] = {
        "op": spec.name,
        "kind": spec.kind.value,
        "ndim": spec.ndim,
        "params": spec_params(spec),
        "input_shape": x_shape,
        "output_shape": list(trace.display_shape),
        "in_channels": spec.in_channels,
        "out_channels": spec.out_channels,
        "input": to_plain(trace.x[0] if trace.plain else trace.x),
        "weight": None if trace.w is None else to_plain(trace.w),
        "bias": None if trace.b is None else to_plain(trace.b),
        "output": None if trace.output is None else to_plain(trace.display_output),
        "steps_total": trace.step_count,
        **({"windows": _windows(trace.shape)} if isinstance(trace.shape, AdaptiveShape) else {}),
        "steps": [step_dict(step, trace.plain) for step in steps],
    }
    if view is not None:
        from convcalc.trace import view_name

        data["view"] = view_name(view).value
        data["view_data"] = view_dict(view)
        if "columns" in data["view_data"]:  # im2col: the two matrices at the top level too
            data["columns"] = data["view_data"]["columns"]
            data["weight_matrix"] = data["view_data"]["weight_matrix"]
    return data


def backward_dict(trace: Trace, grads: Backward, steps: list[Step]) -> dict[str, Any]:
    """``trace --grad-out --json``: each gradient in the layout its tensor was given in (a
    plain matrix in, a plain matrix out), and the steps of grad_input's (transposed) conv."""
    from convcalc.tensors import to_plain

    weight = grads.grad_weight
    if trace.weight_plain and weight.shape[0] * weight.shape[1] == 1:
        weight = weight[0, 0]
    return {
        "grad_out": to_plain(grads.grad_out[0] if trace.plain else grads.grad_out),
        "grad_input": to_plain(grads.grad_input[0] if trace.plain else grads.grad_input),
        "grad_weight": to_plain(weight),
        "grad_bias": to_plain(grads.grad_bias),
        "grad_input_op": grads.grad_input_op,
        "grad_input_steps_total": grads.input_trace.step_count,
        "grad_input_steps": [step_dict(step, trace.plain) for step in steps],
    }


def array_plain(array: np.ndarray) -> str:
    """``trace --plain``: the output values, one row per line, entries separated by spaces,
    fractions as ``41/9``; channels (and 3-d slices) separated by a blank line."""
    from convcalc.tensors import number_text

    if array.ndim == 1:
        return " ".join(number_text(v) for v in array.tolist())
    if array.ndim == 2:
        return "\n".join(" ".join(number_text(v) for v in row) for row in array.tolist())
    return "\n\n".join(array_plain(part) for part in array)


def step_dict(step: Step, plain: bool) -> dict[str, Any]:
    """One output element's working. (The hot loop of a large trace's JSON: ints, the usual
    case, skip the conversion call.)"""
    from convcalc.tensors import to_plain

    cut = 1 if plain else 0
    terms = []
    for term in step.terms:
        value = term.input_value
        item: dict[str, Any] = {
            "input_index": list(term.input_index[cut:]),
            "input_value": value if type(value) is int else to_plain(value),
        }
        if term.weight_index is not None:
            weight, product = term.weight_value, term.product
            item["weight_index"] = list(term.weight_index)
            item["weight_value"] = weight if type(weight) is int else to_plain(weight)
            item["product"] = product if type(product) is int else to_plain(product)
        if term.padding:
            item["padding"] = True
        terms.append(item)
    data: dict[str, Any] = {"index": list(step.index[cut:]), "terms": terms}
    if step.total is not None:
        data["sum"] = to_plain(step.total)
    if step.bias is not None:
        data["bias"] = to_plain(step.bias)
    if step.divisor is not None:
        data["divisor"] = step.divisor
        data["divisor_reason"] = step.divisor_reason
    if step.winner is not None:
        data["winner"] = terms[step.winner]["input_index"]
    data["value"] = to_plain(step.value)
    return data


def _fraction_number(value: Fraction) -> int | float:
    return value.numerator if value.denominator == 1 else float(value)


FLOPS_RULE = "FLOPs = 2 x MACs (one multiply and one add per MAC; bias additions not counted)"
MATMUL_RULE = (
    "multiply-accumulates of a MatMul between two activations (attention), whole batch; "
    "not in total_macs, which counts products with learned weights"
)


def network_dict(report: NetworkReport) -> dict[str, Any]:
    """The ``net --json`` object: layers (with ``from`` and ``output_bytes``), totals, memory."""
    from convcalc.memory import ACTIVATION_RULE, PEAK_RULE
    from convcalc.neteval import mismatch_text

    result, memory = report.result, report.memory
    layers = []
    for layer, output_bytes in zip(result.layers, memory.output_bytes):
        rf = layer.rf
        receptive = None
        if rf is not None:
            receptive = {
                "whole_input": rf.whole_input,
                "size": [_fraction_number(v) for v in rf.size],
                "jump": [_fraction_number(v) for v in rf.jump],
                "start": [_fraction_number(v) for v in rf.start],
                "exact": {
                    key: [str(v) for v in getattr(rf, key)] for key in ("size", "jump", "start")
                },
            }
        split = layer.mac_count
        layers.append(
            {
                "index": layer.index,
                "name": layer.name,
                "type": layer.type,
                "summary": layer.summary,
                "from": list(layer.sources),
                "input_shape": list(layer.input_shape),
                "input_shapes": [list(shape) for shape in layer.input_shapes],
                "output_shape": list(layer.output_shape),
                "output_bytes": output_bytes,
                "params": layer.params,
                "non_trainable_params": layer.non_trainable_params,
                "macs": layer.macs,
                "useful_macs": None if split is None else split.useful,
                "zero_macs": None if split is None else split.zero,
                "cropped_macs": None if split is None else split.cropped,
                "matmul_macs": layer.matmul_macs,
                "receptive_field": receptive,
                "expect": None if layer.expect is None else list(layer.expect),
                "expect_from": layer.expect_text,
                "expect_ok": layer.expect_ok,
            }
        )
    peak = memory.peak_layer
    return {
        "input_shape": list(result.input_shape),
        "output_shape": list(result.output_shape),
        "graph": result.is_graph,
        "total_params": result.total_params,
        "total_non_trainable_params": result.total_non_trainable_params,
        "total_macs": result.total_macs,
        "total_flops": result.total_flops,
        "flops_rule": FLOPS_RULE,
        "total_useful_macs": result.total_useful_macs,
        "total_zero_macs": result.total_zero_macs,
        "total_matmul_macs": result.total_matmul_macs,
        "matmul_macs_rule": MATMUL_RULE,
        "dtype": memory.dtype.value,
        "dtype_bytes": memory.dtype.size,
        "input_bytes": memory.input_bytes,
        "total_param_bytes": memory.total_param_bytes,
        "total_activation_bytes": memory.total_activation_bytes,
        "activation_rule": ACTIVATION_RULE,
        "peak_activation_bytes": memory.peak_activation_bytes,
        "peak_layer": None if not peak else result.layers[peak - 1].name,
        "peak_tensors": [
            "input" if t == 0 else result.layers[t - 1].name for t in memory.peak_tensors
        ],
        "peak_rule": PEAK_RULE,
        "optimizer": memory.optimizer.value,
        "training_bytes": memory.training_bytes,
        "training_rule": memory.training_rule,
        "layers": layers,
        "mismatches": [mismatch_text(layer) for layer in result.mismatches],
    }


def sources_text(layer: LayerResult) -> str:
    """Where a layer reads from, when it is not simply the layer before: ``up3, enc1``."""
    return ", ".join(layer.shown_sources)


def network_rows(report: NetworkReport) -> list[list[str]]:
    """Rows for markdown: #, name, layer, from, output, bytes, params, MACs, RF, check."""
    from convcalc.neteval import rf_text

    rows = []
    for layer, output_bytes in zip(report.result.layers, report.memory.output_bytes):
        check = ""
        if layer.expect is not None:
            check = "ok" if layer.expect_ok else f"MISMATCH: want {shape_text(layer.expect)}"
        name = "" if layer.name == str(layer.index) else layer.name
        rows.append(
            [
                str(layer.index),
                name,
                layer.summary,
                sources_text(layer),
                shape_text(layer.output_shape),
                f"{output_bytes:,}",
                f"{layer.params:,}",
                f"{layer.macs:,}",
                rf_text(layer.rf),
                check,
            ]
        )
    return rows


NETWORK_HEADER = [
    "#",
    "name",
    "layer",
    "from",
    "output",
    "bytes",
    "params",
    "MACs",
    "RF",
    "check",
]


def count_lines(report: NetworkReport) -> list[str]:
    """The MAC totals, FLOPs named as 2 x MACs, and the MACs spent on zeros."""
    result = report.result
    lines = [
        f"FLOPs = 2 x MACs = {result.total_flops:,} (one multiply and one add per MAC; bias "
        "additions not counted)",
        f"MACs on real input elements: {result.total_useful_macs:,}; a direct (sliding-window) "
        f"form also spends {result.total_zero_macs:,} on padding and inserted zeros",
    ]
    if result.total_matmul_macs:
        lines.append(
            f"not in MACs: {result.total_matmul_macs:,} multiply-accumulates between two "
            "activations (MatMul: attention's q·k and weights·v)"
        )
    if result.total_non_trainable_params:
        lines.append(non_trainable_line(result.total_non_trainable_params))
    return lines


def non_trainable_line(count: int) -> str:
    """What a table says of the parameters not counted in params (the full and the open-size
    network tables)."""
    return (
        f"not in params: {count:,} BatchNorm running statistics (buffers in PyTorch, "
        "non-trainable weights in Keras)"
    )


def memory_rows(report: NetworkReport) -> list[tuple[str, int, str]]:
    """(what, bytes, the rule) for params, activations, peak and the training estimate."""
    from convcalc.memory import ACTIVATION_RULE, PEAK_RULE

    result, memory = report.result, report.memory
    peak = memory.peak_layer
    where = ""
    if peak:
        layer = result.layers[peak - 1]
        named = f' "{layer.name}"' if layer.name != str(layer.index) else ""
        where = f"at layer {peak}{named} ({layer.type}): "
    return [
        (
            "params",
            memory.total_param_bytes,
            f"{result.total_params:,} params x {memory.dtype.size}",
        ),
        ("activations", memory.total_activation_bytes, ACTIVATION_RULE),
        ("peak", memory.peak_activation_bytes, where + PEAK_RULE),
        (
            f"training ({memory.optimizer.value})",
            memory.training_bytes,
            memory.training_rule,
        ),
    ]


def network_markdown(report: NetworkReport) -> str:
    """A GitHub-flavoured markdown table with a totals row and the memory lines, to paste into
    a design document."""
    result = report.result
    rows = network_rows(report)
    right = ("#", "bytes", "params", "MACs")
    lines = [
        "| " + " | ".join(NETWORK_HEADER) + " |",
        "|" + "|".join("---:" if h in right else "---" for h in NETWORK_HEADER) + "|",
    ]
    first = ["", "input", "", "", shape_text(result.input_shape)] + [""] * 5
    for row in [first, *rows]:
        lines.append("| " + " | ".join(display(cell).replace("|", "\\|") for cell in row) + " |")
    lines.append(
        f"| | **total** | | | {shape_text(result.output_shape)} | "
        f"**{report.memory.total_activation_bytes:,}** | "
        f"**{result.total_params:,}** | **{result.total_macs:,}** | | |"
    )
    lines.append("")
    lines.extend(f"- {line}" for line in count_lines(report))
    size = report.memory.dtype.size
    lines.append(
        f"- memory ({report.memory.dtype.value}, {size} byte{'s' if size > 1 else ''} per element):"
    )
    lines.extend(
        f"  - {what}: {count:,} bytes ({rule})" for what, count, rule in memory_rows(report)
    )
    return "\n".join(lines)


def network_csv(report: NetworkReport) -> str:
    """CSV with plain integers (no thousands separators) and a final total row."""
    import csv
    import io

    from convcalc.neteval import rf_text

    result, memory = report.result, report.memory
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(
        [
            "index",
            "name",
            "layer",
            "from",
            "output_shape",
            "output_bytes",
            "params",
            "macs",
            "useful_macs",
            "zero_macs",
            "receptive_field",
            "expect",
            "expect_ok",
            "matmul_macs",
        ]
    )
    for layer, output_bytes in zip(result.layers, memory.output_bytes):
        split = layer.mac_count
        writer.writerow(
            [
                layer.index,
                layer.name,
                layer.summary,
                " ".join(layer.sources),
                "x".join(map(str, layer.output_shape)),
                output_bytes,
                layer.params,
                layer.macs,
                "" if split is None else split.useful,
                "" if split is None else split.zero,
                rf_text(layer.rf),
                "" if layer.expect is None else "x".join(map(str, layer.expect)),
                "" if layer.expect_ok is None else str(layer.expect_ok).lower(),
                layer.matmul_macs,
            ]
        )
    writer.writerow(
        [
            "total",
            "",
            "",
            "",
            "x".join(map(str, result.output_shape)),
            memory.total_activation_bytes,
            result.total_params,
            result.total_macs,
            result.total_useful_macs,
            result.total_zero_macs,
            "",
            "",
            "",
            result.total_matmul_macs,
        ]
    )
    return buffer.getvalue()


# --- valid input sizes ----------------------------------------------------------------------------


def _size_value(sweep: SizeSweep, spatial: tuple[int, ...]) -> int | list[int]:
    return spatial[0] if sweep.square else list(spatial)


def _failure_dict(record: SizeRecord) -> dict[str, Any] | None:
    failure = record.failure
    if failure is None:
        return None
    return {
        "layer": failure.layer.number,
        "name": failure.layer.name,
        "type": failure.layer.type,
        "message": failure.message,
    }


def sizes_dict(sweep: SizeSweep) -> dict[str, Any]:
    """``net --in C,LO..HI --json``: the valid sizes, a summary, and one record per size."""
    near = sweep.near
    return {
        "channels": sweep.channels,
        "spatial_dims": sweep.ndim,
        "batch": sweep.batch,
        "valid_sizes": [v if isinstance(v, int) else list(v) for v in sweep.valid_sizes],
        "summary": sweep.summary() if sweep.records else None,
        "sizes": [
            {
                "size": _size_value(sweep, record.spatial),
                "input_shape": [sweep.batch, *record.input],
                "valid": record.valid,
                "output_shape": None if record.output is None else list(record.output),
                "failure": _failure_dict(record),
            }
            for record in sweep.records
        ],
        "failed_runs": [
            {
                "from": _size_value(sweep, run.first.spatial),
                "to": _size_value(sweep, run.last.spatial),
                "count": run.count,
                "failure": _failure_dict(run.first),
            }
            for run in sweep.failed_runs
        ],
        "near": None
        if near is None
        else {"size": near.size, "valid": near.valid, "below": near.below, "above": near.above},
    }


def near_text(near: Near) -> str:
    """``nearest valid sizes to 100: 96 below, 112 above``."""
    if near.valid:
        head = f"{near.size} is valid"
    else:
        head = f"{near.size} is not valid"
    within = f" within {near.reach:,}"
    below = f"none{within}" if near.below is None else str(near.below)
    above = f"none{within}" if near.above is None else str(near.above)
    return f"{head}; nearest valid below: {below}, above: {above}"


def run_text(sweep: SizeSweep, run: FailedRun) -> str:
    """``17..31``, or ``17`` for a run of one, or ``17x20..17x31``."""

    def show(spatial: tuple[int, ...]) -> str:
        return str(spatial[0]) if sweep.square else size_text(spatial)

    first, last = run.first.spatial, run.last.spatial
    return show(first) if run.count == 1 else f"{show(first)}..{show(last)}"


def layer_sizes_text(sweep: SizeSweep, failure: Failure, runs: list[FailedRun]) -> str:
    """The sizes failing at one layer: their runs, or their progression when there are many
    (``16k+(8..15) for 24..1023, 63 runs``)."""
    from convcalc.netsizes import progressions

    if len(runs) <= 4:
        return ", ".join(run_text(sweep, run) for run in runs)
    if sweep.square:
        number = failure.layer.number
        sizes = [
            r.spatial[0]
            for r in sweep.records
            if r.failure is not None and r.failure.layer.number == number
        ]
        lo, hi = sweep.records[0].spatial[0], sweep.records[-1].spatial[0]
        return f"{progressions(sizes, lo, hi)}: {len(runs)} runs, {len(sizes)} sizes"
    shown = ", ".join(run_text(sweep, run) for run in runs[:3])
    return f"{shown}, ... ({len(runs)} runs)"


def sizes_plain(sweep: SizeSweep) -> str:
    """The valid sizes, one per line (``16`` or ``16x32``); then the --near line if asked."""
    lines = [str(v) if isinstance(v, int) else size_text(v) for v in sweep.valid_sizes]
    if sweep.near is not None:
        lines.append(near_text(sweep.near))
    return "\n".join(lines)


def sizes_markdown(sweep: SizeSweep) -> str:
    """The summary and a table of the failing runs."""
    lines = []
    if sweep.records:
        lines += [f"**{sweep.summary()}**", ""]
        lines += ["| first failing layer | sizes | why (at the first size) |"]
        lines += ["|---|---|---|"]
        for failure, runs in sweep.failures_by_layer():
            why = failure.message.removeprefix(failure.layer.where + ": ")
            lines.append(
                f"| {failure.layer.where} | {layer_sizes_text(sweep, failure, runs)} | "
                + why.replace("|", "\\|")
                + " |"
            )
    if sweep.near is not None:
        lines += ["", near_text(sweep.near)]
    return "\n".join(lines).strip("\n")


def sizes_csv(sweep: SizeSweep) -> str:
    """One row per size: size, valid, output shape, failing layer, message."""
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["size", "valid", "output_shape", "layer", "name", "message"])
    for record in sweep.records:
        failure = record.failure
        writer.writerow(
            [
                size_text(record.spatial),
                str(record.valid).lower(),
                "" if record.output is None else size_text(record.output),
                "" if failure is None else failure.layer.number,
                "" if failure is None else failure.layer.name,
                "" if failure is None else failure.message,
            ]
        )
    return buffer.getvalue()


def candidate_dict(candidate: Candidate) -> dict[str, Any]:
    """One solve candidate."""
    dim = candidate.dim
    data: dict[str, Any] = {
        "label": candidate.label,
        "kernel_size": dim.kernel,
        "stride": dim.stride,
        "padding": dim.pad_before,
        "dilation": dim.dilation,
        "output": dim.output,
        "substituted": dim.substituted,
        "notes": list(dim.notes),
    }
    if dim.pad_after != dim.pad_before:
        data["padding"] = "same"
        data["padding_before_after"] = [dim.pad_before, dim.pad_after]
    if dim.kind.value == "convtranspose":
        data["output_padding"] = dim.output_padding
    return data


def solutions_plain(solutions: list[Solution], labels: list[str], limit: int) -> str:
    """``solve --plain``: the candidates, best first, one per line (``k3 s2 p1``); with
    different sizes per dimension each block starts with ``# H: 224 -> 112``."""
    lines = []
    for solution, label in zip(solutions, labels):
        if label:
            lines.append(f"# {label}: {solution.size} -> {solution.target}")
        lines.extend(candidate.label for candidate in solution.candidates[:limit])
    return "\n".join(lines)


def inversion_plain(inversion: Inversion) -> str:
    """``invert --plain``: the output_padding per dimension, ``-`` where none reaches."""
    return "x".join(
        "-" if item.output_padding is None else str(item.output_padding) for item in inversion.dims
    )


def comparison_plain(rows: list[Comparison]) -> str:
    """``compare --plain``: ``FRAMEWORK OUTPUT`` per line, ``-`` where it rejects the layer."""
    return "\n".join(
        f"{row.convention.value} {'-' if row.output is None else size_text(row.output)}"
        for row in rows
    )


def solution_dict(solution: Solution, limit: int | None = None) -> dict[str, Any]:
    """The ``solve --json`` object for one (input, output) pair."""
    shown = solution.candidates if limit is None else solution.candidates[:limit]
    return {
        "op": solution.kind.value,
        "input": solution.size,
        "output": solution.target,
        "count": len(solution.candidates),
        "searched": solution.searched,
        "candidates": [candidate_dict(c) for c in shown],
        "nearest_below": None if solution.below is None else candidate_dict(solution.below),
        "nearest_above": None if solution.above is None else candidate_dict(solution.above),
    }


def inversion_dict(inversion: Inversion) -> dict[str, Any]:
    """The ``invert --json`` object."""
    spec = inversion.spec
    dims = []
    for item in inversion.dims:
        dims.append(
            {
                "dim": item.forward.label or "L",
                "input": item.forward.input,
                "output": item.forward.output,
                "inputs_with_same_output": (
                    list(item.preimage) if _count(item.preimage) <= MAX_LISTED else None
                ),
                "inputs_with_same_output_range": [item.preimage.start, item.preimage.stop - 1],
                "inverse_output_without_output_padding": item.inverse_output,
                "output_padding": item.output_padding,
                "note": item.note,
            }
        )
    return {
        "op": spec.name,
        "inverse": inverse_name(spec),
        "params": spec_params(spec),
        "output_size": list(inversion.output_size),
        "dims": dims,
    }


def inverse_name(spec: LayerSpec) -> str:
    """The PyTorch op that undoes a layer's size change."""
    from convcalc.families import family

    return family(spec.kind).inverse_name(spec)


def sweep_json(op: str, convention: str, rows: list[SweepRow]) -> str:
    """``shape --in a..b --json``: one row per line, written directly (100,000 rows in a
    fraction of a second; the indenting encoder takes seconds). Keys per row: ``input``,
    ``output`` (dimension 0, or null), ``output_size`` (every dimension, as the single-size
    query's ``output``), ``error``, ``unread_input``, ``roundtrip``, ``needs_output_padding``."""

    valid = (
        '    {"input": %d, "output": %d, "output_size": [%s], "error": null, '
        '"unread_input": %d, "roundtrip": %s, "needs_output_padding": %s}'
    )
    lines = []
    for r in rows:
        if r.output is None:
            error = json.dumps(r.error, ensure_ascii=False)
            lines.append(
                f'    {{"input": {r.input}, "output": null, "output_size": null, "error": {error}, '
                f'"unread_input": {r.unread}, "roundtrip": null, "needs_output_padding": null}}'
            )
            continue
        lines.append(
            valid
            % (
                r.input,
                r.output[0],
                str(r.output[0]) if len(r.output) == 1 else ", ".join(map(str, r.output)),
                r.unread,
                "null" if r.roundtrip is None else r.roundtrip,
                "null" if r.needs_output_padding is None else r.needs_output_padding,
            )
        )
    head = f'{{\n  "op": {json.dumps(op)},\n  "convention": {json.dumps(convention)},\n  "rows": ['
    return head + ("\n" + ",\n".join(lines) + "\n  ]\n}" if lines else "]\n}")


def sweep_plain(rows: list[SweepRow]) -> str:
    """``shape --in a..b --plain``: ``INPUT OUTPUT`` per line (``-`` for an invalid size)."""
    return "\n".join(f"{r.input} {'-' if r.output is None else size_text(r.output)}" for r in rows)


def comparison_dicts(rows: list[Comparison]) -> list[dict[str, Any]]:
    """``compare --json``: one entry per convention."""
    from convcalc.conventions import torch_equivalent

    data = []
    for row in rows:
        item: dict[str, Any] = {
            "convention": row.convention.value,
            "output": None,
            "error": row.error,
        }
        if row.resolved is not None and row.output is not None:
            spec = row.resolved.spec
            item.update(
                output=list(row.output),
                padding=[list(p) for p in spec.padding],
                output_padding=list(spec.output_padding),
                framework_call=row.resolved.call,
                resolution=list(row.resolved.notes),
                torch_equivalent=torch_equivalent(row.resolved),
            )
        data.append(item)
    return data


def view_dict(view: View) -> dict[str, Any]:
    """The JSON form of a transposed conv view's intermediate data."""
    from convcalc.tensors import to_plain
    from convcalc.trace import ConvView, Im2colView, MatrixView, ScatterView

    match view:
        case ScatterView():
            return {"full": to_plain(view.full), "crop": [list(c) for c in view.crop]}
        case ConvView():
            return {
                "zero_inserted": to_plain(view.zero_inserted),
                "padding": [list(p) for p in view.pads],
                "padded": to_plain(view.padded),
                "kernel_rotated": to_plain(view.kernel),
            }
        case MatrixView():
            return {
                "matrix": to_plain(view.matrix),
                "input_flat": to_plain(view.x_flat),
                "output_flat": to_plain(view.y_flat),
            }
        case Im2colView():
            return {
                "columns": to_plain(view.columns),
                "weight_matrix": to_plain(view.weight_matrix),
                "product": to_plain(view.product),
                "rows": [[c, *m] for c, m in view.rows],
                "windows": [[list(span) for span in window] for window in view.windows],
            }
        case _:
            assert_never(view)


OPEN_NOTE = (
    "the input's size is open in the file: a ? (null in JSON) follows it; params and the sizes "
    "shown hold at every input size; give --in C,H,W for every size, MACs and memory"
)


def open_shape_text(shape: tuple[int | None, ...]) -> str:
    """``1x1000`` or, with open dimensions, ``1x16x?x?``."""
    return "x".join("?" if d is None else str(d) for d in shape)


def open_result_dict(report: OpenResult) -> dict[str, Any]:
    """``net --json`` of a file whose input size is open, without --in: the network keys, the
    dimensions that follow the input null, the counts that need a size null."""
    return {
        "source": report.source,
        "shapes_known": False,
        "input_open": True,
        "input_shape": list(report.input_shape),
        "output_shape": list(report.output_shape),
        "total_params": report.total_params,
        "total_non_trainable_params": report.total_non_trainable_params,
        "total_macs": None,
        "total_matmul_macs": None,
        "params_exact": True,
        "probe_sizes": list(report.probes),
        "layers": [
            {
                "index": layer.index,
                "name": layer.name,
                "type": layer.type,
                "summary": layer.summary,
                "from": list(layer.sources),
                "output_shape": list(layer.output_shape),
                "params": layer.params,
                "non_trainable_params": layer.non_trainable_params,
                "macs": None,
            }
            for layer in report.layers
        ],
        "notes": [OPEN_NOTE],
    }


def module_report_dict(report: ModuleReport) -> dict[str, Any]:
    """``net --json`` of a printed model whose shapes cannot be followed: the network keys,
    shapes null, ``shapes_known`` false, every module with its own parameters."""
    return {
        "source": report.source,
        "shapes_known": False,
        "input_shape": None,
        "output_shape": None,
        "total_params": report.total_params,
        "total_non_trainable_params": 0,  # buffers (running statistics) are not in the text
        "total_macs": None,
        "params_exact": report.exact,
        "layers": [
            {
                "index": n,
                "name": row.path,
                "type": row.cls,
                "output_shape": None,
                "params": row.params,
            }
            for n, row in enumerate(report.rows, start=1)
        ],
        "groups": [{"name": g.name, "type": g.cls, "params": g.params} for g in report.groups],
        "params_unknown": list(report.unknown),
        "not_followed": {"containers": list(report.unclear), "modules": list(report.opaque)},
        "notes": list(report.notes),
    }
