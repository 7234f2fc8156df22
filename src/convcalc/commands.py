"""Command bodies that run without typer: parse the option strings, call one core entry point,
emit the result. ``cli.py`` wraps them in typer commands; ``entry.py`` calls ``shape`` directly
on the start-up fast path. They raise ConvcalcError; the caller reports it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, assert_never

from convcalc.errors import MalformedInputError
from convcalc.options import Format
from convcalc.output import (
    emit,
    progress_on_stderr,
    with_flag,
    write,
    write_rich,
)
from convcalc.requests import (
    CompareRequest,
    DiffRequest,
    InvertRequest,
    NetRequest,
    Request,
    ShapeRequest,
    SolveRequest,
    TraceRequest,
)
from convcalc.specs import OpKind

if TYPE_CHECKING:
    from convcalc.memory import NetworkReport
    from convcalc.netopen import OpenResult


def _printer(name: str) -> Callable[[Any, Any], None]:
    """A table printer of render.py for ``emit``: rich is imported only when a table is drawn."""

    def table(console: Any, found: Any) -> None:
        from convcalc import render

        getattr(render, name)(console, found)

    return table


def _piped_network(report: NetworkReport, width: int) -> str | None:
    from convcalc.netview import network_table, network_text

    return network_text(network_table(report), width)


def _piped_open(report: OpenResult, width: int) -> str | None:
    from convcalc.netview import network_text, open_table

    return network_text(open_table(report), width)


def run(request: Request) -> int:
    """Run one command's request; its exit status (1: a failed --check, a difference, nothing
    solved)."""
    match request:
        case ShapeRequest():
            shape(request)
        case TraceRequest():
            trace(request)
        case NetRequest():
            return net(request)
        case DiffRequest():
            return diff(request)
        case SolveRequest():
            return solve(request)
        case InvertRequest():
            invert(request)
        case CompareRequest():
            compare(request)
        case _:
            assert_never(request)
    return 0


def shape(request: ShapeRequest) -> None:
    """``convcalc shape``: one size (conventions.shape_query) or a sweep over a range of sizes
    (solve.sweep, each row that same query); a picture of one size (--format svg)."""
    op = request.op
    input_size = request.input_size
    layer = request.layer
    batch = request.batch
    convention = request.convention
    frame = request.frame
    chosen = request.fmt
    from convcalc.conventions import shape_query
    from convcalc.solve import parse_range
    from convcalc.specs import parse_op, parse_size_list

    name = parse_op(op)
    if input_size is None:
        if name.kind is not OpKind.FOLD:
            raise MalformedInputError(
                f"input size (--in): {name} needs the input size, e.g. --in 5 or --in 5x7"
            )
        resolved, result = shape_query(convention, name, (), layer, batch)
        _emit_shape(chosen, result, resolved)
        return
    sweep_range = parse_range(input_size)
    if sweep_range is None:
        sizes = parse_size_list(input_size, "input size (--in)", minimum=1)
        resolved, result = shape_query(convention, name, sizes, layer, batch)
        if chosen is Format.SVG:
            _picture(result, None, frame)
            return
        _emit_shape(chosen, result, resolved)
        return
    if chosen is Format.SVG:
        raise MalformedInputError("--format svg draws one input size, not a sweep")
    if name.kind is OpKind.FOLD:
        raise MalformedInputError("input size (--in): a fold takes one L, not a range")
    if layer.output_shape is not None and not name.kind.is_adaptive:
        raise MalformedInputError(
            "--out/--output-size of a transposed conv needs one input size, not a sweep"
        )
    from convcalc import serialize
    from convcalc.solve import sweep

    def at(size: int) -> Any:
        return shape_query(convention, name, (size,), layer, batch)[1]

    title = f"{name.kind.value}{name.ndim or 1}d"
    with progress_on_stderr(f"{title} sweep") as progress:
        rows = sweep(at, sweep_range, progress)
    # each row's error reads as the single-size query reports it (with the flag)
    rows = [row._replace(error=with_flag(row.error)) if row.error else row for row in rows]

    def table(console: Any, found: Any) -> None:
        from convcalc.render import print_sweep
        from convcalc.solve import summarise

        print_sweep(console, title, convention, found, summarise(found))

    emit(
        chosen,
        rows,
        json=lambda found: serialize.sweep_json(title, convention, found),
        plain=serialize.sweep_plain,
        table=table,
    )


def _picture(shape: Any, trace: Any, frame: str | None) -> None:
    """An SVG of a layer: animated, or the still of --frame."""
    from convcalc.pictures import figure_of, figure_svg
    from convcalc.shapes import LayerShape
    from convcalc.specs import parse_size_list

    if not isinstance(shape, LayerShape):
        raise MalformedInputError(
            "--format svg draws conv, convtranspose, maxpool and avgpool layers"
        )
    still = parse_size_list(frame, "--frame") if frame is not None else None
    write(figure_svg(figure_of(shape, trace), still), newline=False)


def _emit_shape(chosen: Format, result: Any, resolved: Any) -> None:
    from convcalc.serialize import layer_shape_dict, size_text

    def as_json(shape: Any) -> Any:
        data = layer_shape_dict(shape)
        data["convention"] = resolved.convention.value
        data["framework_call"] = resolved.call
        data["resolution"] = list(resolved.notes)
        return data

    def table(console: Any, shape: Any) -> None:
        from convcalc.render import print_adaptive_shape, print_fold_shape, print_shape
        from convcalc.shapes import AdaptiveShape, FoldShape

        if isinstance(shape, AdaptiveShape):
            print_adaptive_shape(console, shape)
        elif isinstance(shape, FoldShape):
            print_fold_shape(console, shape)
        else:
            print_shape(console, shape, resolved)

    emit(chosen, result, json=as_json, plain=lambda r: size_text(r.output), table=table)


# Above this many steps trace --json is written on one line (the C encoder; see dumps).
COMPACT_JSON_STEPS = 200


def trace(request: TraceRequest) -> None:
    """``convcalc trace``: the layer on the data (trace.trace_args), the steps shown, the view,
    and with --grad-out the backward pass (backward.backward); pictures (--format svg/html)."""
    op = request.op
    x = request.x
    w = request.w
    b = request.b
    grad_out = request.grad_out
    layer = request.layer
    convention = request.convention
    view = request.view
    at = request.at
    max_steps = request.max_steps
    frame = request.frame
    chosen = request.fmt
    from convcalc.errors import ConvcalcError
    from convcalc.steps import STEP_WORK
    from convcalc.tensors import load_tensor
    from convcalc.trace import ConvView, choose_view, trace_args

    args = layer
    result = trace_args(
        op,
        load_tensor(x, "input"),
        load_tensor(w, "weight") if w is not None else None,
        load_tensor(b, "bias") if b is not None else None,
        args,
        convention=convention,
        for_at=at is not None,
    )
    if chosen is Format.SVG:
        _picture(result.shape, result, frame)
        return
    if chosen is Format.HTML:
        from convcalc.pictures import trace_html, view_tables_html

        extra = view_tables_html(result, choose_view(result, view))
        write(trace_html(result, extra), newline=False)
        return
    if chosen is Format.PLAIN:
        values = result.display_output
        if values is None:
            raise MalformedInputError(
                "--plain prints the whole output; with --at use the table or --json"
            )
        from convcalc.serialize import array_plain

        write(array_plain(values))
        return
    lazy, count, hidden = select_steps(result, at, max_steps, chosen)

    def checked(steps: Iterable[Any]) -> Iterator[Any]:
        """What is printed was computed twice, element-wise and vectorised."""
        for step in steps:
            if result.output is not None and not _same(step.value, result.output[step.index]):
                raise ConvcalcError(f"internal check failed at {list(step.index)}")
            yield step

    shown_view = choose_view(result, view)
    gradients = None
    back_lazy: Iterator[Any] = iter(())
    back_hidden = 0
    if grad_out is not None:
        from convcalc.backward import backward

        if result.output is None:
            raise MalformedInputError("--grad-out needs the whole output; drop --at")
        gradients = backward(result, load_tensor(grad_out, "grad_out"))
        spent = count * (result.terms_per_step + STEP_WORK)  # one budget for both lists
        back_lazy, _, back_hidden = select_steps(
            gradients.input_trace, None, max_steps, chosen, spent
        )
    if chosen is Format.JSON:
        # streamed: each step written as it is computed, memory bounded whatever the size
        from convcalc.output import write_json_streaming
        from convcalc.serialize import backward_dict, dumps, step_dict, trace_dict

        data = trace_dict(result, [], shown_view)
        streams = {"steps": (step_dict(step, result.plain) for step in checked(lazy))}
        if gradients is not None:
            data.update(backward_dict(result, gradients, []))
            streams["grad_input_steps"] = (step_dict(s, result.plain) for s in back_lazy)
        if count > COMPACT_JSON_STEPS:
            write_json_streaming(data, streams)
        else:  # small: indented, as the reader of a textbook example wants it
            write(dumps(data | {key: list(items) for key, items in streams.items()}))
        return
    steps = list(checked(lazy))
    shown = steps
    if isinstance(shown_view, ConvView):
        # the conv view shows the same output elements, as steps of its stride-1 conv
        shown = [shown_view.trace.step_at(step.index) for step in steps]
    back_steps = list(back_lazy)
    from convcalc.render import print_backward, print_trace

    write_rich(print_trace, result, shown, shown_view, hidden)
    if gradients is not None:
        write_rich(print_backward, result, gradients, back_steps, back_hidden)


def _same(a: object, b: object) -> bool:
    """Two computations of one element agree: equal, or both nan (a float result)."""
    return a == b or (a != a and b != b)


def select_steps(
    result: Any, at: str | None, max_steps: int | None, chosen: Format, spent: int = 0
) -> tuple[Iterator[Any], int, int]:
    """The steps to show, built one by one as they are consumed: one element (--at, every
    channel unless given), the first N (--max-steps), or all (JSON, up to its cap) / 64
    (table); ``spent``: the work of steps this run lists already. Returns (the steps, how
    many, how many are not shown)."""
    import itertools

    from convcalc.specs import parse_size_list
    from convcalc.steps import MAX_LISTED_WORK, STEP_WORK

    if at is not None:
        index = parse_size_list(at, "--at")
        shape = result.output_shape
        if len(index) == len(shape) - 1:
            return (result.step_at((o, *index)) for o in range(shape[0])), shape[0], 0
        if len(index) == len(shape):
            return iter([result.step_at(index)]), 1, 0
        raise MalformedInputError(
            f"--at: give {len(shape) - 1} indices (or {len(shape)} with the channel first)"
        )
    if max_steps is not None and max_steps < 0:
        raise MalformedInputError(f"--max-steps must be non-negative, got {max_steps}")
    total = result.step_count
    limit = max_steps if max_steps is not None else (None if chosen is Format.JSON else 64)
    count = total if limit is None else min(limit, total)
    terms = count * result.terms_per_step
    if spent + terms + STEP_WORK * count > MAX_LISTED_WORK:  # bounded, however chosen
        listed = "--json" if limit is None else f"--max-steps {limit:,}"
        if spent:
            listed += " (grad_input's steps, after the forward pass's)"
        raise MalformedInputError(
            f"{listed}: {count:,} steps ({terms:,} multiply-accumulates) is more than one run "
            f"lists: at most {MAX_LISTED_WORK:,} multiply-accumulates plus {STEP_WORK} per step. "
            "Choose with --max-steps N or --at i,j (the output values are in --plain)"
        )
    return itertools.islice(result.iter_steps(), count), count, total - count


def net(request: NetRequest) -> int:
    """``convcalc net``: the exit status is 1 when --check finds an ``expect`` that fails (or,
    over a range of sizes, a size that fails)."""
    spec = request.spec
    input_size = request.input_size
    batch = request.batch
    near = request.near
    dtype = request.dtype
    optimizer = request.optimizer
    check = request.check

    chosen = request.fmt
    from convcalc import serialize
    from convcalc.loader import load_network
    from convcalc.memory import NetworkReport, memory
    from convcalc.netrun import run_plan
    from convcalc.specs import is_range, parse_size_list

    network = load_network(spec)
    if network.modules and not network.shapes_known and chosen is not Format.TOML:
        return _module_report(network, chosen, check)
    plan = _plan(network)
    if near is not None or (input_size is not None and is_range(input_size)):
        if chosen in (Format.TOML, Format.TORCH, Format.SVG):
            raise MalformedInputError(f"--format {chosen.value} writes one network, not a sweep")
        return _net_sizes(plan, input_size, batch, near, check, chosen)
    shape = parse_size_list(input_size, "--in", minimum=1) if input_size else None
    if chosen is Format.TOML:  # written as read: no run needed (an unclear chain included)
        from convcalc.exporters import to_toml

        write(to_toml(network, shape, batch), newline=False)
        return 0
    if shape is None and plan.input is None and plan.open_input is not None:
        if chosen in (Format.TABLE, Format.JSON, Format.PLAIN):
            return _open_report(plan, batch, chosen, check)
    result = run_plan(plan, shape, batch)
    if chosen is Format.TORCH:
        from convcalc.exporters import to_torch

        write(to_torch(plan, result), newline=False)
        return 0
    if chosen is Format.SVG:
        from convcalc.pictures import net_svg

        write(net_svg(NetworkReport(result, memory(result, dtype, optimizer))), newline=False)
        return 0
    report = NetworkReport(result, memory(result, dtype, optimizer))

    emit(
        chosen,
        report,
        json=serialize.network_dict,
        plain=lambda r: serialize.size_text(r.result.output_shape),
        table=_printer("print_network"),
        piped_table=_piped_network,
        markdown=serialize.network_markdown,
        csv=serialize.network_csv,
    )
    if check and result.mismatches:
        # why the gate failed goes to stderr in every format (`--check >/dev/null` keeps it)
        from convcalc.boundary import display
        from convcalc.neteval import mismatch_text

        for layer in result.mismatches:
            print("expect failed: " + display(mismatch_text(layer)), file=sys.stderr)
        return 1
    return 0


def _load_plan(spec: str) -> tuple[Any, Any]:
    """A network spec read (any reader) and planned once."""
    from convcalc.loader import load_network

    network = load_network(spec)
    network.check_runnable()
    return network, _plan(network)


def _open_report(plan: Any, batch: int | None, chosen: Format, check: bool) -> int:
    """A file that leaves the input's size open, run without --in: what holds at every size."""
    from convcalc import serialize
    from convcalc.boundary import display
    from convcalc.netopen import run_open

    report = run_open(plan, batch)
    emit(
        chosen,
        report,
        json=serialize.open_result_dict,
        plain=lambda r: serialize.open_shape_text(r.output_shape),
        table=_printer("print_open_result"),
        piped_table=_piped_open,
    )
    if check:
        print(
            f"--check: {display(plan.source)}: the input size is open in the file; give --in "
            "C,H,W to check the expectations",
            file=sys.stderr,
        )
        return 1
    return 0


