"""Keras models as network specs, without TensorFlow: ``model.to_json()`` text and ``.keras``
archives (a zip whose ``config.json`` is the same JSON). Sequential and Functional models; each
Keras layer becomes one (or, for SeparableConv and GlobalMaxPooling, two) ``[[layer]]`` tables
with Keras' padding rules (``convention = "keras"``). Shapes stay ``[N, C, *spatial]``: a
channels-last model's sizes are moved to that order (Concatenate's axis and Reshape's target
shape with them). Parameters are Keras' trainable weights; BatchNormalization's moving mean and
variance are the non-trainable ones. Standard library only.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from convcalc.boundary import (
    MAX_MEMBER_BYTES,
    MAX_MODEL_BYTES,
    check_file,
    check_layer_count,
    decode,
    display,
    guarded,
    load_json,
)
from convcalc.errors import ConvcalcError, InputError

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
    """A ``.keras`` file: its ``config.json``, whose declared size is checked before it is
    decompressed, in capped chunks; nothing is extracted, the weights are never read."""
    import zlib

    shown = display(str(path))
    check_file(str(path), "spec", MAX_MODEL_BYTES)
    try:
        with zipfile.ZipFile(path) as archive:
            try:
                info = archive.getinfo("config.json")
            except KeyError:
                raise InputError(
                    f"spec: {shown} is a zip without a config.json; a .keras archive has one"
                ) from None
            if info.flag_bits & 0x1:
                raise InputError(f"spec: {shown}: config.json is encrypted")
            if info.compress_type not in _COMPRESSIONS:
                raise InputError(
                    f"spec: {shown}: config.json is compressed with method {info.compress_type}; "
                    ".keras archives use stored or deflated members"
                )
            if info.file_size > MAX_MEMBER_BYTES:
                raise InputError(
                    f"spec: {shown}: config.json declares {info.file_size:,} bytes; convcalc "
                    f"reads at most {MAX_MEMBER_BYTES:,} (see Limits in the README)"
                )
            with archive.open(info) as member:
                data = member.read(MAX_MEMBER_BYTES + 1)
    except ConvcalcError:
        raise
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        NotImplementedError,
        RuntimeError,
        zlib.error,
        EOFError,
        OSError,
        ValueError,
        KeyError,
    ) as error:
        raise InputError(
            f"spec: {shown} is not a .keras archive convcalc can read "
            f"({display(str(error))[:200] or type(error).__name__})"
        ) from None
    if len(data) > MAX_MEMBER_BYTES:
        raise InputError(f"spec: {shown}: config.json is larger than it declares")
    return read_keras_json(decode(data, "spec", f"{path}: config.json"), str(path))


_COMPRESSIONS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA)


def read_keras_json(text: str, source: str) -> NetworkSpec:
    """``model.to_json()`` text."""
    data = load_json(text, source)
    if not isinstance(data, dict) or "config" not in data or "class_name" not in data:
        raise InputError(
            f"spec: {display(source)} is JSON but not a Keras model (model.to_json() has "
            "class_name and config)"
        )
    if not isinstance(data["config"], dict) or not isinstance(data["class_name"], str):
        raise InputError(f"spec: {display(source)}: config is not an object")
    layers = data["config"].get("layers", [])
    if not isinstance(layers, list) or not all(isinstance(layer, dict) for layer in layers):
        raise InputError(f"spec: {display(source)}: config.layers is not a list of layer objects")
    check_layer_count(len(layers), source)
    reader = _Reader(data, source)
    with guarded(source, lambda: reader.where):
        return reader.spec()


def _int(value: Any, key: str) -> int:
    """An integer from the model's JSON: a JSON integer, never a float, bool or string."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(f"config.{key}: expected an integer, got {display(repr(value))[:60]}")
    return value


def _pair(value: Any, n: int, key: str = "value") -> list[int]:
    values = list(value) if isinstance(value, (list, tuple)) else [value] * n
    if not 1 <= len(values) <= 3:
        raise InputError(f"config.{key}: expected 1 to 3 integers, got {display(repr(value))[:60]}")
    return [_int(v, key) for v in values]


