"""An animated episode has a still twin for readers who ask for reduced motion, and the CSS picks one."""

from __future__ import annotations

import io

from PIL import Image
from streamlit.testing.v1 import AppTest

from app.widgets.style import CSS


def gif(frames: int) -> bytes:
    images = [Image.new("RGB", (8, 8), (40 * i, 0, 0)) for i in range(frames)]
    out = io.BytesIO()
    images[0].save(out, format="GIF", save_all=frames > 1, append_images=images[1:], duration=50, loop=0)
    return out.getvalue()


def _draw(data: bytes) -> None:
    from app.widgets.style import motion_safe_image

    motion_safe_image(data, "An episode")


def test_an_animation_is_drawn_with_its_first_frame_beside_it() -> None:
    at = AppTest.from_function(_draw, args=(gif(3),)).run()
    assert not at.exception
    images = at.get("image")
    assert len(images) == 2
    captions = [i.proto.imgs[0].caption for i in images]
    assert captions[0] == "An episode"
    assert "reduced motion" in captions[1]
    # The containers carry the keys the CSS selects on (Streamlit turns a key into a class st-key-KEY).
    moving, still = (block.proto.id for block in at.main.children.values())
    assert "-rld-moving-" in moving and "-rld-still-" in still


def test_a_still_image_is_drawn_once() -> None:
    at = AppTest.from_function(_draw, args=(gif(1),)).run()
    assert not at.exception
    assert len(at.get("image")) == 1


def test_the_css_hides_the_animation_only_for_reduced_motion() -> None:
    reduced = CSS[CSS.index("@media (prefers-reduced-motion: reduce)") :]
    assert '[class*="st-key-rld-moving-"] { display: none; }' in reduced
    assert '[class*="st-key-rld-still-"] { display: none; }' in CSS[: CSS.index("@media")]


def _apply() -> None:
    from app.widgets.style import apply

    apply()


def test_the_css_goes_in_through_the_script() -> None:
    """A style-only st.html never reached the page from app/main.py; the one element drawn is the
    script, and it carries every rule (the browser test checks a rule takes effect)."""
    at = AppTest.from_function(_apply).run()
    assert not at.exception
    (element,) = at.get("html")
    body = element.proto.body
    assert body.lstrip().startswith("<script") and "rldojo-a11y-css" in body
    rules = CSS.strip().removeprefix("<style>").removesuffix("</style>")
    assert rules.replace("\\", "\\\\") in body