def _module_report(network: Any, chosen: Format, check: bool) -> int:
    """A printed model whose shapes cannot be followed: its parameters, module by module."""
    from convcalc import serialize
    from convcalc.boundary import display
    from convcalc.modulereport import module_report

    if chosen not in (Format.TABLE, Format.JSON, Format.PLAIN):
        network.check_runnable()  # the formats that need shapes say why there are none
    report = module_report(network)
    emit(
        chosen,
        report,
        json=serialize.module_report_dict,
        plain=lambda r: str(r.total_params),
        table=_printer("print_module_report"),
    )
    if check:
        print(
            f"--check: {display(network.source)}: the shapes are not known, so no expectation "
            "can be checked",
            file=sys.stderr,
        )
        return 1
    return 0


def _plan(network: Any) -> Any:
    """A spec planned once, its surprises reported against its file."""
    from contextlib import nullcontext

    from convcalc.boundary import file_content, guarded
    from convcalc.netplan import plan_network

    # the inline form is the command line's own words (usage lines apply); anything else, a file's
    content = nullcontext() if network.source == "<inline>" else file_content(network.source)
    with content, guarded(network.source):  # a value the planner did not expect
        return plan_network(network)


def diff(request: DiffRequest) -> int:
    """``convcalc diff``: exit 0 identical, 1 different; with --fail-on, 1 only when a budget is
    exceeded (each named on stderr)."""
    a = request.a
    b = request.b
    input_size = request.input_size
    batch = request.batch
    dtype = request.dtype
    optimizer = request.optimizer
    fail_on = request.fail_on

    chosen = request.fmt
    from convcalc import diffview
    from convcalc.diff import diff_networks, parse_budget
    from convcalc.memory import NetworkReport, memory
    from convcalc.netrun import run_plan
    from convcalc.netsizes import parse_ranges, sweep_sizes
    from convcalc.specs import is_range, parse_size_list

    budgets = [parse_budget(rule) for rule in fail_on or []]
    if a == "-" and b == "-":
        raise MalformedInputError("diff: standard input (-) can be one side, not both")
    ranged = input_size is not None and is_range(input_size)
    shape = parse_size_list(input_size, "--in", minimum=1) if input_size and not ranged else None
    plans = []
    for spec in (a, b):
        network, plan = _load_plan(spec)
        network.check_runnable()
        plans.append(plan)
    sweeps = []
    if ranged:
        assert input_size is not None
        for plan in plans:
            ndim = plan.spatial_ndim()
            ranges = parse_ranges(input_size, ndim)
            sweeps.append(
                sweep_sizes(plan, ranges, batch, None, channels=ranges.channels, ndim=ndim)
            )
        # the layers are compared at the first size of the range both accept
        common = next(
            (x.input for x, y in zip(sweeps[0].records, sweeps[1].records) if x.valid and y.valid),
            None,
        )
        if common is None and not all(plan.input for plan in plans):
            raise MalformedInputError(
                "diff: no input size of the range works for both networks; give a fixed --in "
                "(C,H,W) to compare their layers"
            )
        shape = common
    reports = []
    for plan in plans:
        result = run_plan(plan, shape, batch)
        reports.append(NetworkReport(result, memory(result, dtype, optimizer)))
    sizes_a, sizes_b = (sweeps[0], sweeps[1]) if sweeps else (None, None)
    found = diff_networks(reports[0], reports[1], sizes_a, sizes_b)
    emit(
        chosen,
        found,
        json=diffview.diff_dict,
        plain=diffview.diff_plain,
        table=_printer("print_diff"),
        markdown=diffview.diff_markdown,
    )
    if budgets:
        from convcalc.boundary import display

        exceeded = [message for budget in budgets if (message := budget.exceeded(found))]
        for message in exceeded:
            print(f"budget exceeded: {display(message)}", file=sys.stderr)
        return 1 if exceeded else 0
    return 0 if found.identical else 1


