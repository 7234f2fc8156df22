"""Issue 20: `convcalc diff A B`, two networks side by side for the review of a change.

Real variant pairs (ResNet-18 against ResNet-34, the U-Net against its smaller self), totals
checked against `convcalc net` run on each side; the alignment (a changed head, an appended
layer, an inserted block); the same network in two formats; budgets; exit codes as diff(1)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from convcalc.diff import Metric, Status, parse_budget
from convcalc.errors import MalformedInputError
from test_hardening import convcalc

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def resnet_toml(blocks: tuple[int, int, int, int]) -> str:
    """torchvision's BasicBlock ResNet as a spec, in resnet18.toml's layout and names."""
    lines = ["input = [3, 224, 224]", ""]

    def layer(name: str, kind: str, **keys: Any) -> None:
        lines.extend(["[[layer]]", f'name = "{name}"', f'layer = "{kind}"'])
        for key, value in keys.items():
            text = json.dumps(value).lower() if isinstance(value, bool) else json.dumps(value)
            lines.append(f"{key} = {text}")
        lines.append("")

    layer("conv1", "conv2d", out_channels=64, kernel_size=7, stride=2, padding=3, bias=False)
    layer("bn1", "batchnorm2d")
    layer("relu", "relu")
    layer("maxpool", "maxpool2d", kernel_size=3, stride=2, padding=1)
    previous = "maxpool"
    for stage, count in enumerate(blocks, start=1):
        channels = 64 * 2 ** (stage - 1)
        for block in range(count):
            p = f"layer{stage}.{block}"
            stride = 2 if stage > 1 and block == 0 else 1
            conv1: dict[str, Any] = {"out_channels": channels, "kernel_size": 3}
            if stride != 1 or block > 0:
                conv1["stride"] = stride
            layer(f"{p}.conv1", "conv2d", **conv1, padding=1, bias=False)
            layer(f"{p}.bn1", "batchnorm2d")
            layer(f"{p}.relu1", "relu")
            layer(
                f"{p}.conv2", "conv2d", out_channels=channels, kernel_size=3, padding=1, bias=False
            )
            layer(f"{p}.bn2", "batchnorm2d")
            shortcut = previous
            if stride != 1:
                layer(
                    f"{p}.downsample.0",
                    "conv2d",
                    **{"from": previous},
                    out_channels=channels,
                    kernel_size=1,
                    stride=2,
                    bias=False,
                )
                layer(f"{p}.downsample.1", "batchnorm2d")
                shortcut = f"{p}.downsample.1"
            layer(f"{p}.add", "add", **{"from": [f"{p}.bn2", shortcut]})
            layer(f"{p}.relu2", "relu")
            previous = f"{p}.relu2"
    layer("avgpool", "adaptiveavgpool2d", output_size=1)
    layer("flatten", "flatten")
    layer("fc", "linear", out_features=1000)
    return "\n".join(lines)


@pytest.fixture(scope="module")
def resnets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("resnets")
    paths = {}
    for name, blocks in (("resnet18", (2, 2, 2, 2)), ("resnet34", (3, 4, 6, 3))):
        paths[name] = folder / f"{name}.toml"
        paths[name].write_text(resnet_toml(blocks))
    return paths


def net_json(path: Path | str, *args: str) -> dict[str, Any]:
    result = convcalc("net", str(path), "--json", *args)
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout))


def diff_json(a: Path | str, b: Path | str, *args: str) -> tuple[int, dict[str, Any]]:
    result = convcalc("diff", str(a), str(b), "--json", *args)
    assert result.returncode in (0, 1), result.stderr
    return result.returncode, dict(json.loads(result.stdout))


def test_the_generator_is_resnet18_and_the_example_is_resnet34(resnets: dict[str, Path]) -> None:
    """The generated ResNet-18 is examples/resnet18.toml (diff: identical); ResNet-34 has
    torchvision's 21,797,672 parameters and is the committed example."""
    code, data = diff_json(EXAMPLES / "resnet18.toml", resnets["resnet18"])
    assert code == 0 and data["identical"], data["counts"]
    assert net_json(resnets["resnet34"])["total_params"] == 21_797_672
    code, data = diff_json(EXAMPLES / "resnet34.toml", resnets["resnet34"])
    assert code == 0 and data["identical"]


def test_resnet18_against_resnet34(resnets: dict[str, Path]) -> None:
    """The blocks ResNet-34 adds show as added; every total is what `net` says on each side."""
    code, data = diff_json(resnets["resnet18"], resnets["resnet34"])
    assert code == 1 and not data["identical"]
    a, b = net_json(resnets["resnet18"]), net_json(resnets["resnet34"])
    keys = {
        "params": "total_params",
        "non_trainable_params": "total_non_trainable_params",
        "macs": "total_macs",
        "flops": "total_flops",
        "activation_bytes": "total_activation_bytes",
        "peak_activation_bytes": "peak_activation_bytes",
        "training_bytes": "training_bytes",
    }
    for metric, key in keys.items():
        total = data["totals"][metric]
        assert (total["a"], total["b"]) == (a[key], b[key]), metric
        assert total["delta"] == b[key] - a[key]
    added = [row["b"] for row in data["layers"] if row["status"] == "added"]
    assert data["counts"]["removed"] == 0
    assert len(added) == len(b["layers"]) - len(a["layers"])
    assert "layer1.2.conv1" in added and "layer3.5.add" in added
    assert data["counts"]["same"] + data["counts"]["changed"] == len(a["layers"])


