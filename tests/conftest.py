"""Shared fixtures: a CliRunner, golden-file comparison, and torch detection (a module that
cannot be imported for want of a package is skipped by the conftest.py at the top)."""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from typer.testing import CliRunner

try:  # a test tool: where it is absent, the modules that use it are skipped
    from hypothesis import settings
except ImportError:
    pass
else:
    # No per-example deadline (a loaded CI machine is slow, not wrong) and no example database
    # in the work tree; derandomized so a CI run is repeatable.
    settings.register_profile("convcalc", deadline=None, database=None, derandomize=True)
    settings.register_profile("explore", deadline=None, database=None, max_examples=1000)
    settings.load_profile(os.environ.get("CONVCALC_HYPOTHESIS_PROFILE", "convcalc"))


GOLDEN = Path(__file__).parent / "golden"

# The torch oracle imports torch at module level; it is a helper the torch tests import after
# `pytest.importorskip("torch")`, not a test module. --doctest-modules would import it during
# collection and fail the whole run on a machine without torch.
collect_ignore = ["torch_oracle.py", "torch_graph.py"]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--overwrite", action="store_true", help="rewrite tests/golden/*.out")


@pytest.fixture
def runner() -> CliRunner:
    from typer.testing import CliRunner

    return CliRunner()


@pytest.fixture
def golden(request: pytest.FixtureRequest) -> Callable[[str, str], None]:
    """Compare text with tests/golden/NAME.out (rewrite it with --overwrite)."""

    def check(name: str, text: str) -> None:
        path = GOLDEN / f"{name}.out"
        if request.config.getoption("--overwrite") or not path.exists():
            path.write_text(text, encoding="utf-8")
        assert text == path.read_text(encoding="utf-8")

    return check


@pytest.fixture
def render() -> Callable[..., str]:
    """Render with a rich printer function into plain text at 80 columns."""
    from convcalc.render import make_console

    def run(printer: Callable[..., None], *args: object, width: int = 80) -> str:
        buffer = io.StringIO()
        console = make_console(buffer, width, True, None)
        printer(console, *args)
        return buffer.getvalue()

    return run
