"""Models built in torch, read back three ways: exported to ONNX (node shapes against
onnxruntime, parameters against the file's initializers, MACs against torch), printed with
print(model) (shapes and parameters against torch), and written out again with --format torch
(the module runs under torch with the same shapes and parameters)."""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

import pytest

from convcalc.network import load_network, run_network

torch = pytest.importorskip("torch")
nn = torch.nn
F = torch.nn.functional
pytestmark = pytest.mark.torch


class Block(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.down = (
            nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))
            if stride != 1 or c_in != c_out
            else None
        )

    def forward(self, x: Any) -> Any:
        y = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(y + (x if self.down is None else self.down(x)))


class ResNetish(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 7, 2, 3, bias=False)
        self.pool = nn.MaxPool2d(3, 2, 1, ceil_mode=True)
        self.blocks = nn.Sequential(Block(16, 16, 1), Block(16, 32, 2), Block(32, 48, 2))
        self.fc = nn.Linear(48, 10)

    def forward(self, x: Any) -> Any:
        x = self.blocks(self.pool(self.stem(x)))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


class UNetish(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.enc1 = nn.Conv2d(3, 8, 3, padding=1)
        self.enc2 = nn.Conv2d(8, 16, 3, padding=1)
        self.mid = nn.Conv2d(16, 16, 3, padding=2, dilation=2)
        self.up2 = nn.ConvTranspose2d(16, 16, 2, 2)
        self.dec2 = nn.Conv2d(32, 8, 3, padding=1)
        self.up1 = nn.ConvTranspose2d(8, 8, 3, 2, 1, output_padding=1)
        self.dec1 = nn.Conv2d(16, 2, 1)

    def forward(self, x: Any) -> Any:
        e1 = F.relu(self.enc1(x))
        e2 = F.relu(self.enc2(F.max_pool2d(e1, 2)))
        m = self.mid(F.avg_pool2d(e2, 2))
        d2 = self.dec2(torch.cat([self.up2(m), e2], 1))
        return self.dec1(torch.cat([e1, self.up1(d2)], dim=1))


class MobileBlock(nn.Module):
    """Depthwise conv, SE gate (global pool, 1x1 convs, hardsigmoid, mul), channel shuffle."""

    def __init__(self) -> None:
        super().__init__()
        self.expand = nn.Conv2d(12, 24, 1, bias=False)
        self.bn = nn.BatchNorm2d(24)
        self.dw = nn.Conv2d(24, 24, 5, 2, 2, groups=24, bias=False)
        self.fc1 = nn.Conv2d(24, 8, 1)
        self.fc2 = nn.Conv2d(8, 24, 1)
        self.project = nn.Conv2d(24, 12, 1, groups=2)
        self.head = nn.Linear(12, 7)

    def forward(self, x: Any) -> Any:
        y = F.hardswish(self.bn(self.expand(x)))
        y = F.hardswish(self.dw(y))
        gate = F.hardsigmoid(self.fc2(F.relu(self.fc1(y.mean((2, 3), keepdim=True)))))
        y = self.project(y * gate)
        # a channel shuffle with constant shapes (ONNX Reshape, Transpose, Reshape)
        y = y.reshape(1, 2, 6, 8, 9).transpose(1, 2).reshape(1, 12, 8, 9)
        y = F.dropout(y, 0.2, self.training)
        tokens = y.reshape(1, 12, 72).transpose(1, 2)  # (N, HW, C): Linear is MatMul + Add
        return self.head(tokens)


class OneD(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(2, 6, 5, 2, 2)
        self.pool = nn.AvgPool1d(3, 2, 1, ceil_mode=True, count_include_pad=False)
        self.up = nn.ConvTranspose1d(6, 4, 4, 3, 1, output_padding=2, dilation=2)
        self.fc = nn.Linear(4, 3)

    def forward(self, x: Any) -> Any:
        y = self.pool(F.leaky_relu(self.conv(x)))
        y = F.pad(self.up(y), (1, 2))
        y = F.interpolate(y, scale_factor=2, mode="nearest")
        y = F.max_pool1d(y, 2, 2, ceil_mode=True)
        return self.fc(y.mean(2).unsqueeze(1)).squeeze(1)


class ThreeD(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv3d(1, 4, (3, 5, 5), (1, 2, 2), (1, 2, 2))
        self.bn = nn.BatchNorm3d(4)
        self.pool = nn.MaxPool3d(2, 2)
        self.convt = nn.ConvTranspose3d(4, 2, 2, 2)
        self.fc = nn.Linear(2, 5)

    def forward(self, x: Any) -> Any:
        y = self.convt(self.pool(torch.sigmoid(self.bn(self.conv(x)))))
        return self.fc(torch.flatten(F.adaptive_avg_pool3d(y, 1), 1))


class Shuffle(nn.Module):
    """ShuffleNetV2's unit: a chunk into halves, one half convolved, a cat and a shuffle; then a
    slice of channels and of every other column (Split or Slice in ONNX)."""

    def __init__(self) -> None:
        super().__init__()
        self.branch = nn.Conv2d(4, 4, 3, padding=1, groups=4)
        self.mix = nn.Conv2d(8, 8, 1)

    def forward(self, x: Any) -> Any:
        a, b = x.chunk(2, dim=1)
        y = torch.cat([a, self.branch(b)], 1)
        y = y.reshape(1, 2, 4, 9, 10).transpose(1, 2).reshape(1, 8, 9, 10)
        return self.mix(y)[:, 2:6, 1:, ::2]


MODELS = {
    "resnet": (ResNetish, (1, 3, 67, 61)),
    "unet": (UNetish, (2, 3, 32, 40)),
    "mobile": (MobileBlock, (1, 12, 15, 17)),
    "oned": (OneD, (3, 2, 37)),
    "threed": (ThreeD, (1, 1, 8, 20, 18)),
    "shuffle": (Shuffle, (1, 8, 9, 10)),
}


def export(
    name: str, tmp_path: Path, exporter: str = "legacy"
) -> tuple[Any, Path, tuple[int, ...]]:
    """The model exported by torch's TorchScript-based exporter, or by the torch.export-based
    one (dynamo=True, which needs onnxscript)."""
    cls, shape = MODELS[name]
    torch.manual_seed(0)
    model = cls().eval()
    path = tmp_path / f"{name}.onnx"
    if exporter == "dynamo":
        pytest.importorskip("onnxscript")
        import contextlib
        import io

        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            torch.onnx.export(model, (torch.zeros(shape),), str(path), dynamo=True)
        return model, path, shape
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, torch.zeros(shape), str(path), dynamo=False)
    return model, path, shape


def torch_macs(model: Any, shape: tuple[int, ...]) -> int:
    """The README's MACs from torch's own tensors, by forward hooks."""
    total = 0

    def hook(module: Any, inputs: Any, output: Any) -> None:
        nonlocal total
        x = inputs[0]
        if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
            total += (
                output.numel() * module.in_channels // module.groups * math.prod(module.kernel_size)
            )
        elif isinstance(module, (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)):
            total += (
                x.numel() * module.out_channels // module.groups * math.prod(module.kernel_size)
            )
        elif isinstance(module, nn.Linear):
            total += output.numel() * module.in_features

    handles = [m.register_forward_hook(hook) for m in model.modules() if not list(m.children())]
    with torch.no_grad():
        model(torch.zeros(shape))
    for handle in handles:
        handle.remove()
    return total


@pytest.mark.parametrize("exporter", ["legacy", "dynamo"])
@pytest.mark.parametrize("name", sorted(MODELS))
def test_onnx_matches_onnxruntime(name: str, exporter: str, tmp_path: Path) -> None:
    """Every node's output shape equals onnxruntime's; parameters equal the weight and bias
    initializers; MACs equal torch's count. Both of torch's exporters."""
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    model, path, shape = export(name, tmp_path, exporter)
    ours = run_network(load_network(str(path)))
    graph = onnx.load(str(path))
    nodes = [n for n in graph.graph.node if n.op_type != "Constant"]
    known = {o.name for o in graph.graph.output}
    for node in nodes:
        for output in node.output:
            if output and output not in known:
                graph.graph.output.append(onnx.ValueInfoProto(name=output))
    session = ort.InferenceSession(graph.SerializeToString(), providers=["CPUExecutionProvider"])
    import numpy as np

    outputs = session.run(None, {session.get_inputs()[0].name: np.zeros(shape, np.float32)})
    by_tensor = {o.name: tuple(v.shape) for o, v in zip(session.get_outputs(), outputs)}
    by_node = {layer.name: layer.output_shape for layer in ours.layers}
    checked = 0
    for node in nodes:
        # a layer per output: the node's name, or name:i for each part of a Split
        names = (
            [node.name]
            if len(node.output) == 1
            else [f"{node.name}:{i}" for i in range(len(node.output))]
        )
        for name, output in zip(names, node.output):
            if name in by_node:
                assert by_node[name] == by_tensor[output], name
                checked += 1
    assert checked >= len(ours.layers) - 1
    assert ours.output_shape == by_tensor[graph.graph.output[0].name]
    weights = {init.name: math.prod(init.dims) for init in graph.graph.initializer}
    for node in graph.graph.node:  # a folded BatchNorm's bias may be a Constant or an Identity
        if node.op_type == "Constant" and node.attribute[0].name == "value":
            weights[node.output[0]] = math.prod(node.attribute[0].t.dims)
        if node.op_type == "Identity" and node.input[0] in weights:
            weights[node.output[0]] = weights[node.input[0]]
    counted = 0
    for node in graph.graph.node:
        slots = {"Conv": (1, 2), "ConvTranspose": (1, 2), "Gemm": (1, 2), "MatMul": (1,)}
        slots |= {"BatchNormalization": (1, 2), "PRelu": (1,)}
        for slot in slots.get(node.op_type, ()):
            if slot < len(node.input) and node.input[slot] in weights:
                counted += weights[node.input[slot]]
        if node.op_type == "Add" and any(i in weights for i in node.input):
            producer = {n.output[0]: n for n in graph.graph.node}
            if any(
                producer.get(i) is not None and producer[i].op_type == "MatMul" for i in node.input
            ):
                counted += sum(weights[i] for i in node.input if i in weights)
    assert ours.total_params == counted
    assert ours.total_macs == torch_macs(model, shape)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_onnx_to_torch_code_runs(name: str, tmp_path: Path) -> None:
    """`net model.onnx --format torch` writes a module that runs with the same output shape
    and parameter count, and `--format toml` reads back to the same numbers."""
    pytest.importorskip("onnx")
    from typer.testing import CliRunner

    from convcalc.cli import app

    model, path, shape = export(name, tmp_path)
    runner = CliRunner()
    code = runner.invoke(app, ["net", str(path), "--format", "torch"]).stdout
    namespace: dict[str, Any] = {}
    exec(compile(code, f"{name}.py", "exec"), namespace)  # noqa: S102 - our own output
    built = namespace["model"]
    with torch.no_grad():
        y = built(torch.zeros(shape))
    ours = run_network(load_network(str(path)))
    assert tuple(y.shape) == ours.output_shape
    assert sum(p.numel() for p in built.parameters()) == ours.total_params
    toml = tmp_path / "again.toml"
    toml.write_text(runner.invoke(app, ["net", str(path), "--format", "toml"]).stdout)
    again = run_network(load_network(str(toml)))
    assert [layer.output_shape for layer in again.layers] == [
        layer.output_shape for layer in ours.layers
    ]
    assert (again.total_params, again.total_macs) == (ours.total_params, ours.total_macs)


def sequential_models() -> dict[str, tuple[Any, tuple[int, ...]]]:
    torch.manual_seed(0)
    vgg = nn.Module()
    vgg.features = nn.Sequential(  # type: ignore[assignment]
        nn.Conv2d(3, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2, 2, ceil_mode=True),
        nn.Conv2d(8, 16, 3, padding="same", dilation=2, bias=False),
        nn.ReLU(inplace=True),
        nn.AvgPool2d(3, 2, 1),
    )
    vgg.avgpool = nn.AdaptiveAvgPool2d((3, 2))  # type: ignore[assignment]
    vgg.classifier = nn.Sequential(  # type: ignore[assignment]
        nn.Linear(96, 20), nn.ReLU(True), nn.Dropout(0.5), nn.Linear(20, 4)
    )

    def forward(x: Any) -> Any:
        return vgg.classifier(torch.flatten(vgg.avgpool(vgg.features(x)), 1))

    vgg.forward = forward  # type: ignore[method-assign]
    oned = nn.Sequential(
        nn.Conv1d(3, 5, 4, 2, 1),
        nn.PReLU(5),
        nn.ConvTranspose1d(5, 2, 3, 2, output_padding=1),
        nn.Upsample(scale_factor=3),
        nn.MaxPool1d(4, 3, 1, dilation=2),
        nn.Flatten(),
        nn.Linear(2 * 41, 3),
    )
    threed = nn.Sequential(
        nn.Conv3d(2, 4, 3, (1, 2, 2), 1, groups=2),
        nn.BatchNorm3d(4, affine=False),
        nn.Hardswish(),
        nn.AdaptiveMaxPool3d((2, None, 3)),
        nn.ZeroPad2d((1, 0, 2, 1)),
        nn.Flatten(),
    )
    return {
        "vgg": (vgg, (1, 3, 29, 23)),
        "oned": (oned, (2, 3, 40)),
        "threed": (threed, (1, 2, 6, 9, 11)),
    }


@pytest.mark.parametrize("name", ["vgg", "oned", "threed"])
def test_printed_models_match_torch(name: str, tmp_path: Path) -> None:
    """print(model) read back: every module's output shape and the parameters equal torch's."""
    model, shape = sequential_models()[name]
    model.eval()
    path = tmp_path / "model.txt"
    path.write_text(str(model))
    shapes: dict[str, tuple[int, ...]] = {}
    for module_name, module in model.named_modules():
        if module_name and not list(module.children()):
            module.register_forward_hook(
                lambda _m, _i, out, key=module_name: shapes.__setitem__(key, tuple(out.shape))
            )
    with torch.no_grad():
        y = model(torch.zeros(shape))
    ours = run_network(load_network(str(path)), shape[1:], shape[0])
    assert ours.output_shape == tuple(y.shape)
    assert ours.total_params == sum(p.numel() for p in model.parameters())
    by_name = {layer.name: layer.output_shape for layer in ours.layers}
    assert shapes and all(by_name[key] == value for key, value in shapes.items())


@pytest.mark.parametrize("name", ["vgg", "oned", "threed"])
def test_printed_models_to_torch_code_keep_the_state_dict(name: str, tmp_path: Path) -> None:
    """print(model) -> --format torch: the module written has the same parameters, tensor by
    tensor (the shapes of the state_dict, in order), as the model that was printed."""
    from typer.testing import CliRunner

    from convcalc.cli import app

    model, shape = sequential_models()[name]
    path = tmp_path / "model.txt"
    path.write_text(str(model))
    code = (
        CliRunner()
        .invoke(app, ["net", str(path), "--format", "torch", "--in", ",".join(map(str, shape[1:]))])
        .stdout
    )
    namespace: dict[str, Any] = {}
    exec(compile(code, f"{name}.py", "exec"), namespace)  # noqa: S102 - our own output
    built = namespace["model"]
    assert [tuple(t.shape) for t in built.state_dict().values()] == [
        tuple(t.shape) for t in model.state_dict().values()
    ]
    with torch.no_grad():
        assert built(torch.zeros(shape)).shape == model.eval()(torch.zeros(shape)).shape


def test_printed_resnet_is_refused_with_its_blocks() -> None:
    """A printed ResNet: the residual blocks are named, not chained."""
    from convcalc import ConvcalcError
    from test_torch_graph import ResNet18

    spec = load_network(str(ResNet18()))
    with pytest.raises(ConvcalcError, match=r"layer1\.0 \(BasicBlock\)"):
        spec.check_runnable()
    assert len(spec.unclear) == 8
