"""Runs: start a training run or a seed group, watch one (/runs?run=ID, /runs?group=ID), list and compare them all."""

import streamlit as st

from algorithms import registry
from app.runs.store import STATUSES
from app.widgets.charts import chart
from app.widgets.runs import compare_chart, run_launcher, run_monitor, runs_table, session_id, usable_run_manager
from app.widgets.seed_group import group_monitor

st.title("Runs")
manager = usable_run_manager()  # also starts queued runs where capacity was freed while nobody was looking
if manager is None:  # it said why in one line (a read-only data folder, a bad RLDOJO_MAX_RUNS)
    st.stop()

# The address is written back on every run: a link from this page to itself changes what is shown
# without touching the address bar, and a reload must bring back what is on screen.
run_id = st.query_params.get("run")
if run_id:
    st.query_params["run"] = run_id
    st.page_link("views/runs.py", label="All runs", icon=":material/arrow_back:", query_params={})
    run_monitor(run_id)
    st.stop()
group_id = st.query_params.get("group")
if group_id:
    st.query_params["group"] = group_id
    st.page_link("views/runs.py", label="All runs", icon=":material/arrow_back:", query_params={})
    group_monitor(group_id)
    st.stop()
st.query_params.update({})  # sends the query string as it is now (other parameters, the learner's, stay)

# The form imports the chosen algorithm's module (torch for most): only when the expander is open,
# so the list of runs does not wait for torch to load (on_change="rerun" tracks the open state).
launcher = st.expander(
    "Start a new run", icon=":material/play_arrow:", expanded=False, key="start-open", on_change="rerun"
)
if launcher.open:
    with launcher:
        specs = registry()
        choice = st.selectbox(
            "Algorithm", list(specs), format_func=lambda name: specs[name].title, key="start-algorithm"
        )
        started = run_launcher(choice, key=f"start-{choice}", seeds=True)
        if started and started.group:
            st.query_params["group"] = started.group
            st.rerun()
        elif started:
            st.query_params["run"] = started.run_id
            st.rerun()

left, middle, right = st.columns([2, 2, 1])
with left:
    statuses = st.multiselect("Status", STATUSES, default=[], placeholder="any status")
with middle:
    algorithms = st.multiselect("Algorithm", sorted(registry()), default=[], placeholder="any algorithm")
with right:
    everyone = st.toggle(
        "All runs",
        value=False,
        key="runs-all-sessions",
        help="Everyone's runs, and those started from the command line; off: yours",
    )

records = manager.store.list(session=None if everyone else session_id(), statuses=statuses or None)
records = [r for r in records if not algorithms or r.algorithm in algorithms]

if not records:
    st.info("No runs to show. Start one above, or switch on **All runs**.", icon=":material/info:")
    st.stop()

groups: dict[str, list] = {}
for record in records:
    if record.group_id:
        groups.setdefault(record.group_id, []).append(record)
if groups:
    with st.container(horizontal=True):
        for gid, members in list(groups.items())[:6]:  # the newest groups first, as the list is
            st.page_link(
                "views/runs.py",
                label=f"Seed group: {members[0].algorithm}, {len(members)} seeds ({gid.removeprefix('seeds-')})",
                icon=":material/stacks:",
                query_params={"group": gid},
            )

table = runs_table(records)
st.caption("Select runs to overlay their curves; click an id's row and open it below.")
selection = st.dataframe(
    table,
    hide_index=True,
    on_select="rerun",
    selection_mode="multi-row",
    key="runs-table",
    column_config={"eval return": st.column_config.NumberColumn(format="%.1f")},
)
chosen = [table.iloc[i]["id"] for i in selection.selection.rows]

# Several finished runs of one algorithm (seeds): IQM of their eval returns with a stratified bootstrap
# 95% interval (Agarwal et al. 2021; algorithms.evaluation), not one lucky seed.
finished = table[table["status"].eq("finished") & table["eval return"].notna()]
for name, group in finished.groupby("algorithm"):
    if len(group) >= 2:
        from algorithms.evaluation import summarize

        iqm = summarize(group["eval return"].to_numpy(dtype=float)[:, None], reps=1000)["iqm"]
        st.caption(
            f"**{name}**, {len(group)} finished runs: IQM of eval return {iqm['point']:.1f} "
            f"(95% bootstrap interval {iqm['lower']:.1f} to {iqm['upper']:.1f})"
        )

if chosen:
    with st.container(horizontal=True):
        for rid in chosen:
            st.page_link("views/runs.py", label=f"Open {rid}", icon=":material/open_in_new:", query_params={"run": rid})
    metric = st.selectbox(
        "Metric",
        [
            "charts/episodic_return",
            "charts/episodic_return_mean100",
            "losses/policy",
            "losses/value",
            "losses/entropy",
            "losses/approx_kl",
            "charts/steps_per_second",
        ],
    )
    chart(compare_chart(chosen, metric), key="compare-chart")
