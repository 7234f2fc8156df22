"""Graphs built in real torch from the same specs (tests/torch_graph.py, which resolves `from`
on its own): per-layer shapes, parameters, MACs, memory by the stated rules, the input sizes a
network accepts (torch on the meta device), MACs on zeros, and random graphs with merges."""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Any

import pytest

from convcalc import ConvcalcError
from convcalc.memory import Dtype, Optimizer, memory
from convcalc.netplan import plan_network
from convcalc.netsizes import parse_ranges, sweep_sizes
from convcalc.netspec import NetworkSpec
from convcalc.network import load_network, run_network

torch = pytest.importorskip("torch")
nn = torch.nn
from torch_graph import Graph, macs, peak_bytes, run_meta  # noqa: E402

pytestmark = pytest.mark.torch
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
ELEMENT = {
    Dtype.FLOAT32: torch.float32,
    Dtype.FLOAT16: torch.float16,
    Dtype.BFLOAT16: torch.bfloat16,
    Dtype.INT8: torch.int8,
    Dtype.FLOAT64: torch.float64,
}


def compare(spec: NetworkSpec, shape: tuple[int, ...], dtype: Dtype = Dtype.FLOAT32) -> None:
    """Shapes, params, MACs and memory of every layer equal what torch's own tensors give."""
    ours = run_network(spec, shape[1:], shape[0])
    graph = Graph(spec.layers, shape[1])
    tensors = run_meta(graph, shape)
    assert not isinstance(tensors, str), tensors
    assert [layer.output_shape for layer in ours.layers] == [tuple(t.shape) for t in tensors[1:]]
    params = [sum(p.numel() for p in module.parameters()) for module in graph.layers]
    assert [layer.params for layer in ours.layers] == params
    assert [layer.macs for layer in ours.layers] == macs(graph, tensors)
    element = torch.empty((), dtype=ELEMENT[dtype]).element_size()
    report = memory(ours, dtype, Optimizer.ADAM)
    assert list(report.output_bytes) == [t.numel() * element for t in tensors[1:]]
    assert report.total_activation_bytes == sum(t.numel() * element for t in tensors[1:])
    assert report.total_param_bytes == sum(params) * element
    assert report.peak_activation_bytes == peak_bytes(graph, tensors, element)
    assert report.training_bytes == report.total_activation_bytes + 4 * sum(params) * element


@pytest.mark.parametrize("example", sorted(p.name for p in EXAMPLES.glob("*.toml")))
def test_examples_match_torch(example: str) -> None:
    """Every shipped example, graphs included, agrees with torch layer by layer."""
    spec = load_network(str(EXAMPLES / example))
    assert spec.input is not None
    compare(spec, (2, *spec.input))


@pytest.mark.parametrize("dtype", list(Dtype))
def test_memory_by_dtype(dtype: Dtype) -> None:
    """The U-Net's memory in every dtype, from torch's element sizes."""
    spec = load_network(str(EXAMPLES / "unet.toml"))
    compare(spec, (1, 3, 64, 64), dtype)


