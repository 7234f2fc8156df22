"""`convcalc net` on graphs: `from`, the merges add/mul/cat, receptive fields through merges,
memory by its stated rules, FLOPs and MACs on zeros, and which input sizes a network accepts."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import pytest
from typer.testing import CliRunner

from convcalc import ConvcalcError, MalformedInputError
from convcalc.cli import app
from convcalc.memory import Dtype, Optimizer, human_bytes, memory
from convcalc.netplan import plan_network
from convcalc.netsizes import parse_ranges, progressions, sweep_sizes
from convcalc.network import load_network, run_network

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

RESIDUAL = """
input = [4, 8, 8]
[[layer]]
name = "a"
layer = "conv2d"
out_channels = 4
kernel_size = 3
padding = 1
[[layer]]
name = "b"
layer = "conv2d"
out_channels = 4
kernel_size = 3
padding = 1
[[layer]]
name = "sum"
layer = "add"
from = ["b", "input"]
[[layer]]
layer = "relu"
"""


def test_residual_block() -> None:
    """A shortcut: the add reads the input; shapes, sources and the table's arrow."""
    result = run_network(load_network(RESIDUAL))
    assert [layer.output_shape for layer in result.layers] == [(1, 4, 8, 8)] * 4
    assert result.layers[2].sources == ("b", "input") and result.layers[2].is_merge
    assert result.layers[3].sources == ("sum",) and result.is_graph
    # receptive field: the hull of b's 5x5 window and the input's own pixel, both centred at 0
    rf = result.layers[2].rf
    assert rf is not None and rf.size == (5, 5) and rf.start == (0, 0) and rf.jump == (1, 1)


def test_memory_rules_by_hand() -> None:
    """Peak: the input lives until the add (its last reader) has run.
    Bytes of one 4x8x8 float32 tensor: 1024."""
    result = run_network(load_network(RESIDUAL))
    m = memory(result, Dtype.FLOAT32, Optimizer.SGD)
    assert m.output_bytes == (1024,) * 4 and m.input_bytes == 1024
    # layer 1: input + a; layer 2: input + a + b; layer 3: input + b + sum; layer 4: sum + out
    assert m.alive_bytes == (2048, 3072, 3072, 2048)
    assert m.peak_activation_bytes == 3072 and m.peak_layer == 2
    assert m.peak_tensors == (0, 1, 2)
    assert m.total_activation_bytes == 4096
    params = 2 * (4 * 4 * 9 + 4)
    assert m.total_param_bytes == params * 4
    assert m.training_bytes == 4096 + params * 4 * 2  # sgd: weights + gradients
    m16 = memory(result, Dtype.FLOAT16, Optimizer.ADAM)
    assert m16.total_activation_bytes == 2048 and m16.training_bytes == 2048 + params * 2 * 4
    m8 = memory(result, Dtype.INT8, Optimizer.MOMENTUM)
    assert m8.training_bytes == 1024 + params * 3


def test_unread_output_lives_only_while_made() -> None:
    """A side branch nobody reads is alive only during its own layer."""
    spec = load_network(
        'input = [1, 4]\n[[layer]]\nname = "side"\nlayer = "conv1d"\nout_channels = 8\n'
        'kernel_size = 1\n[[layer]]\nlayer = "relu"\nfrom = "input"\n'
    )
    m = memory(run_network(spec))
    assert m.output_bytes == (128, 16)
    assert m.alive_bytes == (16 + 128, 16 + 16)


CAT_MISMATCH = """
input = [3, 57, 57]
[[layer]]
name = "enc1"
layer = "conv2d"
out_channels = 8
kernel_size = 3
padding = 1
[[layer]]
layer = "maxpool2d"
kernel_size = 2
[[layer]]
name = "up3"
layer = "convtranspose2d"
out_channels = 8
kernel_size = 2
stride = 2
[[layer]]
name = "cat3"
layer = "cat"
from = ["up3", "enc1"]
"""


