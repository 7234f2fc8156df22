"""Differential tests: convcalc's sizes and errors against real PyTorch (skipped without torch)."""

from __future__ import annotations

import random
import warnings
from typing import Any

import pytest

from convcalc import ConvcalcError, build_spec, layer_shape
from convcalc.ops import Param
from convcalc.specs import OpKind

torch = pytest.importorskip("torch")
from torch_oracle import torch_output_shape  # noqa: E402

pytestmark = pytest.mark.torch


def _random_layer(rng: random.Random, kind: OpKind, ndim: int) -> dict[str, Any]:
    def per_dim(low: int, high: int) -> tuple[int, ...]:
        if rng.random() < 0.4:
            return (rng.randint(low, high),)
        return tuple(rng.randint(low, high) for _ in range(ndim))

    takes = kind.family.takes_param
    layer: dict[str, Any] = {"kernel_size": per_dim(1, 6)}
    if takes(Param.PADDING):
        layer["padding"] = per_dim(0, 4)
        if kind.is_pool and rng.random() < 0.8:
            layer["padding"] = per_dim(0, 1)  # mostly within the k // 2 limit: sizes compared
    layer["stride"] = None if kind.is_pool and rng.random() < 0.3 else per_dim(1, 4)
    if takes(Param.DILATION):
        layer["dilation"] = per_dim(1, 3)
    for setting in kind.family.settings:  # LPPool's norm_type: any p gives the same size
        layer["settings"] = ((setting.keyword, rng.choice(["1", "2", "3", "1.5"])),)
    if kind is OpKind.CONVTRANSPOSE:
        layer["output_padding"] = per_dim(0, 3)
    if kind.is_pool:
        layer["ceil_mode"] = rng.random() < 0.5
    else:
        groups = rng.choice([1, 1, 2, 3])
        layer["groups"] = groups
        layer["in_channels"] = groups * rng.randint(1, 2) + rng.choice([0, 0, 0, 1])
        layer["out_channels"] = groups * rng.randint(1, 2) + rng.choice([0, 0, 0, 1])
    if kind is OpKind.CONV and rng.random() < 0.2:
        layer["padding"] = rng.choice(["same", "valid"])
        if rng.random() < 0.7:
            layer["stride"] = (1,)
    return layer


def _cases(kind: OpKind, ndim: int, count: int) -> list[tuple[dict[str, Any], tuple[int, ...]]]:
    rng = random.Random(f"{kind.value}{ndim}")
    high = 9 if ndim == 3 else 16
    return [
        (_random_layer(rng, kind, ndim), tuple(rng.randint(1, high) for _ in range(ndim)))
        for _ in range(count)
    ]


@pytest.mark.parametrize("ndim", [1, 2, 3])
@pytest.mark.parametrize(
    "kind",
    [k for k in OpKind if not k.is_adaptive and k.family.dimensioned],
    ids=lambda k: k.value,
)
def test_sizes_and_errors_match_torch(kind: OpKind, ndim: int) -> None:
    """For 120 random layers per op and dimensionality, convcalc gives torch's output size, or
    raises exactly where torch raises."""
    mismatches = []
    accepted = rejected = 0
    for layer, size in _cases(kind, ndim, 120):
        try:
            ours: Any = layer_shape(build_spec(f"{kind.value}{ndim}d", **layer), size).output
        except ConvcalcError as error:
            ours = f"error: {error}"
        theirs = _torch_direct(kind, ndim, layer, size)
        ok = isinstance(ours, str) == isinstance(theirs, str) and (
            isinstance(ours, str) or ours == theirs
        )
        if isinstance(ours, str):
            rejected += 1
        else:
            accepted += 1
        if not ok:
            mismatches.append((layer, size, ours, theirs))
    assert not mismatches, mismatches[:5]
    assert accepted >= 25 and rejected >= 5, (accepted, rejected)  # both paths exercised