def test_a_changed_head(tmp_path: Path) -> None:
    """fc from 1000 to 10 outputs: exactly one changed layer, params -507,870, MACs -506,880."""
    spec = tmp_path / "r18_10.toml"
    spec.write_text((EXAMPLES / "resnet18.toml").read_text().replace("= 1000", "= 10"))
    code, data = diff_json(EXAMPLES / "resnet18.toml", spec)
    assert code == 1
    changed = [row for row in data["layers"] if row["status"] != "same"]
    assert [(row["status"], row["a"], row["b"]) for row in changed] == [("changed", "fc", "fc")]
    assert {"params", "MACs", "output shape"} <= set(changed[0]["changes"])
    assert data["totals"]["params"]["delta"] == -507_870
    assert data["totals"]["macs"]["delta"] == -506_880


def test_appended_and_removed(tmp_path: Path) -> None:
    base = (EXAMPLES / "unet_small.toml").read_text()
    longer = tmp_path / "longer.toml"
    longer.write_text(base + '\n[[layer]]\nname = "extra"\nlayer = "relu"\n')
    code, data = diff_json(EXAMPLES / "unet_small.toml", longer)
    assert code == 1 and data["counts"] == {
        "same": data["counts"]["same"],
        "changed": 0,
        "added": 1,
        "removed": 0,
    }
    assert [row["b"] for row in data["layers"] if row["status"] == "added"] == ["extra"]
    code, data = diff_json(longer, EXAMPLES / "unet_small.toml")
    assert code == 1 and data["counts"]["removed"] == 1 and data["counts"]["added"] == 0


def test_an_inserted_unnamed_layer_is_added_not_everything_changed() -> None:
    a = "conv2d k3 p1 c8; relu; conv2d k3 p1 c8; relu; maxpool2d k2; conv2d k3 c16"
    b = "conv2d k3 p1 c8; relu; conv2d k3 p1 c8; batchnorm2d; relu; maxpool2d k2; conv2d k3 c16"
    code, data = diff_json(a, b, "--in", "3,16,16")
    assert code == 1
    assert [row["status"] for row in data["layers"]].count("added") == 1
    assert data["counts"]["changed"] == 0 and data["counts"]["removed"] == 0


def test_a_spec_and_its_toml_are_identical(tmp_path: Path) -> None:
    for example in ("unet.toml", "resnet18.toml", "se_block.toml", "vgg11_print.txt"):
        written = convcalc("net", str(EXAMPLES / example), "--format", "toml")
        again = tmp_path / f"{example}.toml"
        again.write_text(written.stdout)
        args = ("--in", "3,64,64") if example.endswith(".txt") else ()
        code, data = diff_json(EXAMPLES / example, again, *args)
        assert code == 0 and data["identical"], (example, data["counts"])
        assert (
            convcalc("diff", str(EXAMPLES / example), str(EXAMPLES / example), *args).returncode
            == 0
        )


def test_different_formats_compare(tmp_path: Path) -> None:
    """The inline form against a TOML spec of the same layers: identical."""
    spec = tmp_path / "same.toml"
    spec.write_text(
        'input = [3, 32, 32]\n[[layer]]\nlayer = "conv2d"\nout_channels = 8\nkernel_size = 3\n'
        '[[layer]]\nlayer = "relu"\n'
    )
    code, data = diff_json("conv2d k3 c8; relu", spec, "--in", "3,32,32")
    assert code == 0 and data["identical"]


def test_the_unet_and_its_smaller_self() -> None:
    code, data = diff_json(EXAMPLES / "unet.toml", EXAMPLES / "unet_small.toml", "--in", "3,64,64")
    a = net_json(EXAMPLES / "unet.toml", "--in", "3,64,64")
    b = net_json(EXAMPLES / "unet_small.toml", "--in", "3,64,64")
    assert code == 1
    assert data["totals"]["params"] == {
        "a": a["total_params"],
        "b": b["total_params"],
        "delta": b["total_params"] - a["total_params"],
    }
    assert data["output_shape"] == {"a": a["output_shape"], "b": b["output_shape"]}


def test_input_sizes_one_accepts() -> None:
    """A range --in: the sizes one network accepts and the other does not."""
    code, data = diff_json(
        "conv2d k3 s2 p1 c8; conv2d k3 s2 p1 c8",
        "conv2d k3 s2 c8; conv2d k3 s2 c8",
        "--in",
        "3,1..12",
    )
    assert code == 1
    assert data["sizes"]["tried"] == 12
    assert data["sizes"]["only_a"] == [1, 2, 3, 4, 5, 6]  # the padded pair takes every size
    assert data["sizes"]["only_b"] == []


