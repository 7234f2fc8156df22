"""Reading models without their frameworks: PyTorch's printed model, Keras JSON and .keras
archives (hand-written here; the framework-made ones are in test_torch_models.py), the ONNX hint
when the extra is missing; and writing any network back out as TOML and as PyTorch code."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from convcalc import ConvcalcError, MalformedInputError
from convcalc.cli import app
from convcalc.network import load_network, run_network

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

VGG_REPR = """VGG(
  (features): Sequential(
    (0): Conv2d(3, 8, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))
    (1): ReLU(inplace=True)
    (2): MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)
    (3): Conv2d(8, 16, kernel_size=(3, 3), stride=(1, 1), padding=same, bias=False)
    (4): BatchNorm2d(16, eps=1e-05, momentum=0.1, affine=True, bias=True, track_running_stats=True)
    (5-6): 2 x ReLU()
  )
  (avgpool): AdaptiveAvgPool2d(output_size=(7, 7))
  (classifier): Sequential(
    (0): Linear(in_features=784, out_features=64, bias=True)
    (1): ReLU(inplace=True)
    (2): Dropout(p=0.5, inplace=False)
    (3): Linear(in_features=64, out_features=10, bias=True)
  )
)
"""

BLOCK_REPR = """Net(
  (stem): Conv2d(3, 8, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))
  (blocks): Sequential(
    (0-1): 2 x BasicBlock(
      (conv1): Conv2d(8, 8, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), bias=False)
      (relu): ReLU(inplace=True)
    )
  )
)
"""


def test_printed_vgg(tmp_path: Path, runner: CliRunner) -> None:
    """Nested Sequentials flattened with module paths as names, `padding=same` read as the
    string, `(5-6): 2 x ReLU()` expanded, the flatten before the first Linear assumed (a note
    says so)."""
    path = tmp_path / "vgg.txt"
    path.write_text(VGG_REPR)
    spec = load_network(str(path))
    names = [layer["name"] for layer in spec.layers]
    assert names[:7] == [f"features.{i}" for i in range(7)]
    assert "classifier.0.flatten" in names and "avgpool" in names
    assert any("torch.flatten(x, 1) assumed" in note for note in spec.notes)
    result = run_network(spec, (3, 8, 8))
    assert result.output_shape == (1, 10)
    params = (3 * 8 * 9 + 8) + 8 * 16 * 9 + 32 + (784 * 64 + 64) + (64 * 10 + 10)
    assert result.total_params == params and result.total_non_trainable_params == 32
    assert runner.invoke(app, ["net", str(path)]).exit_code == 2  # --in is required
    out = runner.invoke(app, ["net", str(path), "--in", "3,8,8", "--plain"])
    assert out.exit_code == 0 and out.stdout.strip() == "1x10"


def test_printed_custom_blocks_give_their_params(tmp_path: Path, runner: CliRunner) -> None:
    """A container that is not a plain sequence is named and the parameters are still counted
    (exit 0, shapes not followed, the export that gives them said); --format toml still writes
    the chain to edit; the repeated `(0-1): 2 x BasicBlock(` expands to blocks.0 and blocks.1."""
    path = tmp_path / "net.txt"
    path.write_text(BLOCK_REPR)
    result = runner.invoke(app, ["net", str(path), "--in", "3,8,8"])
    assert result.exit_code == 0
    message = " ".join(result.stdout.split())
    assert "blocks.0 (BasicBlock), blocks.1 (BasicBlock)" in message
    assert "torch.onnx.export" in message and "shapes not followed" in message
    data = json.loads(runner.invoke(app, ["net", str(path), "--json"]).stdout)
    assert data["shapes_known"] is False and data["output_shape"] is None
    assert data["total_params"] == 2 * 8 * 8 * 9 + 3 * 8 * 9 + 8  # two bias-free convs, stem
    toml = runner.invoke(app, ["net", str(path), "--in", "3,8,8", "--format", "toml"])
    assert toml.exit_code == 0
    assert 'name = "blocks.1.conv1"' in toml.stdout and "not plain sequences" in toml.stdout
    edited = tmp_path / "edited.toml"
    edited.write_text(toml.stdout)
    assert run_network(load_network(str(edited))).output_shape == (1, 8, 8, 8)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Net(\n  (a): Frobnicate(8)\n)\n", "classes net does not run: a (Frobnicate)"),
        ("Net(\n  (a): Conv2d(3, 8, kernel_size=(3, 3)\n", "is cut"),
        ("Net(\n  (a): ReLU()\n", "ends before its last ')'"),
        ("Net(\n  what is this\n)\n", "line 2"),
    ],
)
def test_printed_model_errors(text: str, message: str) -> None:
    with pytest.raises(ConvcalcError, match=message.replace("(", r"\(").replace(")", r"\)")):
        run_network(load_network(text), (3, 8, 8))


def keras_layer(cls: str, name: str, inbound: list[str] | None = None, **config: object) -> dict:
    layer: dict[str, object] = {
        "module": "keras.layers",
        "class_name": cls,
        "config": {"name": name, **config},
        "name": name,
    }
    if inbound is not None:
        layer["inbound_nodes"] = [
            {
                "args": [
                    [
                        {"class_name": "__keras_tensor__", "config": {"keras_history": [n, 0, 0]}}
                        for n in inbound
                    ]
                    if len(inbound) > 1
                    else {
                        "class_name": "__keras_tensor__",
                        "config": {"keras_history": [inbound[0], 0, 0]},
                    }
                ],
                "kwargs": {},
            }
        ]
    return layer


FUNCTIONAL = {
    "module": "keras",
    "class_name": "Functional",
    "config": {
        "name": "small",
        "layers": [
            keras_layer("InputLayer", "in", batch_shape=[None, 15, 17, 3]),
            keras_layer(
                "Conv2D",
                "c1",
                ["in"],
                filters=8,
                kernel_size=[3, 3],
                strides=[2, 2],
                padding="same",
                use_bias=True,
            ),
            keras_layer("BatchNormalization", "bn", ["c1"]),
            keras_layer("ReLU", "relu", ["bn"]),
            keras_layer(
                "Conv2D",
                "c2",
                ["relu"],
                filters=8,
                kernel_size=[3, 3],
                padding="same",
                use_bias=False,
            ),
            keras_layer("Add", "add", ["c2", "relu"]),
            keras_layer("Concatenate", "cat", ["add", "c1"], axis=-1),
            keras_layer("GlobalAveragePooling2D", "gap", ["cat"]),
            keras_layer("Dense", "fc", ["gap"], units=5, use_bias=True),
        ],
    },
}


def test_keras_functional_json(tmp_path: Path) -> None:
    """Keras 3's to_json(): 'same' by Keras' rule (15x17, stride 2 -> 8x9), channels-last
    sizes reordered, Concatenate(axis=-1) on channels, BatchNormalization's moving statistics
    non-trainable; the same from a .keras archive."""
    path = tmp_path / "model.json"
    path.write_text(json.dumps(FUNCTIONAL))
    result = run_network(load_network(str(path)))
    shapes = {layer.name: layer.output_shape for layer in result.layers}
    assert shapes["c1"] == (1, 8, 8, 9) and shapes["cat"] == (1, 16, 8, 9)
    assert shapes["fc"] == (1, 5) and result.layers[4].sources == ("c2", "relu")
    assert result.total_params == (8 * 27 + 8) + 16 + 8 * 8 * 9 + (16 * 5 + 5)
    assert result.total_non_trainable_params == 16
    archive = tmp_path / "model.keras"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr("config.json", json.dumps(FUNCTIONAL))
        handle.writestr("metadata.json", "{}")
    again = run_network(load_network(str(archive)))
    assert [layer.output_shape for layer in again.layers] == [
        layer.output_shape for layer in result.layers
    ]


def test_open_input_size_without_in(tmp_path: Path, runner: CliRunner) -> None:
    """A Keras input [None, None, None, 3] and no --in: the table, --json and --plain give
    what holds at every size (params, the channels, the pooled head's 5), with ? / null where a
    size follows the input; formats that need every size exit 2 asking for --in; --check 1."""
    import copy

    model = copy.deepcopy(FUNCTIONAL)
    model["config"]["layers"][0]["config"]["batch_shape"] = [None, None, None, 3]
    path = tmp_path / "open.json"
    path.write_text(json.dumps(model))
    run = runner.invoke(app, ["net", str(path), "--json"])
    assert run.exit_code == 0, run.stderr
    data = json.loads(run.stdout)
    assert data["shapes_known"] is False and data["input_open"] is True
    assert data["input_shape"] == [1, 3, None, None]
    assert data["output_shape"] == [1, 5] and data["total_macs"] is None
    shapes = {layer["name"]: layer["output_shape"] for layer in data["layers"]}
    assert shapes["c1"] == [1, 8, None, None] and shapes["cat"] == [1, 16, None, None]
    assert shapes["gap"] == [1, 16]
    assert data["total_params"] == (8 * 27 + 8) + 16 + 8 * 8 * 9 + (16 * 5 + 5)
    assert data["total_non_trainable_params"] == 16
    table = runner.invoke(app, ["net", str(path)], env={"COLUMNS": "80"})
    assert table.exit_code == 0 and "3×?×? -> 5 (input size open)" in table.stdout
    assert "8×?×?" in table.stdout and "give --in C,H,W" in table.stdout
    assert runner.invoke(app, ["net", str(path), "--plain"]).stdout.strip() == "1x5"
    csv = runner.invoke(app, ["net", str(path), "--format", "csv"])
    assert csv.exit_code == 2 and "give the input shape" in csv.stderr
    assert runner.invoke(app, ["net", str(path), "--check"]).exit_code == 1
    sized = runner.invoke(app, ["net", str(path), "--in", "3,15,17", "--json"])
    assert json.loads(sized.stdout)["output_shape"] == [1, 5]


def test_keras_two_inbound_format() -> None:
    """Keras 2's inbound_nodes ([[name, 0, 0, {}], ...]) read as well."""
    layers = [
        keras_layer("InputLayer", "in", batch_input_shape=[None, 8, 8, 3]),
        keras_layer("Conv2D", "c", None, filters=4, kernel_size=3, padding="valid"),
        keras_layer("Conv2D", "d", None, filters=4, kernel_size=1, padding="valid"),
        keras_layer("Multiply", "m", None),
    ]
    layers[1]["inbound_nodes"] = [[["in", 0, 0, {}]]]
    layers[2]["inbound_nodes"] = [[["c", 0, 0, {}]]]
    layers[3]["inbound_nodes"] = [[["c", 0, 0, {}], ["d", 0, 0, {}]]]
    data = {"class_name": "Model", "config": {"layers": layers}}
    result = run_network(load_network(json.dumps(data)))
    assert result.output_shape == (1, 4, 6, 6) and result.layers[-1].sources == ("c", "d")


def test_keras_errors(tmp_path: Path) -> None:
    with pytest.raises(MalformedInputError, match="not a Keras model"):
        load_network('{"a": 1}')
    bad = {"class_name": "Sequential", "config": {"layers": [keras_layer("Lambda", "l")]}}
    with pytest.raises(ConvcalcError, match=r"layer 'l' \(Lambda\): not supported"):
        load_network(json.dumps(bad))
    path = tmp_path / "broken.keras"
    path.write_bytes(b"not a zip")
    with pytest.raises(MalformedInputError, match="not a .keras archive"):
        load_network(str(path))


def test_onnx_without_the_extra(tmp_path: Path) -> None:
    """Without the onnx package: exit 2 with exactly the install hint."""
    path = tmp_path / "m.onnx"
    path.write_bytes(b"\x08\x07")
    code = (
        "import sys; sys.modules['onnx'] = None; "
        "sys.argv = ['convcalc', 'net', sys.argv[1]]; "
        "from convcalc.entry import main; main()"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert 'reading ONNX needs the onnx package: pip install "convcalc[onnx]"' in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("example", sorted(p.name for p in EXAMPLES.glob("*.toml")))
def test_toml_round_trip(example: str, runner: CliRunner, tmp_path: Path) -> None:
    """--format toml writes a spec that reads back to the same numbers, in every example."""
    source = str(EXAMPLES / example)
    written = runner.invoke(app, ["net", source, "--format", "toml"])
    assert written.exit_code == 0
    path = tmp_path / "again.toml"
    path.write_text(written.stdout)
    first = json.loads(runner.invoke(app, ["net", source, "--json"]).stdout)
    second = json.loads(runner.invoke(app, ["net", str(path), "--json"]).stdout)
    assert first == second


def test_toml_round_trip_of_readers(tmp_path: Path, runner: CliRunner) -> None:
    """Keras JSON and a printed model written as TOML read back to the same numbers."""
    keras_path = tmp_path / "model.json"
    keras_path.write_text(json.dumps(FUNCTIONAL))
    repr_path = tmp_path / "vgg.txt"
    repr_path.write_text(VGG_REPR)
    for path, extra in ((keras_path, []), (repr_path, ["--in", "3,8,8"])):
        written = runner.invoke(app, ["net", str(path), "--format", "toml", *extra])
        again = tmp_path / "again.toml"
        again.write_text(written.stdout)
        first = json.loads(runner.invoke(app, ["net", str(path), "--json", *extra]).stdout)
        second = json.loads(runner.invoke(app, ["net", str(again), "--json"]).stdout)
        for key in ("output_shape", "total_params", "total_macs", "peak_activation_bytes"):
            assert first[key] == second[key], key
        assert [layer["output_shape"] for layer in first["layers"]] == [
            layer["output_shape"] for layer in second["layers"]
        ]


def test_torch_code_is_python(runner: CliRunner) -> None:
    """--format torch writes Python that compiles (run under torch in test_torch_models.py):
    nn.Sequential for a stack, a class with forward for a graph; a sweep is refused."""
    stack = runner.invoke(app, ["net", str(EXAMPLES / "vgg16_features.toml"), "--format", "torch"])
    assert stack.exit_code == 0 and "model = nn.Sequential(" in stack.stdout
    compile(stack.stdout, "vgg.py", "exec")
    graph = runner.invoke(app, ["net", str(EXAMPLES / "unet.toml"), "--format", "torch"])
    assert "class Net(nn.Module):" in graph.stdout and "torch.cat([" in graph.stdout
    compile(graph.stdout, "unet.py", "exec")
    sweep = runner.invoke(
        app, ["net", str(EXAMPLES / "unet.toml"), "--in", "3,16..32", "--format", "toml"]
    )
    assert sweep.exit_code == 2


def test_stdin_and_content_detection(runner: CliRunner) -> None:
    """`-` reads standard input: a printed model, Keras JSON or TOML, told by content."""
    result = runner.invoke(app, ["net", "-", "--in", "3,8,8", "--plain"], input=VGG_REPR)
    assert result.exit_code == 0 and result.stdout.strip() == "1x10"
    result = runner.invoke(app, ["net", "-", "--plain"], input=json.dumps(FUNCTIONAL))
    assert result.stdout.strip() == "1x5"
    toml = (EXAMPLES / "unet_small.toml").read_text()
    assert runner.invoke(app, ["net", "-", "--plain"], input=toml).stdout.strip() == "1x3x64x64"


def test_printed_vgg11_example() -> None:
    """examples/vgg11_print.txt is torchvision's VGG-11: 132,863,336 parameters, 1000 out."""
    result = run_network(load_network(str(EXAMPLES / "vgg11_print.txt")), (3, 224, 224))
    assert result.output_shape == (1, 1000) and result.total_params == 132_863_336


def test_onnx_example_reads(runner: CliRunner) -> None:
    """examples/tiny_unet.onnx (dynamic H, W): --in fills them; its skips need multiples of 4."""
    pytest.importorskip("onnx")
    data = json.loads(
        runner.invoke(
            app, ["net", str(EXAMPLES / "tiny_unet.onnx"), "--in", "3,8..40", "--json"]
        ).stdout
    )
    assert data["valid_sizes"] == [8, 12, 16, 20, 24, 28, 32, 36, 40]
    missing = runner.invoke(app, ["net", str(EXAMPLES / "tiny_unet.onnx"), "--format", "csv"])
    assert missing.exit_code == 2 and "'image' is ['?', 3, '?', '?']" in missing.stderr
    open_size = json.loads(
        runner.invoke(app, ["net", str(EXAMPLES / "tiny_unet.onnx"), "--json"]).stdout
    )
    assert open_size["output_shape"] == [1, 2, None, None] and open_size["total_params"] == 7362
    near = runner.invoke(app, ["net", str(EXAMPLES / "tiny_unet.onnx"), "--near", "101"])
    assert near.exit_code == 0 and "nearest valid below: 100, above: 104" in near.stdout


def view_graph() -> Any:
    """`x.view(x.size(0), -1)` after a conv, as the legacy exporter writes it (Shape -> Gather
    -> Unsqueeze -> Concat -> Reshape), then a Linear: an ONNX GraphProto (onnx installed)."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(np.ones((4, 3, 3, 3), np.float32), "w")
    fc = numpy_helper.from_array(np.ones((5, 144), np.float32), "fc")
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], name="conv", kernel_shape=[3, 3]),
        helper.make_node("Shape", ["c"], ["s"], name="shape"),
        helper.make_node(
            "Constant", [], ["zero"], value=helper.make_tensor("z", TensorProto.INT64, [], [0])
        ),
        helper.make_node("Gather", ["s", "zero"], ["n"], name="gather", axis=0),
        helper.make_node(
            "Constant", [], ["axes"], value=helper.make_tensor("a", TensorProto.INT64, [1], [0])
        ),
        helper.make_node("Unsqueeze", ["n", "axes"], ["n1"], name="unsqueeze"),
        helper.make_node(
            "Constant", [], ["minus"], value=helper.make_tensor("m", TensorProto.INT64, [1], [-1])
        ),
        helper.make_node("Concat", ["n1", "minus"], ["shape"], name="concat", axis=0),
        helper.make_node("Reshape", ["c", "shape"], ["flat"], name="reshape"),
        helper.make_node("Gemm", ["flat", "fc"], ["y"], name="gemm", transB=1),
    ]
    graph = helper.make_graph(
        nodes,
        "view",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 5])],
        [weight, fc],
    )
    return graph


def test_onnx_shape_of_a_fixed_size(tmp_path: Path) -> None:
    """`x.view(x.size(0), -1)` as some exporters write it (Shape -> Gather -> Unsqueeze ->
    Concat -> Reshape): read where the file fixes the sizes, with a note; an op that is not
    read is named with its node and the list."""
    onnx = pytest.importorskip("onnx")
    from onnx import helper

    graph = view_graph()
    path = tmp_path / "view.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    spec = load_network(str(path))
    assert run_network(spec).output_shape == (2, 5)
    assert any("Shape of 'c' read as [2, 4, 6, 6]" in note for note in spec.notes)
    passed = graph  # an op without a rule here and without parameters: ONNX's inferred shape
    passed.node.append(helper.make_node("LpNormalization", ["y"], ["z"], name="norm"))
    onnx.save(helper.make_model(passed, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    spec = load_network(str(path))
    assert run_network(spec).output_shape == (2, 5)
    assert any("passed through" in note and "LpNormalization" in note for note in spec.notes)
    from convcalc.netspec import NetworkSpec

    inferred = {"layer": "inferred", "op": "Foo", "input_shapes": [[1, 3, 4, 4]]}
    table = {"name": "a", **inferred, "output_shape": [1, 3, 2, 2]}
    assert run_network(NetworkSpec((3, 4, 4), [table])).output_shape == (1, 3, 2, 2)
    with pytest.raises(ConvcalcError, match=r"gives this Foo's output \(1, 3, 2, 2\)"):
        run_network(NetworkSpec((3, 5, 5), [table]))
    same = {**table, "output_shape": [1, 3, 4, 4]}  # elementwise: the shape passes through
    assert run_network(NetworkSpec((3, 5, 5), [same])).output_shape == (1, 3, 5, 5)
    bad = passed  # an op whose output no shape inference knows: refused, named
    bad.node.append(helper.make_node("Mystery", ["z"], ["q"], name="odd", domain="custom"))
    model = helper.make_model(
        bad, opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid("custom", 1)]
    )
    onnx.save(model, str(path))
    with pytest.raises(ConvcalcError, match=r'node "odd" \(Mystery\): not supported, and ONNX'):
        load_network(str(path))


@pytest.mark.frameworks
def test_onnx_matmul_of_two_activations_counts_its_products(tmp_path: Path) -> None:
    """Attention's q @ k^T and attn @ v: 0 params and 0 in total_macs (products with learned
    weights), their multiply-accumulates in matmul_macs, per layer and in total, batch
    dimensions broadcast as numpy's matmul broadcasts them; a MatMul with a weight is a
    linear layer, counted in total_macs as before."""
    onnx = pytest.importorskip("onnx")
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    from convcalc.network import load_network, run_network
    from convcalc.serialize import network_dict

    weight = numpy_helper.from_array(np.ones((8, 6), np.float32), "w")
    shape = numpy_helper.from_array(np.array([3, 1, 4, 4], np.int64), "shape")
    nodes = [
        helper.make_node("Transpose", ["x"], ["kt"], name="kt", perm=[0, 1, 3, 2]),
        helper.make_node("MatMul", ["x", "kt"], ["scores"], name="qk"),  # (1,3,4,8)@(1,3,8,4)
        helper.make_node("Softmax", ["scores"], ["attn"], name="softmax", axis=-1),
        helper.make_node("Reshape", ["attn", "shape"], ["heads"], name="heads"),
        helper.make_node("MatMul", ["heads", "x"], ["mixed"], name="av"),  # (3,1,4,4)@(1,3,4,8)
        helper.make_node("MatMul", ["mixed", "w"], ["y"], name="proj"),  # a weight: linear
    ]
    graph = helper.make_graph(
        nodes,
        "attention",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 4, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3, 3, 4, 6])],
        [weight, shape],
    )
    path = tmp_path / "attention.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    result = run_network(load_network(str(path)))
    by_name = {layer.name: layer for layer in result.layers}
    mixed = np.matmul(np.zeros((3, 1, 4, 4)), np.zeros((1, 3, 4, 8))).shape  # broadcast
    assert by_name["qk"].matmul_macs == (1 * 3 * 4 * 4) * 8
    assert by_name["av"].matmul_macs == math.prod(mixed) * 4 == (3 * 3 * 4 * 8) * 4
    assert by_name["qk"].macs == by_name["av"].macs == 0
    assert by_name["proj"].matmul_macs == 0 and by_name["proj"].macs == 3 * 3 * 4 * 6 * 8
    assert result.total_matmul_macs == 384 + 1152
    assert result.total_macs == by_name["proj"].macs
    from convcalc.memory import NetworkReport, memory

    data = network_dict(NetworkReport(result, memory(result)))
    assert data["total_matmul_macs"] == 1536
    assert [layer["matmul_macs"] for layer in data["layers"]] == [
        by_name[layer["name"]].matmul_macs for layer in data["layers"]
    ]


def test_onnx_ranks_without_shape_inference(tmp_path: Path) -> None:
    """Ranks follow ONNX's operator rules as the nodes are read (a reduction without keepdims
    drops its axes, so the BatchNormalization after it is 1-d); ONNX's shape inference runs
    only where a node needs a shape those do not give (a Shape: test_onnx_shape_of_a_fixed_size)."""
    onnx = pytest.importorskip("onnx")
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    import convcalc.read_onnx as reader

    c = 4
    inits = [
        numpy_helper.from_array(np.ones((c, c, 3, 3), np.float32), "w"),
        numpy_helper.from_array(np.array([3], np.int64), "axes"),
        *(numpy_helper.from_array(np.ones(c, np.float32), n) for n in ("s", "b", "m", "v")),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], name="conv", pads=[1, 1, 1, 1]),
        helper.make_node("ReduceMean", ["c", "axes"], ["r"], name="mean", keepdims=0),
        helper.make_node("BatchNormalization", ["r", "s", "b", "m", "v"], ["y"], name="bn"),
    ]
    graph = helper.make_graph(
        nodes,
        "ranks",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, c, 6, 5])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        inits,
    )
    path = tmp_path / "ranks.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), str(path))
    ran: list[str] = []
    original = reader._Reader.infer

    def spy(self: Any) -> None:
        if not self.inferred_all:
            ran.append(self.where)
        original(self)

    reader._Reader.infer = spy  # type: ignore[method-assign]
    try:
        spec = load_network(str(path))
    finally:
        reader._Reader.infer = original  # type: ignore[method-assign]
    assert ran == []
    assert [layer["layer"] for layer in spec.layers][-1] == "batchnorm1d"
    assert run_network(spec).output_shape == (1, c, 6)


def test_onnx_constant_arithmetic_and_one_input_concat(tmp_path: Path) -> None:
    """TF-style 'same' padding computed in the graph from constants (Ceil, Div, Max, Floor,
    Clip, Cast, as tf_mixnet_s exports it) and a Concat of one tensor (timm's DenseNet): the
    shapes are onnxruntime's, the params the initializers'."""
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    size, k, s = 17, 3, 2

    def const(name: str, value: Any, dtype: Any = np.float32) -> Any:
        return numpy_helper.from_array(np.array(value, dtype=dtype), name)

    nodes = [
        helper.make_node("Div", ["in", "s"], ["q"]),
        helper.make_node("Ceil", ["q"], ["out"]),
        helper.make_node("Sub", ["out", "one"], ["o1"]),
        helper.make_node("Mul", ["o1", "s"], ["span"]),
        helper.make_node("Add", ["span", "k"], ["need"]),
        helper.make_node("Sub", ["need", "in"], ["extra"]),
        helper.make_node("Max", ["extra", "zero"], ["total"]),
        helper.make_node("Div", ["total", "two"], ["half"]),
        helper.make_node("Floor", ["half"], ["before"]),
        helper.make_node("Sub", ["total", "before"], ["after"]),
        helper.make_node("Clip", ["after", "zero", "ten"], ["after_c"]),
        helper.make_node("Min", ["before", "ten", "after_c"], ["before_c"]),
        helper.make_node("Pow", ["before_c", "one"], ["before_p"]),
        helper.make_node("Sqrt", ["sq"], ["root"]),  # sqrt(1) = 1: a no-op factor
        helper.make_node("Mul", ["before_p", "root"], ["before_r"]),
        helper.make_node("ReduceMean", ["pair"], ["mean"], keepdims=0),  # mean([0, 0]) = 0
        helper.make_node("Add", ["mean", "zero"], ["lead"]),
        helper.make_node(
            "Concat",
            ["lead", "lead", "before_r", "before_r", "lead", "lead", "after_c", "after_c"],
            ["pads_f"],
            axis=0,
        ),
        helper.make_node("Cast", ["pads_f"], ["pads"], to=TensorProto.INT64),
        helper.make_node("Pad", ["x", "pads"], ["padded"]),
        helper.make_node(
            "Conv", ["padded", "w", "b"], ["conv"], kernel_shape=[k, k], strides=[s, s]
        ),
        helper.make_node("Concat", ["conv"], ["y"], axis=1),
    ]
    w = np.ones((4, 3, k, k), np.float32)
    initializers = [
        const("in", [size]),
        const("s", [s]),
        const("k", [k]),
        const("one", [1]),
        const("zero", [0]),
        const("two", [2]),
        const("ten", [10]),
        const("sq", [1]),
        const("pair", [[0.0, 0.0]]),
        numpy_helper.from_array(w, "w"),
        numpy_helper.from_array(np.zeros(4, np.float32), "b"),
    ]
    graph = helper.make_graph(
        nodes,
        "same",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, size, size])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path = tmp_path / "same.onnx"
    onnx.save(model, str(path))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (y,) = session.run(None, {"x": np.zeros((1, 3, size, size), np.float32)})
    ours = run_network(load_network(str(path)))
    assert ours.output_shape == y.shape == (1, 4, 9, 9)
    assert ours.total_params == w.size + 4


@pytest.mark.frameworks
def test_onnx_shape_chains_resolve_with_data_propagation(tmp_path: Path) -> None:
    """Shape -> Gather -> Concat -> Reshape, then the Shape of that reshape's output (known only
    when shape inference propagates data, as in torchvision's LRASPP): read, and the shapes are
    onnxruntime's."""
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    def ints(name: str, values: list[int]) -> Any:
        return numpy_helper.from_array(np.array(values, np.int64), name)

    nodes = [
        helper.make_node("Shape", ["x"], ["s"]),
        helper.make_node("Gather", ["s", "i0"], ["n"], axis=0),
        helper.make_node("Gather", ["s", "i1"], ["c"], axis=0),
        helper.make_node("Concat", ["n", "c", "minus1"], ["target"], axis=0),
        helper.make_node("Reshape", ["x", "target"], ["flat"]),
        helper.make_node("Shape", ["flat"], ["s2"]),
        helper.make_node("Concat", ["s2", "one"], ["target2"], axis=0),
        helper.make_node("Reshape", ["flat", "target2"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "chain",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [ints("i0", [0]), ints("i1", [1]), ints("minus1", [-1]), ints("one", [1])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    plain = onnx.shape_inference.infer_shapes(model)
    propagated = onnx.shape_inference.infer_shapes(model, data_prop=True)

    def known(m: Any) -> bool:
        info = {v.name: v for v in m.graph.value_info}
        return "flat" in info and all(
            d.HasField("dim_value") for d in info["flat"].type.tensor_type.shape.dim
        )

    assert not known(plain) and known(propagated)  # the case needs data propagation
    path = tmp_path / "chain.onnx"
    onnx.save(model, str(path))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (y,) = session.run(None, {"x": np.zeros((2, 3, 8, 8), np.float32)})
    ours = run_network(load_network(str(path)))
    assert ours.output_shape == y.shape == (2, 3, 64, 1)