def _net_sizes(
    plan: Any,
    input_size: str | None,
    batch: int | None,
    near: int | None,
    check: bool,
    chosen: Format,
) -> int:
    """``net --in C,LO..HI`` and ``--near N``: which input sizes the network accepts."""
    from convcalc import serialize
    from convcalc.netsizes import parse_ranges, sweep_sizes
    from convcalc.specs import is_range, parse_size_list

    ndim = plan.spatial_ndim()
    if input_size is not None and is_range(input_size):
        ranges = parse_ranges(input_size, ndim)
        channels = ranges.channels
    else:
        given = parse_size_list(input_size, "--in", minimum=1) if input_size else None
        if given is not None and len(given) > 1:
            raise MalformedInputError(
                "--near: give --in C (the channels) or a range such as 3,16..512, not a fixed "
                "size: --near tries sizes around N"
            )
        known = plan.input or plan.open_input  # an open input size still fixes its channels
        channels_given = given[0] if given else (known[0] if known else None)
        if channels_given is None:
            raise MalformedInputError("--near: give the input channels with --in C")
        ranges, channels = None, channels_given
    sweep = sweep_sizes(plan, ranges, batch, near, channels=channels, ndim=ndim)

    emit(
        chosen,
        sweep,
        json=serialize.sizes_dict,
        plain=serialize.sizes_plain,
        table=_printer("print_sizes"),
        markdown=serialize.sizes_markdown,
        csv=serialize.sizes_csv,
    )
    failures = [record for record in sweep.records if record.failure is not None]
    near_failed = sweep.near is not None and not sweep.near.valid
    if check and (failures or near_failed):
        # why the gate failed goes to stderr in every format (`--check >/dev/null` keeps it)
        from convcalc.boundary import display
        from convcalc.serialize import near_text, size_text

        if failures:
            first = failures[0]
            assert first.failure is not None
            print(
                f"check failed: {len(failures):,} of {len(sweep.records):,} input sizes fail; "
                f"the first, {size_text(first.input)}: {display(first.failure.message)}",
                file=sys.stderr,
            )
        if sweep.near is not None and near_failed:
            print(f"check failed: {near_text(sweep.near)}", file=sys.stderr)
        return 1
    return 0