def _consumed(config: dict[str, Any]) -> dict[str, list[Any]]:
    """The shape of each layer's output as the layers that read it record it (Keras 3's
    ``inbound_nodes[].args[].config.shape``), by the producing layer's name."""
    found: dict[str, list[Any]] = {}

    def visit(value: Any) -> None:
        if isinstance(value, dict):
            if value.get("class_name") == "__keras_tensor__":
                cfg = value.get("config") or {}
                history, shape = cfg.get("keras_history"), cfg.get("shape")
                if isinstance(history, list) and history and isinstance(shape, list):
                    found.setdefault(str(history[0]), shape)
                return
            for item in value.values():
                visit(item)
        elif isinstance(value, list):
            for item in value:
                visit(item)

    for layer in config.get("layers", []) if isinstance(config.get("layers"), list) else []:
        visit(layer)  # nested models' layers too
    return found


class _Reader:
    def __init__(self, data: dict[str, Any], source: str) -> None:
        self.data = data
        self.source = source
        self.layers: list[dict[str, Any]] = []
        self.alias: dict[str, str] = {}  # Keras layer name -> the spec layer giving its output
        self.notes: list[str] = [f"read from the Keras {data.get('class_name')} model"]
        self.where = ""  # the layer being read, for a message about input not checked
        self.consumed: dict[str, list[Any]] = {}  # a layer's output shape, as its readers record

    def spec(self) -> NetworkSpec:
        from convcalc.netspec import NetworkSpec

        config = self.data["config"]
        sequential = self.data["class_name"] == "Sequential"
        self.consumed = _consumed(config)
        input_shape = self.read_layers(config, sequential, "", "input")
        shape = None
        batch = None
        self.where = "the input shape"
        if input_shape:
            dims = list(input_shape)
            if any(
                d is not None and (isinstance(d, bool) or not isinstance(d, int) or d < 1)
                for d in dims
            ):
                raise InputError(
                    f"{display(self.source)}: the input shape {display(repr(dims))[:80]}: expected "
                    "positive integers or null"
                )
            batch = dims[0] if isinstance(dims[0], int) else None
            rest = dims[1:]
            if rest and None not in rest:
                shape = tuple([rest[-1], *rest[:-1]]) if len(rest) > 1 else tuple(rest)
            else:
                self.notes.append(f"the input has dynamic dimensions {dims}: give --in C,H,W")
        self.notes.append("shapes are [N, C, *spatial]: Keras' channels-last sizes, reordered")
        hint = "" if shape else f"the Keras input is {input_shape} (channels last)"
        open_input = None
        if shape is None and input_shape and len(input_shape) >= 3 and input_shape[-1]:
            open_input = (input_shape[-1], *input_shape[1:-1])  # channels first, as net runs
        return NetworkSpec(
            shape,
            self.layers,
            batch,
            self.source,
            notes=tuple(self.notes),
            input_hint=hint,
            open_input=open_input,
        )

    def read_layers(
        self, config: dict[str, Any], sequential: bool, prefix: str, outer: str
    ) -> list[Any] | None:
        """The layers of a model, or of a model nested in it (a Sequential stem, a Functional
        block): its names prefixed ``outer/``, its input the outer layer's source ``outer``.
        Returns the input shape the model declares."""
        layers = config.get("layers", [])
        if not isinstance(layers, list):
            raise InputError(f"{self.where or 'the model'}: layers is not a list")
        input_shape: list[Any] | None = None
        previous = outer
        for index, layer in enumerate(layers):
            if not isinstance(layer, dict):
                raise InputError(f"layers[{index}]: expected an object")
            cls = layer.get("class_name")
            cfg = layer.get("config", {})
            self.where = f"{prefix}layers[{index}] ({display(str(cls))[:40]})"
            if not isinstance(cls, str) or not isinstance(cfg, dict):
                raise InputError(f"{self.where}: expected a class_name and a config object")
            if not self.channels_last(cfg):
                raise ConvcalcError(
                    f"{self.source}: layer {cfg.get('name')!r} is channels_first; convcalc reads "
                    "channels-last Keras models"
                )
            name = prefix + str(cfg.get("name") or layer.get("name") or f"layer_{index}")
            if cls == "InputLayer":
                shape = cfg.get("batch_shape") or cfg.get("batch_input_shape")
                if input_shape is not None and not sequential and not prefix:
                    raise ConvcalcError(f"{self.source}: more than one input; convcalc follows one")
                input_shape = shape
                self.alias[name] = outer
                continue
            if input_shape is None:
                built = (layer.get("build_config") or {}).get("input_shape")
                input_shape = (
                    cfg.get("batch_input_shape") or config.get("build_input_shape") or built
                )
            sources = [previous] if sequential else self.inbound(layer, name, prefix)
            if cls in ("Sequential", "Functional", "Model"):  # a model inside the model
                if len(sources) != 1:
                    raise ConvcalcError(
                        f"{self.source}: nested model {name!r} reads several inputs"
                    )
                check_nesting_depth = prefix.count("/")
                if check_nesting_depth > 20:
                    raise InputError(f"{self.source}: models nested over 20 deep")
                self.read_layers(cfg, cls == "Sequential", f"{name}/", sources[0])
                self.alias[name] = self.nested_output(cfg, cls == "Sequential", f"{name}/")
                previous = self.alias[name]
                continue
            try:
                self.layer(cls, name, cfg, layer, sources)
                self.fused_activation(cls, name, cfg)
            except ConvcalcError as error:
                raise type(error)(
                    f"{display(self.source)}: layer {display(repr(name))} ({display(cls)}): {error}"
                ) from None
            previous = self.alias[name]
        return input_shape

    def nested_output(self, cfg: dict[str, Any], sequential: bool, prefix: str) -> str:
        """The spec layer that gives a nested model's output."""
        if sequential:
            inner = [
                layer for layer in cfg.get("layers", []) if layer.get("class_name") != "InputLayer"
            ]
            if not inner:
                raise ConvcalcError(f"{self.source}: nested model {prefix[:-1]!r} has no layers")
            last = inner[-1].get("config", {}).get("name")
            return self.alias[prefix + str(last)]
        outputs = cfg.get("output_layers") or []
        if isinstance(outputs, list) and outputs and isinstance(outputs[0], list):
            outputs = outputs[0]
        if not outputs or prefix + str(outputs[0]) not in self.alias:
            raise ConvcalcError(f"{self.source}: nested model {prefix[:-1]!r} names no output")
        return self.alias[prefix + str(outputs[0])]

    def inbound(self, layer: dict[str, Any], name: str, prefix: str = "") -> list[str]:
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
        names = [prefix + str(n) if prefix + str(n) in self.alias else str(n) for n in names]
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

    def fused_activation(self, cls: str, name: str, cfg: dict[str, Any]) -> None:
        """Keras fuses an activation into Conv*/Dense (``activation: "relu"``): it becomes its own
        layer ``NAME.activation`` after the layer, which the next layer then reads, so that the
        spec (and the torch code written from it) computes what the model computes."""
        if cls == "Activation" or "activation" not in cfg:
            return
        activation = cfg["activation"]
        if isinstance(activation, dict):  # Keras 3 may serialise it as an object
            activation = activation.get("config", {}).get("name", activation.get("class_name"))
        if activation in (None, "linear"):
            return
        kind = _ACTIVATIONS.get(str(activation))
        if kind is None:
            raise ConvcalcError(
                f"activation {display(repr(activation))}: convcalc reads "
                + ", ".join(sorted(_ACTIVATIONS))
            )
        self.emit(f"{name}.activation", {"layer": kind}, [self.alias[name]])
        self.alias[name] = f"{name}.activation"

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
                "out_channels": _int(cfg["filters"], "filters"),
                "kernel_size": _pair(cfg["kernel_size"], n, "kernel_size"),
                "stride": _pair(cfg.get("strides", 1), n, "strides"),
                "padding": self.padding(cfg),
                "dilation": _pair(cfg.get("dilation_rate", 1), n, "dilation_rate"),
                "bias": bool(cfg.get("use_bias", True)),
            }
            if _int(cfg.get("groups", 1), "groups") != 1:
                table["groups"] = cfg["groups"]
            if transposed and cfg.get("output_padding") is not None:
                table["output_padding"] = _pair(cfg["output_padding"], n, "output_padding")
            self.emit(name, table, sources)
        elif cls in ("DepthwiseConv1D", "DepthwiseConv2D", "SeparableConv1D", "SeparableConv2D"):
            n = int(cls[-2])
            shape = self.in_shape(layer)
            if not shape:
                raise ConvcalcError("no build_config input shape: the channels are unknown")
            channels = _int(shape[-1] if self.channels_last(cfg) else shape[1], "input_shape")
            multiplier = _int(cfg.get("depth_multiplier", 1), "depth_multiplier")
            separable = cls.startswith("Separable")
            depthwise = {
                "layer": f"conv{n}d",
                "convention": "keras",
                "out_channels": channels * multiplier,
                "kernel_size": _pair(cfg["kernel_size"], n, "kernel_size"),
                "stride": _pair(cfg.get("strides", 1), n, "strides"),
                "padding": self.padding(cfg),
                "dilation": _pair(cfg.get("dilation_rate", 1), n, "dilation_rate"),
                "groups": channels,
                "bias": bool(cfg.get("use_bias", True)) and not separable,
            }
            if not separable:
                self.emit(name, depthwise, sources)
                return
            self.emit(f"{name}.depthwise", depthwise, sources)
            pointwise = {
                "layer": f"conv{n}d",
                "out_channels": _int(cfg["filters"], "filters"),
                "kernel_size": 1,
                "bias": bool(cfg.get("use_bias", True)),
            }
            self.emit(name, pointwise, [f"{name}.depthwise"])
        elif cls.startswith(("MaxPooling", "AveragePooling")) and cls[-2:-1].isdigit():
            n = int(cls[-2])
            kind = "maxpool" if cls.startswith("Max") else "avgpool"
            size = _pair(cfg.get("pool_size", 2), n, "pool_size")
            table = {
                "layer": f"{kind}{n}d",
                "convention": "keras",
                "kernel_size": size,
                "stride": _pair(cfg.get("strides") or size, n, "strides"),
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
            if not isinstance(value, list):
                pairs = [[_int(value, key)] * 2] * n
            elif all(not isinstance(v, list) for v in value):
                pairs = [[_int(v, key)] * 2 for v in value]
            else:
                pairs = [_pair(v, 2, key) for v in value]
            if len(pairs) != n or any(len(p) != 2 for p in pairs):
                raise InputError(
                    f"config.{key}: expected {n} pairs, got {display(repr(value))[:60]}"
                )
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
            if shape and 3 <= len(shape) <= 5:  # on the channels of every position: a 1x1 conv
                table = {
                    "layer": f"conv{len(shape) - 2}d",
                    "out_channels": _int(cfg["units"], "units"),
                    "kernel_size": 1,
                    "bias": bool(cfg.get("use_bias", True)),
                }
                self.emit(name, table, sources)
                return
            if shape and len(shape) > 2:
                raise ConvcalcError(
                    f"Dense on a {len(shape)}-d input {shape}: convcalc reads Dense on "
                    "(N, features) and on the channels of 1-d to 3-d inputs"
                )
            table = {
                "layer": "linear",
                "out_features": _int(cfg["units"], "units"),
                "bias": bool(cfg.get("use_bias", True)),
            }
            self.emit(name, table, sources)
        elif cls == "Flatten":
            self.emit(name, {"layer": "flatten"}, sources)
        elif cls == "Reshape":
            target = [_int(v, "target_shape") for v in cfg["target_shape"]]
            if len(target) > 1:
                target = [target[-1], *target[:-1]]
            self.emit(name, {"layer": "reshape", "shape": [0, *target]}, sources)
        elif cls in _MERGES:
            table = {"layer": _MERGES[cls]}
            if len(sources) == 1:  # x + 3.0: the other operand is a number
                table["constant"] = []
            self.emit(name, table, sources)
        elif cls == "Concatenate":
            axis = _int(cfg.get("axis", -1), "axis")
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
                name,
                {"layer": "upsample", "scale_factor": _pair(cfg.get("size", 2), n, "size")},
                sources,
            )
        elif cls == "LayerNormalization":
            axes = cfg.get("axis", -1)
            axes = [axes] if isinstance(axes, int) else list(axes or [])
            rank = len(self.in_shape(layer) or [None, None, None, None])
            if [a % rank for a in axes if isinstance(a, int)] != [rank - 1]:
                raise ConvcalcError(
                    f"axis {axes}: convcalc reads a LayerNormalization over the channels"
                )
            scale, center = bool(cfg.get("scale", True)), bool(cfg.get("center", True))
            table = {
                "layer": "layernorm2d",
                "elementwise_affine": scale or center,
                "bias": scale and center,
            }
            self.emit(name, table, sources)
        elif cls == "LayerScale":  # keras.applications.convnext: a learned per-channel scale
            channels = _int(cfg.get("projection_dim"), "projection_dim")
            rank = len(self.in_shape(layer) or [None, None, None, None])
            constant = [channels] + [1] * (rank - 2)
            self.emit(name, {"layer": "mul", "constant": constant, "learned": True}, sources)
        else:
            self.custom(cls, name, layer, sources)

    def custom(self, cls: str, name: str, layer: dict[str, Any], sources: list[str]) -> None:
        """A layer convcalc has no rule for (a custom layer): Keras 3 records the shape of every
        tensor a layer consumes, so its output shape is what its consumers read; 0 parameters
        assumed, and a note names the class."""
        output = self.consumed.get(name.rsplit("/", 1)[-1])
        inputs = self.arguments(layer)
        if output is None or inputs is None or any(None in s[1:] for s in [output, *inputs]):
            raise ConvcalcError(f"not supported; convcalc reads {SUPPORTED}")

        def first(shape: list[Any]) -> list[int]:
            dims = [1 if shape[0] is None else int(shape[0]), *map(int, shape[1:])]
            return [dims[0], dims[-1], *dims[1:-1]] if len(dims) > 2 else dims

        table = {
            "layer": "inferred",
            "op": cls,
            "input_shapes": [first(s) for s in inputs],
            "output_shape": first(output),
        }
        self.emit(name, table, sources)
        self.notes.append(
            f"layer {name!r} ({cls}) has no rule here: its output shape is the one its consumers "
            "read, its parameters counted 0"
        )

    def arguments(self, layer: dict[str, Any]) -> list[list[Any]] | None:
        """The shapes of the tensors a layer reads, as Keras 3 records them."""
        nodes = layer.get("inbound_nodes") or []
        if len(nodes) != 1 or not isinstance(nodes[0], dict):
            return None
        shapes: list[list[Any]] = []

        def collect(value: Any) -> None:
            if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
                shape = value.get("config", {}).get("shape")
                if isinstance(shape, list):
                    shapes.append(shape)
            elif isinstance(value, (list, tuple)):
                for item in value:
                    collect(item)

        collect(nodes[0].get("args", []))
        return shapes or None

    def padding(self, cfg: dict[str, Any]) -> str:
        padding = str(cfg.get("padding", "valid")).lower()
        if padding not in ("same", "valid"):
            raise ConvcalcError(f"padding {padding!r}: convcalc reads 'same' and 'valid'")
        return padding