def test_cat_mismatch_message(runner: CliRunner) -> None:
    """The issue's message: the layer, the dimension, both inputs and what each gives."""
    with pytest.raises(ConvcalcError) as caught:
        run_network(load_network(CAT_MISMATCH))
    assert str(caught.value).startswith(
        'layer 4 "cat3" (cat): dim 2: up3 gives 56, enc1 gives 57 '
        "(up3 (1, 8, 56, 56), enc1 (1, 8, 57, 57))"
    )
    assert not isinstance(caught.value, MalformedInputError)  # an invalid layer: exit 1
    result = runner.invoke(app, ["net", CAT_MISMATCH, "--json"])
    assert result.exit_code == 1
    assert json.loads(result.stdout)["error"].startswith('layer 4 "cat3" (cat): dim 2:')
    fixed = CAT_MISMATCH.replace("[3, 57, 57]", "[3, 56, 56]")
    data = json.loads(runner.invoke(app, ["net", fixed, "--json"]).stdout)
    assert data["output_shape"] == [1, 16, 56, 56] and data["graph"] is True
    assert data["layers"][3]["from"] == ["up3", "enc1"]
    assert data["layers"][3]["input_shapes"] == [[1, 8, 56, 56], [1, 8, 56, 56]]
    assert data["layers"][1]["from"] == ["enc1"]


@pytest.mark.parametrize(
    ("shapes", "op", "expected"),
    [
        ([(1, 8, 5, 5), (1, 8, 1, 1)], "mul", (1, 8, 5, 5)),  # an SE gate
        ([(1, 8, 5, 5), (8, 1, 1)], "add", (1, 8, 5, 5)),  # fewer dims: aligned right
        ([(1, 1, 5, 1), (1, 8, 1, 7)], "add", (1, 8, 5, 7)),
        ([(1, 8, 5, 5), (1, 3, 5, 5)], "add", "dim 1: a gives 8, b gives 3"),
        ([(2, 8, 5), (1, 8, 4)], "mul", "dim 2: a gives 5, b gives 4"),
        ([(1, 8, 5, 5), (1, 3, 5, 5)], "cat", (1, 11, 5, 5)),
        ([(1, 8, 5, 5), (1, 8, 5, 2)], "cat-1", (1, 8, 5, 7)),
        ([(1, 8, 5, 5), (1, 8, 5)], "cat", "a is 4-d (1, 8, 5, 5), b is 3-d"),
        ([(1, 8, 5, 5), (1, 8, 5, 5)], "cat4", "dim: 4 is out of range for 4-d inputs"),
        ([(1, 8, 5, 5), (1, 3, 4, 5)], "cat", "dim 2: a gives 5, b gives 4"),
    ],
)
def test_merge_rules(shapes: list[tuple[int, ...]], op: str, expected: object) -> None:
    """PyTorch's broadcasting for add/mul, torch.cat's rule for cat (checked against torch in
    test_torch_graph.py)."""
    from convcalc.neteval import merge_shape
    from convcalc.netlayers import MergeLayer, MergeOp

    kind, _, dim = op.partition("cat")
    layer = (
        MergeLayer(MergeOp.CAT, int(dim or 1))
        if op.startswith("cat")
        else MergeLayer(MergeOp(op), 1)
    )
    del kind
    if isinstance(expected, tuple):
        assert merge_shape(layer, tuple(shapes), ("a", "b")) == expected
    else:
        with pytest.raises(
            ConvcalcError, match=str(expected).replace("(", r"\(").replace(")", r"\)")
        ):
            merge_shape(layer, tuple(shapes), ("a", "b"))


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('[[layer]]\nlayer = "relu"\nfrom = "nothing"', "from: 'nothing' is not the input or an"),
        ('[[layer]]\nlayer = "relu"\nfrom = 2\n[[layer]]\nlayer = "relu"', "layer 2 is not before"),
        (
            '[[layer]]\nname = "x"\nlayer = "relu"\n[[layer]]\nname = "x"\nlayer = "relu"',
            "'x' is already layer 1",
        ),
        ('[[layer]]\nname = "input"\nlayer = "relu"', "'input' is already the network input"),
        ('[[layer]]\nname = ""\nlayer = "relu"', "name: empty"),
        ('[[layer]]\nlayer = "add"', "add merges two or more tensors"),
        ('[[layer]]\nlayer = "relu"\nfrom = ["input", "input"]', "relu takes one input, not 2"),
        (
            '[[layer]]\nlayer = "cat"\nfrom = ["input", "input"]\ndim = 1.5',
            "dim: expected an integer",
        ),
        ('[[layer]]\nlayer = "add"\nfrom = ["input", "input"]\ndim = 1', "unknown parameter"),
        ('[[layer]]\nlayer = "relu"\nfrom = []', "from: an empty list"),
        ('[[layer]]\nlayer = "relu"\nfrom = true', "from: expected layer names"),
    ],
)
def test_malformed_graph_specs(body: str, message: str) -> None:
    """References and names are checked when the spec is planned: exit 2, naming the layer."""
    with pytest.raises(MalformedInputError, match=message.replace("(", r"\(")):
        plan_network(load_network("input = [3, 8, 8]\n" + body))


