"""What every op family does, and the defaults most share.

A family is one object per op kind (``conv``, ``maxpool``, ...), found through the registry in
``families/__init__.py``. It holds the behaviour that differs between families: how one output
element of a trace is computed (``step``) and its working (``step_text``), the vectorised
reference (``reference``), the JSON parameters of a resolved layer (``params``), the torch.nn
layer that ``net --format torch`` writes (``torch_layer``), the keys a ``[[layer]]`` table may
hold (``net_keys``), and its names in the model formats (``printed_positional`` for
``print(model)`` text, ``onnx_ops`` and ``from_onnx`` for ONNX). The facts the lower layers need
(names on the command line, dimensions, which shared size rule) are in ``ops.OPS``.

numpy is imported where a trace needs it, never at start-up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from convcalc.errors import ConvcalcError
from convcalc.ops import OpFamily, OpKind, Param
from convcalc.specs import LayerSpec, SettingValue

if TYPE_CHECKING:
    import numpy as np

    from convcalc.steps import Step, Trace


# a [[layer]] table as a reader writes it, before net plans it (netspec's NetworkSpec.layers)
RawTable = dict[str, Any]


class Family:
    """The behaviour of one op kind. Subclasses override what differs from these defaults,
    which are those of a window that keeps the channels (a pool)."""

    columns = False  # a trace shows the output as a (rows, L) column matrix (Unfold)
    # the keys a ``[[layer]]`` table of this family may hold besides name, layer, from, expect
    net_keys: frozenset[str] = frozenset()
    # print(model) text: the constructor's positional parameters, in order
    printed_positional: tuple[str, ...] = ()
    # print(model) text: keywords that do not change shape or parameters
    printed_ignored: frozenset[str] = frozenset(
        {"return_indices", "divisor_override", "padding_mode", "inplace"}
    )
    onnx_ops: tuple[str, ...] = ()  # the ONNX op types read as this family

    def __init__(self, kind: OpKind) -> None:
        self.kind = kind

    @property
    def facts(self) -> OpFamily:
        return self.kind.family

    # --- trace ------------------------------------------------------------------------------

    def step(self, trace: Trace, o: int, pos: tuple[int, ...]) -> Step:
        raise ConvcalcError(f"trace: {self.facts.torch_name} has no step evaluator")

    def trace_channels(self, trace: Trace) -> int:
        """The output channels of a traced layer: a pool keeps its input's."""
        return int(trace.x.shape[0])

    def reference(
        self, spec: LayerSpec, x: np.ndarray, w: np.ndarray | None, b: np.ndarray | None
    ) -> np.ndarray:
        raise ConvcalcError(f"trace: {self.facts.torch_name} has no reference")

    def step_text(self, trace: Trace, step: Step) -> tuple[str, str]:
        """One step's working and value as plain text (the steps table lays them out)."""
        from convcalc.steps import approx

        return "", approx(step.value)

    # --- results ----------------------------------------------------------------------------

    def params(self, spec: LayerSpec) -> dict[str, object]:
        """The resolved parameters, one value per spatial dimension (padding as pairs)."""
        params: dict[str, object] = {k: setting_json(v) for k, v in spec.settings}
        params |= {
            "kernel_size": list(spec.kernel_size),
            "stride": list(spec.stride),
            "padding": [list(pair) for pair in spec.padding],
            "dilation": list(spec.dilation),
        }
        if spec.padding_mode is not None:
            params["padding_mode"] = spec.padding_mode.value
        if self.facts.takes_param(Param.OUTPUT_PADDING):
            params["output_padding"] = list(spec.output_padding)
        if self.facts.takes_param(Param.CEIL_MODE):
            params["ceil_mode"] = spec.ceil_mode
        if self.facts.takes_param(Param.GROUPS):
            params["groups"] = spec.groups
        if self.facts.takes_param(Param.COUNT_INCLUDE_PAD):
            params["count_include_pad"] = spec.count_include_pad
        return params

    def inverse_name(self, spec: LayerSpec) -> str:
        """The PyTorch op that undoes the layer's size change."""
        return f"ConvTranspose{spec.ndim}d"

    # --- net and its exporters --------------------------------------------------------------

    def torch_layer(self, spec: LayerSpec, c_in: int, c_out: int, padding: str) -> str:
        """The torch.nn layer for a resolved spec (``padding``: its symmetric padding, written;
        an uneven one is padded before it)."""
        raise ConvcalcError(f"--format torch: {self.facts.torch_name} is not written")

    # --- readers ----------------------------------------------------------------------------

    def from_onnx(
        self, op: str, attrs: dict[str, object], window: dict[str, object]
    ) -> dict[str, object]:
        """A ``[[layer]]`` table for an ONNX node of one of ``onnx_ops`` (``window``: its
        kernel_size, stride, padding and dilation as the reader resolved them)."""
        raise ConvcalcError(f"ONNX {op} is not read")


def setting_json(value: SettingValue) -> object:
    """A setting in JSON: an integer, a decimal, or the string "inf" / "-inf"."""
    if isinstance(value, float):
        return "inf" if value > 0 else "-inf"
    return value.numerator if value.denominator == 1 else float(value)


def one(values: tuple[int, ...]) -> str:
    """A per-dimension value as torch writes it: ``3`` when all agree, else ``(3, 5)``."""
    return str(values[0]) if len(set(values)) == 1 else str(tuple(values))


def pool_params(spec: LayerSpec, padding: str) -> str:
    """``kernel_size=3, stride=2, padding=1`` as a pool's torch call writes them."""
    return f"kernel_size={one(spec.kernel_size)}, stride={one(spec.stride)}, padding={padding}"


__all__ = ["Family", "RawTable", "one", "pool_params", "setting_json"]
