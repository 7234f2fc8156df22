"""Keras models as network specs, without TensorFlow: ``model.to_json()`` text and ``.keras``
archives (a zip whose ``config.json`` is the same JSON). Sequential and Functional models; each
Keras layer becomes one (or, for SeparableConv and GlobalMaxPooling, two) ``[[layer]]`` tables
with Keras' padding rules (``convention = "keras"``). Shapes stay ``[N, C, *spatial]``: a
channels-last model's sizes are moved to that order (Concatenate's axis and Reshape's target
shape with them). Parameters are Keras' trainable weights; BatchNormalization's moving mean and
variance are the non-trainable ones. Standard library only.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from convcalc.errors import ConvcalcError, MalformedInputError

if TYPE_CHECKING:
    from convcalc.netspec import NetworkSpec

_ACTIVATIONS = {
    "relu": "relu",
    "relu6": "relu6",
    "sigmoid": "sigmoid",
    "hard_sigmoid": "hardsigmoid",
    "tanh": "tanh",
    "softmax": "softmax",
    "log_softmax": "logsoftmax",
    "swish": "silu",
    "silu": "silu",
    "hard_swish": "hardswish",
    "hard_silu": "hardswish",
    "gelu": "gelu",
    "elu": "elu",
    "selu": "selu",
    "mish": "mish",
    "leaky_relu": "leakyrelu",
    "linear": "identity",
}
_POINTWISE = {
    "ReLU": "relu",
    "LeakyReLU": "leakyrelu",
    "ELU": "elu",
    "Softmax": "softmax",
    "Dropout": "dropout",
    "SpatialDropout1D": "dropout",
    "SpatialDropout2D": "dropout",
    "SpatialDropout3D": "dropout",
    "GaussianNoise": "identity",
    "GaussianDropout": "dropout",
    "AlphaDropout": "alphadropout",
    "ActivityRegularization": "identity",
    "Rescaling": "identity",
    "Identity": "identity",
}
_MERGES = {
    "Add": "add",
    "Subtract": "sub",
    "Multiply": "mul",
    "Average": "add",
    "Maximum": "add",
    "Minimum": "add",
}
SUPPORTED = (
    "Conv1D/2D/3D and their Transpose forms, DepthwiseConv1D/2D, SeparableConv1D/2D, pools and "
    "global pools, ZeroPadding, Cropping, BatchNormalization, Normalization, Dense, Flatten, "
    "Reshape, Add, "
    "Subtract, Multiply, Average, Maximum, Minimum, Concatenate, Activation, ReLU, LeakyReLU, "
    "PReLU, ELU, Softmax, Dropout, Rescaling, UpSampling"
)


def read_keras_archive(path: Path) -> NetworkSpec:
    """A ``.keras`` file: its ``config.json``."""
    try:
        with zipfile.ZipFile(path) as archive:
            text = archive.read("config.json").decode("utf-8")
    except (zipfile.BadZipFile, KeyError, OSError, UnicodeDecodeError) as error:
        raise MalformedInputError(
            f"spec: {path} is not a .keras archive with a config.json ({error})"
        ) from None
    return read_keras_json(text, str(path))


def read_keras_json(text: str, source: str) -> NetworkSpec:
    """``model.to_json()`` text."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise MalformedInputError(f"spec: {source} is not valid JSON ({error})") from None
    if not isinstance(data, dict) or "config" not in data or "class_name" not in data:
        raise MalformedInputError(
            f"spec: {source} is JSON but not a Keras model (model.to_json() has class_name "
            "and config)"
        )
    return _Reader(data, source).spec()


def _pair(value: Any, n: int) -> list[int]:
    values = list(value) if isinstance(value, (list, tuple)) else [value] * n
    return [int(v) for v in values]


