"""Issue 16: every file, stream and name is hostile until checked.

- the corpus of tests/hostile.py, each case a real process under a 2 GB memory bound and a time
  bound: exit 1 or 2 (0 where the input is valid) with one line, no traceback, no escape
  sequence on either stream, no file changed but what -o names, generated code that runs nothing;
- fuzz tests per reader that mutate real files (drop keys, swap types, nest, truncate,
  huge/negative/NaN numbers, control characters in names) and run in-process;
- atomic -o, read-once standard input through real pipes, the safe-display rules.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).parent))
import hostile  # noqa: E402
from convcalc.boundary import display, display_block, display_terminal  # noqa: E402
from test_hardening import convcalc  # noqa: E402 - one way to run the console script

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


# --- the corpus ----------------------------------------------------------------------------------


@pytest.mark.parametrize("case", hostile.CASES, ids=[case.name for case in hostile.CASES])
def test_hostile_input(case: hostile.Case, tmp_path: Path) -> None:
    assert hostile.run_case(case, tmp_path) == []


def test_the_corpus_covers_every_class() -> None:
    """The classes of the issue, each with several members."""
    names = " ".join(case.name for case in hostile.CASES)
    for word in ("esc", "torch code", "-o", "stdin", "keras", "toml", "printed", "zip", "trace"):
        assert names.count(word) >= 2, word


# --- in-process runs for the fuzz tests ----------------------------------------------------------


def run(argv: list[str]) -> tuple[int, str, str]:
    """The console script's fast path in this process: (exit status, stdout, stderr)."""
    from convcalc.entry import _fast

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = _fast(argv)
    assert code is not None, f"the fast path handed {argv} to typer"
    return code, out.getvalue(), err.getvalue()


def assert_clean(code: int, out: str, err: str) -> None:
    """Exit 0, 1 or 2; a failure is one line on stderr; nothing unsafe on either stream."""
    assert code in (0, 1, 2), (code, err)
    assert "Traceback" not in err and "internal error" not in err, err
    if code != 0 and not err and out.startswith("{"):
        assert json.loads(out)["exit_code"] == code  # --json: the error as JSON on stdout
    elif code != 0 and not (code == 1 and out and not err):
        lines = err.splitlines()  # usage lines may come first, for a command-line error
        assert lines and lines[-1].startswith("Error: "), err
        assert sum(line.startswith("Error") for line in lines) == 1, err
    for text in (out, err):
        assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text


FUZZ = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

NASTY_NAMES = st.sampled_from(
    ["\x1b]0;t\x07", "a\nError: forged", "\u202eabc", "\x00", "²", 'x"""y', "' or 1", "\ud800", ""]
)
NASTY_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**70), max_value=10**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.lists(st.integers(min_value=-3, max_value=9), max_size=4),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    NASTY_NAMES,
)


def _mutate(data: Any, draw: Any, depth: int = 0) -> Any:
    """One random change somewhere in a JSON-like tree: drop a key, swap a value's type, nest it,
    or put in a nasty name or number."""
    if isinstance(data, dict) and data and depth < 6:
        key = draw(st.sampled_from(sorted(data, key=str)))
        action = draw(st.sampled_from(["drop", "replace", "descend", "descend", "nest"]))
        copy = dict(data)
        if action == "drop":
            del copy[key]
        elif action == "replace":
            copy[key] = draw(NASTY_VALUES)
        elif action == "nest":
            copy[key] = [[copy[key]]]
        else:
            copy[key] = _mutate(copy[key], draw, depth + 1)
        return copy
    if isinstance(data, list) and data and depth < 6:
        index = draw(st.integers(0, len(data) - 1))
        copy = list(data)
        action = draw(st.sampled_from(["drop", "replace", "descend", "descend", "duplicate"]))
        if action == "drop":
            del copy[index]
        elif action == "replace":
            copy[index] = draw(NASTY_VALUES)
        elif action == "duplicate":
            copy.insert(index, copy[index])
        else:
            copy[index] = _mutate(copy[index], draw, depth + 1)
        return copy
    return draw(NASTY_VALUES)


