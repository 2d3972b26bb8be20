"""A real browser for the workspace's tests: Debian's Chromium driven by Playwright, axe-core (from npm, installed
into tests/node_modules by `make test`) checking every page visited against WCAG 2.1 A and AA, and a screenshot of
each page saved under var/test-artifacts/workspace/."""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
CHROMIUM = Path("/usr/bin/chromium")
AXE = REPO / "tests" / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = REPO / "var" / "test-artifacts" / "workspace"
WCAG_21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
SCREENSHOT_MAX_HEIGHT = 3000


def missing_browser_parts() -> str | None:
    """Why the browser tests cannot run here, or None."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed (pip install playwright)"
    chromium = CHROMIUM if CHROMIUM.exists() else None
    if chromium is None and not shutil.which("chromium"):
        return "Chromium is not installed (apt-get install chromium)"
    if not AXE.exists():
        return "axe-core is not installed (npm ci --prefix tests)"
    return None


def chromium_path() -> str:
    return str(CHROMIUM) if CHROMIUM.exists() else str(shutil.which("chromium"))


def axe_violations(page) -> list[dict]:  # noqa: ANN001 - playwright.sync_api.Page
    """axe-core's WCAG 2.1 A/AA violations on the page as it is now."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        "async (tags) => await axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})",
        WCAG_21_AA,
    )
    return result["violations"]


def describe(violations: list[dict]) -> str:
    lines = []
    for v in violations:
        lines.append(f"- {v['id']} ({v['impact']}): {v['help']} [{v['helpUrl']}]")
        for node in v["nodes"][:5]:
            lines.append(f"    {' '.join(map(str, node['target']))}: {node['failureSummary']!r}")
            lines.append(f"      {node['html'][:200]}")
    return "\n".join(lines)


@dataclass
class Visits:
    """Checks each page a test visits: no axe-core violations; a screenshot kept as a test artifact."""

    folder: Path

    def check(self, page, name: str) -> Path:  # noqa: ANN001
        """Screenshot the page as `name`.png, then fail if axe-core finds any WCAG 2.1 A/AA violation."""
        self.folder.mkdir(parents=True, exist_ok=True)
        shot = self.folder / f"{re.sub(r'[^a-z0-9-]+', '-', name.lower())}.png"
        # The whole page, or its first screens when it is very long (a list of every item).
        height = page.evaluate("() => document.documentElement.scrollHeight")
        width = page.viewport_size["width"] if page.viewport_size else 1280
        clip = (
            {"x": 0, "y": 0, "width": width, "height": SCREENSHOT_MAX_HEIGHT}
            if height > SCREENSHOT_MAX_HEIGHT
            else None
        )
        page.screenshot(path=str(shot), full_page=True, clip=clip)
        print(f"screenshot of {name}: {shot}")
        violations = axe_violations(page)
        assert not violations, f"axe-core: {len(violations)} WCAG 2.1 A/AA violations on {name} ({page.url}):\n" + describe(violations)  # fmt: skip
        return shot


@pytest.fixture
def browser(request: pytest.FixtureRequest):  # noqa: ANN201 - playwright.sync_api.Browser
    """Chromium, for one test. Playwright's sync API keeps an event loop running in this thread while it is open,
    so asyncio.run() (the database fixture's) fails meanwhile: the browser is closed after each test, and the
    test's database is made before it and dropped after it."""
    why = missing_browser_parts()
    # Not a skip: a browser test that cannot run is a failure (make test installs Chromium and axe-core).
    assert not why, why
    if "database_url" in request.fixturenames:
        request.getfixturevalue("database_url")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=chromium_path())
        try:
            yield chromium
        finally:
            chromium.close()


def focus_report(page) -> dict:  # noqa: ANN001
    """What has the keyboard focus, and whether it shows: its tag, name, text, and computed outline."""
    return page.evaluate(
        """() => {
        const el = document.activeElement;
        if (!el || el === document.body) return {tag: 'body'};
        const style = getComputedStyle(el);
        const box = el.getBoundingClientRect();
        return {
            tag: el.tagName.toLowerCase(), type: el.type || null, name: el.name || null, id: el.id || null,
            href: el.getAttribute('href'), value: el.value === undefined ? null : String(el.value),
            text: (el.innerText || el.value || '').trim().slice(0, 80),
            key: el.dataset.focusKey || null,
            outlineStyle: style.outlineStyle, outlineWidth: parseFloat(style.outlineWidth) || 0,
            outlineColor: style.outlineColor, boxShadow: style.boxShadow,
            visible: box.width > 0 && box.height > 0 && box.bottom > 0 && box.right > 0,
        };
    }"""
    )


def mark_focusables(page) -> list[dict]:  # noqa: ANN001
    """Number every link and control a keyboard user should reach (data-focus-key) and describe them."""
    return page.evaluate(
        """() => {
        const selector = 'a[href], button, input:not([type=hidden]), select, textarea, summary, [tabindex="0"]';
        const shown = el => { const b = el.getBoundingClientRect(); const s = getComputedStyle(el);
            return (b.width > 0 || b.height > 0 || el.classList.contains('skip-link')) && s.visibility !== 'hidden'; };
        // What a closed <details> holds (its summary aside) is out of the keyboard's reach until it is opened.
        const folded = el => {
            for (let d = el.parentElement && el.parentElement.closest('details:not([open])'); d;
                 d = d.parentElement && d.parentElement.closest('details:not([open])')) {
                if (!(el.tagName === 'SUMMARY' && el.parentElement === d)) return true;
            }
            return false;
        };
        const found = [...document.querySelectorAll(selector)].filter(el => !el.disabled && shown(el) && !folded(el));
        // Of a group of radio buttons, Tab reaches one (the checked one, else the first): the group is one stop.
        const stops = [];
        const groups = {};
        found.forEach(el => {
            if (el.type === 'radio') {
                if (!(el.name in groups)) { groups[el.name] = String(stops.length); stops.push(el); }
                el.dataset.focusKey = groups[el.name];
            } else { el.dataset.focusKey = String(stops.length); stops.push(el); }
        });
        return stops.map(el => ({key: el.dataset.focusKey, tag: el.tagName.toLowerCase(), name: el.name || null,
            text: (el.innerText || el.value || el.getAttribute('aria-label') || '').trim().slice(0, 80)}));
    }"""
    )


def as_json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, indent=1)