class BasicBlock(nn.Module):
    """torchvision.models.resnet.BasicBlock, as written there."""

    def __init__(self, inplanes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(
                nn.Conv2d(inplanes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes)
            )

    def forward(self, x: Any) -> Any:
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        return self.relu(out + identity)


class ResNet18(nn.Module):
    """torchvision.models.resnet18(weights=None), module names included (torchvision itself
    does not import beside the CPU torch build here; its model code is this)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        planes, stages = 64, []
        for width, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
            stages.append(
                nn.Sequential(BasicBlock(planes, width, stride), BasicBlock(width, width))
            )
            planes = width
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512, 1000)

    def forward(self, x: Any) -> Any:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def torchvision_resnet18() -> Any:
    try:
        import torchvision

        return torchvision.models.resnet18(weights=None)
    except Exception:  # noqa: BLE001 - not installed, or its C ops do not load here
        return ResNet18()


@pytest.mark.parametrize("size", [224, 97, 32])
def test_resnet18_against_torchvision(size: int) -> None:
    """examples/resnet18.toml is torchvision's ResNet-18: 11,689,512 parameters, [1000] out,
    and every named module's output shape equal to ours under the same name."""
    model = torchvision_resnet18().eval()
    shapes: dict[str, tuple[int, ...]] = {}
    for name, module in model.named_modules():
        if name and not list(module.children()) and not isinstance(module, nn.ReLU):
            module.register_forward_hook(
                lambda _m, _i, out, name=name: shapes.__setitem__(name, tuple(out.shape))
            )
    with torch.no_grad():
        out = model(torch.zeros(1, 3, size, size))
    ours = run_network(load_network(str(EXAMPLES / "resnet18.toml")), (3, size, size))
    assert ours.output_shape == tuple(out.shape) == (1, 1000)
    assert ours.total_params == sum(p.numel() for p in model.parameters()) == 11_689_512
    by_name = {layer.name: layer.output_shape for layer in ours.layers}
    assert shapes and all(by_name[name] == shape for name, shape in shapes.items())


@pytest.mark.parametrize(
    ("example", "text"),
    [("unet.toml", "3,16..100"), ("unet_small.toml", "3,1..70"), ("se_block.toml", "40,1..40")],
)
def test_valid_sizes_match_meta_device(example: str, text: str) -> None:
    """Which sizes work: exactly those torch runs on the meta device (and whose `expect`s hold,
    checked from torch's shapes)."""
    spec = load_network(str(EXAMPLES / example))
    plan = plan_network(spec)
    ranges = parse_ranges(text, plan.spatial_ndim())
    sweep = sweep_sizes(plan, ranges)
    graph = Graph(spec.layers, ranges.channels)
    valid = []
    for (size,) in {s[:1] for s in ranges.sizes(1)}:
        tensors = run_meta(graph, (1, ranges.channels, size, size))
        if isinstance(tensors, str) or not _expects_hold(spec, graph, tensors):
            continue
        valid.append(size)
    assert sweep.valid_sizes == sorted(valid)
    assert valid, "some sizes must work"


def _expects_hold(spec: NetworkSpec, graph: Graph, tensors: list[Any]) -> bool:
    index = {name: i for i, name in enumerate(graph.names)}
    for i, table in enumerate(spec.layers, start=1):
        want = table.get("expect")
        if want is None:
            continue
        got = tuple(tensors[i].shape)
        if isinstance(want, list):
            wanted = tuple(want)
        elif want == "input":
            wanted = tuple(tensors[0].shape)
        else:
            target, _, side = want.rpartition(".")
            j = index[target]
            wanted = tuple(
                tensors[j].shape if side == "output" else tensors[graph.sources[j - 1][0]].shape
            )
        if wanted not in (got, got[1:]):
            return False
    return True


def test_zero_macs_match_torch() -> None:
    """MACs on real input elements, from torch: a conv of ones with ones counts them."""
    rng = random.Random("zeros")
    F = torch.nn.functional
    for _ in range(60):
        transposed = rng.random() < 0.5
        k, s, p, d = rng.randint(1, 4), rng.randint(1, 3), rng.randint(0, 3), rng.randint(1, 2)
        cin, cout, g = 2 * rng.randint(1, 2), 2 * rng.randint(1, 2), rng.choice([1, 2])
        h, w = rng.randint(3, 9), rng.randint(3, 9)
        if transposed:
            op = rng.randint(0, max(s, d) - 1)
            text = f"convtranspose2d k{k}x{k + 1} s{s} p{p} d{d} op{op} g{g} c{cout}"
        else:
            text = f"conv2d k{k}x{k + 1} s{s} p{p} d{d} g{g} c{cout}"
        try:
            layer = run_network(load_network(text), (cin, h, w), 2).layers[0]
        except ConvcalcError:
            continue
        ones = torch.ones(2, 1, h, w, dtype=torch.float64)
        weight = torch.ones(1, 1, k, k + 1, dtype=torch.float64)
        if transposed:
            hits = F.conv_transpose2d(
                ones, weight, stride=s, padding=p, output_padding=op, dilation=d
            )
        else:
            hits = F.conv2d(ones, weight, stride=s, padding=p, dilation=d)
        pairs = cout * (cin // g)
        useful = int(hits.sum().item()) * pairs
        assert layer.mac_count is not None
        assert layer.mac_count.useful == useful, text
        direct = math.prod(layer.output_shape) * (cin // g) * k * (k + 1)
        assert layer.mac_count.zero == direct - useful, text
        assert layer.mac_count.cropped == (layer.macs - useful if transposed else 0), text


def random_graph(rng: random.Random) -> list[dict[str, Any]]:
    """A random graph: convs, pools, transposed convs and upsampling on a few branches, joined
    by add, mul and cat from any earlier tensors (often ones that do not line up)."""
    layers: list[dict[str, Any]] = []
    names = ["input"]
    for number in range(1, rng.randint(3, 10) + 1):
        name = f"t{number}"
        kind = rng.choice(
            ["conv", "conv", "pool", "convt", "up", "add", "mul", "cat", "bn", "gate"]
        )
        source = rng.choice(names[-3:])
        layer: dict[str, Any] = {"name": name}
        if kind in ("add", "mul", "cat"):
            picks = rng.sample(names, k=min(len(names), rng.choice([2, 2, 3])))
            if len(picks) < 2:
                picks = [names[-1], names[-1]]
            layer |= {"layer": kind, "from": picks}
            if kind == "cat" and rng.random() < 0.3:
                layer["dim"] = rng.choice([1, 2, -1, -3])
        elif kind == "conv":
            layer |= {
                "layer": "conv2d",
                "from": source,
                "out_channels": rng.choice([4, 8]),
                "kernel_size": rng.randint(1, 3),
                "stride": rng.randint(1, 2),
                "padding": rng.randint(0, 1),
            }
        elif kind == "pool":
            layer |= {"layer": rng.choice(["maxpool2d", "avgpool2d"]), "from": source}
            layer |= {"kernel_size": 2, "ceil_mode": rng.random() < 0.3}
        elif kind == "convt":
            layer |= {
                "layer": "convtranspose2d",
                "from": source,
                "out_channels": rng.choice([4, 8]),
            }
            layer |= {"kernel_size": 2, "stride": 2}
        elif kind == "up":
            layer |= {"layer": "upsample", "from": source, "scale_factor": 2}
        elif kind == "gate":
            layer |= {"layer": "adaptiveavgpool2d", "from": source, "output_size": 1}
        else:
            layer |= {"layer": "relu" if rng.random() < 0.5 else "sigmoid", "from": source}
        layers.append(layer)
        names.append(name)
    return layers


def test_random_graphs_match_torch() -> None:
    """300 random graphs with merges at random sizes: the same shapes, params, MACs and peak
    memory as torch, or both refuse (and ours names the layer torch stops at)."""
    rng = random.Random("graphs")
    agreed = refused = 0
    for _ in range(300):
        layers = random_graph(rng)
        shape = (rng.randint(1, 2), 4, rng.randint(3, 17), rng.randint(3, 17))
        spec = NetworkSpec(None, layers, None, "<random>")
        graph = Graph(layers, shape[1])
        tensors = run_meta(graph, shape)
        try:
            run_network(spec, shape[1:], shape[0])
        except ConvcalcError as error:
            assert isinstance(tensors, str), (layers, shape, str(error))
            refused += 1
            continue
        assert not isinstance(tensors, str), (layers, shape, tensors)
        compare(spec, shape)
        agreed += 1
    assert agreed >= 60 and refused >= 60, (agreed, refused)


def test_merge_error_names_the_failing_layer() -> None:
    """When torch stops at a merge, our error names that layer, both inputs and their sizes."""
    rng = random.Random("merge-errors")
    seen = 0
    for _ in range(300):
        layers = random_graph(rng)
        shape = (1, 4, rng.randint(3, 17), rng.randint(3, 17))
        graph = Graph(layers, shape[1])
        torch_says = run_meta(graph, shape)
        if not isinstance(torch_says, str):
            continue
        # which layer torch stops at: run one more layer at a time
        for stop in range(1, len(layers) + 1):
            partial = Graph(layers[:stop], shape[1])
            if isinstance(run_meta(partial, shape), str):
                break
        if layers[stop - 1]["layer"] not in ("add", "mul", "cat"):
            continue
        with pytest.raises(ConvcalcError) as caught:
            run_network(NetworkSpec(None, layers, None, ""), shape[1:], shape[0])
        message = str(caught.value)
        assert message.startswith(f'layer {stop} "t{stop}" ({layers[stop - 1]["layer"]}): ')
        sources = layers[stop - 1]["from"]
        assert sum(source in message for source in set(sources)) >= 2 or "-d" in message
        seen += 1
    assert seen >= 20