def test_referencing_by_number_and_the_inline_form_stays_linear(runner: CliRunner) -> None:
    """`from = 1` reads layer 1; inline stacks have no `from` (said in --help)."""
    spec = load_network(
        'input = [2, 6]\n[[layer]]\nlayer = "conv1d"\nout_channels = 2\nkernel_size = 1\n'
        '[[layer]]\nlayer = "relu"\n[[layer]]\nlayer = "add"\nfrom = [1, 2]\n'
    )
    result = run_network(spec)
    assert result.layers[2].sources == ("1", "2")  # names; tables say "layer 1"
    bad = runner.invoke(app, ["net", "--in", "3,8,8", "conv2d k3 c4 from=x"])
    assert bad.exit_code == 2 and "cannot read 'from=x'" in bad.stderr
    help_text = " ".join(runner.invoke(app, ["net", "--help"]).stdout.split())
    assert "The inline form is a linear stack" in help_text


def test_receptive_fields_through_merges() -> None:
    """U-Net-style cat (equal jumps): the hull; an SE gate covering everything: whole input; a
    merge of different jumps: no single field (blank)."""
    unet = run_network(load_network(str(EXAMPLES / "unet_small.toml").replace("_small", "")))
    cat = next(layer for layer in unet.layers if layer.name == "up4.cat")
    skip = next(layer for layer in unet.layers if layer.name == "inc")
    up = next(layer for layer in unet.layers if layer.name == "up4.up")
    assert cat.rf is not None and skip.rf is not None and up.rf is not None
    assert cat.rf.jump == skip.rf.jump == up.rf.jump == (1, 1)
    lows = [min(r.bounds(a)[0] for r in (skip.rf, up.rf)) for a in range(2)]
    highs = [max(r.bounds(a)[1] for r in (skip.rf, up.rf)) for a in range(2)]
    assert cat.rf.size == tuple(h - lo + 1 for lo, h in zip(lows, highs))
    se = run_network(load_network(str(EXAMPLES / "se_block.toml")))
    scale = next(layer for layer in se.layers if layer.name == "se.scale")
    assert scale.rf is not None and scale.rf.whole_input
    mixed = run_network(
        load_network(
            'input = [1, 8, 8]\n[[layer]]\nname = "s"\nlayer = "conv2d"\nout_channels = 1\n'
            'kernel_size = 2\nstride = 2\n[[layer]]\nlayer = "upsample"\nscale_factor = 2\n'
            '[[layer]]\nlayer = "add"\nfrom = ["input", 2]\n'
        )
    )
    assert mixed.layers[2].rf is not None  # jumps 1 and 1 (upsampling undoes the stride)
    assert mixed.layers[2].rf.size == (2, 2) and mixed.layers[2].rf.start == (Fraction(1, 2),) * 2


def test_flops_and_zero_macs_vectors(runner: CliRunner) -> None:
    """FLOPs are 2 x MACs, labelled; MACs on padding (PITFALLS 2.4): Conv2d(3->6, k4, p1) on
    2x3x6x6: 14,400 MACs, 11,664 on real elements; ConvT2d(4->6, k4, s2, p1) on 2x4x8x8:
    49,152 MACs, 43,200 land inside the output, 5,952 in the cropped padding."""
    data = json.loads(
        runner.invoke(
            app, ["net", "conv2d k4 p1 c6", "--in", "3,6,6", "--batch", "2", "--json"]
        ).stdout
    )
    assert data["total_macs"] == 14_400 and data["total_flops"] == 28_800
    assert "2 x MACs" in data["flops_rule"]
    assert data["layers"][0]["useful_macs"] == 11_664 and data["layers"][0]["zero_macs"] == 2_736
    data = json.loads(
        runner.invoke(
            app, ["net", "convtranspose2d k4 s2 p1 c6", "--in", "4,8,8", "--batch", "2", "--json"]
        ).stdout
    )
    layer = data["layers"][0]
    assert (layer["macs"], layer["useful_macs"], layer["cropped_macs"]) == (49_152, 43_200, 5_952)
    assert data["total_zero_macs"] == layer["zero_macs"] == 2 * 6 * 4 * 16 * 16 * 16 - 43_200
    table = " ".join(runner.invoke(app, ["net", "conv2d k4 p1 c6", "--in", "3,6,6"]).stdout.split())
    assert "FLOPs = 2 x MACs = 14,400" in table