class _Reader:
    def __init__(self, data: dict[str, Any], source: str) -> None:
        self.data = data
        self.source = source
        self.layers: list[dict[str, Any]] = []
        self.alias: dict[str, str] = {}  # Keras layer name -> the spec layer giving its output
        self.notes: list[str] = [f"read from the Keras {data.get('class_name')} model"]

    def spec(self) -> NetworkSpec:
        from convcalc.netspec import NetworkSpec

        config = self.data["config"]
        layers = config.get("layers", [])
        sequential = self.data["class_name"] == "Sequential"
        input_shape: list[Any] | None = None
        previous = "input"
        for index, layer in enumerate(layers):
            cls = layer.get("class_name")
            cfg = layer.get("config", {})
            if not self.channels_last(cfg):
                raise ConvcalcError(
                    f"{self.source}: layer {cfg.get('name')!r} is channels_first; convcalc reads "
                    "channels-last Keras models"
                )
            name = str(cfg.get("name") or layer.get("name") or f"layer_{index}")
            if cls == "InputLayer":
                shape = cfg.get("batch_shape") or cfg.get("batch_input_shape")
                if input_shape is not None and not sequential:
                    raise ConvcalcError(f"{self.source}: more than one input; convcalc follows one")
                input_shape = shape
                self.alias[name] = "input"
                continue
            if input_shape is None:
                built = (layer.get("build_config") or {}).get("input_shape")
                input_shape = (
                    cfg.get("batch_input_shape") or config.get("build_input_shape") or built
                )
            sources = [previous] if sequential else self.inbound(layer, name)
            try:
                self.layer(cls, name, cfg, layer, sources)
            except ConvcalcError as error:
                raise type(error)(f"{self.source}: layer {name!r} ({cls}): {error}") from None
            previous = self.alias[name]
        shape = None
        batch = None
        if input_shape:
            dims = list(input_shape)
            batch = dims[0] if isinstance(dims[0], int) else None
            rest = dims[1:]
            if rest and None not in rest:
                shape = tuple([rest[-1], *rest[:-1]]) if len(rest) > 1 else tuple(rest)
            else:
                self.notes.append(f"the input has dynamic dimensions {dims}: give --in C,H,W")
        self.notes.append("shapes are [N, C, *spatial]: Keras' channels-last sizes, reordered")
        hint = "" if shape else f"the Keras input is {input_shape} (channels last)"
        return NetworkSpec(
            shape, self.layers, batch, self.source, notes=tuple(self.notes), input_hint=hint
        )

    def inbound(self, layer: dict[str, Any], name: str) -> list[str]:
        nodes = layer.get("inbound_nodes") or []
        if len(nodes) != 1:
            raise ConvcalcError(
                f"{self.source}: layer {name!r} is called {len(nodes)} times; convcalc reads "
                "layers called once"
            )
        node = nodes[0]
        names: list[str] = []
        if isinstance(node, dict):  # Keras 3: {"args": [...], "kwargs": {...}}

            def collect(value: Any) -> None:
                if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
                    names.append(value["config"]["keras_history"][0])
                elif isinstance(value, (list, tuple)):
                    for item in value:
                        collect(item)

            collect(node.get("args", []))
        else:  # Keras 2: [[name, node_index, tensor_index, kwargs], ...]
            names = [entry[0] for entry in node]
        missing = [n for n in names if n not in self.alias]
        if missing or not names:
            raise ConvcalcError(
                f"{self.source}: layer {name!r} reads {missing or 'nothing'}, not an earlier layer"
            )
        return [self.alias[n] for n in names]

    def emit(self, name: str, layer: dict[str, Any], sources: list[str]) -> None:
        from convcalc.netspec import append_layer

        append_layer(self.layers, name, layer, sources)
        self.alias[name] = name

    def channels_last(self, cfg: dict[str, Any]) -> bool:
        return bool(cfg.get("data_format", "channels_last") != "channels_first")

    def in_shape(self, layer: dict[str, Any]) -> list[Any] | None:
        shape = (layer.get("build_config") or {}).get("input_shape")
        if shape and isinstance(shape[0], list):
            return None
        return shape

    def layer(
        self, cls: str, name: str, cfg: dict[str, Any], layer: dict[str, Any], sources: list[str]
    ) -> None:
        if cls in (
            "Conv1D",
            "Conv2D",
            "Conv3D",
            "Conv1DTranspose",
            "Conv2DTranspose",
            "Conv3DTranspose",
        ):
            n = int(cls[4])
            transposed = cls.endswith("Transpose")
            table: dict[str, Any] = {
                "layer": f"{'convtranspose' if transposed else 'conv'}{n}d",
                "convention": "keras",
                "out_channels": int(cfg["filters"]),
                "kernel_size": _pair(cfg["kernel_size"], n),
                "stride": _pair(cfg.get("strides", 1), n),
                "padding": self.padding(cfg),
                "dilation": _pair(cfg.get("dilation_rate", 1), n),
                "bias": bool(cfg.get("use_bias", True)),
            }
            if int(cfg.get("groups", 1)) != 1:
                table["groups"] = int(cfg["groups"])
            if transposed and cfg.get("output_padding") is not None:
                table["output_padding"] = _pair(cfg["output_padding"], n)
            self.emit(name, table, sources)
        elif cls in ("DepthwiseConv1D", "DepthwiseConv2D", "SeparableConv1D", "SeparableConv2D"):
            n = int(cls[-2])
            shape = self.in_shape(layer)
            if not shape:
                raise ConvcalcError("no build_config input shape: the channels are unknown")
            channels = int(shape[-1] if self.channels_last(cfg) else shape[1])
            multiplier = int(cfg.get("depth_multiplier", 1))
            separable = cls.startswith("Separable")
            depthwise = {
                "layer": f"conv{n}d",
                "convention": "keras",
                "out_channels": channels * multiplier,
                "kernel_size": _pair(cfg["kernel_size"], n),
                "stride": _pair(cfg.get("strides", 1), n),
                "padding": self.padding(cfg),
                "dilation": _pair(cfg.get("dilation_rate", 1), n),
                "groups": channels,
                "bias": bool(cfg.get("use_bias", True)) and not separable,
            }
            if not separable:
                self.emit(name, depthwise, sources)
                return
            self.emit(f"{name}.depthwise", depthwise, sources)
            pointwise = {
                "layer": f"conv{n}d",
                "out_channels": int(cfg["filters"]),
                "kernel_size": 1,
                "bias": bool(cfg.get("use_bias", True)),
            }
            self.emit(name, pointwise, [f"{name}.depthwise"])
        elif cls.startswith(("MaxPooling", "AveragePooling")) and cls[-2:-1].isdigit():
            n = int(cls[-2])
            kind = "maxpool" if cls.startswith("Max") else "avgpool"
            size = _pair(cfg.get("pool_size", 2), n)
            table = {
                "layer": f"{kind}{n}d",
                "convention": "keras",
                "kernel_size": size,
                "stride": _pair(cfg.get("strides") or size, n),
                "padding": self.padding(cfg),
            }
            self.emit(name, table, sources)
        elif cls.startswith(("GlobalAveragePooling", "GlobalMaxPooling")):
            n = int(cls[-2])
            keep = bool(cfg.get("keepdims", False))
            if cls.startswith("GlobalAverage"):
                dims = list(range(2, n + 2))
                self.emit(name, {"layer": "mean", "dims": dims, "keepdim": keep}, sources)
            elif keep:
                self.emit(name, {"layer": f"adaptivemaxpool{n}d", "output_size": 1}, sources)
            else:
                pool = {"layer": f"adaptivemaxpool{n}d", "output_size": 1}
                self.emit(f"{name}.pool", pool, sources)
                self.emit(name, {"layer": "flatten"}, [f"{name}.pool"])
        elif cls.startswith(("ZeroPadding", "Cropping")):
            n = int(cls[-2])
            key = "padding" if cls.startswith("Zero") else "cropping"
            value = cfg.get(key, 1)
            if isinstance(value, int):
                pairs = [[value, value]] * n
            elif all(isinstance(v, int) for v in value):
                pairs = [[int(v), int(v)] for v in value]
            else:
                pairs = [[int(a), int(b)] for a, b in value]
            sign = 1 if key == "padding" else -1
            pads = [[0, 0], [0, 0]] + [[sign * a, sign * b] for a, b in pairs]
            self.emit(name, {"layer": "pad", "pads": pads}, sources)
        elif cls == "BatchNormalization":
            shape = self.in_shape(layer)
            rank = len(shape) if shape else 4
            table = {"layer": f"batchnorm{max(rank - 2, 1)}d"}
            if not cfg.get("scale", True) and not cfg.get("center", True):
                table["affine"] = False
            elif not (cfg.get("scale", True) and cfg.get("center", True)):
                table["bias"] = False
            self.emit(name, table, sources)
        elif cls == "Dense":
            shape = self.in_shape(layer)
            if shape and len(shape) > 2:
                raise ConvcalcError(
                    f"Dense on a {len(shape)}-d input {shape}: convcalc reads Dense on "
                    "(N, features)"
                )
            table = {
                "layer": "linear",
                "out_features": int(cfg["units"]),
                "bias": bool(cfg.get("use_bias", True)),
            }
            self.emit(name, table, sources)
        elif cls == "Flatten":
            self.emit(name, {"layer": "flatten"}, sources)
        elif cls == "Reshape":
            target = [int(v) for v in cfg["target_shape"]]
            if len(target) > 1:
                target = [target[-1], *target[:-1]]
            self.emit(name, {"layer": "reshape", "shape": [0, *target]}, sources)
        elif cls in _MERGES:
            table = {"layer": _MERGES[cls]}
            if len(sources) == 1:  # x + 3.0: the other operand is a number
                table["constant"] = []
            self.emit(name, table, sources)
        elif cls == "Concatenate":
            axis = int(cfg.get("axis", -1))
            shape = self.in_shape(layer) or (layer.get("build_config") or {}).get("input_shape")
            joined = len(shape[0]) if shape and isinstance(shape[0], list) else None
            if axis == -1 or (joined is not None and axis == joined - 1):
                dim = 1
            elif joined is not None:
                dim = (axis % joined) + 1
            else:
                dim = axis + 1 if axis > 0 else axis
            self.emit(name, {"layer": "cat", "dim": dim}, sources)
        elif cls == "Activation":
            kind = _ACTIVATIONS.get(str(cfg.get("activation")), "identity")
            self.emit(name, {"layer": kind}, sources)
        elif cls == "PReLU":
            shape = self.in_shape(layer) or []
            shared = {int(a) for a in (cfg.get("shared_axes") or [])}
            count = 1
            for axis, size in enumerate(shape[1:], start=1):
                if axis not in shared and size:
                    count *= int(size)
            self.emit(name, {"layer": "prelu", "num_parameters": count}, sources)
        elif cls in _POINTWISE:
            self.emit(name, {"layer": _POINTWISE[cls]}, sources)
        elif cls == "Normalization":
            shape = self.in_shape(layer) or []
            axes = cfg.get("axis", -1)
            axes = [axes] if isinstance(axes, int) or axes is None else list(axes)
            count = 1
            for axis in axes:
                if axis is not None and shape:
                    count *= int(shape[axis])
            # mean and variance per kept axis, and the sample count, unless given as constants
            kept = 0 if cfg.get("mean") is not None else 2 * count + 1
            table = {"layer": "identity", "non_trainable_params": kept}
            self.emit(name, table, sources)
        elif cls.startswith("UpSampling"):
            n = int(cls[-2])
            self.emit(
                name, {"layer": "upsample", "scale_factor": _pair(cfg.get("size", 2), n)}, sources
            )
        else:
            raise ConvcalcError(f"not supported; convcalc reads {SUPPORTED}")

    def padding(self, cfg: dict[str, Any]) -> str:
        padding = str(cfg.get("padding", "valid")).lower()
        if padding not in ("same", "valid"):
            raise ConvcalcError(f"padding {padding!r}: convcalc reads 'same' and 'valid'")
        return padding
