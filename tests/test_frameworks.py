"""Differential tests against real TensorFlow/Keras and onnxruntime (skipped where absent):
output shapes, values and rejections of random layers under each convention."""

from __future__ import annotations

import os
import random
from typing import Any

import numpy as np
import pytest

from convcalc import ConvcalcError
from convcalc.trace import trace_layer

pytestmark = pytest.mark.frameworks


def _data(rng: random.Random, shape: tuple[int, ...]) -> np.ndarray:
    values = [rng.randint(-3, 3) for _ in range(int(np.prod(shape)))]
    array = np.empty(len(values), dtype=object)
    array[:] = values
    return array.reshape(shape)


def _ours(op: str, x: np.ndarray, w: np.ndarray | None, **kw: Any) -> np.ndarray | None:
    try:
        return trace_layer(op, x, w, **kw).display_output
    except ConvcalcError:
        return None


# --- Keras 3 on TensorFlow ------------------------------------------------------------------


@pytest.fixture(scope="module")
def keras() -> Any:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    # oneDNN's pooling kernels die with SIGFPE on a window larger than the input on some AMD
    # CPUs (seen here: MaxPooling1D(2) on a length-1 input); TF's own kernels reject it cleanly.
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    pytest.importorskip("tensorflow")
    return pytest.importorskip("keras")


def _keras_run(
    keras: Any, kind: str, ndim: int, x: np.ndarray, w: np.ndarray | None, kw: dict[str, Any]
) -> np.ndarray | None:
    layers = keras.layers
    k, s, mode = kw["kernel_size"], kw.get("stride"), kw["padding"]
    try:
        if kind == "conv":
            layer = getattr(layers, f"Conv{ndim}D")(
                1, k, strides=s, padding=mode, dilation_rate=kw["dilation"], use_bias=False
            )
        elif kind == "convtranspose":
            layer = getattr(layers, f"Conv{ndim}DTranspose")(
                1,
                k,
                strides=s,
                padding=mode,
                output_padding=kw.get("output_padding"),
                dilation_rate=kw["dilation"],
                use_bias=False,
            )
        elif kind == "maxpool":
            layer = getattr(layers, f"MaxPooling{ndim}D")(k, strides=s, padding=mode)
        else:
            layer = getattr(layers, f"AveragePooling{ndim}D")(k, strides=s, padding=mode)
        batch = x.astype("float32")[None, ..., None]  # channels last
        layer.build(batch.shape)
        if w is not None:
            layer.kernel.assign(w.astype("float32")[..., None, None])
        out = np.asarray(layer(batch))[0, ..., 0]
    except Exception:  # Keras/TF reject a layer with ValueError or their own error types
        return None
    return None if out.size == 0 else out


@pytest.mark.parametrize("ndim", [1, 2])
@pytest.mark.parametrize("kind", ["conv", "convtranspose", "maxpool", "avgpool"])
def test_keras(keras: Any, kind: str, ndim: int) -> None:
    """60 random layers per op: shapes and values equal Keras's, rejections agree."""
    rng = random.Random(f"keras-{kind}-{ndim}")
    agreed = 0
    for _ in range(60):
        size = tuple(rng.randint(1, 9) for _ in range(ndim))
        k = tuple(rng.randint(1, 4) for _ in range(ndim))
        s = tuple(rng.randint(1, 3) for _ in range(ndim))
        modes = ["same", "valid"] + (["causal"] if kind == "conv" and ndim == 1 else [])
        kw: dict[str, Any] = {"kernel_size": k, "stride": s, "padding": rng.choice(modes)}
        d = (1,) * ndim
        if kind in ("conv", "convtranspose") and rng.random() < 0.3:
            d = tuple(rng.randint(1, 2) for _ in range(ndim))
            if any(x > 1 for x in d):
                kw["stride"] = s = (1,) * ndim if rng.random() < 0.7 else s
        if kind != "avgpool" and kind != "maxpool":
            kw["dilation"] = d
        if kind == "convtranspose" and rng.random() < 0.5:
            kw["output_padding"] = tuple(rng.randint(0, max(si - 1, 0)) for si in s)
        x = _data(rng, size)
        w = _data(rng, k) if kind.startswith("conv") else None
        ours = _ours(f"{kind}{ndim}d", x, w, convention="keras", **kw)
        theirs = _keras_run(keras, kind, ndim, x, w, {**kw, "dilation": d})
        assert (ours is None) == (theirs is None), (kw, size, ours, theirs)
        if ours is not None:
            agreed += 1
            assert tuple(ours.shape) == theirs.shape, (kw, size)
            np.testing.assert_allclose(
                ours.astype(float), theirs, rtol=1e-5, atol=1e-4, err_msg=str((kw, size))
            )
    assert agreed >= 10


# --- onnxruntime ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ort() -> Any:
    pytest.importorskip("onnx")
    return pytest.importorskip("onnxruntime")