def _toml_text(value: Any) -> str:
    """A TOML value for the fuzz (our exporter's writer, with TOML's own NaN and inf)."""
    from convcalc.exporters import toml_value

    if isinstance(value, float) and value != value:
        return "nan"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {_toml_text(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_toml_text(v) for v in value) + "]"
    if value is None:
        return '""'
    return toml_value(value)


def _toml_document(data: dict[str, Any]) -> str:
    lines = [f"{json.dumps(k)} = {_toml_text(v)}" for k, v in data.items() if k != "layer"]
    layers = data.get("layer", [])
    if isinstance(layers, list) and all(isinstance(layer, dict) for layer in layers):
        for layer in layers:
            lines.append("[[layer]]")
            lines.extend(f"{json.dumps(k)} = {_toml_text(v)}" for k, v in layer.items())
    else:
        lines.append(f"layer = {_toml_text(layers)}")
    return "\n".join(lines) + "\n"


@FUZZ
@given(data=st.data())
def test_fuzz_toml_specs(data: st.DataObject, tmp_path: Path) -> None:
    name = data.draw(st.sampled_from(["unet_small.toml", "se_block.toml", "resnet18.toml"]))
    spec = tomllib.loads((EXAMPLES / name).read_text())
    mutated = _mutate(spec, data.draw)
    if not isinstance(mutated, dict):
        mutated = {"layer": mutated}
    path = tmp_path / "fuzz.toml"
    path.write_text(_toml_document(mutated), encoding="utf-8", errors="surrogatepass")
    fmt = data.draw(st.sampled_from([[], ["--json"], ["--plain"], ["--format", "torch"]]))
    assert_clean(*run(["net", str(path), *fmt]))


def _keras_model() -> dict[str, Any]:
    return json.loads(
        hostile._keras(
            [
                hostile._input_layer([None, 16, 16, 3]),
                hostile._conv(name="conv", activation="relu"),
                {"class_name": "MaxPooling2D", "config": {"name": "pool", "pool_size": [2, 2]}},
                {"class_name": "BatchNormalization", "config": {"name": "bn"}},
                {"class_name": "Flatten", "config": {"name": "flat"}},
                {"class_name": "Dense", "config": {"name": "fc", "units": 10}},
            ]
        )
    )


@FUZZ
@given(data=st.data())
def test_fuzz_keras_json(data: st.DataObject, tmp_path: Path) -> None:
    mutated = _mutate(_keras_model(), data.draw)
    path = tmp_path / "model.json"
    text = json.dumps(mutated, allow_nan=True)
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    fmt = data.draw(st.sampled_from([[], ["--json"], ["--format", "toml"]]))
    assert_clean(*run(["net", str(path), *fmt]))


@FUZZ
@given(data=st.data())
def test_fuzz_printed_models(data: st.DataObject, tmp_path: Path) -> None:
    name = data.draw(st.sampled_from(["vgg11_print.txt", "resnet18_print.txt"]))
    lines = (EXAMPLES / name).read_text().splitlines()
    for _ in range(data.draw(st.integers(1, 3))):
        index = data.draw(st.integers(0, len(lines) - 1))
        action = data.draw(
            st.sampled_from(["truncate", "number", "name", "drop", "duplicate", "repeat", "cut"])
        )
        line = lines[index]
        if action == "truncate":
            lines = lines[:index]
        elif action == "number":
            value = data.draw(st.sampled_from(["0", "-4", "1e400", "nan", "9" * 80, "(", "abc"]))
            lines[index] = line.replace("3", value, 1)
        elif action == "name":
            lines[index] = line.replace("(", "(" + data.draw(NASTY_NAMES), 1)
        elif action == "drop":
            del lines[index]
        elif action == "duplicate":
            lines.insert(index, line)
        elif action == "repeat":
            count = data.draw(st.sampled_from(["0", "7", "100000", "99999999"]))
            lines[index] = line.replace("): ", f"): {count} x ", 1)
        else:
            lines[index] = line[: len(line) // 2]
        if not lines:
            break
    path = tmp_path / "model.txt"
    path.write_text("\n".join(lines), encoding="utf-8", errors="surrogatepass")
    assert_clean(*run(["net", str(path), "--in", "3,32,32"]))


@FUZZ
@given(data=st.data())
def test_fuzz_onnx_bytes(data: st.DataObject, tmp_path: Path) -> None:
    """Truncated and bit-flipped ONNX files: exit 2 (or a model that still reads)."""
    pytest.importorskip("onnx")
    raw = bytearray((EXAMPLES / "tiny_unet.onnx").read_bytes())
    if data.draw(st.booleans()):
        raw = raw[: data.draw(st.integers(0, len(raw)))]
    for _ in range(data.draw(st.integers(0, 8))):
        if raw:
            raw[data.draw(st.integers(0, len(raw) - 1))] ^= 1 << data.draw(st.integers(0, 7))
    path = tmp_path / "model.onnx"
    path.write_bytes(bytes(raw))
    assert_clean(*run(["net", str(path), "--in", "3,32,32"]))


@FUZZ
@given(value=NASTY_VALUES)
def test_fuzz_trace_data(value: Any, tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text(json.dumps([value, [value]]), encoding="utf-8", errors="surrogatepass")
    assert_clean(*run(["trace", "conv1d", "--x", f"@{path}", "--w", "1"]))


# --- -o ------------------------------------------------------------------------------------------


def test_output_file_is_replaced_only_on_success(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    target.write_text("precious\n")
    target.chmod(0o640)
    failed = convcalc("net", "conv2d k9 c4", "--in", "3,4,4", "-o", str(target))
    assert failed.returncode == 1
    assert target.read_text() == "precious\n"
    ok = convcalc("net", "conv2d k3 c4", "--in", "3,8,8", "--plain", "-o", str(target))
    assert ok.returncode == 0 and ok.stdout == ""
    assert target.read_text() == "1x4x6x6\n"
    assert target.stat().st_mode & 0o777 == 0o640  # the file's permissions kept
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]  # no temporary left


def test_output_file_may_not_be_an_input(tmp_path: Path) -> None:
    spec = tmp_path / "t.toml"
    spec.write_text((EXAMPLES / "unet_small.toml").read_text())
    before = spec.read_text()
    for target in (str(spec), str(tmp_path / "." / "t.toml")):
        result = convcalc("net", str(spec), "--format", "toml", "-o", target)
        assert result.returncode == 2 and "is an input of this command" in result.stderr
        assert spec.read_text() == before
    data = tmp_path / "x.json"
    data.write_text("[1, 2, 3]")
    result = convcalc("trace", "conv1d", "--x", f"@{data}", "--w", "1", "-o", str(data))
    assert result.returncode == 2 and data.read_text() == "[1, 2, 3]"


def test_output_to_a_device_is_written_directly() -> None:
    result = convcalc("shape", "conv2d", "--in", "5", "--k", "3", "-o", "/dev/null")
    assert result.returncode == 0 and result.stdout == ""


# --- standard input ------------------------------------------------------------------------------


def test_stdin_is_read_once() -> None:
    """The fast path never hands a started command to typer: one read, one run, one answer."""
    toml = (EXAMPLES / "unet_small.toml").read_text()
    piped = convcalc("net", "-", "--plain", input=toml)
    assert piped.returncode == 0 and piped.stdout.strip() == "1x3x64x64"
    garbage = convcalc("net", "-", "--in", "3,8,8", input="\x00\x01garbage")
    assert garbage.returncode == 2 and garbage.stdout == ""
    empty = convcalc("net", "-", "--in", "3,8,8", input="")
    assert empty.returncode == 2 and "empty" in empty.stderr


def test_stdin_through_a_real_pipe() -> None:
    piped = subprocess.run(
        f"cat {EXAMPLES / 'unet_small.toml'} | {sys.executable} -m convcalc net - --json",
        shell=True,
        capture_output=True,
        timeout=60,
    )
    assert piped.returncode == 0 and json.loads(piped.stdout)["output_shape"] == [1, 3, 64, 64]
    inline = subprocess.run(
        f"echo 'conv2d k3 c4' | {sys.executable} -m convcalc net - --in 3,8,8 --plain",
        shell=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    # read once and run once: the piped inline form is the network (it was read twice and
    # came out as an empty network)
    assert inline.returncode == 0 and inline.stdout == "1x4x6x6\n"


# --- what reaches the terminal -------------------------------------------------------------------


def test_names_print_as_themselves(tmp_path: Path) -> None:
    """rich's markup and emoji codes in a name are text: the table, its memory rules (which
    name the peak layer) and diff print them as given."""
    names = ("a[/]b", "[bold]x", ":smile:")
    for name in names:
        spec = tmp_path / "t.toml"
        spec.write_text(
            f'input = [3, 8, 8]\n[[layer]]\nname = "{name}"\nlayer = "conv2d"\n'
            "out_channels = 4\nkernel_size = 3\n"
        )
        result = subprocess.run(
            [sys.executable, "-m", "convcalc", "net", str(spec)],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "COLUMNS": "200"},
        )
        assert result.returncode == 0, result.stderr
        assert f"{name}: conv2d" in result.stdout
        assert f'at layer 1 "{name}" (conv2d)' in result.stdout


def test_display_escapes_what_a_terminal_acts_on() -> None:
    assert display("a\x1b]0;x\x07b") == "a\\e]0;x\\x07b"
    assert display("line\nError: forged") == "line\\nError: forged"
    assert display("\u202eevil") == "\\u202eevil"
    assert display("\x9b2J") == "\\x9b2J"  # the one-byte CSI
    assert display("layer1.0.conv1 ²") == "layer1.0.conv1 ²"  # ordinary text untouched
    assert display_block("a\n\tb\x1b") == "a\n\tb\\e"
    styled = "\x1b[1;31mError\x1b[0m \x1b[2J"
    assert display_terminal(styled) == "\x1b[1;31mError\x1b[0m \\e[2J"


def test_generated_code_carries_names_as_data(tmp_path: Path) -> None:
    """A spec named to break out of the docstring, and layers with names that are not Python:
    the module compiles, and imported under a stub torch it runs nothing."""
    name = 'x"""+__import__("os").system("touch pwned")+"""y.toml'
    spec = tmp_path / name
    spec.write_text(
        'input = [3, 8, 8]\n[[layer]]\nname = "²"\nlayer = "conv2d"\nout_channels = 4\n'
        'kernel_size = 3\n[[layer]]\nname = "class"\nlayer = "relu"\n'
    )
    result = convcalc("net", name, "--format", "torch", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert hostile._check_torch_code(result.stdout, tmp_path) == []
    assert not (tmp_path / "pwned").exists()
    assert f"SOURCE = {name!r}" in result.stdout


def test_toml_output_reads_back_with_hostile_names(tmp_path: Path) -> None:
    spec = tmp_path / "a\nb.toml"
    spec.write_text(
        'input = [3, 8, 8]\n[[layer]]\nname = "x\\u001b[2J\\u007f\\"y"\nlayer = "relu"\n'
    )
    written = convcalc("net", str(spec), "--format", "toml")
    assert written.returncode == 0
    back = tomllib.loads(written.stdout)
    assert back["layer"][0]["name"] == 'x\x1b[2J\x7f"y'
    again = tmp_path / "again.toml"
    again.write_text(written.stdout)
    assert convcalc("net", str(again), "--plain").stdout.strip() == "1x3x8x8"
