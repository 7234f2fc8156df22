"""Keras models read without TensorFlow, checked against Keras itself: keras.applications
(weights=None) from to_json() and from .keras archives, and a hand-built model with the layers
the applications do not use. Per layer: Keras' output shape (channels-last, reordered to
[N, C, *spatial]); per model: trainable and non-trainable counts."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import pytest

from convcalc.network import load_network, run_network

pytestmark = pytest.mark.frameworks


@pytest.fixture(scope="module")
def keras() -> Any:
    # oneDNN's pooling kernels raise SIGFPE on this CPU for windows larger than the input
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    pytest.importorskip("tensorflow")
    return pytest.importorskip("keras")


def channels_first(shape: Any) -> tuple[int, ...]:
    dims = tuple(int(d) for d in shape[1:])
    return (dims[-1], *dims[:-1]) if len(dims) > 1 else dims


def check(keras: Any, model: Any, path: Path, size: tuple[int, ...] | None = None) -> None:
    ours = run_network(load_network(str(path)), size)
    by_name = {layer.name: layer.output_shape[1:] for layer in ours.layers}
    compared = 0
    for layer in model.layers:
        if layer.name in by_name and not isinstance(layer, keras.layers.InputLayer):
            output = layer.output
            if size is None:
                assert by_name[layer.name] == channels_first(output.shape), layer.name
            compared += 1
    assert compared >= len(model.layers) - 1
    trainable = sum(math.prod(w.shape) for w in model.trainable_weights)
    fixed = sum(math.prod(w.shape) for w in model.non_trainable_weights)
    assert (ours.total_params, ours.total_non_trainable_params) == (trainable, fixed)
    if size is not None:  # a model with dynamic sizes: run Keras at that size
        import warnings

        import numpy as np

        with warnings.catch_warnings():  # TF's numpy-2 deprecation notice on the call
            warnings.simplefilter("ignore")
            y = model(np.zeros((1, *size[1:], size[0]), np.float32))
        assert ours.output_shape[1:] == channels_first(y.shape)


@pytest.mark.parametrize(
    "name", ["MobileNetV2", "DenseNet121", "EfficientNetB0", "NASNetMobile", "Xception"]
)
def test_applications_from_json(keras: Any, name: str, tmp_path: Path) -> None:
    """keras.applications models (weights=None): every layer's shape and the counts."""
    kwargs: dict[str, Any] = {"weights": None}
    if name == "NASNetMobile":
        kwargs["input_shape"] = (224, 224, 3)
    model = getattr(keras.applications, name)(**kwargs)
    path = tmp_path / f"{name}.json"
    path.write_text(model.to_json())
    check(keras, model, path)


@pytest.mark.parametrize("name", ["ConvNeXtTiny", "InceptionResNetV2"])
def test_nested_models_and_custom_layers(keras: Any, name: str, tmp_path: Path) -> None:
    """ConvNeXt builds its stem and head as Sequential models inside the model, with
    LayerNormalization, LayerScale and Dense on 4-d tensors; InceptionResNetV2 has a custom
    layer (CustomScaleLayer), whose shape its consumers record. Names `outer/inner`; the counts
    and the output as Keras'."""
    model = getattr(keras.applications, name)(weights=None)
    path = tmp_path / f"{name}.json"
    path.write_text(model.to_json())
    spec = load_network(str(path))
    ours = run_network(spec)
    trainable = sum(math.prod(w.shape) for w in model.trainable_weights)
    fixed = sum(math.prod(w.shape) for w in model.non_trainable_weights)
    assert (ours.total_params, ours.total_non_trainable_params) == (trainable, fixed)
    assert ours.output_shape[1:] == channels_first(model.output.shape)
    names = [layer.name for layer in ours.layers]
    if name == "ConvNeXtTiny":
        assert "convnext_tiny_stem/convnext_tiny_stem_conv" in names
    else:
        assert any("CustomScaleLayer" in note for note in spec.notes)