def test_memory_in_every_format(runner: CliRunner) -> None:
    """JSON carries each figure and its rule; the table prints the rules; markdown and csv carry
    the bytes; --dtype and --optimizer change them; a bad choice is exit 2."""
    spec = str(EXAMPLES / "se_block.toml")
    data = json.loads(runner.invoke(app, ["net", spec, "--json", "--dtype", "float16"]).stdout)
    result = run_network(load_network(spec))
    m = memory(result, Dtype.FLOAT16, Optimizer.ADAM)
    assert data["dtype"] == "float16" and data["dtype_bytes"] == 2
    assert [layer["output_bytes"] for layer in data["layers"]] == list(m.output_bytes)
    assert data["total_param_bytes"] == result.total_params * 2
    assert data["total_activation_bytes"] == m.total_activation_bytes
    assert data["peak_activation_bytes"] == m.peak_activation_bytes
    assert data["training_bytes"] == m.training_bytes and data["optimizer"] == "adam"
    for key in ("activation_rule", "peak_rule", "training_rule", "flops_rule"):
        assert data[key]
    sgd = json.loads(runner.invoke(app, ["net", spec, "--json", "--optimizer", "sgd"]).stdout)
    assert sgd["training_bytes"] == sgd["total_activation_bytes"] + 2 * sgd["total_param_bytes"]
    table = " ".join(runner.invoke(app, ["net", spec]).stdout.split())
    assert "memory, float32 (4 bytes per element)" in table
    assert "until their last reader has run" in table and "2 adam states" in table
    assert f"{m.peak_activation_bytes * 2:,} B" in table
    wide = runner.invoke(app, ["net", spec], env={"COLUMNS": "200"}).stdout
    assert "se.scale: mul <- dw.act, se.gate" in wide
    markdown = runner.invoke(app, ["net", spec, "--format", "markdown"]).stdout
    assert "| bytes |" in markdown and "| se.scale | mul | dw.act, se.gate |" in markdown
    assert "- memory (float32, 4 bytes per element):" in markdown
    csv_text = runner.invoke(app, ["net", spec, "--format", "csv"]).stdout
    assert csv_text.splitlines()[0].startswith("index,name,layer,from,output_shape,output_bytes")
    bad = runner.invoke(app, ["net", spec, "--dtype", "float128"])
    assert bad.exit_code == 2
    assert human_bytes(1024) == "1.0 KiB"