def test_budgets(tmp_path: Path) -> None:
    wider = tmp_path / "wider.toml"
    wider.write_text((EXAMPLES / "unet_small.toml").read_text().replace("= 16", "= 24"))
    small = str(EXAMPLES / "unet_small.toml")
    over = convcalc("diff", small, str(wider), "--fail-on", "params>+5%")
    assert over.returncode == 1 and "budget exceeded: params>+5%: params" in over.stderr
    within = convcalc(
        "diff", small, str(wider), "--fail-on", "params>+500%", "--fail-on", "macs>+1G"
    )
    assert within.returncode == 0 and within.stderr == ""  # different, but within budget
    peak = convcalc("diff", small, str(wider), "--fail-on", "peak>+0")
    assert peak.returncode == 1 and "peak>+0" in peak.stderr


@pytest.mark.parametrize(
    ("rule", "metric", "amount", "percent"),
    [
        ("params>+5%", Metric.PARAMS, 5, True),
        ("peak>+0", Metric.PEAK_ACTIVATION_BYTES, 0, False),
        ("macs>+1G", Metric.MACS, 10**9, False),
        ("training_bytes>+512MiB", Metric.TRAINING_BYTES, 512 * 2**20, False),
        ("flops > -10%", Metric.FLOPS, -10, True),
    ],
)
def test_budget_grammar(rule: str, metric: Metric, amount: int, percent: bool) -> None:
    budget = parse_budget(rule)
    assert (budget.metric, budget.amount, budget.percent) == (metric, amount, percent)


@pytest.mark.parametrize("rule", ["params", "params<5%", "speed>+1", "macs>+1X", "macs>+"])
def test_budget_errors(rule: str) -> None:
    with pytest.raises(MalformedInputError, match="--fail-on"):
        parse_budget(rule)


def test_bad_input_exits_2(tmp_path: Path) -> None:
    missing = convcalc("diff", str(EXAMPLES / "unet.toml"), str(tmp_path / "nope.toml"))
    assert missing.returncode == 2 and "nope.toml" in missing.stderr
    both = convcalc("diff", "-", "-", input="conv2d k3 c4")
    assert both.returncode == 2 and "not both" in both.stderr
    rule = convcalc(
        "diff", str(EXAMPLES / "unet.toml"), str(EXAMPLES / "unet.toml"), "--fail-on", "x"
    )
    assert rule.returncode == 2
    as_json = convcalc("diff", str(tmp_path / "nope.toml"), str(EXAMPLES / "unet.toml"), "--json")
    assert as_json.returncode == 2 and json.loads(as_json.stdout)["exit_code"] == 2


def test_stdin_as_one_side() -> None:
    toml = (EXAMPLES / "unet_small.toml").read_text()
    result = convcalc("diff", "-", str(EXAMPLES / "unet_small.toml"), input=toml)
    assert result.returncode == 0 and "identical" in result.stdout


def test_formats(resnets: dict[str, Path]) -> None:
    a, b = str(resnets["resnet18"]), str(resnets["resnet34"])
    table = convcalc("diff", a, b)
    assert "same layers" in table.stdout and "+ added" in table.stdout
    # the headline is never wrapped (`| head -1` gets the whole verdict); the tables fit
    assert all(len(line) <= 80 for line in table.stdout.splitlines()[1:])
    markdown = convcalc("diff", a, b, "--format", "markdown").stdout
    assert "| params | 11,689,512 | 21,797,672 | +10,108,160 (+86.47%) |" in markdown
    assert "| + |  | layer1.2.conv1: conv2d k3 p1 c64 nobias |  |" in markdown
    plain = convcalc("diff", a, b, "--plain").stdout.splitlines()
    # 8 more BasicBlocks of 7 layers; each stage's downsample now reads the stage's new last block
    assert plain[0] == "different: 3 changed, 56 added, 0 removed, 66 same"
    assert "changed layer2.0.downsample.0: inputs layer1.1.relu2 -> layer1.2.relu2" in plain
    assert "params 11689512 21797672 +10108160" in plain
    same = convcalc("diff", a, a, "--plain")
    assert same.returncode == 0 and same.stdout.splitlines()[0] == "identical"


def test_statuses_cover_the_alignment() -> None:
    assert {s.value for s in Status} == {"same", "changed", "added", "removed"}


def test_alignment_past_its_budget_pairs_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    """Sequence alignment is quadratic on long runs of alike layers: past MAX_ALIGNMENT cells a
    block that differs is paired in order, after the common start and end are paired."""
    import convcalc.diff as diff_module
    from convcalc.network import parse_inline, run_network

    a = run_network(parse_inline("conv2d k3 p1 c8; " + "relu; sigmoid; " * 30 + "tanh"), (3, 8, 8))
    b = run_network(parse_inline("conv2d k3 p1 c8; " + "sigmoid; relu; " * 30 + "tanh"), (3, 8, 8))
    monkeypatch.setattr(diff_module, "MAX_ALIGNMENT", 100)
    rows = diff_module.align(a.layers, b.layers)
    assert rows[0].status is Status.SAME and rows[-1].status is Status.SAME  # start and end
    assert len(rows) == len(a.layers)  # the middle in order: no added or removed
    assert sum(row.status is Status.CHANGED for row in rows) == 60