@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
def test_application_with_dynamic_size_from_archive(keras: Any, tmp_path: Path) -> None:
    """MobileNetV3Small takes any size: read from a .keras archive, run with --in 3,96,128,
    compared with Keras run at that size (its `x + 3` and `x * (1/6)` are constants)."""
    model = keras.applications.MobileNetV3Small(weights=None, input_shape=(None, None, 3))
    path = tmp_path / "small.keras"
    model.save(path)
    check(keras, model, path, (3, 96, 128))


def test_hand_built_layers(keras: Any, tmp_path: Path) -> None:
    """Transposed convs with and without output_padding ('same' and 'valid'), separable and
    depthwise convs, padding, cropping, upsampling, reshape, PReLU, 1-d and 3-d layers."""
    layers = keras.layers
    inp = keras.Input((23, 19, 3))
    a = layers.Conv2D(8, 3, strides=2, padding="same", name="a")(inp)
    b = layers.Conv2DTranspose(6, 3, strides=2, padding="same", name="b")(a)
    c = layers.Conv2DTranspose(6, 4, strides=3, padding="valid", output_padding=1, name="c")(a)
    d = layers.Cropping2D(((1, 2), (0, 3)), name="d")(b)
    e = layers.ZeroPadding2D(((2, 0), (1, 1)), name="e")(d)
    f = layers.SeparableConv2D(5, 3, padding="same", depth_multiplier=2, name="f")(e)
    g = layers.DepthwiseConv2D(3, strides=2, padding="valid", name="g")(c)
    h = layers.UpSampling2D((2, 3), name="h")(g)
    i = layers.AveragePooling2D(3, strides=2, padding="same", name="i")(h)
    j = layers.MaxPooling2D(2, name="j")(f)
    k = layers.PReLU(shared_axes=[1, 2], name="k")(j)
    m = layers.GlobalMaxPooling2D(name="m")(k)
    n = layers.GlobalAveragePooling2D(keepdims=True, name="n")(i)
    o = layers.Reshape((3, 2), name="o")(n)
    p = layers.Conv1D(4, 2, padding="same", name="p")(o)
    q = layers.Flatten(name="q")(p)
    r = layers.Concatenate(name="r")([q, m])
    s = layers.Dense(7, name="s")(r)
    model = keras.Model(inp, s)
    path = tmp_path / "hand.json"
    path.write_text(model.to_json())
    check(keras, model, path)
    vol = keras.Sequential(
        [
            keras.Input((9, 10, 11, 2)),
            layers.Conv3D(4, 3, strides=(1, 2, 2), padding="same"),
            layers.BatchNormalization(),
            layers.MaxPooling3D(2),
            layers.Conv3DTranspose(2, 2, strides=2, padding="valid"),
            layers.GlobalAveragePooling3D(),
            layers.Dense(3),
        ]
    )
    path = tmp_path / "vol.json"
    path.write_text(vol.to_json())
    check(keras, vol, path)


def test_keras_json_to_torch_and_toml(keras: Any, tmp_path: Path) -> None:
    """A Keras model written as TOML reads back the same; as PyTorch code it runs with the same
    output shape and parameters (Keras' uneven 'same' padding becomes an F.pad)."""
    torch = pytest.importorskip("torch")
    from typer.testing import CliRunner

    from convcalc.cli import app

    model = keras.applications.MobileNetV2(weights=None, input_shape=(96, 96, 3), alpha=0.35)
    path = tmp_path / "m.json"
    path.write_text(model.to_json())
    runner = CliRunner()
    first = json.loads(runner.invoke(app, ["net", str(path), "--json"]).stdout)
    toml = tmp_path / "m.toml"
    toml.write_text(runner.invoke(app, ["net", str(path), "--format", "toml"]).stdout)
    second = json.loads(runner.invoke(app, ["net", str(toml), "--json"]).stdout)
    for key in ("output_shape", "total_params", "total_macs", "peak_activation_bytes"):
        assert first[key] == second[key], key
    assert [x["output_shape"] for x in first["layers"]] == [
        x["output_shape"] for x in second["layers"]
    ]
    code = runner.invoke(app, ["net", str(path), "--format", "torch"]).stdout
    namespace: dict[str, Any] = {}
    exec(compile(code, "m.py", "exec"), namespace)  # noqa: S102 - our own output
    with torch.no_grad():
        y = namespace["model"](torch.zeros(1, 3, 96, 96))
    assert list(y.shape) == first["output_shape"]
    assert sum(p.numel() for p in namespace["model"].parameters()) == first["total_params"]