def solve(request: SolveRequest) -> int:
    """``convcalc solve``: exit status 1 when nothing fits (the nearest sizes are shown)."""
    op = request.op
    input_size = request.input_size
    output_size = request.output_size
    kernel = request.kernel
    stride = request.stride
    padding = request.padding
    dilation = request.dilation
    output_padding = request.output_padding
    ceil = request.ceil
    k_max = request.k_max
    s_max = request.s_max
    d_max = request.d_max
    p_max = request.p_max
    limit = request.limit
    chosen = request.fmt
    from convcalc.serialize import solution_dict, solutions_plain
    from convcalc.solve import Bounds
    from convcalc.solve import solve as solve_sizes
    from convcalc.specs import (
        broadcast,
        check_applicable,
        dimension_names,
        parse_op,
        parse_size_list,
    )

    name = parse_op(op)
    sizes = parse_size_list(input_size, "input size (--in)", minimum=1)
    targets = parse_size_list(output_size, "output size (--out)", minimum=1)
    ndim = name.ndim or max(len(sizes), len(targets))
    sizes, targets = broadcast(sizes, ndim, "--in"), broadcast(targets, ndim, "--out")
    check_applicable(name.kind, (dilation or 1,), (output_padding or 0,), ceil, 1)
    pairs: dict[tuple[int, int], list[str]] = {}
    letters = dimension_names(ndim)
    for axis, pair in enumerate(zip(sizes, targets)):
        pairs.setdefault(pair, []).append(letters[axis])
    bounds = Bounds(k_max, s_max, d_max, p_max)
    solutions = [
        solve_sizes(
            name.kind,
            size,
            target,
            kernel=kernel,
            stride=stride,
            padding=padding,
            dilation=dilation,
            output_padding=output_padding,
            ceil_mode=ceil,
            bounds=bounds,
        )
        for size, target in pairs
    ]
    labels = [", ".join(dims) if len(pairs) > 1 else "" for dims in pairs.values()]

    def solutions_json(found: list[Any]) -> Any:
        data = [
            dict(solution_dict(sol, limit), dims=dims.split(", ") if dims else list(letters))
            for sol, dims in zip(found, labels)
        ]
        return {"op": str(name), "solutions": data}

    def table(console: Any, found: list[Any]) -> None:
        from convcalc.render import print_solutions

        print_solutions(console, found, labels, limit)

    emit(
        chosen,
        solutions,
        json=solutions_json,
        plain=lambda found: solutions_plain(found, labels, limit),
        table=table,
    )
    return 0 if any(sol.candidates for sol in solutions) else 1


