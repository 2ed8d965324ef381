"""axe-core, from the npm registry (tests/browser/package.json), injected into a page by Playwright.

`make test` runs `npm ci` in tests/browser; only where npm is absent do the accessibility tests skip (and say so).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
AXE_JS = HERE / "node_modules" / "axe-core" / "axe.min.js"
# WCAG 2.0, 2.1 and 2.2 at levels A and AA: the rule sets issue 18 names.
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
FAILING_IMPACTS = {"serious", "critical"}
# The rules whose outcome depends on colours: all a second theme can change.
COLOUR_RULES = ["color-contrast", "link-in-text-block"]

# Nodes that come from Streamlit itself and that we cannot fix from the app; each is recorded in
# docs/accessibility.md with the rule and the reason. Keyed by rule id: CSS selectors of exactly
# those nodes, passed to axe's `exclude` only for that rule.
STREAMLIT_EXCEPTIONS: dict[str, list[str]] = {}


def axe_source() -> str:
    if not AXE_JS.exists():
        if shutil.which("npm") is None:
            pytest.skip("npm is not installed, so axe-core (tests/browser/package.json) cannot be installed")
        # npm is here, so a missing axe-core is a setup step not taken, not a reason to skip the check.
        pytest.fail(f"axe-core is missing at {AXE_JS}: run `make node-deps` (`make test` does)")
    return AXE_JS.read_text()


@dataclass(frozen=True)
class Violation:
    rule: str
    impact: str
    help: str
    targets: list[str]
    html: list[str]
    details: list[str]

    def __str__(self) -> str:
        rows = zip(self.targets, self.html, self.details, strict=True)
        nodes = "\n".join(f"      {t}\n        {h[:200]}\n        {d}" for t, h, d in rows)
        return f"  {self.rule} ({self.impact}): {self.help}\n{nodes}"


def audit(page, source: str, rules: list[str] | None = None) -> list[Violation]:
    """Serious and critical WCAG A/AA violations on the page as it is now, minus the documented exceptions.

    `rules` narrows the run to those rule ids (the second theme needs only the colour rules)."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(content=source)
    raw = page.evaluate(
        r"""async ([tags, rules, exceptions]) => {
            const only = rules ? {type: 'rule', values: rules} : {type: 'tag', values: tags};
            const options = {runOnly: only, resultTypes: ['violations']};
            const results = await axe.run(document, options);
            const out = [];
            for (const v of results.violations) {
                const skip = exceptions[v.id] || [];
                const nodes = v.nodes.filter(n => !skip.some(sel => {
                    const el = document.querySelector(n.target.join(' '));
                    return el && el.closest(sel);
                }));
                if (nodes.length) out.push({rule: v.id, impact: v.impact, help: v.help,
                    targets: nodes.map(n => n.target.join(' ')), html: nodes.map(n => n.html),
                    details: nodes.map(n => n.failureSummary.replace(/\s+/g, ' ').slice(0, 300))});
            }
            return out;
        }""",
        [WCAG_TAGS, rules, STREAMLIT_EXCEPTIONS],
    )
    return [Violation(**v) for v in raw if v["impact"] in FAILING_IMPACTS]


def report(where: str, violations: list[Violation]) -> str:
    return f"{where}: {len(violations)} serious/critical axe violation(s)\n" + "\n".join(map(str, violations))