def test_fused_activations_reach_torch_code(keras: Any, tmp_path: Path) -> None:
    """Keras fuses activations into Conv2D/Dense: the spec and the torch code written from it
    keep every one (VGG16: 15 ReLU and the Softmax), so the code computes what the model does:
    its output rows sum to 1."""
    torch = pytest.importorskip("torch")
    from typer.testing import CliRunner

    from convcalc.cli import app

    model = keras.applications.VGG16(weights=None, input_shape=(32, 32, 3), classes=10)
    path = tmp_path / "vgg16.json"
    path.write_text(model.to_json())
    fused = [
        layer.get_config()["activation"]
        for layer in model.layers
        if layer.get_config().get("activation") not in (None, "linear")
    ]
    assert fused.count("relu") == 15 and fused.count("softmax") == 1
    code = CliRunner().invoke(app, ["net", str(path), "--format", "torch"]).stdout
    assert code.count("nn.ReLU()") == 15 and code.count("nn.Softmax(dim=1)") == 1
    namespace: dict[str, Any] = {}
    exec(compile(code, "vgg16.py", "exec"), namespace)  # noqa: S102 - our own output
    with torch.no_grad():
        y = namespace["model"](torch.randn(2, 3, 32, 32))
    assert list(y.shape) == [2, 10]
    assert torch.allclose(y.sum(dim=1), torch.ones(2))
    keras_params = sum(math.prod(w.shape) for w in model.weights)
    assert sum(p.numel() for p in namespace["model"].parameters()) == keras_params


@pytest.mark.parametrize("name", ["MobileNetV3Small", "MobileNetV3Large"])
def test_open_input_without_in(keras: Any, name: str, tmp_path: Path) -> None:
    """keras.applications' MobileNetV3 leaves its input size open ([None, None, None, 3]).
    Without --in, net answers what holds at every size, as Keras reports it: every layer's
    shape with null where Keras has None, the output (1000), the trainable and non-trainable
    parameters; exit 0, and --check exits 1 (no size to check)."""
    import json
    import subprocess
    import sys

    model = getattr(keras.applications, name)(weights=None)
    path = tmp_path / f"{name}.json"
    path.write_text(model.to_json())
    run = subprocess.run(
        [sys.executable, "-m", "convcalc", "net", str(path), "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    data = json.loads(run.stdout)
    trainable = sum(math.prod(w.shape) for w in model.trainable_weights)
    fixed = sum(math.prod(w.shape) for w in model.non_trainable_weights)
    assert (data["total_params"], data["total_non_trainable_params"]) == (trainable, fixed)
    assert data["output_shape"][1:] == list(channels_first(model.output.shape))
    by_name = {layer["name"]: layer["output_shape"][1:] for layer in data["layers"]}
    compared = 0
    for layer in model.layers:
        if layer.name in by_name and not isinstance(layer, keras.layers.InputLayer):
            shape = list(layer.output.shape)  # channels last, None where open
            want = [shape[-1], *shape[1:-1]] if len(shape) > 2 else shape[1:]
            assert by_name[layer.name] == want, layer.name
            compared += 1
    assert compared >= len(model.layers) - 1
    gate = subprocess.run(
        [sys.executable, "-m", "convcalc", "net", str(path), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert gate.returncode == 1 and "input size is open" in gate.stderr
