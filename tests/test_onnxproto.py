"""ONNX's messages without the onnx package's import: the values and attributes decoded as
onnx's own helpers decode them, type by type, and a file read without importing the package."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from convcalc import ConvcalcError, onnxproto

onnx = pytest.importorskip("onnx")
np = pytest.importorskip("numpy")
from onnx import AttributeProto, TensorProto, helper, numpy_helper  # noqa: E402

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

NUMPY_TYPES = [
    TensorProto.FLOAT,
    TensorProto.UINT8,
    TensorProto.INT8,
    TensorProto.UINT16,
    TensorProto.INT16,
    TensorProto.INT32,
    TensorProto.INT64,
    TensorProto.BOOL,
    TensorProto.FLOAT16,
    TensorProto.DOUBLE,
    TensorProto.UINT32,
    TensorProto.UINT64,
]


def _values(data_type: int, shape: tuple[int, ...]) -> np.ndarray:
    rng = np.random.default_rng(data_type)
    dtype = helper.tensor_dtype_to_np_dtype(data_type)
    if dtype == np.bool_:
        return rng.integers(0, 2, shape).astype(bool)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return rng.integers(info.min, info.max, shape, dtype=dtype, endpoint=True)
    return (rng.standard_normal(shape) * 1000).astype(dtype)


@pytest.mark.parametrize("raw", [True, False], ids=["raw_data", "typed_field"])
@pytest.mark.parametrize("data_type", NUMPY_TYPES, ids=lambda t: TensorProto.DataType.Name(t))
@pytest.mark.parametrize("shape", [(), (0,), (5,), (2, 3, 4)])
def test_to_array_as_numpy_helper(data_type: int, raw: bool, shape: tuple[int, ...]) -> None:
    """Each type numpy holds, in raw_data and in its typed field, with extreme values: the same
    dtype, shape and values as onnx.numpy_helper.to_array."""
    values = _values(data_type, shape)
    tensor = helper.make_tensor(
        "t", data_type, shape, values.flatten().tolist() if not raw else values.tobytes(), raw=raw
    )
    ours, theirs = onnxproto.to_array(tensor), numpy_helper.to_array(tensor)
    assert ours.dtype == theirs.dtype
    assert ours.shape == theirs.shape
    assert np.array_equal(ours, theirs, equal_nan=ours.dtype.kind == "f")
    assert onnxproto.numpy_dtype(data_type) == helper.tensor_dtype_to_np_dtype(data_type)


def test_other_types_go_to_onnx() -> None:
    """A type numpy has no dtype for (bfloat16) is decoded by onnx itself."""
    tensor = helper.make_tensor("t", TensorProto.BFLOAT16, [3], [1.0, -2.0, 0.5])
    ours, theirs = onnxproto.to_array(tensor), numpy_helper.to_array(tensor)
    assert ours.dtype == theirs.dtype and np.array_equal(ours, theirs)


def test_a_tensor_outside_the_file_is_never_read(tmp_path: Path) -> None:
    """A constant whose data names another file: refused, the file never opened."""
    secret = tmp_path / "secret.bin"
    secret.write_bytes(np.arange(4, dtype=np.float32).tobytes())
    tensor = helper.make_tensor("t", TensorProto.FLOAT, [4], [0.0] * 4)
    tensor.ClearField("float_data")
    tensor.data_location = TensorProto.EXTERNAL
    entry = tensor.external_data.add()
    entry.key, entry.value = "location", str(secret)
    with pytest.raises(ConvcalcError, match="stored outside the file"):
        onnxproto.to_array(tensor)


ATTRIBUTES = {
    "f": 1.5,
    "i": -3,
    "s": b"same_upper",
    "t": helper.make_tensor("t", TensorProto.INT64, [2], [1, 2]),
    "g": helper.make_graph([], "g", [], []),
    "floats": [1.0, 2.5],
    "ints": [1, 2, 3],
    "strings": [b"a", b"b"],
    "tensors": [helper.make_tensor("t", TensorProto.FLOAT, [1], [1.0])],
    "graphs": [helper.make_graph([], "g", [], [])],
    "tp": onnx.TypeProto(),
}


@pytest.mark.parametrize("name", sorted(ATTRIBUTES))
def test_attribute_value_as_helper(name: str) -> None:
    """Every attribute type: the value onnx.helper.get_attribute_value gives."""
    value = ATTRIBUTES[name]
    if name == "tp":
        attr = AttributeProto(name=name, type=AttributeProto.TYPE_PROTO, tp=value)
    else:
        attr = helper.make_attribute(name, value)
    assert onnxproto.attribute_value(attr) == helper.get_attribute_value(attr)
    assert onnxproto.attribute_value(AttributeProto(name="u")) is None  # UNDEFINED
    with pytest.raises(ValueError, match="refers to"):
        onnxproto.attribute_value(AttributeProto(name="r", ref_attr_name="x"))


def test_parse_model_as_onnx_load() -> None:
    """The messages are onnx's own classes: a model parsed here equals onnx.load's, and is one
    for onnx's shape inference; trailing bytes the parser does not consume are refused."""
    data = (EXAMPLES / "tiny_unet.onnx").read_bytes()
    model = onnxproto.parse_model(data)
    assert isinstance(model, onnx.ModelProto)
    assert model == onnx.load_model_from_string(data)
    onnx.shape_inference.infer_shapes(model, data_prop=True)
    with pytest.raises(Exception):  # noqa: B017,PT011 - protobuf's DecodeError or ours
        onnxproto.parse_model(data + b"\xff")


