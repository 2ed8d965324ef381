"""The app's thin accessibility layer over Streamlit's theme: CSS and one small script, added once per page.

Colours live in streamlit_config.toml ([theme.light] and [theme.dark]); this adds only what the theme
cannot express. docs/accessibility.md says what each rule is for and how the browser suite checks it.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import streamlit as st

# A focus ring that shows on every control, in both themes: #3b82f6 has at least 3:1 against the
# light and the dark background (WCAG 2.4.7, 2.4.11 and 1.4.11).
CSS = """
<style>
:focus-visible, [data-focus-visible="true"] {
  outline: 3px solid #3b82f6 !important;
  outline-offset: 2px !important;
}
/* A radio, checkbox, toggle or slider focuses a visually hidden input; the label or thumb that
   Streamlit marks data-focus-visible carries the ring instead. */
/* A folded sidebar is moved off screen but its links stayed in the Tab order, taking focus where
   nobody can see it (WCAG 2.4.7, 2.4.11): hidden, they leave the Tab order until it opens. */
[data-testid="stSidebar"][data-collapsed="true"] { visibility: hidden; }
/* A scrollable code panel or wide formula that the script below made focusable. */
.katex-display[tabindex]:focus-visible, .rld-code pre:focus-visible,
[data-testid="stCode"] pre[tabindex]:focus-visible { outline-offset: -3px !important; }
/* Wide display math and code scroll sideways inside their column (a phone, a zoomed page), never
   clipped and never wrapped (a wrapped code line loses its indentation). The cue that there is more:
   a scroll bar that stays visible, and a shade on the side where more is hidden (the script below
   sets data-rld-more to left, right or both as the reader scrolls). */
.katex-display, [data-testid="stCode"] pre, .rld-code pre {
  overflow-x: auto !important;
  overflow-y: hidden;
  scrollbar-width: thin;
  scrollbar-color: rgba(128, 128, 128, 0.7) transparent;
}
[data-testid="stCode"] pre code { white-space: pre !important; overflow-wrap: normal !important; }
[data-rld-more="right"] { box-shadow: inset -16px 0 12px -10px rgba(127, 127, 127, 0.85); }
[data-rld-more="left"] { box-shadow: inset 16px 0 12px -10px rgba(127, 127, 127, 0.85); }
[data-rld-more="both"] {
  box-shadow: inset -16px 0 12px -10px rgba(127, 127, 127, 0.85), inset 16px 0 12px -10px rgba(127, 127, 127, 0.85);
}
/* st.code's syntax colours (Prism tokens). Streamlit's own fall under 4.5:1; each hue here is mixed
   with the block's text colour (currentColor is inherited), so it darkens on the light theme's code
   background and lightens on the dark one, and keeps 4.5:1 on both. */
