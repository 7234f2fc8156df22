"""ONNX files as network specs: each node becomes a ``[[layer]]`` table in convcalc's own
vocabulary (the one TOML specs use), with ONNX's padding rules (``convention = "onnx"``:
auto_pad, pads, ceil_mode, output_shape) kept on the layers that have them. Needs the ``onnx``
package (``pip install "convcalc[onnx]"``); numpy reads the constants.

Parameters count the initializers that are weights or biases: Conv/ConvTranspose/Gemm/MatMul
weights and biases, BatchNormalization's scale and bias (its mean and variance are shown as
non-trainable), PRelu's slopes. Layer names are the node names.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from convcalc import onnxproto
from convcalc.boundary import (
    MAX_CONSTANT_ELEMENTS,
    MAX_MODEL_BYTES,
    check_layer_count,
    display,
    guarded,
    read_bytes,
)
from convcalc.errors import ConvcalcError, InputError
from convcalc.families import by_onnx_op
from convcalc.neteval import Failure, Memo

if TYPE_CHECKING:
    from convcalc.netspec import NetworkSpec

SUPPORTED = (
    "Conv, ConvTranspose, MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool, Gemm, MatMul "
    "(a constant weight, or two activations), Add, Sub, Mul, Div, Sum, Concat, "
    "BatchNormalization, LayerNormalization, InstanceNormalization, GroupNormalization, Flatten, "
    "Reshape and Transpose (constant shapes), Resize/Upsample, Pad, Squeeze, Unsqueeze, "
    "ReduceMean/Sum/Max/Min/L2, Expand (a constant shape), Slice and Split (constant sizes), "
    "Relu, LeakyRelu, PRelu, Sigmoid, Tanh, Clip, HardSigmoid, HardSwish, Elu, Selu, Gelu, Mish, "
    "Softmax, LogSoftmax, Dropout, Identity, Constant, and Shape where the file fixes the size"
)
_POINTWISE = {
    "Relu": "relu",
    "LeakyRelu": "leakyrelu",
    "Sigmoid": "sigmoid",
    "Tanh": "tanh",
    "Clip": "clip",
    "HardSigmoid": "hardsigmoid",
    "HardSwish": "hardswish",
    "Elu": "elu",
    "Selu": "selu",
    "Gelu": "gelu",
    "Mish": "mish",
    "Softmax": "softmax",
    "LogSoftmax": "logsoftmax",
    "Dropout": "dropout",
    "Identity": "identity",
    # elementwise, one computed input (GELU's Erf, a norm's Sqrt...): the shape passes through
    "Erf": "erf",
    "Sqrt": "sqrt",
    "Exp": "exp",
    "Log": "log",
    "Abs": "abs",
    "Neg": "neg",
    "Reciprocal": "reciprocal",
    "Floor": "floor",
    "Ceil": "ceil",
    "Round": "round",
    "Sign": "sign",
    "Softplus": "softplus",
    "Softsign": "softsign",
    "Pow": "pow",  # with a constant exponent
}
# ops whose (first) output has their first input's shape: the unary pointwise ops and the
# normalizations (ONNX's operator definitions)
_SHAPE_KEEPING = (frozenset(_POINTWISE) - {"Pow"}) | {
    "BatchNormalization",
    "InstanceNormalization",
    "LayerNormalization",
    "GroupNormalization",
    "LpNormalization",
}
_MERGES = {"Add": "add", "Sub": "sub", "Mul": "mul", "Div": "div", "Sum": "add"}
# ops evaluated at read time when every input is a constant (the pads and shapes exporters build)
_FOLDABLE = {
    "Constant",
    "ConstantOfShape",
    "Concat",
    "Reshape",
    "Slice",
    "Transpose",
    "Cast",
    "Unsqueeze",
    "Squeeze",
    "Gather",
    "Identity",
    "CumSum",
    "Shape",
    "Sin",
    "Cos",
    "Exp",
    "Add",
    "Sub",
    "Mul",
    "Div",
    "Min",
    "Max",
    "Pow",
    "Ceil",
    "Floor",
    "Sqrt",
    "Neg",
    "Abs",
    "Clip",
    "ReduceMean",
    "ReduceSum",
    "ReduceMax",
    "ReduceMin",
}


def read_onnx(path: Path) -> NetworkSpec:
    """The NetworkSpec of an ONNX file (see the module docstring). The file is read within the
    budget; external data is never loaded (a tensor's shape is in its dims)."""
    data = read_bytes(str(path), "spec", MAX_MODEL_BYTES)
    onnxproto.messages()  # onnx is installed: asked before the file's content is judged
    shown = display(str(path))
    if not data:
        raise InputError(f"spec: {shown} is empty")
    try:
        model = onnxproto.parse_model(data)
    except Exception as error:  # noqa: BLE001 - onnx raises DecodeError, ValueError, OSError ...
        raise InputError(
            f"spec: {shown} is not a readable ONNX model ({display(str(error))[:200]})"
        ) from None
    del data
    check_layer_count(len(model.graph.node), str(path))
    _drop_weight_data(model.graph)
    reader = _Reader(model, str(path))
    with guarded(str(path), lambda: reader.where):
        return reader.spec()


# Ops whose output has the rank of their first input (ONNX's operator definitions): every
# pointwise op read (Pow broadcasts, below) and these
_RANK_KEEPING = (frozenset(_POINTWISE) - {"Pow"}) | {
    "Conv",
    "ConvTranspose",
    "MaxPool",
    "AveragePool",
    "LpPool",
    "GlobalAveragePool",
    "GlobalMaxPool",
    "GlobalLpPool",
    "BatchNormalization",
    "LayerNormalization",
    "InstanceNormalization",
    "GroupNormalization",
    "LpNormalization",
    "PRelu",
    "Celu",
    "ThresholdedRelu",
    "Resize",
    "Upsample",
    "Pad",
    "Concat",
    "Transpose",
    "DepthToSpace",
    "SpaceToDepth",
    "Cast",
}
# Elementwise ops of several inputs: numpy broadcasting, the largest rank
_BROADCASTING = frozenset(
    {"Add", "Sub", "Mul", "Div", "Sum", "Pow", "Max", "Min", "Mean", "Where", "Equal", "Less"}
)
_REDUCING = frozenset({"ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceL2"})

# TensorProto data types that hold indices, shapes, masks or text, never learned weights:
# UINT8, INT8, UINT16, INT16, INT32, INT64, STRING, BOOL, UINT32, UINT64, UINT4, INT4
_NOT_LEARNED = frozenset({2, 3, 4, 5, 6, 7, 8, 9, 12, 13, 21, 22})

# Layers planned, in all, by the runs that give a Shape node its input's shape (see own_shape);
# past it (a large graph asking for many shapes far apart) ONNX's shape inference answers.
_OWN_RUN_BUDGET = 5_000

# An initializer of more elements than this, or one whose data is outside the file, is read by
# its shape only (its dims); its values are never loaded.
_VALUES_READ = 65_536

_DATA_FIELDS = (
    "raw_data",
    "float_data",
    "int32_data",
    "int64_data",
    "double_data",
    "uint64_data",
    "string_data",
)


def _elements(tensor: Any) -> int:
    """An initializer's element count, from its dims (a negative size counts as 0)."""
    return math.prod(max(int(d), 0) for d in tensor.dims)


def _by_shape_only(tensor: Any) -> bool:
    """Whether an initializer is read by its dims alone: stored outside the file, or larger
    than _VALUES_READ elements."""
    return (
        _elements(tensor) > _VALUES_READ
        or tensor.data_location == 1
        or len(tensor.external_data) > 0
    )


def _drop_weight_data(graph: Any) -> None:
    """Free the data of every initializer read by its shape only (its dims and type stay): shape
    inference then never copies or walks the weights (a 553 MB VGG16 peaked at 2.7 GB)."""
    for tensor in graph.initializer:
        if _by_shape_only(tensor):
            for field in _DATA_FIELDS:
                tensor.ClearField(field)


# ops that move a tensor's elements about, folded by shape when the values were never read
_SHAPE_ONLY = ("Identity", "Cast", "Transpose", "Reshape", "Unsqueeze", "Squeeze")


def _moved(op: str, dims: tuple[int, ...], a: dict[str, Any], node: Any, reader: Any) -> Any:
    """The shape an element-moving op gives a tensor of shape ``dims`` (its values unread)."""
    match op:
        case "Identity" | "Cast":
            return dims
        case "Transpose":
            perm = a.get("perm") or list(reversed(range(len(dims))))
            return tuple(dims[int(p)] for p in perm)
        case "Reshape":
            wanted = [int(v) for v in reader.constants.read(node.input[1])]
            shape = [dims[i] if v == 0 else v for i, v in enumerate(wanted)]
            if shape.count(-1) == 1:
                known = math.prod(v for v in shape if v != -1)
                shape[shape.index(-1)] = math.prod(dims) // known if known else 0
            if math.prod(shape) != math.prod(dims) or min(shape, default=0) < 0:
                raise ConvcalcError(f"cannot reshape {list(dims)} to {wanted}")
            return tuple(shape)
        case "Unsqueeze" | "Squeeze":
            given = node.input[1] if len(node.input) > 1 and node.input[1] else None
            axes = [int(v) for v in (reader.constants.read(given) if given else a["axes"])]
            if op == "Squeeze":
                gone = {v % len(dims) for v in axes}
                return tuple(d for i, d in enumerate(dims) if i not in gone)
            out = list(dims)
            for axis in sorted(v % (len(dims) + len(axes)) for v in axes):
                out.insert(axis, 1)
            return tuple(out)
    raise AssertionError(op)


class _Constants:
    """The graph's constant tensors: initializers by their dims, their values loaded only when
    asked for and only when small and inside the file; tensors folded from them within
    MAX_CONSTANT_ELEMENTS."""

    def __init__(self, initializers: Any) -> None:
        self.tensors = {init.name: init for init in initializers}
        self.values: dict[str, Any] = {}
        self.unread: set[str] = set()  # stand-ins of the right shape whose values were not read

    def __contains__(self, name: object) -> bool:
        return name in self.values or name in self.tensors

    def get(self, name: str) -> Any:
        if name in self.values:
            return self.values[name]
        tensor = self.tensors.get(name)
        if tensor is None:
            return None
        import numpy as np

        dims = tuple(int(d) for d in tensor.dims)
        if any(d < 0 for d in dims):
            raise ConvcalcError(f"initializer {display(name)!r} has a negative size {dims}")
        if _by_shape_only(tensor):
            try:
                dtype = onnxproto.numpy_dtype(tensor.data_type)
            except Exception:  # noqa: BLE001 - an unknown type: the shape is what matters
                dtype = np.float32
            value = np.broadcast_to(np.zeros((), dtype=dtype), dims)
            self.unread.add(name)
        else:
            value = onnxproto.to_array(tensor)
        self.values[name] = value
        return value

    def __setitem__(self, name: str, value: Any) -> None:
        _check_elements(value.shape)  # what no check before the fold bounded (a Concat, ...)
        self.values[name] = value

    def read(self, name: str) -> Any:
        """The values of a constant, which must have been read."""
        value = self.get(name)
        if name in self.unread:
            raise ConvcalcError(
                f"the values of {display(name)!r} are needed, but it is stored outside the "
                f"file or has over {_VALUES_READ:,} elements; convcalc reads its shape only"
            )
        return value


class _Reader:
    def __init__(self, model: Any, source: str) -> None:
        self.model = model
        self.graph = model.graph
        self.path = source
        self.constants = _Constants(self.graph.initializer)
        # tensors that are parameters: initializers, and what an Identity or a Reshape makes of
        # one (an exporter's alias of a shared value, a layer scale reshaped for broadcasting)
        # (an integer or boolean initializer is an index, a shape or a mask, never learned:
        # the torch.export exporter stores a Gather's indices as one)
        weights = [init for init in self.graph.initializer if init.data_type not in _NOT_LEARNED]
        self.learned: set[str] = {init.name for init in weights}
        # the initializers each constant is computed from (a standardised weight: the weight
        # and its gain), counted once each
        self.origin: dict[str, frozenset[str]] = {
            init.name: frozenset({init.name}) for init in weights
        }
        self.readers_of = {t for n in self.graph.node for t in n.input}
        # multiply-accumulates spent on a constant (a conv over a position grid), every forward
        self.constant_macs: dict[str, int] = {}
        self.group_affine = 0  # a GroupNorm's Mul and Add still to come
        self.passed: dict[str, int] = {}  # ops passed through with their inferred shapes
        self.input_shape: tuple[int, ...] | None = None  # the file's (C, *spatial), if fixed
        self.own_shapes: dict[str, tuple[int, ...]] = {}  # layer name -> output, by our runs
        self.own_planned = 0  # layers planned by those runs, against _OWN_RUN_BUDGET
        self.memo = Memo()
        self.batch: int | None = None
        self.where = ""  # the node being read, for a message about input the reader did not check
        self.ranks: dict[str, int] = {}
        self.static: dict[str, tuple[int, ...]] = {}  # shapes inference fixed completely
        self.inferred_all = False  # ONNX's shape inference runs once, when first needed
        self.own_ranks: dict[str, int] = {}  # ranks the nodes read so far give (see propagate)
        self.record(self.graph)
        self.producer: dict[str, str] = {}
        self.layers: list[dict[str, Any]] = []
        self.names: set[str] = {"input"}
        self.suffixes: dict[str, int] = {}
        self.notes: list[str] = []

    # -- helpers

    def attrs(self, node: Any) -> dict[str, Any]:
        values = {}
        for attr in node.attribute:
            value = onnxproto.attribute_value(attr)
            values[attr.name] = value.decode() if isinstance(value, bytes) else value
        return values

    def const(self, name: str) -> Any:
        return self.constants.get(name) if name else None

    def ints(self, name: str) -> list[int] | None:
        if not name or name not in self.constants:
            return None
        value = self.constants.read(name)
        return [int(v) for v in value.reshape(-1)]

    def unique(self, node: Any, index: int) -> str:
        base = node.name or f"{node.op_type}_{index}"
        name, n = base, self.suffixes.get(base, 2)
        while name in self.names:  # a counter per name: many nodes of one name stay linear
            name = f"{base}_{n}"
            n += 1
        self.suffixes[base] = n
        self.names.add(name)
        return name

    def _from(self, node: Any, tensor: str) -> str:
        if tensor in self.producer:
            return self.producer[tensor]
        raise ConvcalcError(
            f'node "{node.name}" ({node.op_type}): its input {tensor!r} is not the graph input or '
            "a tensor a supported node computes"
        )

    def record(self, graph: Any) -> None:
        """The ranks and fixed shapes a graph's value_info, inputs and outputs hold."""
        for info in [*graph.value_info, *graph.input, *graph.output]:
            tensor = info.type.tensor_type
            if tensor.HasField("shape"):
                self.ranks[info.name] = len(tensor.shape.dim)
                dims = [d.dim_value if d.HasField("dim_value") else 0 for d in tensor.shape.dim]
                if all(d > 0 for d in dims):
                    self.static[info.name] = tuple(dims)

    def infer(self) -> None:
        """ONNX's shape inference, with data propagation (Shape -> Gather -> Concat -> Reshape
        chains resolve), over the model without its weight data; run once, and only when a
        rank or a shape the nodes read so far do not give is asked for (it costs 10-35 ms)."""
        if self.inferred_all:
            return
        self.inferred_all = True
        try:
            inferred = onnxproto.package().shape_inference.infer_shapes(self.model, data_prop=True)
        except Exception:  # noqa: BLE001 - ranks are a help; reading goes on without them
            return
        self.record(inferred.graph)

    def fixed(self, tensor: str) -> tuple[int, ...] | None:
        """A tensor's shape as ONNX's shape inference fixes it completely, or None."""
        if tensor not in self.static:
            self.infer()
        return self.static.get(tensor)

    def rank(self, tensor: str) -> int | None:
        if tensor in self.own_ranks:
            return self.own_ranks[tensor]
        if tensor not in self.ranks:
            self.infer()
        return self.ranks.get(tensor)

    def propagate(self, node: Any) -> None:
        """The rank of a node's output where its op fixes it from its inputs' ranks (ONNX's
        rules: these ops keep the rank, a broadcast takes the largest, Flatten and Gemm give 2,
        Reshape the length of its shape); elsewhere unknown, and asked of shape inference."""
        op = node.op_type
        if not node.output or not node.output[0]:
            return
        ranks = [self._rank_of(t) for t in node.input if t]
        first = ranks[0] if ranks else None
        rank: int | None = None
        if op in _RANK_KEEPING or op in ("Split", "Slice"):
            rank = first
        elif op in _BROADCASTING and ranks and all(r is not None for r in ranks):
            rank = max(r for r in ranks if r is not None)
        elif op in ("Flatten", "Gemm"):
            rank = 2
        elif op == "Shape":
            rank = 1
        elif op == "Reshape" and len(node.input) > 1 and node.input[1] in self.constants:
            rank = int(self.constants.get(node.input[1]).size)
        elif op == "MatMul" and len(ranks) == 2:
            a, b = ranks
            rank = max(a, b) if a is not None and b is not None and min(a, b) >= 2 else None
        elif op in _REDUCING or op in ("Squeeze", "Unsqueeze"):
            rank = self._reduced_rank(node, op, first)
        if rank is not None:
            for output in node.output if op == "Split" else node.output[:1]:
                if output:
                    self.own_ranks[output] = rank

    def _reduced_rank(self, node: Any, op: str, first: int | None) -> int | None:
        """A reduction's rank (kept with keepdims, else less its axes), Squeeze's, Unsqueeze's;
        None where the axes are not constants."""
        if first is None:
            return None
        a = self.attrs(node)
        axes = a.get("axes")
        if axes is None and len(node.input) > 1 and node.input[1] in self.constants:
            try:
                axes = [int(v) for v in self.constants.read(node.input[1]).reshape(-1)]
            except (ConvcalcError, ValueError, TypeError):  # unread, or not integers
                return None
        if op in _REDUCING and int(a.get("keepdims", 1)):
            return first
        if not axes:  # none given: every axis (a reduction), the ones of size 1 (Squeeze)
            return None
        return first + len(axes) if op == "Unsqueeze" else first - len(axes)

    def _rank_of(self, tensor: str) -> int | None:
        if tensor in self.own_ranks:
            return self.own_ranks[tensor]
        if tensor in self.constants:
            return int(self.constants.get(tensor).ndim)
        return None

    # -- the graph

    def spec(self) -> NetworkSpec:
        from convcalc.netspec import NetworkSpec

        inputs = [i for i in self.graph.input if i.name not in self.constants]
        if len(inputs) != 1:
            raise ConvcalcError(
                f"{self.path}: the graph has {len(inputs)} inputs "
                f"({', '.join(i.name for i in inputs)}); convcalc follows one"
            )
        graph_input = inputs[0]
        self.producer[graph_input.name] = "input"
        dims = [
            d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None
            for d in graph_input.type.tensor_type.shape.dim
        ]
        shape = tuple(dims[1:]) if len(dims) >= 2 and None not in dims[1:] else None
        batch = dims[0] if dims and dims[0] else None
        self.input_shape, self.batch = (
            None if shape is None else tuple(int(d) for d in shape if d is not None),
            batch,
        )
        hint = ""
        if shape is None:
            shown = [d if d is not None else "?" for d in dims]
            hint = f"the ONNX input {graph_input.name!r} is {shown}, ? is not fixed in the file"
            self.notes.append(f"{hint}: give --in C,H,W")
        self.own_ranks[graph_input.name] = len(dims)
        for index, node in enumerate(self.graph.node):
            self.node(node, index)
            self.propagate(node)
        if self.passed:
            listed = ", ".join(f"{op} x{n}" if n > 1 else op for op, n in self.passed.items())
            self.notes.append(
                f"passed through with the shapes ONNX infers for this input (no rule here, no "
                f"parameters): {listed}; another --in is refused at them"
            )
        outputs = [o.name for o in self.graph.output]
        if outputs and self.layers and self.producer.get(outputs[0]) != self.layers[-1]["name"]:
            self.notes.append(
                f"the graph output {outputs[0]!r} is not computed by the last node read"
            )
        return NetworkSpec(
            shape,  # type: ignore[arg-type]
            self.layers,
            batch,
            self.path,
            notes=(f"read from the ONNX graph {self.graph.name or '(unnamed)'}", *self.notes),
            input_hint=hint,
            open_input=tuple(dims[1:]) if shape is None and len(dims) >= 3 and dims[1] else None,
        )

    def add(self, node: Any, index: int, layer: dict[str, Any], sources: list[str]) -> None:
        from convcalc.netspec import append_layer

        name = self.unique(node, index)
        append_layer(self.layers, name, layer, sources)
        self.producer[node.output[0]] = name

    def node(self, node: Any, index: int) -> None:
        op = node.op_type
        a = self.attrs(node)
        data = [t for t in node.input if t and t not in self.constants]
        where = f'node "{node.name or index}" ({op})'
        self.where = where
        try:
            if op != "Constant" and not data and any(node.input):
                self.constant_node(node, a)  # computed from constants (an exporter's pads)
            elif op == "Shape" and self.known_shape(node.input[0]) is not None:
                self.shape_of(node, a)
            elif op == "Constant":
                self.constant(node, a)
            elif op in ("Conv", "ConvTranspose"):
                self.add(node, index, self.conv(node, a, op), [self._from(node, data[0])])
            elif (window_op := by_onnx_op(op)) is not None and not window_op.facts.weighted:
                kernel = len(a.get("kernel_shape", ())) or None
                if kernel is None:
                    raise ConvcalcError(f"{op} without kernel_shape")
                layer = window_op.from_onnx(op, a, self.window(a, kernel))
                self.add(node, index, layer, [self._from(node, data[0])])
            elif op in ("GlobalAveragePool", "GlobalMaxPool"):
                rank = self.rank(node.input[0]) or 4
                kind = "avg" if op == "GlobalAveragePool" else "max"
                layer = {"layer": f"adaptive{kind}pool{rank - 2}d", "output_size": 1}
                self.add(node, index, layer, [self._from(node, data[0])])
            elif op == "Gemm":
                self.add(node, index, self.gemm(node, a), [self._from(node, data[0])])
            elif op == "MatMul":
                self.matmul(node, index, data)
            elif op in _MERGES:
                self.merge(node, index, op, data)
            elif op == "Concat" and len(data) == 1 and len(node.input) == 1:
                # a Concat of one tensor (timm's DenseNet) is that tensor
                self.add(node, index, {"layer": "identity"}, [self._from(node, data[0])])
            elif op == "Concat":
                sources = [self._from(node, t) for t in node.input]
                self.add(node, index, {"layer": "cat", "dim": int(a.get("axis", 1))}, sources)
            elif op == "BatchNormalization":
                rank = self.rank(node.input[0]) or 4
                scale = self.const(node.input[1])
                norm: dict[str, Any] = {"layer": f"batchnorm{max(rank - 2, 1)}d"}
                if scale is not None:
                    norm["num_features"] = int(scale.shape[0])
                self.add(node, index, norm, [self._from(node, data[0])])
            elif op in ("LayerNormalization", "InstanceNormalization", "GroupNormalization"):
                self.add(node, index, self.norm(node, a, op), [self._from(node, data[0])])
            elif op in ("DepthToSpace", "SpaceToDepth"):
                self.add(node, index, self.pixel_shuffle(op, a), [self._from(node, data[0])])
            elif op == "Flatten":
                self.flatten(node, index, int(a.get("axis", 1)), data)
            elif op == "Reshape":
                shape = self.ints(node.input[1])
                if shape is None:
                    raise ConvcalcError("the target shape is computed, not a constant")
                self.add(
                    node, index, {"layer": "reshape", "shape": shape}, [self.data_source(node)]
                )
            elif op == "Transpose":
                perm = list(a["perm"]) if "perm" in a else None
                if perm is None:
                    known = self.rank(node.input[0])
                    if known is None:
                        raise ConvcalcError("no perm and no known rank")
                    perm = list(range(known))[::-1]
                self.add(node, index, {"layer": "permute", "dims": perm}, [self.data_source(node)])
            elif op in ("Resize", "Upsample"):
                self.add(node, index, self.resize(node, a, op), [self.data_source(node)])
            elif op == "Pad":
                pads = self.ints(node.input[1]) if len(node.input) > 1 else None
                pads = pads if pads is not None else list(a.get("pads", []))
                half = len(pads) // 2
                pairs = [[pads[i], pads[i + half]] for i in range(half)]
                self.add(node, index, {"layer": "pad", "pads": pairs}, [self.data_source(node)])
            elif op in ("Squeeze", "Unsqueeze"):
                axes = self.ints(node.input[1]) if len(node.input) > 1 else None
                axes = axes if axes is not None else a.get("axes")
                layer = {"layer": op.lower()}
                if axes is not None:
                    layer["dims"] = [int(v) for v in axes]
                elif op == "Unsqueeze":
                    raise ConvcalcError("no axes")
                self.add(node, index, layer, [self.data_source(node)])
            elif op in ("ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceL2"):
                axes = self.ints(node.input[1]) if len(node.input) > 1 else None
                axes = axes if axes is not None else a.get("axes")
                if axes is None:
                    known = self.rank(node.input[0])
                    if known is None:
                        raise ConvcalcError("no axes and no known rank")
                    axes = list(range(known))
                layer = {"layer": op.lower(), "dims": [int(v) for v in axes]}
                layer["keepdim"] = bool(a.get("keepdims", 1))
                self.add(node, index, layer, [self.data_source(node)])
            elif op == "Slice":
                self.add(node, index, self.slice(node, a), [self.data_source(node)])
            elif op == "Split":
                self.split(node, index, a)
            elif op == "PRelu":
                slope = self.const(node.input[1])
                layer = {
                    "layer": "prelu",
                    "num_parameters": int(slope.size) if slope is not None else 1,
                }
                self.add(node, index, layer, [self.data_source(node)])
            elif op in _POINTWISE:
                self.add(node, index, {"layer": _POINTWISE[op]}, [self.data_source(node)])
            elif op == "Expand" and data == [node.input[0]] and (shape := self.ints(node.input[1])):
                self.add(
                    node, index, {"layer": "expand", "shape": shape}, [self._from(node, data[0])]
                )
            elif not self.inferred(node, index, data):
                raise ConvcalcError(
                    f"not supported, and ONNX's shape inference does not fix its output; "
                    f"convcalc reads {SUPPORTED}"
                )
        except ConvcalcError as error:
            raise ConvcalcError(f"{self.path}: {where}: {error}") from None

    def slice(self, node: Any, a: dict[str, Any]) -> dict[str, Any]:
        """Slice with constant starts, ends, axes and steps (inputs; attributes in opset < 10)."""
        starts = self.ints(node.input[1]) if len(node.input) > 1 else a.get("starts")
        ends = self.ints(node.input[2]) if len(node.input) > 2 else a.get("ends")
        axes = self.ints(node.input[3]) if len(node.input) > 3 and node.input[3] else a.get("axes")
        steps = self.ints(node.input[4]) if len(node.input) > 4 and node.input[4] else None
        if starts is None or ends is None:
            raise ConvcalcError("its starts and ends are computed, not constants")
        dims = list(axes) if axes is not None else list(range(len(starts)))
        cap = 2**62  # ONNX writes "to the end" as INT64_MAX
        return {
            "layer": "slice",
            "dims": [int(d) for d in dims],
            "starts": [max(min(int(v), cap), -cap) for v in starts],
            "stops": [max(min(int(v), cap), -cap) for v in ends],
            "steps": [int(v) for v in (steps or [1] * len(dims))],
        }

    def split(self, node: Any, index: int, a: dict[str, Any]) -> None:
        """Split: one layer per output, a slice of the given sizes or an equal chunk."""
        axis = int(a.get("axis", 0))
        sizes = self.ints(node.input[1]) if len(node.input) > 1 and node.input[1] else None
        sizes = sizes if sizes is not None else (list(a["split"]) if "split" in a else None)
        from convcalc.netspec import append_layer

        source = self.data_source(node)
        base = node.name or f"Split_{index}"
        start = 0
        for part, output in enumerate(node.output):
            if sizes is not None:
                layer: dict[str, Any] = {
                    "layer": "slice",
                    "dims": [axis],
                    "starts": [start],
                    "stops": [start + int(sizes[part])],
                    "steps": [1],
                }
                start += int(sizes[part])
            else:
                layer = {"layer": "chunk", "dim": axis, "chunks": len(node.output), "index": part}
            name = f"{base}:{part}"
            self.names.add(name)
            append_layer(self.layers, name, layer, [source])
            self.producer[output] = name

    def data_source(self, node: Any) -> str:
        data = [t for t in node.input if t and t not in self.constants]
        if not data:
            raise ConvcalcError("no computed input")
        return self._from(node, data[0])

    def constant(self, node: Any, a: dict[str, Any]) -> None:
        if "value" in a:
            self.constants[node.output[0]] = onnxproto.to_array(a["value"])
            return
        import numpy as np

        for key in ("value_ints", "value_floats", "value_int", "value_float"):
            if key in a:
                self.constants[node.output[0]] = np.array(a[key])
                return
        raise ConvcalcError("a Constant without a value convcalc reads")

    def shape_of(self, node: Any, a: dict[str, Any]) -> None:
        """``Shape`` of a tensor whose size the file fixes (``x.view(x.size(0), -1)``): a
        constant, said in a note (an --in of another size may no longer fit the reshape)."""
        import numpy as np

        dims = self.known_shape(node.input[0])
        assert dims is not None, "read only when known"
        start, end = int(a.get("start", 0)), a.get("end")
        value = dims[start : None if end is None else int(end)]
        self.constants[node.output[0]] = np.array(value, dtype=np.int64)
        self.notes.append(
            f"Shape of {node.input[0]!r} read as {list(value)} (the file's sizes); an --in of "
            "other sizes may not fit what it computes"
        )

    def constant_node(self, node: Any, a: dict[str, Any]) -> None:
        """A node of constants only: evaluated where its values can be (pads, shapes); where
        they cannot (a weight read by its shape, an op not evaluated here: a weight
        standardisation's BatchNormalization) followed by the shape ONNX infers for it. Either
        way the learned tensors it is computed from go with it."""
        import numpy as np

        inputs = [t for t in node.input if t]
        for t in inputs:
            self.constants.get(t)  # an initializer is read (or stood in) on first use
        origin = frozenset().union(*(self.origin.get(t, frozenset()) for t in inputs))
        macs = sum(self.constant_macs.get(t, 0) for t in inputs)
        unread = any(t in self.constants.unread for t in inputs)
        moves = node.op_type in _SHAPE_ONLY or node.op_type == "Shape"  # need no values read
        if node.op_type in _FOLDABLE and (not unread or moves):
            self.fold(node, a)
        else:
            for output in node.output:
                if output not in self.readers_of:
                    continue  # (a BatchNormalization's running statistics in training mode)
                dims = self.constant_shape(node, a, output) or self.fixed(output)
                if dims is None:
                    if output:
                        raise ConvcalcError(
                            "every input is a constant and ONNX's shape inference does not fix "
                            "its output: a tensor computed from the weights alone (a position "
                            "encoding through a conv), which convcalc does not evaluate"
                        )
                    continue
                stand_in = np.broadcast_to(np.zeros((), np.float32), dims)
                self.constants.values[output] = stand_in
                self.constants.unread.add(output)
        for output in node.output:
            self.origin[output] = origin
            self.constant_macs[output] = self.constant_macs.get(output, 0) + macs

    def constant_shape(self, node: Any, a: dict[str, Any], output: str) -> tuple[int, ...] | None:
        """The shape of a node's output over constants by our own rules, where they give it: an
        op that keeps its first input's shape (a weight standardisation's BatchNormalization),
        a Conv (a position encoding); None: ONNX's shape inference is asked."""
        if output != node.output[0]:
            return None
        dims = tuple(int(d) for d in self.constants.get(node.input[0]).shape)
        if node.op_type in _SHAPE_KEEPING:
            return dims
        if node.op_type in _BROADCASTING:
            import numpy as np

            shapes = [self.constants.get(t).shape for t in node.input if t]
            return tuple(int(d) for d in np.broadcast_shapes(*shapes))
        if node.op_type in _REDUCING:  # axes: an attribute, or (opset 18) a second input
            given = self.constants.read(node.input[1]) if len(node.input) > 1 else a.get("axes")
            axes = None if given is None else [int(v) for v in given]
            if not axes:
                if a.get("noop_with_empty_axes", 0):
                    return dims
                axes = list(range(len(dims)))
            from convcalc.tensorops import MeanLayer, tensor_op_shape

            keep = bool(a.get("keepdims", 1))
            return tensor_op_shape(MeanLayer(tuple(axes), keep), dims)  # the mean layer's rule
        return self.constant_conv(node, a)

    def constant_conv(self, node: Any, a: dict[str, Any]) -> tuple[int, ...] | None:
        """The output shape of a Conv over a constant (a position encoding), by its own rule."""
        if node.op_type != "Conv":
            return None
        from convcalc.netrun import run_network
        from convcalc.netspec import NetworkSpec

        shape = tuple(int(d) for d in self.constants.get(node.input[0]).shape)
        layer = {"name": "conv", **self.conv(node, a, "Conv")}
        try:
            result = run_network(NetworkSpec(shape[1:], [layer], shape[0]))
        except ConvcalcError:
            return None
        self.constant_macs[node.output[0]] = result.total_macs  # run once, at every forward
        return tuple(result.output_shape)

    def computed_from(self, tensor: str) -> int:
        """The elements of the learned tensors a computed weight is made from."""
        total = 0
        for name in self.origin.get(tensor, frozenset()):
            total += _elements(self.constants.tensors[name])
        return total

    def known_shape(self, tensor: str) -> tuple[int, ...] | None:
        """A tensor's shape for the file's input size: as the layers read so far give it (a
        run of our own rules, which agree with torch and onnxruntime), or, where they do not
        produce it or the runs' budget is spent, as ONNX's shape inference fixes it."""
        return self.own_shape(tensor) or self.fixed(tensor)

    def own_shape(self, tensor: str) -> tuple[int, ...] | None:
        """The shape of a tensor a layer read so far produces, by running those layers on the
        file's input size. Each run records every layer's output, so a run is needed only when a
        later layer's is asked for; layers already run are looked up (``Memo``), and the runs
        stop at _OWN_RUN_BUDGET layers planned in all (each plans the layers so far): a graph
        that asks for many shapes far apart goes to shape inference instead."""
        layer = self.producer.get(tensor)
        if layer is None or self.input_shape is None:
            return None
        if layer == "input":
            return (self.batch or 1, *self.input_shape)
        if layer in self.own_shapes:
            return self.own_shapes[layer]
        if self.own_planned + len(self.layers) > _OWN_RUN_BUDGET:
            return None
        self.own_planned += len(self.layers)
        from convcalc.netplan import plan_network
        from convcalc.netrun import layer_shapes
        from convcalc.netspec import NetworkSpec

        try:
            spec = NetworkSpec(self.input_shape, [dict(t) for t in self.layers], self.batch)
            plan = plan_network(spec)
        except ConvcalcError:
            return None
        shapes = layer_shapes(plan, (self.batch or 1, *self.input_shape), self.memo)
        if isinstance(shapes, Failure):
            return None
        for planned, shape in zip(plan.layers, shapes[1:], strict=True):
            self.own_shapes[planned.name] = shape
        return self.own_shapes.get(layer)

    def fold(self, node: Any, a: dict[str, Any]) -> None:
        """Evaluate a node whose inputs are all constants, with numpy."""
        import numpy as np

        op = node.op_type
        if op in ("Identity", "Reshape", "Unsqueeze", "Squeeze", "Cast", "Transpose") and (
            node.input[0] in self.learned
        ):
            self.learned.add(node.output[0])
        if op == "Shape":  # of a constant: its dims, whether or not its values were read
            dims = self.constants.get(node.input[0]).shape
            start, end = int(a.get("start", 0)), a.get("end")
            value = dims[start : None if end is None else int(end)]
            self.constants[node.output[0]] = np.array(value, dtype=np.int64)
            return
        if op in _SHAPE_ONLY:
            self.constants.get(node.input[0])  # an initializer is read (or stood in) on first use
        if node.input[0] in self.constants.unread and op in _SHAPE_ONLY:
            # a weight read by its shape only, moved about (a Linear's W transposed): so is this
            dims = _moved(op, tuple(self.constants.get(node.input[0]).shape), a, node, self)
            stand_in = np.broadcast_to(np.zeros((), np.float32), dims)  # no memory: not checked
            self.constants.values[node.output[0]] = stand_in
            self.constants.unread.add(node.output[0])
            return
        x: list[Any] = [self.constants.read(t) if t else None for t in node.input]
        if op == "ConstantOfShape":
            value = onnxproto.to_array(a["value"]).reshape(-1)[0] if "value" in a else 0.0
            shape = [int(v) for v in x[0]]
            _check_elements(shape)
            out = np.full(shape, value)
        elif op == "Concat":
            out = np.concatenate([v for v in x if v is not None], axis=int(a.get("axis", 0)))
        elif op == "Reshape":
            shape = [int(v) for v in x[1]]
            shape = [x[0].shape[i] if v == 0 else v for i, v in enumerate(shape)]
            out = x[0].reshape(shape)
        elif op == "Slice":
            data = x[0]
            starts, ends = [int(v) for v in x[1]], [int(v) for v in x[2]]
            axes = [int(v) for v in x[3]] if len(x) > 3 and x[3] is not None else None
            steps = [int(v) for v in x[4]] if len(x) > 4 and x[4] is not None else None
            index = [slice(None)] * data.ndim
            for i, axis in enumerate(axes if axes is not None else range(len(starts))):
                step = steps[i] if steps else 1
                index[axis] = slice(starts[i], ends[i], step)
            out = data[tuple(index)]
        elif op == "Transpose":
            out = np.transpose(x[0], a.get("perm"))
        elif op == "Cast":  # to ONNX's type; a float to an integer truncates, as numpy does
            out = x[0].astype(onnxproto.numpy_dtype(int(a["to"])))
        elif op in ("Unsqueeze", "Squeeze"):
            axes = [int(v) for v in (x[1] if len(x) > 1 and x[1] is not None else a["axes"])]
            if op == "Unsqueeze":
                out = x[0]
                for axis in sorted(v % (out.ndim + len(axes)) for v in axes):
                    out = np.expand_dims(out, axis)
            else:
                out = np.squeeze(x[0], axis=tuple(axes))
        elif op == "Gather":
            out = np.take(x[0], x[1], axis=int(a.get("axis", 0)))
        elif op == "Identity":
            out = x[0]
        elif op == "CumSum":  # a position encoding's running count
            axis = int(np.asarray(x[1]).reshape(-1)[0])
            data = np.flip(x[0], axis) if a.get("reverse") else x[0]
            out = np.cumsum(data, axis=axis)
            if a.get("exclusive"):
                out = out - data
            out = np.flip(out, axis) if a.get("reverse") else out
        elif op in ("Add", "Sub", "Mul", "Div", "Min", "Max", "Pow"):
            operands = [v for v in x if v is not None]
            _check_elements(np.broadcast_shapes(*(v.shape for v in operands)))
            out = _elementwise(op, operands)
        elif op in ("Ceil", "Floor", "Sqrt", "Neg", "Abs", "Sin", "Cos", "Exp"):
            functions = {
                "Ceil": np.ceil,
                "Floor": np.floor,
                "Sqrt": np.sqrt,
                "Neg": np.negative,
                "Sin": np.sin,
                "Cos": np.cos,
                "Exp": np.exp,
            }
            out = functions.get(op, np.abs)(x[0])
        elif op == "Clip":  # bounds as inputs (opset 11+) or attributes (before)
            low = x[1] if len(x) > 1 and x[1] is not None else a.get("min")
            high = x[2] if len(x) > 2 and x[2] is not None else a.get("max")
            out = x[0] if low is None and high is None else np.clip(x[0], low, high)
        elif op in ("ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin"):
            given = x[1] if len(x) > 1 and x[1] is not None else a.get("axes")
            over = None if given is None or len(given) == 0 else tuple(int(v) for v in given)
            if over is None and a.get("noop_with_empty_axes"):
                out = x[0]
            else:
                reduce: dict[str, Any] = {
                    "ReduceMean": np.mean,
                    "ReduceSum": np.sum,
                    "ReduceMax": np.max,
                    "ReduceMin": np.min,
                }
                out = reduce[op](x[0], axis=over, keepdims=bool(a.get("keepdims", 1)))
        else:
            raise AssertionError(f"{op} is listed as foldable but not folded")
        self.constants[node.output[0]] = np.asarray(out)

    def window(self, a: dict[str, Any], n: int) -> dict[str, Any]:
        layer: dict[str, Any] = {"convention": "onnx"}
        if "strides" in a:
            layer["stride"] = list(a["strides"])
        auto = str(a.get("auto_pad", "NOTSET")).upper()
        if auto in ("SAME_UPPER", "SAME_LOWER", "VALID"):
            layer["padding"] = auto.lower()
        elif "pads" in a:
            pads = list(a["pads"])
            layer["padding"] = [[pads[i], pads[i + n]] for i in range(n)]
        if "dilations" in a:
            layer["dilation"] = list(a["dilations"])
        return layer

    def conv(self, node: Any, a: dict[str, Any], op: str) -> dict[str, Any]:
        weight = self.const(node.input[1])
        if weight is None:
            raise ConvcalcError("its weight is computed, not an initializer")
        n = weight.ndim - 2
        group = int(a.get("group", 1))
        kind = "conv" if op == "Conv" else "convtranspose"
        layer: dict[str, Any] = {"layer": f"{kind}{n}d"}
        if op == "Conv":
            layer["in_channels"] = int(weight.shape[1]) * group
            layer["out_channels"] = int(weight.shape[0])
        else:
            layer["in_channels"] = int(weight.shape[0])
            layer["out_channels"] = int(weight.shape[1]) * group
        layer["kernel_size"] = list(a.get("kernel_shape", weight.shape[2:]))
        layer |= self.window(a, n)
        if group != 1:
            layer["groups"] = group
        if op == "ConvTranspose":
            if "output_padding" in a:
                layer["output_padding"] = list(a["output_padding"])
            if "output_shape" in a:
                layer["output_shape"] = list(a["output_shape"])[-n:]
        layer["bias"] = len(node.input) > 2 and bool(node.input[2])
        if node.input[1] not in self.constants.tensors:  # computed from initializers
            made_of = self.computed_from(node.input[1])
            if made_of > weight.size:
                layer["extra_params"] = made_of - int(weight.size)
        return layer

    def _scalar(self, tensor: str) -> bool:
        init = self.constants.tensors.get(tensor)
        return init is not None and _elements(init) == 1

    def inferred(self, node: Any, index: int, data: list[str]) -> bool:
        """An op without a rule here, without parameters, whose output shape (and its inputs')
        ONNX's shape inference fixed: it passes through with that shape, and a note says so.
        A one-element initializer is a constant (the torch.export exporter stores masked_fill's
        fill value as one), not a parameter; a larger one is refused (it would not be counted)."""
        learned = [t for t in node.input if t in self.learned and not self._scalar(t)]
        shapes = [self.fixed(t) for t in data]
        output = self.fixed(node.output[0]) if node.output else None
        if learned or not data or output is None or any(s is None for s in shapes):
            return False
        if any(t in self.producer for t in node.output[1:]):
            return False  # a second output read later: not one tensor
        layer = {
            "layer": "inferred",
            "op": node.op_type,
            "input_shapes": [list(s) for s in shapes if s is not None],
            "output_shape": list(output),
        }
        self.add(node, index, layer, [self._from(node, t) for t in data])
        self.passed[node.op_type] = self.passed.get(node.op_type, 0) + 1
        return True

    def norm(self, node: Any, a: dict[str, Any], op: str) -> dict[str, Any]:
        """LayerNormalization over the trailing dimensions its scale has; InstanceNormalization;
        GroupNormalization (opset 18). Parameters are the scale and bias that are learned
        (initializers); torch exports GroupNorm as an InstanceNormalization with constant ones
        and zeros over (N, groups, -1), its learned weight and bias as the Mul and Add after it,
        which are counted there."""
        scale = self.const(node.input[1]) if len(node.input) > 1 else None
        learned = [len(node.input) > i and node.input[i] in self.learned for i in (1, 2)]
        rank = self.rank(node.input[0]) or 4
        if scale is None:
            raise ConvcalcError("its scale is computed, not a constant")
        if op == "LayerNormalization":
            return {
                "layer": "layernorm",
                "normalized_shape": [int(v) for v in scale.shape] or [1],
                "elementwise_affine": learned[0],
                "bias": learned[1],
            }
        if op == "GroupNormalization":
            return {
                "layer": "groupnorm",
                "num_groups": int(a["num_groups"]),
                "num_channels": int(scale.shape[0]),
                "affine": learned[0],
            }
        if not learned[0]:  # torch's GroupNorm: its affine follows as a Mul and an Add
            self.group_affine = 2
        layer = {"layer": f"instancenorm{max(rank - 2, 1)}d", "affine": learned[0]}
        if learned[0]:
            layer["num_features"] = int(scale.shape[0])
        return layer

    def pixel_shuffle(self, op: str, a: dict[str, Any]) -> dict[str, Any]:
        """DepthToSpace is PixelShuffle in CRD mode; in DCR mode (the default) the channels are
        taken in another order, the shape the same. SpaceToDepth orders its output channels
        unlike PixelUnshuffle, the shape the same."""
        factor = int(a["blocksize"])
        if op == "SpaceToDepth":
            self.notes.append(
                "SpaceToDepth is read as pixelunshuffle: the same shape, its channels in "
                "another order"
            )
            return {"layer": "pixelunshuffle", "downscale_factor": factor}
        mode = str(a.get("mode", "DCR"))
        if mode != "CRD":
            self.notes.append(
                f"DepthToSpace in {display(mode)} mode is read as pixelshuffle (CRD): the same "
                "shape, its channels in another order"
            )
        return {"layer": "pixelshuffle", "upscale_factor": factor}

    def gemm(self, node: Any, a: dict[str, Any]) -> dict[str, Any]:
        weight = self.const(node.input[1])
        if weight is None or a.get("transA"):
            raise ConvcalcError("only x @ W with a constant W (transA=0) is read")
        out_features, in_features = (
            weight.shape if a.get("transB") else (weight.shape[1], weight.shape[0])
        )
        bias = len(node.input) > 2 and bool(node.input[2])
        return {
            "layer": "linear",
            "in_features": int(in_features),
            "out_features": int(out_features),
            "bias": bias,
        }

    def matmul(self, node: Any, index: int, data: list[str]) -> None:
        weight = self.const(node.input[1])
        if len(data) == 2:  # two activations (attention's q @ k^T and attn @ v)
            self.add(node, index, {"layer": "matmul"}, [self._from(node, t) for t in data])
            return
        if weight is None or weight.ndim != 2 or len(data) != 1:
            raise ConvcalcError("only x @ W with a constant 2-d W is read")
        layer = {
            "layer": "linear",
            "in_features": int(weight.shape[0]),
            "out_features": int(weight.shape[1]),
            "bias": False,
        }
        self.add(node, index, layer, [self._from(node, data[0])])

    def merge(self, node: Any, index: int, op: str, data: list[str]) -> None:
        constants = [self.const(t) for t in node.input if t in self.constants]
        if len(data) >= 2:
            sources = [self._from(node, t) for t in data]
            self.add(node, index, {"layer": _MERGES[op]}, sources)
            return
        if len(data) != 1 or len(constants) != 1:
            raise ConvcalcError("no computed input")
        source = self._from(node, data[0])
        constant = constants[0]
        previous = self.layers[-1] if self.layers else None
        # x @ W then + b: the bias of a linear layer (how torch exports nn.Linear on 3-d input)
        if (
            op == "Add"
            and previous is not None
            and previous["name"] == source
            and previous["layer"] == "linear"
            and not previous["bias"]
            and constant.shape == (previous["out_features"],)
            and self.readers(node.input[0] if node.input[0] in self.producer else node.input[1])
            == 1
        ):
            previous["bias"] = True
            self.producer[node.output[0]] = source
            return
        layer: dict[str, Any] = {"layer": _MERGES[op], "constant": [int(v) for v in constant.shape]}
        name = next(t for t in node.input if t in self.constants)
        made_of = self.computed_from(name)
        if (
            op in ("Mul", "Add")
            and made_of
            and (self.group_affine or self.named_parameter(name) or made_of > 1)
        ):
            # a layer scale, a GroupNorm's affine, a position encoding made by a conv: the
            # learned tensors it is made of count, once
            layer["params"] = made_of
            self.group_affine = max(0, self.group_affine - 1)
        if self.constant_macs.get(name):
            layer["macs"] = self.constant_macs[name]
        self.add(node, index, layer, [source])

    def named_parameter(self, name: str) -> bool:
        """An initializer named as a module's parameter (``stages.0.blocks.0.gamma``)."""
        return not name.startswith("onnx::") and "/" not in name

    def readers(self, tensor: str) -> int:
        return sum(tensor in node.input for node in self.graph.node)

    def flatten(self, node: Any, index: int, axis: int, data: list[str]) -> None:
        source = self._from(node, data[0])
        if axis == 1:
            self.add(node, index, {"layer": "flatten"}, [source])
        elif axis == 0:
            self.add(node, index, {"layer": "reshape", "shape": [1, -1]}, [source])
        else:
            rank = self.rank(node.input[0])
            if rank is None or axis < 0:
                axis = axis if axis >= 0 else (rank or 0) + axis
            self.add(
                node, index, {"layer": "flatten", "start_dim": 0, "end_dim": axis - 1}, [source]
            )
            last = self.layers[-1]["name"]
            follow = type(node)()
            follow.CopyFrom(node)
            follow.name = f"{last}.rest"
            self.add(follow, index, {"layer": "flatten", "start_dim": 1}, [last])

    def resize(self, node: Any, a: dict[str, Any], op: str) -> dict[str, Any]:
        if op == "Upsample":
            scales = self.const(node.input[1]) if len(node.input) > 1 else a.get("scales")
            sizes = None
        else:
            scales = self.const(node.input[2]) if len(node.input) > 2 else None
            sizes = self.const(node.input[3]) if len(node.input) > 3 else None
        if sizes is not None and sizes.size:
            return {"layer": "upsample", "size": [int(v) for v in list(sizes.reshape(-1))[2:]]}
        if scales is None or not len(scales):
            raise ConvcalcError("neither constant scales nor sizes")
        values = [
            float(v) for v in list(scales.reshape(-1) if hasattr(scales, "reshape") else scales)
        ]
        if values[:2] != [1.0, 1.0]:
            raise ConvcalcError(f"scales {values} resize the batch or channels")
        factors = [int(v) if v.is_integer() else v for v in values[2:]]
        return {"layer": "upsample", "scale_factor": factors}


def _check_elements(shape: Any) -> None:
    """Refuse a folded constant over the budget before numpy is asked for it."""
    count = 1
    for d in shape:
        if int(d) < 0:
            raise ConvcalcError(f"a constant of negative size {list(shape)}")
        count *= int(d)
    if count > MAX_CONSTANT_ELEMENTS:
        raise ConvcalcError(
            f"a constant of shape {list(shape)} ({count:,} elements); convcalc folds at most "
            f"{MAX_CONSTANT_ELEMENTS:,} (see Limits in the README)"
        )


def _elementwise(op: str, operands: list[Any]) -> Any:
    """ONNX's elementwise arithmetic on constants; an integer Div truncates toward zero."""
    import numpy as np

    first, *rest = operands
    match op:
        case "Add":
            return first + rest[0]
        case "Sub":
            return first - rest[0]
        case "Mul":
            return first * rest[0]
        case "Div":
            if np.issubdtype(first.dtype, np.integer) and np.issubdtype(rest[0].dtype, np.integer):
                quotient = np.abs(first) // np.abs(rest[0])
                return quotient * np.sign(first) * np.sign(rest[0])
            return np.divide(first, rest[0])
        case "Min":
            return np.minimum.reduce([first, *rest])
        case "Max":
            return np.maximum.reduce([first, *rest])
        case "Pow":
            return np.power(first, rest[0])
        case _:
            raise AssertionError(f"{op} is not elementwise arithmetic")
