"""Pictures in a real browser: headless Chromium driven by Playwright (Debian's
chromium-headless-shell; Playwright's own download is not reachable here). The HTML page loads
without console errors, the next button and the arrow keys move the window and update the sum,
the last step shows the whole output, a screenshot is not blank; the SVG animates by itself.
Skipped where Playwright or the browser is absent."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from convcalc.cli import app

pytestmark = pytest.mark.browser
SEED_X = "1,2,3,4,5;6,7,8,9,10;11,12,13,14,15;16,17,18,19,20;21,22,23,24,25"
BROWSERS = ("/usr/bin/chromium-headless-shell", "/usr/lib/chromium/chromium-headless-shell")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api")
    path = next((p for p in BROWSERS if Path(p).exists()), shutil.which("chromium-headless-shell"))
    if path is None:
        pytest.skip("no chromium-headless-shell (apt-get install -y chromium-headless-shell)")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=path)
        yield launched
        launched.close()


def page_of(browser: Any, path: Path, errors: list[str]) -> Any:
    page = browser.new_page(viewport={"width": 1000, "height": 900})
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(path.as_uri())
    return page


def visible_frames(page: Any) -> list[str]:
    return page.evaluate(
        """() => [...document.querySelectorAll('g.frame')]
            .filter(g => getComputedStyle(g).visibility === 'visible')
            .map(g => g.dataset.frame)"""
    )


def shown_results(page: Any) -> int:
    return page.evaluate(
        """() => [...document.querySelectorAll('g.result')]
            .filter(g => getComputedStyle(g).visibility === 'visible').length"""
    )


def test_html_steps(browser: Any, tmp_path: Path) -> None:
    path = tmp_path / "seed.html"
    result = CliRunner().invoke(
        app,
        ["trace", "conv2d", "--x", SEED_X, "--w", "1,2,3;4,5,6;7,8,9", "--format", "html"],
    )
    path.write_text(result.stdout)
    errors: list[str] = []
    page = page_of(browser, path, errors)
    assert page.inner_text("#where").startswith("step 1 of 9")
    assert visible_frames(page) == ["0"] and shown_results(page) == 1
    assert page.inner_text("#value") == "= 411"
    first_sum = page.inner_text("#sum")
    page.click("#next")
    assert page.inner_text("#where").startswith("step 2 of 9")
    assert visible_frames(page) == ["1"] and page.inner_text("#value") == "= 456"
    assert page.inner_text("#sum") != first_sum and "running sum 456" in page.inner_text("#sum")
    page.keyboard.press("ArrowRight")
    assert visible_frames(page) == ["2"] and page.inner_text("#value") == "= 501"
    page.keyboard.press("ArrowLeft")
    assert visible_frames(page) == ["1"]
    page.keyboard.press("End")
    assert visible_frames(page) == ["8"] and shown_results(page) == 9  # the whole output
    current = page.evaluate("() => document.querySelector('tr.step.current').dataset.step")
    assert current == "8"
    shot = page.screenshot()
    blank = browser.new_page(viewport={"width": 1000, "height": 900}).screenshot()
    assert len(shot) > 3 * len(blank)
    assert errors == []


def test_scatter_view_follows_the_steps(browser: Any, tmp_path: Path) -> None:
    """A transposed conv's page: the full scatter canvas highlights the cell that becomes the
    current output (the padding crops the grey ones)."""
    path = tmp_path / "scatter.html"
    result = CliRunner().invoke(
        app,
        ["trace", "convtranspose2d", "--x", "1,2;3,4", "--w", "1,2;3,4", "--s", "2", "--p", "1"]
        + ["--view", "scatter", "--format", "html"],
    )
    path.write_text(result.stdout)
    errors: list[str] = []
    page = page_of(browser, path, errors)

    def highlighted() -> list[str]:
        return page.evaluate(
            "() => [...document.querySelectorAll('.views td.hl')].map(t => t.textContent)"
        )

    assert highlighted() == ["4"] and page.inner_text("#value") == "= 4"
    page.keyboard.press("ArrowRight")
    assert highlighted() == ["6"] and page.inner_text("#value") == "= 6"
    assert page.evaluate("() => document.querySelectorAll('.views td.cropped').length") == 12
    assert errors == []


def test_svg_animates_by_itself(browser: Any, tmp_path: Path) -> None:
    """No script: SMIL moves the window from output to output and fills the output in."""
    path = tmp_path / "anim.svg"
    result = CliRunner().invoke(
        app, ["shape", "conv2d", "--in", "5", "--k", "3", "--s", "2", "--format", "svg"]
    )
    path.write_text(result.stdout)
    errors: list[str] = []
    page = page_of(browser, path, errors)
    page.evaluate("() => document.documentElement.pauseAnimations()")
    page.evaluate("() => document.documentElement.setCurrentTime(0.1)")
    assert visible_frames(page) == ["0"] and shown_results(page) == 1
    page.evaluate("() => document.documentElement.setCurrentTime(0.8 * 2 + 0.1)")
    assert visible_frames(page) == ["2"] and shown_results(page) == 3
    page.evaluate("() => document.documentElement.setCurrentTime(0.8 * 3 + 0.7)")
    assert visible_frames(page) == ["3"] and shown_results(page) == 4  # the last: all of them
    assert errors == []


def test_net_svg_renders(browser: Any, tmp_path: Path) -> None:
    path = tmp_path / "net.svg"
    result = CliRunner().invoke(
        app,
        [
            "net",
            str(Path(__file__).parent.parent / "examples" / "se_block.toml"),
            "--format",
            "svg",
        ],
    )
    path.write_text(result.stdout)
    errors: list[str] = []
    page = page_of(browser, path, errors)
    boxes = page.evaluate("() => document.querySelectorAll('g.layer').length")
    assert boxes == 16 and errors == []
    assert "se.scale: mul" in page.evaluate("() => document.documentElement.textContent")
