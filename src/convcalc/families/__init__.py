"""The registry of op families: one line per family, each a module of this package holding the
family's behaviour (see ``base.Family``). ``shape``, ``trace``, ``net``, the readers and the
exporters find a family here and nowhere else; ``ops.OPS`` holds the facts the lower layers read.
"""

from __future__ import annotations

from convcalc.families import adaptive, conv, convtranspose, fold, lppool, pool
from convcalc.families.base import Family
from convcalc.ops import OpKind

FAMILIES: dict[OpKind, Family] = {
    family.kind: family
    for family in (
        conv.FAMILY,
        convtranspose.FAMILY,
        pool.MAXPOOL,
        pool.AVGPOOL,
        adaptive.ADAPTIVEAVGPOOL,
        adaptive.ADAPTIVEMAXPOOL,
        fold.UNFOLD,
        fold.FOLD,
        lppool.FAMILY,
    )
}


def family(kind: OpKind) -> Family:
    """The family of an op kind."""
    return FAMILIES[kind]


def by_onnx_op(op: str) -> Family | None:
    """The family an ONNX op type is read as, if any."""
    return next((f for f in FAMILIES.values() if op in f.onnx_ops), None)


def by_torch_class(name: str) -> tuple[Family, int] | None:
    """The family and dimensions of a torch.nn class name as print(model) writes it
    (``Conv2d``, ``MaxPool1d``); None for other classes."""
    for found in FAMILIES.values():
        facts = found.facts
        if not facts.dimensioned:
            continue
        for n in facts.ndims:
            if name == f"{facts.torch_name}{n}d":
                return found, n
    return None


__all__ = ["FAMILIES", "Family", "by_onnx_op", "by_torch_class", "family"]