def invert(request: InvertRequest) -> None:
    """``convcalc invert``: the inverse layer and the output_padding that restores the size."""
    op = request.op
    input_size = request.input_size
    layer = request.layer
    chosen = request.fmt
    from convcalc import serialize
    from convcalc.conventions import resolve_args
    from convcalc.solve import invert as invert_layer
    from convcalc.specs import parse_op, parse_size_list

    name = parse_op(op)
    sizes = parse_size_list(input_size, "input size (--in)", minimum=1)
    args = layer
    resolved = resolve_args("torch", name, sizes, args)
    inversion = invert_layer(resolved.spec, resolved.input_size)

    emit(
        chosen,
        inversion,
        json=serialize.inversion_dict,
        plain=serialize.inversion_plain,
        table=_printer("print_inversion"),
    )


def compare(request: CompareRequest) -> None:
    """``convcalc compare``: the same arguments under every convention."""
    op = request.op
    input_size = request.input_size
    layer = request.layer
    chosen = request.fmt
    from convcalc.conventions import compare as compare_layers
    from convcalc.serialize import comparison_dicts, comparison_plain
    from convcalc.specs import parse_op, parse_size_list

    name = parse_op(op)
    sizes = parse_size_list(input_size, "input size (--in)", minimum=1)
    args = layer
    rows = compare_layers(name, sizes, args)

    def table(console: Any, found: list[Any]) -> None:
        from convcalc.render import print_comparison

        print_comparison(console, str(name), sizes, found)

    emit(
        chosen,
        rows,
        json=lambda found: {
            "op": str(name),
            "input": list(sizes),
            "conventions": comparison_dicts(found),
        },
        plain=comparison_plain,
        table=table,
    )
