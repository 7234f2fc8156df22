"""Memory of a network run, with the counting rules stated (README, "Memory").

- ``output_bytes``: a layer's output tensor, batch included: elements x dtype size.
- ``total_param_bytes``: parameters x dtype size.
- ``total_activation_bytes``: every layer's output, batch included; the network input is not
  included (it is counted in ``input_bytes``).
- ``peak_activation_bytes``: the largest, over the layers in file order, of the bytes of every
  tensor alive while that layer runs. The network input and each layer's output live from when
  they are produced until the last layer that reads them has run; the running layer's inputs and
  output are alive together; the final output lives to the end; an output nobody reads lives
  only while its layer runs. Parameters are not included; in-place operations are not assumed.
- ``training_bytes``: an estimate for one training step: every layer's output kept for backward
  (``total_activation_bytes``) plus parameters x (weights + gradients + optimizer states: sgd 0,
  momentum 1, adam 2), all in the chosen dtype.

Standard library only.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, assert_never

if TYPE_CHECKING:
    from convcalc.netlayers import NetworkResult


class Dtype(enum.StrEnum):
    """Element types and their sizes in bytes."""

    FLOAT32 = "float32"
    FLOAT16 = "float16"
    BFLOAT16 = "bfloat16"
    INT8 = "int8"
    FLOAT64 = "float64"

    @property
    def size(self) -> int:
        match self:
            case Dtype.FLOAT64:
                return 8
            case Dtype.FLOAT32:
                return 4
            case Dtype.FLOAT16 | Dtype.BFLOAT16:
                return 2
            case Dtype.INT8:
                return 1
            case _:
                assert_never(self)


class Optimizer(enum.StrEnum):
    """Optimizers by how many tensors of state they keep per parameter."""

    SGD = "sgd"
    MOMENTUM = "momentum"
    ADAM = "adam"

    @property
    def states(self) -> int:
        match self:
            case Optimizer.SGD:
                return 0
            case Optimizer.MOMENTUM:
                return 1
            case Optimizer.ADAM:
                return 2
            case _:
                assert_never(self)


ACTIVATION_RULE = "every layer's output, batch included; the network input not included"
PEAK_RULE = (
    "the most bytes alive while one layer runs; the input and each output live from when "
    "made until their last reader has run"
)


@dataclass(frozen=True)
class Memory:
    """Bytes per layer output and the totals, for one dtype and optimizer."""

    dtype: Dtype
    optimizer: Optimizer
    input_bytes: int
    output_bytes: tuple[int, ...]  # per layer, in file order
    alive_bytes: tuple[int, ...]  # per layer: every tensor alive while it runs
    total_param_bytes: int
    total_activation_bytes: int
    peak_activation_bytes: int
    peak_layer: int  # the first layer (1-based) where the peak is reached; 0 for no layers
    peak_tensors: tuple[int, ...]  # the tensors alive then (0 = the network input)

    @property
    def training_bytes(self) -> int:
        return self.total_activation_bytes + self.total_param_bytes * (2 + self.optimizer.states)

    @property
    def training_rule(self) -> str:
        states = self.optimizer.states
        return (
            f"activations (kept for backward) + params x {2 + states} (weights, gradients"
            + (
                f", {states} {self.optimizer.value} state{'s' if states > 1 else ''}"
                if states
                else ""
            )
            + ")"
        )


@dataclass(frozen=True)
class NetworkReport:
    """What ``convcalc net`` shows for one input shape: the run and its memory."""

    result: NetworkResult
    memory: Memory


def memory(
    result: NetworkResult, dtype: Dtype = Dtype.FLOAT32, optimizer: Optimizer = Optimizer.ADAM
) -> Memory:
    """Apply the module's rules to a network run.

    >>> from convcalc.network import parse_inline, run_network
    >>> m = memory(run_network(parse_inline("conv2d k3 p1 c8; relu"), (3, 4, 4)))
    >>> m.output_bytes, m.peak_activation_bytes, m.total_param_bytes
    ((512, 512), 1024, 896)
    """
    size = dtype.size
    layers = result.layers
    count = len(layers)
    tensor_bytes = [math.prod(result.input_shape) * size] + [
        math.prod(layer.output_shape) * size for layer in layers
    ]
    readers = result.readers or tuple((t + 1,) if t < count else () for t in range(count + 1))
    # tensor t is alive while layers first..last run
    spans = []
    for t in range(count + 1):
        last = max(readers[t], default=0)
        if t == count and count:
            last = count  # the final output lives to the end
        first = max(t, 1)
        spans.append((first, max(last, t)))
    alive = [0] * (count + 2)
    for t, (first, last) in enumerate(spans):
        if first <= last:
            alive[first] += tensor_bytes[t]
            alive[last + 1] -= tensor_bytes[t]
    per_layer = []
    running = 0
    for i in range(1, count + 1):
        running += alive[i]
        per_layer.append(running)
    peak = max(per_layer, default=0)
    peak_layer = per_layer.index(peak) + 1 if per_layer else 0
    peak_tensors = tuple(t for t, (first, last) in enumerate(spans) if first <= peak_layer <= last)
    return Memory(
        dtype,
        optimizer,
        tensor_bytes[0],
        tuple(tensor_bytes[1:]),
        tuple(per_layer),
        result.total_params * size,
        sum(tensor_bytes[1:]),
        peak,
        peak_layer,
        peak_tensors,
    )


def human_bytes(count: int) -> str:
    """``3.1 MiB``: binary units, one decimal below 100 of a unit.

    >>> human_bytes(512), human_bytes(1536), human_bytes(44_696_000)
    ('512 B', '1.5 KiB', '42.6 MiB')
    """
    for unit, scale in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if count >= scale:
            value = count / scale
            return f"{value:.1f} {unit}" if value < 100 else f"{count // scale} {unit}"
    return f"{count} B"
