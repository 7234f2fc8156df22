"""Running a planned network on an input shape: every layer in order (``neteval``), the
expectations checked, a size sweep's shapes memoised. Standard library only."""

from __future__ import annotations

from convcalc.errors import ConvcalcError, MalformedInputError
from convcalc.neteval import Failure, Memo, apply_layer, mismatch_line
from convcalc.netlayers import (
    Expect,
    LayerResult,
    NetworkResult,
    Plan,
    PointwiseLayer,
    ReceptiveField,
    Side,
)
from convcalc.netplan import plan_network
from convcalc.netspec import NetworkSpec

Shape = tuple[int, ...]


def run_network(
    spec: NetworkSpec, input_shape: Shape | None = None, batch: int | None = None
) -> NetworkResult:
    """Plan and run a parsed spec (see plan_network, run_plan); a printed model whose data flow
    its text does not show is refused (see NetworkSpec.check_runnable)."""
    spec.check_runnable()
    return run_plan(plan_network(spec), input_shape, batch)


def network_input(plan: Plan, input_shape: Shape | None, batch: int | None) -> Shape:
    """(N, C, *spatial): the shape given, else the spec's; the batch given, else the spec's."""
    shape_in = input_shape or plan.input
    if shape_in is None:
        hint = f" ({plan.input_hint})" if plan.input_hint else ""
        raise MalformedInputError(
            "input: give the input shape (C, *spatial) with --in or `input = [...]` in the "
            f"spec{hint}"
        )
    return (batch or plan.batch or 1, *shape_in)


def run_plan(
    plan: Plan, input_shape: Shape | None = None, batch: int | None = None
) -> NetworkResult:
    """Apply every layer to its inputs; stop at the first invalid one with its index and name."""
    outcome = evaluate(plan, network_input(plan, input_shape, batch))
    if isinstance(outcome, Failure):
        raise outcome.error
    return outcome


def evaluate(plan: Plan, full_input: Shape) -> NetworkResult | Failure:
    """Run the plan on ``full_input`` (N, C, *spatial): every layer's shapes, counts and
    receptive field, or the first layer that is invalid (check_shapes is a size sweep's
    shapes-only run)."""
    spatial_in = full_input[2:]
    shapes: list[Shape] = [full_input]
    rfs: list[ReceptiveField | None] = [ReceptiveField.identity(len(spatial_in))]
    results: list[LayerResult] = []
    for planned in plan.layers:
        inputs = tuple(shapes[s] for s in planned.sources)
        in_rfs = tuple(rfs[s] for s in planned.sources)
        try:
            applied = apply_layer(planned, inputs, in_rfs, spatial_in, True, None)
            expect, expect_text = _expected(planned.expect, shapes, results, full_input)
        except ConvcalcError as error:
            return Failure(planned, type(error)(f"{planned.where}: {error}"))
        result = LayerResult(
            planned.number,
            planned.name,
            applied.type,
            applied.summary,
            inputs,
            applied.output,
            applied.params,
            applied.macs,
            applied.rf,
            expect,
            expect_text,
            applied.shape,
            tuple(plan.tensor_name(s) for s in planned.sources),
            planned.explicit_from,
            applied.mac_count,
            applied.non_trainable,
            planned.source_labels,
            applied.matmul_macs,
        )
        results.append(result)
        shapes.append(applied.output)
        rfs.append(applied.rf)
    readers: list[list[int]] = [[] for _ in range(len(plan.layers) + 1)]
    for planned in plan.layers:
        for source in planned.sources:
            readers[source].append(planned.number)
    return NetworkResult(
        full_input,
        tuple(results),
        plan.source,
        plan.is_graph,
        tuple(tuple(r) for r in readers),
    )


def check_shapes(plan: Plan, full_input: Shape, memo: Memo) -> Shape | Failure:
    """A size sweep's run: the output shape, or the first layer in file order that fails (it
    is invalid for its input, its merge does not line up, or its ``expect`` does not hold)."""
    shapes = layer_shapes(plan, full_input, memo)
    return shapes if isinstance(shapes, Failure) else shapes[-1]


def layer_shapes(plan: Plan, full_input: Shape, memo: Memo) -> list[Shape] | Failure:
    """A shapes-only run (see check_shapes): every tensor's shape, the input's first, then each
    layer's output; layers already run on the same input shape are looked up in ``memo``."""
    spatial_in = full_input[2:]
    shapes: list[Shape] = [full_input]
    for planned in plan.layers:
        sources = planned.sources
        if type(planned.layer) is PointwiseLayer:  # the shape passes through: nothing to check
            got = shapes[sources[0]]
        else:
            inputs = (
                (shapes[sources[0]],) if len(sources) == 1 else tuple(shapes[s] for s in sources)
            )
            try:
                got = apply_layer(planned, inputs, (), spatial_in, False, memo).output
            except ConvcalcError as error:
                return Failure(planned, type(error)(f"{planned.where}: {error}"))
        shapes.append(got)
        if planned.expect is not None:
            want = _wanted(planned.expect, plan, shapes)
            if want not in (got, got[1:]):
                line = mismatch_line(
                    planned.number, planned.name, planned.type, got, planned.expect.text, want
                )
                return Failure(planned, ConvcalcError("expect failed: " + line))
    return shapes


def _wanted(expect: Expect, plan: Plan, shapes: list[Shape]) -> Shape:
    if expect.shape is not None:
        return expect.shape
    assert expect.layer is not None, "an expect is a shape or a reference"
    if expect.layer == 0 or expect.side is Side.OUTPUT:
        return shapes[expect.layer]
    return shapes[plan.layers[expect.layer - 1].sources[0]]


def _expected(
    expect: Expect | None, shapes: list[Shape], results: list[LayerResult], full_input: Shape
) -> tuple[Shape | None, str | None]:
    if expect is None:
        return None, None
    if expect.shape is not None:
        return expect.shape, expect.text
    assert expect.layer is not None, "an expect is a shape or a reference"
    if expect.layer == 0:
        return full_input, expect.text
    target = results[expect.layer - 1]
    return (target.input_shape if expect.side is Side.INPUT else shapes[expect.layer]), expect.text
