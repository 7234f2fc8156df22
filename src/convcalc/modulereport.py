"""A printed model whose shapes cannot be followed (a container hides its forward, or a module is
of a class net does not run): every module's parameters from its printed arguments, their total,
and what to do for the shapes. Pure data; standard library only.
"""

from __future__ import annotations

from dataclasses import dataclass

from convcalc.netspec import ModuleParams, NetworkSpec

# What yields the shapes of a model whose printed text does not.
EXPORT_HINT = (
    "for shapes and MACs, export it and read the ONNX file: torch.onnx.export(model, "
    "torch.zeros(1, 3, 224, 224), 'model.onnx', dynamo=False), then convcalc net model.onnx"
)


@dataclass(frozen=True)
class Group:
    """The parameters under one top-level module of the model."""

    name: str
    cls: str
    params: int
    modules: int  # modules under it with parameters of their own


@dataclass(frozen=True)
class ModuleReport:
    source: str
    rows: tuple[ModuleParams, ...]
    groups: tuple[Group, ...]
    total_params: int  # the modules whose parameters their text shows
    unknown: tuple[str, ...]  # modules whose parameters their text does not show
    unclear: tuple[str, ...]  # containers whose forward the text does not show
    opaque: tuple[str, ...]  # modules net does not run
    notes: tuple[str, ...]

    @property
    def exact(self) -> bool:
        return not self.unknown


def module_report(network: NetworkSpec) -> ModuleReport:
    """The parameter report of a printed model (see the module docstring)."""
    groups: dict[str, list[int]] = {}
    classes: dict[str, str] = {}
    for row in network.modules:
        top = row.path.split(".", 1)[0]
        if "." not in row.path:
            classes[top] = row.cls
        entry = groups.setdefault(top, [0, 0])
        entry[0] += row.params or 0
        entry[1] += 1 if row.params else 0
    unknown = tuple(f"{row.path} ({row.cls})" for row in network.modules if row.params is None)
    # the reader's advice for --format toml (edit the `from` keys) is said here another way
    skipped = ("not plain sequences", "torch.flatten(x, 1) assumed")  # said for the shapes
    notes = [note for note in network.notes if not note.startswith(skipped)]
    if network.unclear:
        shown = ", ".join(network.unclear[:5]) + (", ..." if len(network.unclear) > 5 else "")
        notes.append(
            f"shapes not followed: {len(network.unclear)} container(s) do not run their "
            f"children in order and the text does not show their forward ({shown})"
        )
    if network.opaque:
        shown = ", ".join(network.opaque[:5]) + (", ..." if len(network.opaque) > 5 else "")
        notes.append(
            f"shapes not followed: {len(network.opaque)} module(s) net does not run ({shown})"
        )
    if unknown:
        notes.append(
            f"{len(unknown)} module(s) of classes whose text does not show their parameters are "
            f"not counted: {', '.join(unknown[:5])}{', ...' if len(unknown) > 5 else ''}"
        )
    notes.append(EXPORT_HINT)
    return ModuleReport(
        network.source,
        network.modules,
        tuple(Group(name, classes.get(name, ""), p, n) for name, (p, n) in groups.items()),
        sum(row.params or 0 for row in network.modules),
        unknown,
        network.unclear,
        network.opaque,
        tuple(notes),
    )
