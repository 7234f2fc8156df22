"""pytest, for the whole tree (tests/ and the doctests of src/convcalc), where the README's test
command was not run: a package it installs (convcalc with typer, rich and numpy; hypothesis) is
missing. Then every test is skipped with one line naming what is missing and that command,
and a module that cannot be imported for want of a package is skipped too, rather than
stopping the whole collection. The oracles (torch, TensorFlow, onnx, Playwright) are optional:
their own tests skip where they are absent."""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Generator

import pytest

# what the README's test command installs: convcalc, its dependencies, its test tools
INSTALLED = ("convcalc", "typer", "rich", "numpy", "hypothesis")
HOW = 'python -m pip install -e ".[test]" && python -m pytest (README) installs it'
_MISSING = re.compile(r"ModuleNotFoundError: No module named '([A-Za-z0-9_]+)")


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(
    collector: pytest.Collector,
) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
    """See the module docstring."""
    report = yield
    if report.failed:
        found = _MISSING.search(str(report.longrepr))
        if found:
            report.outcome = "skipped"
            report.longrepr = (
                str(collector.path),
                0,
                f"Skipped: {found.group(1)} is not installed in this Python; {HOW}",
            )
    return report


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    absent = [name for name in INSTALLED if importlib.util.find_spec(name) is None]
    if absent:
        reason = f"{', '.join(absent)} not installed in this Python; {HOW}"
        for item in items:
            item.add_marker(pytest.mark.skip(reason=reason))
