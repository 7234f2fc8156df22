"""A spec's layer tables built as a real torch graph, independently of convcalc's planner: each
layer becomes an ``nn`` module (or a torch merge) reading the tensors its ``from`` names.

Imported only by tests that first ``pytest.importorskip("torch")``.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

_NN = {name.lower(): getattr(nn, name) for name in dir(nn) if isinstance(getattr(nn, name), type)}
_MERGES = {"add": "add", "sum": "add", "mul": "mul", "multiply": "mul", "cat": "cat"}
_MERGES |= {"concat": "cat", "concatenate": "cat"}
_TUPLE_KEYS = ("kernel_size", "stride", "padding", "dilation", "output_padding", "output_size")


class Graph(nn.Module):
    """The spec's layers as torch modules; ``forward`` returns every tensor (0 = the input)."""

    def __init__(self, layers: list[dict[str, Any]], in_channels: int) -> None:
        super().__init__()
        self.tables = [dict(layer) for layer in layers]
        self.names: list[str] = ["input"]
        self.sources: list[list[int]] = []
        self.kinds: list[str] = []
        self.layers = nn.ModuleList()
        channels = [in_channels]
        index = {"input": 0}
        for number, table in enumerate(self.tables, start=1):
            name = str(table.get("name", number))
            given = table.get("from")
            if given is None:
                sources = [number - 1]
            else:
                sources = [index[str(g)] for g in (given if isinstance(given, list) else [given])]
            kind = str(table["layer"]).lower().replace("_", "")
            kwargs = {
                k: (tuple(v) if isinstance(v, list) else v)
                for k, v in table.items()
                if k not in ("layer", "name", "from", "expect")
            }
            for key in _TUPLE_KEYS:
                if isinstance(kwargs.get(key), tuple) and len(kwargs[key]) == 1:
                    kwargs[key] = kwargs[key][0]
            c_in = channels[sources[0]]
            if kind in _MERGES:
                kind = _MERGES[kind]
                module: nn.Module = nn.Identity()
                dim = kwargs.get("dim", 1)
                if kind == "cat":
                    out = sum(channels[s] for s in sources) if dim in (1, -3) else c_in
                else:
                    out = max(channels[s] for s in sources)
            else:
                cls = _NN["linear" if kind in ("dense", "fc") else kind]
                if kind.startswith(("conv", "convtranspose")):
                    kwargs.setdefault("in_channels", c_in)
                elif kind.startswith("batchnorm"):
                    kwargs.setdefault("num_features", c_in)
                elif kind == "linear":
                    kwargs.setdefault("in_features", c_in)
                elif kind == "upsample" and isinstance(kwargs.get("scale_factor"), tuple):
                    if len(kwargs["scale_factor"]) == 1:
                        kwargs["scale_factor"] = kwargs["scale_factor"][0]
                module = cls(**kwargs)
                out = getattr(module, "out_channels", getattr(module, "out_features", c_in))
            self.layers.append(module)
            self.kinds.append(kind)
            self.sources.append(sources)
            self.names.append(name)
            channels.append(out)
            index[name] = number

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:  # type: ignore[override]
        tensors = [x]
        for module, kind, sources in zip(self.layers, self.kinds, self.sources):
            inputs = [tensors[s] for s in sources]
            if kind == "add":
                y = inputs[0]
                for other in inputs[1:]:
                    y = y + other
            elif kind == "mul":
                y = inputs[0]
                for other in inputs[1:]:
                    y = y * other
            elif kind == "cat":
                y = torch.cat(inputs, dim=self.tables[len(tensors) - 1].get("dim", 1))
            else:
                y = module(inputs[0])
            tensors.append(y)
        return tensors


def run_meta(graph: Graph, shape: tuple[int, ...]) -> list[torch.Tensor] | str:
    """Every tensor's shape on the meta device, or the first error torch raises."""
    graph = graph.to("meta").eval()
    try:
        with torch.no_grad():
            return graph(torch.empty(shape, device="meta"))
    except (RuntimeError, ValueError) as error:
        return str(error).splitlines()[0]


def macs(graph: Graph, tensors: list[torch.Tensor]) -> list[int]:
    """The README's MAC count of each layer, from torch's own shapes."""
    counts = []
    for i, module in enumerate(graph.layers):
        x, y = tensors[graph.sources[i][0]], tensors[i + 1]
        if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
            counts.append(
                y.numel() * module.in_channels // module.groups * math.prod(module.kernel_size)
            )
        elif isinstance(module, (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)):
            counts.append(
                x.numel() * module.out_channels // module.groups * math.prod(module.kernel_size)
            )
        elif isinstance(module, nn.Linear):
            counts.append(y.numel() * module.in_features)
        else:
            counts.append(0)
    return counts


def peak_bytes(graph: Graph, tensors: list[torch.Tensor], element: int) -> int:
    """The peak rule simulated with reference counts: before a layer runs every tensor still
    awaiting a reader is held; the layer's output joins them; then each tensor whose readers
    have all run is freed (the final output never is)."""
    waiting = [0] * len(tensors)
    for sources in graph.sources:
        for s in set(sources):
            waiting[s] += 1
    held = {0} if waiting[0] else set()
    peak = 0
    last = len(tensors) - 1
    for i, sources in enumerate(graph.sources, start=1):
        held.add(i)
        peak = max(peak, sum(tensors[t].numel() * element for t in held))
        for s in set(sources):
            waiting[s] -= 1
            if waiting[s] == 0 and s != last:
                held.discard(s)
        if waiting[i] == 0 and i != last:
            held.discard(i)
    return peak


__all__ = ["Graph", "macs", "peak_bytes", "run_meta"]
