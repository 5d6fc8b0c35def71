"""Checks every browser test runs on every page it visits: keyboard entry, axe-core, and 320 px reflow.

    from tests.browser.checks import check_page
    page.goto(...); check_page(page)

Call it straight after a navigation, before typing into the page: the keyboard check presses Tab
from the top of a freshly loaded document.
"""

from __future__ import annotations

import functools
from pathlib import Path

from django.conf import settings

AXE_PATH = Path(settings.BASE_DIR) / "node_modules" / "axe-core" / "axe.min.js"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
NARROW = {"width": 320, "height": 800}
SKIP_LINK_TEXT = "Skip to main content"

_RUN_AXE = """async (tags) => {
  const results = await axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']});
  return results.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
    nodes: v.nodes.map(n => ({target: n.target.map(String), html: n.html, summary: n.failureSummary || ''})),
  }));
}"""

# The innermost elements sticking out past the right edge (not those a scrolling box clips), to say what to fix.
_OVERFLOWING = """(limit) => {
  // Past the edge itself, or its content (a long unbroken word, say) spilling out of it past the edge.
  const over = el => {
    const box = el.getBoundingClientRect();
    if (box.width === 0) return false;
    const spill = getComputedStyle(el).overflowX === 'visible' ? el.scrollWidth - el.clientWidth : 0;
    return box.right > limit + 0.5 || (spill > 0.5 && box.left + el.clientLeft + el.scrollWidth > limit + 0.5);
  };
  // A scrolling box clips only what it contains as a containing block: an absolutely positioned
  // descendant escapes it unless the box (or something inside it) is positioned.
  const clipped = el => {
    let position = getComputedStyle(el).position;
    for (let up = el.parentElement; up && up !== document.body; up = up.parentElement) {
      const style = getComputedStyle(up);
      if (position === 'fixed') return false;
      if (position === 'absolute' && style.position === 'static') continue;
      if (style.overflowX !== 'visible' && !over(up)) return true;
      position = style.position;
    }
    return false;
  };
  const out = [];
  for (const el of document.body.querySelectorAll('*')) {
    if (!over(el) || clipped(el)) continue;
    if ([...el.children].some(child => over(child) && !clipped(child))) continue;
    const id = el.id ? '#' + el.id : '';
    const cls = typeof el.className === 'string' && el.className.trim() ? '.' + el.className.trim().split(/\\s+/).join('.') : '';
    const text = (el.textContent || '').trim().slice(0, 60);
    out.push(`${el.tagName.toLowerCase()}${id}${cls} "${text}" (right edge at ${Math.round(Math.max(el.getBoundingClientRect().right, el.getBoundingClientRect().left + el.scrollWidth))}px)`);
    if (out.length >= 10) break;
  }
  return out;
}"""


@functools.cache
def axe_source() -> str:
    if not AXE_PATH.exists():
        raise AssertionError(f"axe-core is missing at {AXE_PATH}: run `npm ci` (make test does) in the repository root")
    return AXE_PATH.read_text(encoding="utf-8")


def _where(page) -> str:
    return f"{page.title()!r} at {page.url}"


def axe_violations(page) -> list[dict]:
    """Injects axe-core (page.evaluate runs under the page's strict CSP without loosening it) and runs it."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(axe_source() + "\n;true")
    return page.evaluate(_RUN_AXE, AXE_TAGS)


def format_violations(violations: list[dict]) -> str:
    lines = []
    for v in violations:
        lines.append(f"- {v['id']} ({v['impact']}): {v['help']} <{v['helpUrl']}>")
        for node in v["nodes"]:
            lines.append(f"    at {' '.join(node['target'])}: {node['html'][:200]}")
            for summary_line in node["summary"].splitlines():
                lines.append(f"      {summary_line}")
    return "\n".join(lines)


def assert_no_axe_violations(page, label: str = "") -> None:
    violations = axe_violations(page)
    assert not violations, (
        f"axe-core found {len(violations)} accessibility violation(s) on {_where(page)}{label}:\n"
        + format_violations(violations)
    )


def assert_skip_link_comes_first(page) -> None:
    """The first Tab lands on a visible "Skip to main content" link, and Enter on it moves focus to <main>."""
    page.keyboard.press("Tab")
    focused = page.evaluate(
        """() => {
          const el = document.activeElement;
          const box = el.getBoundingClientRect();
          return {tag: el.tagName.toLowerCase(), text: (el.textContent || '').trim(), href: el.getAttribute('href'),
                  visible: box.width > 0 && box.height > 0 && box.left >= 0 && box.top >= 0
                           && box.right <= window.innerWidth && box.bottom <= window.innerHeight};
        }"""
    )
    assert focused["tag"] == "a" and focused["text"] == SKIP_LINK_TEXT, (
        f"The first Tab on {_where(page)} focused <{focused['tag']}> {focused['text'][:60]!r}, "
        f"not the {SKIP_LINK_TEXT!r} link"
    )
    assert focused["visible"], f"The focused skip link on {_where(page)} is not visible on screen"
    target = (focused["href"] or "").lstrip("#")
    page.keyboard.press("Enter")
    active_id = page.evaluate("document.activeElement.id")
    assert target and active_id == target, (
        f"Activating the skip link on {_where(page)} left focus on #{active_id or '(nothing)'}, not #{target}"
    )
    # Drop the #main-content the link added, so a form posted next does not carry it to the following page.
    page.evaluate("history.replaceState(history.state, '', location.pathname + location.search)")


def assert_fits_320px(page) -> None:
    """At 320 CSS px wide there is no horizontal scrolling (WCAG 1.4.10 Reflow); axe runs again at that width."""
    original = page.viewport_size
    page.set_viewport_size(NARROW)
    try:
        scroll_width = page.evaluate("document.documentElement.scrollWidth")
        if scroll_width > NARROW["width"]:
            culprits = page.evaluate(_OVERFLOWING, NARROW["width"])
            raise AssertionError(
                f"{_where(page)} scrolls sideways at 320 px: the document is {scroll_width}px wide. "
                "Elements past the edge:\n  " + "\n  ".join(culprits)
            )
        assert_no_axe_violations(page, " at 320 px wide")
    finally:
        if original:
            page.set_viewport_size(original)


def check_page(page) -> None:
    """Keyboard entry, zero axe-core violations (WCAG 2.2 A/AA tags) and no sideways scrolling at 320 px."""
    page.wait_for_load_state("load")
    assert_skip_link_comes_first(page)
    assert_no_axe_violations(page)
    assert_fits_320px(page)