def _torch_direct(kind: OpKind, ndim: int, layer: dict[str, Any], size: tuple[int, ...]) -> Any:
    """Build the torch module straight from the keyword arguments (not from our spec) and run it."""
    cls = getattr(torch.nn, f"{kind.torch_name}{ndim}d")
    skip = ("in_channels", "out_channels", "settings")
    kwargs = {k: v for k, v in layer.items() if k not in skip}
    kwargs = {
        k: (v * ndim if isinstance(v, tuple) and len(v) == 1 else v) for k, v in kwargs.items()
    }
    if ndim == 1:  # LPPool1d multiplies by its kernel_size: an int
        kwargs = {k: v[0] if isinstance(v, tuple) else v for k, v in kwargs.items()}
    kwargs |= {key: float(value) for key, value in layer.get("settings", ())}
    channels = layer.get("in_channels", 1)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if kind.is_pool:
                module = cls(**kwargs)
            else:
                module = cls(channels, layer["out_channels"], **kwargs)
            x = torch.zeros((1, channels, *size))
            with torch.no_grad():
                return tuple(module(x).shape[2:])
    except (RuntimeError, ValueError) as error:
        return f"torch: {error}"


@pytest.mark.parametrize(
    ("op", "size", "kwargs"),
    [
        ("avgpool1d", (5,), dict(kernel_size=(2,), stride=(2,), ceil_mode=True)),
        ("maxpool2d", (5, 5), dict(kernel_size=(2,), stride=(2,), padding=(1,), ceil_mode=True)),
        ("maxpool1d", (5,), dict(kernel_size=(3,), padding=(1,), dilation=(2,), ceil_mode=True)),
        ("convtranspose1d", (3,), dict(kernel_size=(3,), dilation=(3,), output_padding=(2,))),
        ("conv2d", (7, 4), dict(kernel_size=(4, 2), padding="same", dilation=(1, 3))),
    ],
)
def test_edge_cases_match_torch(op: str, size: tuple[int, ...], kwargs: dict[str, Any]) -> None:
    """Hand-picked edge cases (dropped ceil windows, op >= stride, same padding) agree."""
    spec = build_spec(op, **kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert layer_shape(spec, size).output == torch_output_shape(spec, size)


@pytest.mark.parametrize("wanted", [5, 6, 7, 8, 9])
def test_output_size_argument_matches_torch(wanted: int) -> None:
    """--output-shape under torch is ConvTranspose.forward(output_size=...): same size, or an
    error exactly where torch refuses the request."""
    from convcalc.conventions import resolve

    try:
        resolved = resolve(
            "torch",
            "convtranspose1d",
            (3,),
            kernel_size=(3,),
            stride=(3,),
            padding=(1,),
            output_shape=(wanted,),
        )
        ours: Any = layer_shape(resolved.spec, (3,)).output
    except ConvcalcError:
        ours = None
    module = torch.nn.ConvTranspose1d(1, 1, 3, stride=3, padding=1)
    try:
        theirs: Any = tuple(module(torch.zeros(1, 1, 3), output_size=[wanted]).shape[2:])
    except (RuntimeError, ValueError):
        theirs = None
    assert ours == theirs


def test_output_size_argument_over_generated_layers() -> None:
    """forward(output_size=) over 400 generated transposed convs, dilation > stride included:
    torch accepts sizes up to (size without output_padding) + stride - 1, and so do we."""
    import random

    from convcalc.conventions import resolve

    rng = random.Random("output-size")
    for _ in range(400):
        ndim = rng.randint(1, 2)
        n = tuple(rng.randint(1, 6) for _ in range(ndim))
        k, s, p, d = (
            tuple(rng.randint(lo, hi) for _ in range(ndim))
            for lo, hi in ((1, 4), (1, 3), (0, 2), (1, 3))
        )
        wanted = tuple(rng.randint(1, 20) for _ in range(ndim))
        try:
            resolved = resolve(
                "torch",
                f"convtranspose{ndim}d",
                n,
                kernel_size=k,
                stride=s,
                padding=p,
                dilation=d,
                output_shape=wanted,
            )
            ours: Any = layer_shape(resolved.spec, n).output
        except ConvcalcError:
            ours = None
        cls = getattr(torch.nn, f"ConvTranspose{ndim}d")
        try:
            module = cls(1, 1, k, stride=s, padding=p, dilation=d)
            theirs: Any = tuple(module(torch.zeros(1, 1, *n), output_size=list(wanted)).shape[2:])
        except (RuntimeError, ValueError):
            theirs = None
        assert ours == theirs, (n, k, s, p, d, wanted)