def test_reading_does_not_import_onnx() -> None:
    """`convcalc net model.onnx` loads onnx's messages only, not the package (about 150 ms of
    start-up), where no shape inference is needed."""
    code = (
        "import sys; from pathlib import Path; from convcalc.read_onnx import read_onnx; "
        "spec = read_onnx(Path(sys.argv[1])); print(len(spec.layers), 'onnx' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(EXAMPLES / "tiny_unet.onnx")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    count, imported = result.stdout.split()
    assert int(count) > 0
    assert imported == "False"


def _view_model(path: Path) -> None:
    from test_readers import view_graph

    model = helper.make_model(view_graph(), opset_imports=[helper.make_opsetid("", 13)])
    onnx.save(model, str(path))


def test_a_shape_node_is_answered_by_our_own_run(tmp_path: Path) -> None:
    """A Shape of a layer's output is given by running the layers read so far (no ONNX shape
    inference, so no import of the onnx package); with the runs' budget spent, shape inference
    gives the same answer."""
    from convcalc import read_onnx
    from convcalc.netrun import run_network

    path = tmp_path / "view.onnx"
    _view_model(path)
    code = (
        "import sys; from pathlib import Path; from convcalc.read_onnx import read_onnx; "
        "from convcalc.netrun import run_network; spec = read_onnx(Path(sys.argv[1])); "
        "print(run_network(spec).output_shape, 'onnx' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["(2,", "5)", "False"]
    own = read_onnx.read_onnx(path)
    saved = read_onnx._OWN_RUN_BUDGET
    read_onnx._OWN_RUN_BUDGET = 0
    try:
        inferred = read_onnx.read_onnx(path)
    finally:
        read_onnx._OWN_RUN_BUDGET = saved
    assert own.layers == inferred.layers and own.notes == inferred.notes
    assert run_network(inferred).output_shape == (2, 5)


def test_shapes_over_constants_by_our_rules(tmp_path: Path) -> None:
    """A weight standardised in the graph (NF-ResNet's ScaledStdConv: ReduceMean, Sub, Mul,
    BatchNormalization over a weight too large for its values to be read): the shapes of
    those constants by our rules (reduce, broadcast, shape-keeping) equal ONNX's shape
    inference's, and the file reads without the onnx package."""
    from convcalc import read_onnx

    weight = numpy_helper.from_array(np.ones((64, 32, 7, 7), np.float32), "w")  # 100,352
    gain = numpy_helper.from_array(np.ones((64, 1, 1, 1), np.float32), "g")
    axes = numpy_helper.from_array(np.array([1, 2, 3], np.int64), "axes")
    shape = numpy_helper.from_array(np.array([1, 64, -1], np.int64), "shape3")
    back = numpy_helper.from_array(np.array([64, 32, 7, 7], np.int64), "shape4")
    nodes = [
        helper.make_node("ReduceMean", ["w", "axes"], ["mean"], keepdims=1),
        helper.make_node("ReduceMean", ["w", "axes"], ["flat_mean"], keepdims=0),
        helper.make_node("Sub", ["w", "mean"], ["centred"]),
        helper.make_node("Mul", ["centred", "g"], ["scaled"]),
        helper.make_node("Reshape", ["scaled", "shape3"], ["rows"]),
        helper.make_node(
            "BatchNormalization",
            ["rows", "flat_mean", "flat_mean", "flat_mean", "flat_mean"],
            ["normed"],
        ),
        helper.make_node("Reshape", ["normed", "shape4"], ["ws"]),
        helper.make_node("Conv", ["x", "ws"], ["y"], name="conv", kernel_shape=[7, 7]),
    ]
    graph = helper.make_graph(
        nodes,
        "std",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 32, 16, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 64, 10, 10])],
        [weight, gain, axes, shape, back],
    )
    path = tmp_path / "std.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), str(path))
    ours = read_onnx.read_onnx(path)
    saved = read_onnx._Reader.constant_shape
    read_onnx._Reader.constant_shape = lambda *args: None  # type: ignore[method-assign]
    try:
        inferred = read_onnx.read_onnx(path)
    finally:
        read_onnx._Reader.constant_shape = saved  # type: ignore[method-assign]
    assert ours.layers == inferred.layers
    conv = ours.layers[-1]
    assert conv["out_channels"] == 64 and conv["extra_params"] == 64  # the gain, counted once
    code = (
        "import sys; from pathlib import Path; from convcalc.read_onnx import read_onnx; "
        "read_onnx(Path(sys.argv[1])); print('onnx' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=60
    )
    assert result.stdout.strip() == "False", result.stderr