def _ort_run(
    ort: Any, op_type: str, x: np.ndarray, w: np.ndarray | None, attrs: dict[str, Any]
) -> np.ndarray | None:
    import onnx
    from onnx import TensorProto, helper

    batch = x.astype(np.float32)[None, None]
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(batch.shape))]
    names, inits = ["x"], []
    if w is not None:
        weight = w.astype(np.float32)[None, None]
        inits.append(
            helper.make_tensor("w", TensorProto.FLOAT, list(weight.shape), weight.ravel().tolist())
        )
        names.append("w")
    node = helper.make_node(op_type, names, ["y"], **attrs)
    graph = helper.make_graph(
        [node],
        "g",
        inputs,
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)])
    options = ort.SessionOptions()
    options.log_severity_level = 4
    try:
        session = ort.InferenceSession(
            model.SerializeToString(), options, providers=["CPUExecutionProvider"]
        )
        out = session.run(None, {"x": batch})[0][0, 0]
    except Exception as error:  # onnxruntime raises its own Fail/InvalidArgument types
        if "ONNXRuntimeError" in str(error) or isinstance(error, onnx.checker.ValidationError):
            return None
        raise
    return None if out.size == 0 else out


@pytest.mark.parametrize("ndim", [1, 2])
@pytest.mark.parametrize("kind", ["conv", "convtranspose", "maxpool", "avgpool"])
def test_onnxruntime(ort: Any, kind: str, ndim: int) -> None:
    """80 random layers per op (auto_pad, explicit begin/end pads, ceil_mode, output_shape,
    count_include_pad): shapes and values equal onnxruntime's, rejections agree."""
    from convcalc.specs import parse_padding

    rng = random.Random(f"onnx-{kind}-{ndim}")
    agreed = 0
    op_type = {
        "conv": "Conv",
        "convtranspose": "ConvTranspose",
        "maxpool": "MaxPool",
        "avgpool": "AveragePool",
    }[kind]
    for _ in range(80):
        size = tuple(rng.randint(1, 9) for _ in range(ndim))
        k = tuple(rng.randint(1, 4) for _ in range(ndim))
        s = tuple(rng.randint(1, 3) for _ in range(ndim))
        attrs: dict[str, Any] = {"kernel_shape": list(k), "strides": list(s)}
        kw: dict[str, Any] = {"kernel_size": k, "stride": s}
        mode = rng.choice(["NOTSET", "NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"])
        if mode == "NOTSET":
            pads = [(rng.randint(0, 3), rng.randint(0, 3)) for _ in range(ndim)]
            attrs["pads"] = [b for b, _ in pads] + [a for _, a in pads]
            kw["padding"] = parse_padding(",".join(f"{b}:{a}" for b, a in pads))
        else:
            attrs["auto_pad"] = mode
            kw["padding"] = mode.lower()
        if kind != "avgpool" and rng.random() < 0.3:
            d = tuple(rng.randint(1, 2) for _ in range(ndim))
            attrs["dilations"] = list(d)
            kw["dilation"] = d
        if kind in ("maxpool", "avgpool") and rng.random() < 0.5:
            attrs["ceil_mode"] = 1
            kw["ceil_mode"] = True
        if kind == "avgpool":
            cip = rng.random() < 0.5
            attrs["count_include_pad"] = int(cip)
            kw["count_include_pad"] = cip
        if kind == "convtranspose":
            if rng.random() < 0.4:
                op = tuple(rng.randint(0, 2) for _ in range(ndim))
                attrs["output_padding"] = list(op)
                kw["output_padding"] = op
            if rng.random() < 0.3:
                shape = tuple(
                    max(1, (n - 1) * st + kk + rng.randint(-2, 1)) for n, st, kk in zip(size, s, k)
                )
                attrs["output_shape"] = list(shape)
                kw["output_shape"] = shape
        x = _data(rng, size)
        w = _data(rng, k) if kind.startswith("conv") else None
        ours = _ours(f"{kind}{ndim}d", x, w, convention="onnx", **kw)
        theirs = _ort_run(ort, op_type, x, w, attrs)
        assert (ours is None) == (theirs is None), (attrs, size, ours, theirs)
        if ours is not None:
            agreed += 1
            assert tuple(ours.shape) == theirs.shape, (attrs, size)
            np.testing.assert_allclose(
                ours.astype(float), theirs, rtol=1e-5, atol=1e-4, err_msg=str((attrs, size))
            )
    assert agreed >= 10


@pytest.mark.parametrize("kind", ["Average", "Max"])
@pytest.mark.parametrize("ndim", [1, 2])
def test_keras_adaptive_pools(keras: Any, kind: str, ndim: int) -> None:
    """Keras 3's adaptive pools use PyTorch's windows: --convention keras equals them."""
    rng = random.Random(f"keras-adaptive-{kind}-{ndim}")
    for _ in range(20):
        size = tuple(rng.randint(1, 9) for _ in range(ndim))
        out = tuple(rng.randint(1, 9) for _ in range(ndim))
        x = _data(rng, size)
        op = f"adaptive{'avg' if kind == 'Average' else 'max'}pool{ndim}d"
        ours = _ours(op, x, None, convention="keras", output_shape=out)
        layer = getattr(keras.layers, f"Adaptive{kind}Pooling{ndim}D")(out)
        theirs = np.asarray(layer(x.astype("float32")[None, ..., None]))[0, ..., 0]
        assert ours is not None and tuple(ours.shape) == theirs.shape, (size, out)
        np.testing.assert_allclose(ours.astype(float), theirs, rtol=1e-5, atol=1e-5)
