"""One lesson, addressed by a stable URL: /lesson?lesson=ID, one section at a time (&section=N or all)."""

import streamlit as st

from app.content.loader import LessonEntry, load_catalogue
from app.widgets.blocks import render_block
from app.widgets.catalogue import lesson_link
from app.widgets.lesson_done import lessons_done_quietly, mark_lesson_done
from app.widgets.problems import show_problems
from app.widgets.sections import SECTION_PARAM, contents, section_footer, section_to_show

catalogue = load_catalogue()
ids = catalogue.ordered_ids()

requested = st.query_params.get("lesson") or (ids[0] if ids else None)
if requested is not None:
    # Written back on every run: a link to this same page with another lesson swaps the page's
    # content but leaves the address bar alone unless the app sends the query string again.
    st.query_params["lesson"] = requested

# Link titles wrap instead of ending in an ellipsis (page links are one line by default): the
# sidebar's lessons, and the links to the next and previous section or lesson under the page.
_WRAP_LINK_TITLES = (
    "<style>[data-testid='stPageLink-NavLink'] span, "
    "[data-testid='stPageLink-NavLink'] [data-testid='stMarkdownContainer'], "
    "[data-testid='stPageLink-NavLink'] p "
    "{white-space: normal; text-overflow: clip; overflow: visible;}</style>"
)

with st.sidebar:
    st.html(_WRAP_LINK_TITLES)
    done = lessons_done_quietly()
    for track, items in catalogue.by_track().items():
        st.markdown(f"**{track}**")
        for item in items:
            if item.id == requested:
                marker = ":material/chevron_right:"
            else:
                marker = ":material/task_alt:" if item.id in done else ":material/radio_button_unchecked:"
            label = item.title if item.ok else f"{item.title} (needs fixing)"
            lesson_link(catalogue, item.id, label=label, icon=marker)

# The catalogue ran the quick checks on every lesson; this one gets the rest before it is drawn.
entry: LessonEntry | None = catalogue.fully_checked(requested) if requested else None

if entry is None:
    st.title("Lesson not found")
    if requested:
        shown_id = requested.replace("`", "")[:80]  # quoted as code: no backtick may close it early
        st.warning(f"There is no lesson with id `{shown_id}`.", icon=":material/search_off:")
    else:
        st.info("There are no lessons yet.")
    st.page_link("views/home.py", label="Back to all lessons", icon=":material/home:")
    st.stop()

if not entry.ok:
    st.title(entry.title)
    show_problems(entry)
    st.stop()

lesson = entry.lesson
shown = section_to_show(st.query_params.get(SECTION_PARAM), len(lesson.sections))
# The address names the section on screen (none: the first), so a reload or a shared link comes back to it.
if shown.address is None:
    st.query_params.pop(SECTION_PARAM, None)
else:
    st.query_params[SECTION_PARAM] = shown.address

st.caption(f"{lesson.track.value} · {lesson.level} · {lesson.minutes} min")
st.title(lesson.title)
contents(lesson, shown)
if shown.note:
    st.info(shown.note, icon=":material/info:")
if shown.index in (0, None):
    st.markdown(f"*{lesson.summary}*")
    if lesson.prerequisites:
        with st.container(horizontal=True, gap="small"):
            st.caption("Read first:")
            for prerequisite in lesson.prerequisites:
                lesson_link(catalogue, prerequisite, icon=":material/arrow_back:")

for s in shown.sections(len(lesson.sections)):
    section = lesson.sections[s]
    if section.title:
        st.subheader(section.title, divider="gray")
    for b, block in enumerate(section.blocks):
        render_block(block, key=f"{lesson.id}-{s}-{b}")

section_footer(lesson, shown)
if shown.is_last(len(lesson.sections)):  # the end of the lesson: mark it done, then on to the next
    st.divider()
    mark_lesson_done(lesson.id)
    previous_id, next_id = catalogue.neighbours(lesson.id)
    left, right = st.columns(2)
    with left:
        if previous_id:
            lesson_link(
                catalogue,
                previous_id,
                label=f"Previous: {catalogue.lessons[previous_id].title}",
                icon=":material/arrow_back:",
            )
    with right:
        if next_id:
            lesson_link(
                catalogue,
                next_id,
                label=f"Next: {catalogue.lessons[next_id].title}",
                icon=":material/arrow_forward:",
            )
