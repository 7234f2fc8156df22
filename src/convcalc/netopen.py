"""A network whose file leaves the input's spatial size open (Keras ``[None, None, None, 3]``,
an ONNX input ``['?', 3, '?', '?']``) and no ``--in``: what holds for every size.

The plan runs at a few probe sizes. A parameter count is the same at each (it never depends on
the spatial size), and so is every dimension that does not depend on it: the channels, a global
pool's 1, the classifier's 1000. A dimension that differs between the probes is open (None):
it follows the input. MACs, memory and receptive fields need a size, which ``--in`` gives.
Pure data; standard library only.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from convcalc.errors import MalformedInputError
from convcalc.netlayers import NetworkResult, Plan
from convcalc.netrun import evaluate, network_input

# Spatial sizes tried for the open dimensions: multiples of 32 (what U-Nets and strided
# backbones divide by), far enough apart that a dimension that follows the input differs.
PROBES = (224, 288, 352, 416, 480)
RUNS = 3  # probe runs compared, where that many succeed; 2 at the least

OpenShape = tuple[int | None, ...]


@dataclass(frozen=True)
class OpenLayer:
    index: int
    name: str
    type: str
    summary: str
    output_shape: OpenShape  # (N, C, *spatial); None where it follows the input's size
    params: int
    non_trainable_params: int
    sources: tuple[str, ...]  # the tensors it reads ("input": the network input)
    shown_sources: tuple[str, ...]  # as tables show them, for a merge or an explicit `from`


@dataclass(frozen=True)
class OpenResult:
    source: str
    input_shape: OpenShape
    layers: tuple[OpenLayer, ...]
    probes: tuple[int, ...]  # the spatial sizes run

    @property
    def output_shape(self) -> OpenShape:
        return self.layers[-1].output_shape if self.layers else self.input_shape

    @property
    def total_params(self) -> int:
        return sum(layer.params for layer in self.layers)

    @property
    def total_non_trainable_params(self) -> int:
        return sum(layer.non_trainable_params for layer in self.layers)


def run_open(plan: Plan, batch: int | None) -> OpenResult:
    """The layers' parameters and the dimensions that hold at every input size (see the module
    docstring); the usual "give --in" error where fewer than two probe sizes run."""
    assert plan.open_input is not None
    runs: list[NetworkResult] = []
    probes: list[int] = []
    for size in PROBES:
        shape = tuple(size if d is None else d for d in plan.open_input)
        outcome = evaluate(plan, network_input(plan, shape, batch))
        if isinstance(outcome, NetworkResult):
            runs.append(outcome)
            probes.append(size)
            if len(runs) == RUNS:
                break
    if len(runs) < 2:
        network_input(plan, None, batch)  # raises: give --in, with what the file says
    layers = []
    for per_run in zip(*(run.layers for run in runs), strict=True):
        first = per_run[0]
        if any(layer.params != first.params for layer in per_run):
            raise MalformedInputError(
                f"{first.name}: its parameters depend on the input size; give --in C,H,W"
            )
        layers.append(
            OpenLayer(
                first.index,
                first.name,
                first.type,
                first.summary,
                _common(layer.output_shape for layer in per_run),
                first.params,
                first.non_trainable_params,
                first.sources,
                first.shown_sources,
            )
        )
    return OpenResult(
        plan.source,
        _common(run.input_shape for run in runs),
        tuple(layers),
        tuple(probes),
    )


def _common(shapes: Iterable[tuple[int, ...]]) -> OpenShape:
    """Each dimension where every run agrees, None where they differ."""
    rows = list(shapes)
    if len({len(s) for s in rows}) != 1:  # the rank itself follows the input: all open
        return tuple(None for _ in rows[0])
    return tuple(d[0] if len(set(d)) == 1 else None for d in zip(*rows, strict=True))