def test_valid_sizes_unet(runner: CliRunner) -> None:
    """The U-Net's skips line up only on multiples of 16: the summary, the first failing layer
    per run, JSON, plain and --near."""
    spec = str(EXAMPLES / "unet.toml")
    result = runner.invoke(app, ["net", spec, "--in", "3,16..512"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    assert "valid: 16k+0 for 16..512" in text
    assert 'layer 36 "up1.cat" (cat)' in text and "16k+(8..15)" in text
    data = json.loads(runner.invoke(app, ["net", spec, "--in", "3,16..512", "--json"]).stdout)
    assert data["valid_sizes"] == list(range(16, 513, 16))
    records = {record["size"]: record for record in data["sizes"]}
    assert records[32]["valid"] and records[32]["output_shape"] == [1, 2, 32, 32]
    failure = records[40]["failure"]
    assert failure["name"] == "up1.cat" and failure["layer"] == 36
    assert failure["message"].startswith('layer 36 "up1.cat" (cat): dim 2: down3 gives 5,')
    assert data["failed_runs"][0] == {
        "from": 17,
        "to": 17,
        "count": 1,
        "failure": records[17]["failure"],
    }
    plain = runner.invoke(app, ["net", spec, "--in", "3,16..64", "--plain"]).stdout.split()
    assert plain == ["16", "32", "48", "64"]
    near = runner.invoke(app, ["net", spec, "--in", "3", "--near", "100", "--json"])
    assert json.loads(near.stdout)["near"] == {
        "size": 100,
        "valid": False,
        "below": 96,
        "above": 112,
    }
    near_text = runner.invoke(app, ["net", spec, "--in", "3,16..100", "--near", "100"]).stdout
    assert "100 is not valid; nearest valid below: 96, above: none" in " ".join(near_text.split())
    assert runner.invoke(app, ["net", spec, "--in", "3,16..64", "--check"]).exit_code == 1
    assert runner.invoke(app, ["net", spec, "--in", "3,32..32", "--check"]).exit_code == 0


def test_valid_sizes_per_dimension() -> None:
    """Per-dimension ranges run every combination; a fixed value holds one dimension. The small
    U-Net halves twice with k3 s2 p1 convs and doubles back with output_padding 1: a size works
    when its halving stays even or ends odd at the right step (60 -> 30 -> 15 -> 30 -> 60)."""
    plan = plan_network(load_network(str(EXAMPLES / "unet_small.toml")))
    sweep = sweep_sizes(plan, parse_ranges("3,60..64,64", 2))
    assert sweep.valid_sizes == [(60, 64), (64, 64)] and not sweep.square
    sweep = sweep_sizes(plan, parse_ranges("3,60..64:4,61..64:3", 2))
    assert [r.spatial for r in sweep.records] == [(60, 61), (60, 64), (64, 61), (64, 64)]
    assert sweep.valid_sizes == [(60, 64), (64, 64)]
    failure = sweep.records[0].failure
    assert failure is not None and failure.layer.name == "dec2"


@pytest.mark.parametrize(
    "text",
    ["3,16..", "3,5..2", "3..4,16", "3,0..4", "3,16..20x", "3,a..b", "3,1..400000", "3,16..20:0"],
)
def test_malformed_ranges(runner: CliRunner, text: str) -> None:
    result = runner.invoke(app, ["net", str(EXAMPLES / "unet.toml"), "--in", text])
    assert result.exit_code == 2, result.stdout
    assert "--in" in result.stderr and "Traceback" not in result.stderr


def test_progressions() -> None:
    """Summaries as the issue asks: residues of a period, or the list."""
    assert progressions(list(range(16, 513, 16)), 16, 512) == "16k+0 for 16..512"
    assert progressions([], 1, 9) == "none"
    assert progressions(list(range(1, 10)), 1, 9) == "every size 1..9"
    assert progressions([9, 10, 11], 1, 11) == "every size from 9 to 11"
    odd = [s for s in range(1, 100) if s % 2]
    assert progressions(odd, 1, 99) == "2k+1 for 1..99"


def test_garbled_graph_specs_never_crash(runner: CliRunner) -> None:
    """Random TOML graphs with wrong types, unknown and later references, odd merges, in every
    mode (one size, a size sweep, --near, every format): exit 0, 1 or 2, never a traceback."""
    import random

    rng = random.Random("garbled-graphs")
    values = ['"a"', '"input"', '["a", "b"]', "[]", "3", "0", "-1", "true", "1.5", '"1"', "[1, 2]"]
    kinds = ['"add"', '"mul"', '"cat"', '"conv2d"', '"relu"', '"maxpool2d"', '"linear"']
    kinds += ['"flatten"', '"adaptiveavgpool2d"', '"upsample"', '"batchnorm2d"', '"Concat"']
    modes = [[], ["--json"], ["--in", "3,1..12"], ["--in", "3", "--near", "5", "--json"]]
    modes += [["--dtype", "int8", "--format", "csv"], ["--format", "markdown"]]
    codes = set()
    for _ in range(150):
        lines = ["input = [3, 8, 8]"]
        for _ in range(rng.randint(1, 5)):
            lines.append("[[layer]]")
            if rng.random() < 0.7:
                lines.append(f'name = "{rng.choice(["a", "b", "c", "input", "1"])}"')
            lines.append(f"layer = {rng.choice(kinds)}")
            for key in ("from", "dim", "out_channels", "kernel_size", "out_features", "expect"):
                if rng.random() < (0.6 if key == "from" else 0.25):
                    lines.append(f"{key} = {rng.choice(values)}")
        result = runner.invoke(app, ["net", "\n".join(lines) + "\n", *rng.choice(modes)])
        output = result.stdout + result.stderr
        assert result.exit_code in (0, 1, 2) and "Traceback" not in output, output
        assert "internal error" not in output, output
        codes.add(result.exit_code)
    assert {0, 2} <= codes