[data-testid="stCode"] .token.keyword, [data-testid="stCode"] .token.boolean,
[data-testid="stCode"] .token.builtin { color: color-mix(in srgb, #2563eb 55%, currentColor) !important; }
[data-testid="stCode"] .token.function, [data-testid="stCode"] .token.class-name,
[data-testid="stCode"] .token.decorator { color: color-mix(in srgb, #0d9488 50%, currentColor) !important; }
[data-testid="stCode"] .token.number, [data-testid="stCode"] .token.constant {
  color: color-mix(in srgb, #7c3aed 55%, currentColor) !important;
}
[data-testid="stCode"] .token.string { color: color-mix(in srgb, #16a34a 50%, currentColor) !important; }
[data-testid="stCode"] .token.comment { color: color-mix(in srgb, #6b7280 50%, currentColor) !important; }
[data-testid="stCode"] .token.operator, [data-testid="stCode"] .token.punctuation {
  color: color-mix(in srgb, #6b7280 30%, currentColor) !important;
}
/* st.code(line_numbers=True): Streamlit's grey numbers have 2.6:1 (light) and 3.4:1 (dark). */
[data-testid="stCode"] .linenumber { color: color-mix(in srgb, #6b7280 45%, currentColor) !important; }
/* Captions are the text colour at 60%; inline code and links inside them would otherwise fade their
   own colour below 4.5:1. Links keep their underline, so they still stand out. */
[data-testid="stCaptionContainer"] code, [data-testid="stCaptionContainer"] a { color: inherit !important; }
/* A selected segmented-control or pills option: primary-coloured text on a primary tint has too little
   contrast in the dark theme. The text takes the page's text colour; the border and tint still mark it. */
.stButtonGroup button[data-selected="true"] { color: inherit !important; }
/* A slider's value above its thumb is drawn in the primary colour: 3.2:1 on the dark background. It
   takes the text colour of the widget (4.5:1 in both themes); the thumb keeps the primary colour. */
[data-testid="stSliderThumbValue"], [data-testid="stSliderThumbValue"] p { color: inherit !important; }
/* Lesson code panels (app/widgets/code.py) are drawn in light colours that pass 4.5:1; in the dark
   theme (the script below sets data-rld-theme="dark" on the root element from the background) they are
   inverted with their hues kept, so a dark page shows a dark panel with the same contrast. */
html[data-rld-theme="dark"] .rld-code { filter: invert(0.9) hue-rotate(180deg); }
/* The element that carries the script below takes no room on the page. */
.stElementContainer:has(#rldojo-a11y-script) { display: none; }
/* motion_safe_image: the animation, or its first frame for a reader who asks for less motion. */
[class*="st-key-rld-still-"] { display: none; }
@media (prefers-reduced-motion: reduce) {
  [class*="st-key-rld-still-"] { display: block; }
  [class*="st-key-rld-moving-"] { display: none; }
  *, *::before, *::after {
    animation-duration: 0.01ms !important;
    animation-iteration-count: 1 !important;
    transition-duration: 0.01ms !important;
    scroll-behavior: auto !important;
  }
}
</style>
"""

# KaTeX draws display math in a span that scrolls sideways when the formula is wider than the
# column (a phone, a zoomed page), and st.code a <pre> that does the same with a long line. Streamlit
# gives us no hook on either, so this marks each one that overflows as a focusable, labelled group
# (the arrow keys then scroll it), and unmarks it when it fits again (WCAG 2.1.1).
SCRIPT = """
<script id="rldojo-a11y-script">
(() => {
  if (!document.getElementById('rldojo-a11y-css')) {
    const css = document.createElement('style');
    css.id = 'rldojo-a11y-css';
    css.textContent = /*CSS*/;
    document.head.appendChild(css);
  }
  if (window.__rldojoA11y) return;
  window.__rldojoA11y = true;
  const kinds = [['.katex-display', 'Formula'], ['[data-testid="stCode"] pre', 'Code']];
  const scrollers = '.katex-display, [data-testid="stCode"] pre, .rld-code pre';
  // Which side holds more than the reader sees: the CSS above shades that side.
  const shade = (el) => {
    const hidden = el.scrollWidth - el.clientWidth;
    const left = el.scrollLeft > 1, right = hidden - el.scrollLeft > 1;
    const more = left && right ? 'both' : left ? 'left' : right ? 'right' : '';
    if (more) el.setAttribute('data-rld-more', more); else el.removeAttribute('data-rld-more');
  };
  // Streamlit's theme (system, light or dark from its menu) shows only as the app's background.
  const theme = () => {
    const app = document.querySelector('.stApp');
    if (!app) return;
    const [r, g, b] = (getComputedStyle(app).backgroundColor.match(/[0-9.]+/g) || [255, 255, 255]).map(Number);
    const dark = 0.2126 * r + 0.7152 * g + 0.0722 * b < 128;
    if (document.documentElement.dataset.rldTheme !== (dark ? 'dark' : 'light')) {
      document.documentElement.dataset.rldTheme = dark ? 'dark' : 'light';
    }
  };
  const mark = () => {
    theme();
    for (const el of document.querySelectorAll(scrollers)) shade(el);
    for (const [selector, what] of kinds) for (const el of document.querySelectorAll(selector)) {
      const wide = el.scrollWidth > el.clientWidth + 1;
      if (wide && !el.hasAttribute('tabindex')) {
        el.setAttribute('tabindex', '0');
        el.setAttribute('role', 'group');
        el.setAttribute('aria-label', what + ', scrolls sideways');
      } else if (!wide && el.getAttribute('tabindex') === '0') {
        el.removeAttribute('tabindex');
        el.removeAttribute('role');
        el.removeAttribute('aria-label');
      }
    }
  };
  let pending = false;
  const soon = () => {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => { pending = false; mark(); });
  };
  new MutationObserver(soon).observe(document.body, {childList: true, subtree: true});
  new MutationObserver(soon).observe(document.head, {childList: true});  // a theme's new styles
  matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => setTimeout(soon, 100));
  window.addEventListener('resize', soon);
  // A formula or code block can become wider than its column with no change to the page's elements:
  // KaTeX's fonts arrive late, or the column narrows (a scroll bar appears). Look again then too.
  if (document.fonts) document.fonts.addEventListener('loadingdone', soon);
  const main = document.querySelector('[data-testid="stMain"]') || document.body;
  if (window.ResizeObserver) new ResizeObserver(soon).observe(main);
  document.addEventListener('scroll', (event) => {
    const el = event.target;
    if (el instanceof Element && el.matches(scrollers)) shade(el);
  }, true);
  mark();
})();
</script>
"""


def apply() -> None:
    """Call once per script run, before the page draws anything (app/main.py does)."""
    # The CSS goes in through the script: a style-only st.html is sent to Streamlit's event
    # container, and from app/main.py (before st.navigation runs the page) it never reached the page.
    st.html(SCRIPT.replace("/*CSS*/", "`" + _css_text() + "`"), unsafe_allow_javascript=True)


def _css_text() -> str:
    """The rules of CSS, for a JavaScript template literal."""
    rules = CSS.strip().removeprefix("<style>").removesuffix("</style>")
    return rules.replace("\\", "\\\\").replace("`", "\\`").replace("${", "\\${")


def motion_safe_image(image: str | Path | bytes, caption: str) -> None:
    """st.image of an animated GIF that a reader who asks for reduced motion sees as its first frame.

    A GIF cannot be paused by CSS, so both are drawn and the CSS above shows one (WCAG 2.2.2, 2.3.3)."""
    from PIL import Image, UnidentifiedImageError  # only pages that show an episode pay for it

    data = image if isinstance(image, bytes) else Path(image).read_bytes()
    try:
        with Image.open(io.BytesIO(data)) as frames:
            animated = getattr(frames, "is_animated", False)
            frames.seek(0)
            still = io.BytesIO()
            frames.convert("RGB").save(still, format="PNG")
    except (OSError, UnidentifiedImageError):
        animated = False
    if not animated:
        st.image(data, caption=caption)
        return
    tag = hashlib.sha1(data).hexdigest()[:12]
    with st.container(key=f"rld-moving-{tag}"):
        st.image(data, caption=caption)
    with st.container(key=f"rld-still-{tag}"):
        st.image(still.getvalue(), caption=f"{caption} (first frame: your system asks for reduced motion)")
