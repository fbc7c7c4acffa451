"""kodek leaderboard (Streamlit Space): speech tokenizers on Polish speech (BIGOS-v2).

Results come from a local folder (``KODEK_RESULTS``, set by ``kodek leaderboard``) or
from the results repo on the Hub (``KODEK_RESULTS_REPO``). All data logic lives in
``kodek.leaderboard``; this file only presents it. Strings that come from results
files or requests (codec names, labels, contacts, reasons) are only ever shown as
text: in tables, ``st.text`` or ``st.code``, never as Markdown or HTML.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import streamlit as st

from kodek.leaderboard import tables
from kodek.leaderboard.data import DEFAULT_REQUESTS_REPO, Prepared, ResultsSource, prepare, results_for
from kodek.leaderboard.submissions import (
    builtin_codec_ids,
    request_bytes,
    request_from_form,
    request_path,
    validate_request,
)
from kodek.leaderboard.tables import Board, fmt

HUB_TTL_S = 900
BEST_STYLE = "background-color: rgba(33, 195, 84, 0.22); font-weight: bold"
BITRATE_LADDER_KBPS = tuple(
    float(k) for k in (0, 0.25, 0.5, 1, 1.5, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 128, 256, 512, 1536)
)
LISTEN_UTTERANCES = 3
VIEWS = ("Reconstruction", "SpeechLLM", "Per subset", "Plots", "Listen", "Methodology", "Submit")


@dataclass
class Page:
    """What one run of the page shows: the results, the chosen data and the filters."""

    source: ResultsSource
    version: tuple  # identifies the results read (cache key)
    prepared: Prepared
    dataset: str | None = None
    categories: list[str] = field(default_factory=list)
    bitrate: tuple[float, float] = (0.0, math.inf)

    @property
    def results(self) -> list[dict]:
        return results_for(self.prepared, self.dataset) if self.dataset else []

    @property
    def board(self) -> Board | None:
        if self.dataset is None:
            return None
        return self.prepared.reconstruction[self.dataset].filtered(self.categories, self.bitrate)


# -- data (cached) ---------------------------------------------------------------------------------------


def _token() -> str | None:
    return os.environ.get("HF_TOKEN") or None


@st.cache_data(show_spinner=False, max_entries=4)
def load_local(folder: str, stamp: tuple) -> Prepared:
    source = ResultsSource(folder=folder)
    return prepare(*source.fetch())


@st.cache_data(show_spinner="Reading results from the Hub…", ttl=HUB_TTL_S, max_entries=4)
def load_hub(repo: str, revision: str | None, nonce: int) -> Prepared:
    source = ResultsSource(repo=repo, revision=revision)
    return prepare(*source.fetch(token=_token()))


# Arguments named with a leading underscore are not hashed: ``version`` identifies what they hold.
@st.cache_data(show_spinner=False, max_entries=64)
def breakdown(version: tuple, dataset: str, metric: str, condition: str, group: str, _prepared: Prepared) -> Board:
    return tables.breakdown_board(results_for(_prepared, dataset), metric, condition, group)


@st.cache_data(show_spinner=False, max_entries=256)
def audio_bytes(version: tuple, relative: str, _source: ResultsSource, _root: str) -> bytes:
    return _source.read_audio(Path(_root), relative, token=_token())


# -- presentation helpers ---------------------------------------------------------------------------------


def styled(board: Board):
    """The board's numbers (what sorting uses) shown as its texts, best values highlighted."""
    styler = board.values.style
    for column in board.columns:
        if column.kind == "text":
            continue
        key = column.key
        values, texts = board.values[key], board.display[key]
        present = values.notna()
        lookup: dict = {}
        for row in values.index[present]:
            lookup.setdefault(values[row], texts[row])
        styler = styler.format(lambda v, lookup=lookup: lookup.get(v, fmt(v)), subset=[key])
        # Missing cells share a few reasons; the rare value shared by rows with different texts gets its own.
        odd = texts[~present | (values.map(lookup.get) != texts)]
        for text, rows in odd.groupby(odd, sort=False).groups.items():
            styler = styler.format(lambda _, text=text: text, subset=pd.IndexSlice[list(rows), [key]])
    best = board.best

    def highlight(frame: pd.DataFrame) -> pd.DataFrame:
        css = pd.DataFrame("", index=frame.index, columns=frame.columns)
        for key, rows in best.items():
            css.loc[rows, key] = BEST_STYLE
        return css

    return styler.apply(highlight, axis=None)


def show_board(board: Board, key: str) -> None:
    st.dataframe(
        styled(board),
        hide_index=True,
        key=key,
        column_config={"Codec": st.column_config.TextColumn("Codec", pinned=True)},
    )


def show_untrusted(lines: list[str]) -> None:
    """Text that came from a results file or a user: shown verbatim, never interpreted."""
    st.code("\n".join(lines), language=None)


# -- sidebar -------------------------------------------------------------------------------------------------


def sidebar(page: Page) -> None:
    """The data source, the data measured on, and the filters every table and plot follows."""
    prepared = page.prepared
    with st.sidebar:
        st.header("Data")
        st.text(page.source.label)
        if st.button("Reload results", help="Read the results again (the Hub copy is cached for 15 minutes)."):
            st.session_state["nonce"] = st.session_state.get("nonce", 0) + 1
            load_hub.clear()
            load_local.clear()
            st.rerun()
        dataset = None
        if prepared.datasets:
            dataset = st.selectbox(
                "Measured on", prepared.datasets, help="Results on different data are never ranked together."
            )
        st.header("Filters")
        categories = sorted(set(prepared.reconstruction[dataset].rows["category"])) if dataset else []
        for (key, _llm), board in prepared.speechllm.items():
            if key == dataset:
                categories = sorted(set(categories) | set(board.rows["category"]))
        if dataset in prepared.speech_lm:
            categories = sorted(set(categories) | set(prepared.speech_lm[dataset].rows["category"]))
        chosen = st.multiselect("Category", categories, default=categories)
        low, high = st.select_slider(
            "Bitrate (kbps)", options=BITRATE_LADDER_KBPS, value=(BITRATE_LADDER_KBPS[0], BITRATE_LADDER_KBPS[-1])
        )
    page.dataset, page.categories, page.bitrate = dataset, chosen, (float(low), float(high))


# -- views ---------------------------------------------------------------------------------------------------


def view_reconstruction(page: Page) -> None:
    board = page.board
    st.caption(
        "One row per codec. GT: the original audio; REC: its reconstruction. Highlighted: the best value per "
        "column among codecs (the reference row is an upper bound and is not ranked). Click a header to sort. "
        "A missing value says why: not run, n/a (not applicable), or how many utterances failed."
    )
    if len(board):
        show_board(board, "reconstruction")
    elif len(page.prepared.reconstruction[page.dataset]):
        st.info("No reconstruction results match the filters.")
    else:
        st.info("No reconstruction results for this data yet.")
    failures = [
        {"codec": r["codec"]["id"], "reason": reason, "utterances": count}
        for r in tables.for_task(page.results, "reconstruction")
        for reason, count in sorted(r["failures"].get("by_reason", {}).items())
    ]
    if failures:
        with st.expander(f"Failures by reason ({len(failures)})"):
            st.dataframe(pd.DataFrame(failures), hide_index=True)
    unscored = tables.unscored_systems(page.results)
    if unscored:
        with st.expander(f"Registered systems without results ({len(unscored)})"):
            st.caption("Every system kodek registers is listed: not scored yet, or unsupported with the reason.")
            st.dataframe(pd.DataFrame(unscored), hide_index=True)
    random = page.prepared.loaded.random_weight_runs
    if random:
        with st.expander(f"Random-weight runs: pipeline checks, not scores ({len(random)})"):
            st.caption(
                "Built from configs with random weights for tests; their numbers mean nothing and are not shown."
            )
            st.dataframe(
                pd.DataFrame([{"codec": r["codec"]["id"], "task": r["task"], "date": r["date"]} for r in random]),
                hide_index=True,
            )


def view_speechllm(page: Page) -> None:
    llms = page.prepared.llms.get(page.dataset, [])
    if not llms:
        st.info(
            "No SpeechLLM results yet: `kodek lm eval` writes `<codec>/speechllm-<config>.json` beside the "
            "reconstruction results."
        )
    else:
        llm = st.selectbox("LLM", llms) if len(llms) > 1 else llms[0]
        st.caption(
            "Transcript perplexity (PPL) and bits per character (BPC) of the frozen LLM, lower is better: prior (no "
            "audio), init (random adapter) and trained (adapter trained on the codec's tokens). Highlighted: best "
            "per column."
        )
        st.text(f"LLM: {llm}")
        board = page.prepared.speechllm[page.dataset, llm].filtered(page.categories, page.bitrate)
        if len(board):
            show_board(board, "speechllm")
        else:
            st.info("No SpeechLLM results match the filters.")
    speech_lm = page.prepared.speech_lm.get(page.dataset)
    if speech_lm is not None and len(speech_lm):
        st.subheader("Speech-only LM on the codes")
        st.caption(
            "Bits per second of test audio under a small causal LM trained on the codes (`kodek lm speech`), a "
            "unigram model of the codes, and a uniform code (the codec's bitrate): comparable across codecs "
            "where token perplexity is not."
        )
        filtered = speech_lm.filtered(page.categories, page.bitrate)
        if len(filtered):
            show_board(filtered, "speech_lm")
        else:
            st.info("No speech-only LM results match the filters.")


def view_breakdown(page: Page) -> None:
    results = page.results
    catalogue = tables.metric_catalogue(tables.for_task(results, "reconstruction"))
    if not catalogue:
        st.info("No reconstruction results to break down.")
        return
    names = list(catalogue)
    left, middle, right = st.columns(3)
    metric = left.selectbox("Metric", names, format_func=lambda n: catalogue[n].label)
    conditions = sorted(catalogue[metric].conditions, reverse=True) or ["rec"]  # rec before gt
    condition = middle.selectbox("Condition", conditions, format_func=str.upper)
    groups = tables.breakdown_groups(results)
    group = right.selectbox("Group by", groups, format_func=lambda g: tables.GROUPS.get(g, g))
    board = breakdown(page.version, page.dataset, metric, condition, group, page.prepared)
    board = board.filtered(page.categories, page.bitrate)
    st.caption(
        "Rows: codecs; columns: the groups. Highlighted: the best value per column (the reference row is not ranked)."
    )
    if len(board):
        show_board(board, "breakdown")
    else:
        st.info("No results match the filters.")


def view_plots(page: Page) -> None:
    board = page.board
    ranked = [
        c for c in board.columns if c.kind == "metric" and c.condition == "rec" and c.higher_is_better is not None
    ]
    if not ranked or not len(board):
        st.info("No reconstruction results to plot.")
    else:
        key = st.selectbox("Quality metric", [c.key for c in ranked])
        column = board.column(key)
        points = tables.plot_points(board, key)
        st.altair_chart(pareto_chart(points, column.higher_is_better, key), key="quality")
    llms = page.prepared.llms.get(page.dataset, [])
    if llms:
        llm = st.selectbox("LLM", llms, key="plot_llm") if len(llms) > 1 else llms[0]
        llm_board = page.prepared.speechllm[page.dataset, llm].filtered(page.categories, page.bitrate)
        points = tables.plot_points(llm_board, "PPL ↓ trained")
        if len(points):
            st.altair_chart(pareto_chart(points, False, "PPL (trained) ↓"), key="ppl")


def pareto_chart(points: pd.DataFrame, higher_is_better: bool, title: str):
    import altair as alt

    front = tables.pareto_front(points, higher_is_better)
    x = alt.X("bitrate_kbps:Q", scale=alt.Scale(type="log"), title="bitrate (kbps, log scale)")
    y = alt.Y("value:Q", title=title, scale=alt.Scale(zero=False))
    dots = (
        alt.Chart(points)
        .mark_circle(size=70)
        .encode(
            x=x,
            y=y,
            color=alt.Color("category:N", title="category"),
            tooltip=["codec", "category", "bitrate_kbps", "text"],
        )
    )
    line = alt.Chart(front).mark_line(point=False, strokeDash=[4, 3], color="gray").encode(x=x, y=y)
    return (line + dots).properties(title=f"{title} vs bitrate (dashed: Pareto front)", height=420)


def view_listen(page: Page) -> None:
    board, listening = page.board, page.prepared.listening
    have = [c for c in board.values.index if c in listening.reconstructions]
    if not have or not listening.originals:
        st.info(
            "No listening examples in these results: `kodek score` keeps the first utterances' reconstructions "
            "(--listen N)."
        )
        return
    by_bitrate = sorted(have, key=lambda c: board.rows.loc[c, "bitrate_kbps"])
    chosen = st.multiselect("Codecs", have, default=by_bitrate[:3], max_selections=6)
    if not chosen:
        return
    utterances = listening.utterances(chosen)[:LISTEN_UTTERANCES]
    if not utterances:
        st.info("These codecs have no utterance in common to compare.")
        return
    for name in utterances:
        st.text(f"utterance {name}")
        cells = st.columns(len(chosen) + 1)
        with cells[0]:
            st.text("original")
            st.audio(
                audio_bytes(page.version, listening.originals[name], page.source, page.prepared.root),
                format="audio/flac",
            )
        for cell, codec in zip(cells[1:], chosen, strict=True):
            with cell:
                st.text(codec)
                st.audio(
                    audio_bytes(page.version, listening.reconstructions[codec][name], page.source, page.prepared.root),
                    format="audio/flac",
                )


METHODOLOGY = """
**Data.** BIGOS-v2 (`amu-cai/pl-asr-bigos-v2`), 12 public Polish speech corpora. Codecs encode and decode the
test split; originals and reconstructions are compared at 16 kHz (resampled with soxr, trimmed or padded to the
original's length). Results measured on different data (the bundled synthetic sample, one BIGOS subset, another
split) are shown separately and never ranked together.

**GT and REC.** Intrusive metrics (PESQ, STOI, speaker similarity, mel distance) compare the reconstruction with
the original: REC only. ASR metrics transcribe with a pinned multilingual ASR: GT is the WER/CER of the original
audio against the reference text, REC of the reconstruction; dWER compares the reconstruction's transcript with
the original's (no reference needed). Polish text normalisation keeps diacritics.

**Missing values.** A metric that cannot be computed for an utterance (silence, too short) is recorded as missing
with its reason and counted, never replaced by a made-up number: a cell shows how many utterances failed, `n/a`
when the metric does not apply (e.g. a tokenizer without a decoder), `not run` when it was not computed.

**Random weights.** Runs built from configs with random weights (tests, benchmarks) are never shown as scores.

**SpeechLLM.** Codec tokens, per-codebook embeddings summed, frames stacked to an 80 ms window, an MLP projector
into a frozen Bielik. Transcript perplexity and bits per character in three conditions: prior (no audio), init
(random adapter), trained (adapter trained on BIGOS train, selected on validation); PPL = exp(summed NLL /
transcript tokens) over the whole split, never a mean of batch means; bits per character compare across LLM
tokenizers. A speech-only LM on the codes gives bits per second of audio (trained LM, unigram model, uniform code
= the bitrate), comparable across codecs where token perplexity is not.

**Submitted codecs.** The leaderboard never imports or runs submitted code: maintainers run a request with
`kodek run-request` and publish the results it writes.
"""


def view_methodology(page: Page) -> None:
    st.markdown(METHODOLOGY)
    results = page.results
    st.subheader("Metrics")
    st.dataframe(tables.metrics_table(results), hide_index=True)
    st.subheader("Models, revisions, data and software")
    if results:
        st.dataframe(tables.provenance_table(results), hide_index=True)
        codecs = sorted({r["codec"]["id"] for r in tables.for_task(results, "reconstruction")})
        if codecs:
            st.subheader("Reproduce a row")
            codec = st.selectbox("Codec", codecs, key="reproduce")
            data = next(r for r in results if r["codec"]["id"] == codec and r["task"] == "reconstruction")
            st.code(tables.reproduce_commands(data), language="bash")


SUBMIT_HELP = """
A codec joins the leaderboard as a Python package that registers it through the `kodek.codecs` entry-point group
(see kodek's README). Check it locally and send the request in one step:
"""


def view_submit(requests_repo: str | None) -> None:
    st.markdown(SUBMIT_HELP)
    st.code(
        "pip install kodek your-codec-package\n"
        "kodek submit --codec YOUR-CODEC-ID --contact you@example.org --repo "
        + (requests_repo or DEFAULT_REQUESTS_REPO),
        language="bash",
    )
    st.markdown(
        "Or fill in the same request here. Maintainers run it with `kodek run-request`; the results appear on the "
        "leaderboard. Nothing you enter is run by this page."
    )
    with st.form("submit", clear_on_submit=False):
        fields = {
            "codec_id": st.text_input(
                "Codec id", max_chars=80, help="lowercase letters, digits, '.', '_', '-'", key="submit_codec_id"
            ),
            "package": st.text_input("Python package (on PyPI)", max_chars=100, key="submit_package"),
            "version": st.text_input("Package version", max_chars=64, key="submit_version"),
            "checkpoint_repo": st.text_input(
                "Checkpoint (Hub repo id, optional)", max_chars=193, key="submit_checkpoint_repo"
            ),
            "checkpoint_revision": st.text_input(
                "Checkpoint revision (40-hex commit)", max_chars=40, key="submit_checkpoint_revision"
            ),
            "license": st.text_input("Licence (SPDX id)", max_chars=64, key="submit_license"),
            "contact": st.text_input("Contact (e-mail, Hub user or https URL)", max_chars=200, key="submit_contact"),
            "description": st.text_area("Description (optional)", max_chars=2000, key="submit_description"),
        }
        sent = st.form_submit_button("Check and submit")
    if not sent:
        return
    from kodek import __version__
    from kodek.provenance import now

    request = request_from_form(fields, kodek_version=__version__, date=now())
    errors = validate_request(request, taken=builtin_codec_ids())
    if errors:
        st.error("The request is not valid; nothing was sent:")
        show_untrusted(errors)
        return
    content = request_bytes(request)
    token = _token()
    if requests_repo and token and not st.session_state.get("submitted"):
        from kodek.hub import open_request

        try:
            published = open_request(
                content,
                request_path(request["codec_id"]),
                requests_repo,
                message=f"Request: {request['codec_id']}",
                token=token,
            )
        except Exception as error:  # whatever the Hub answered, the page reports it and stays up
            st.error("The request could not be sent to the requests repo:")
            show_untrusted([str(error)[:500]])
        else:
            st.session_state["submitted"] = True
            st.success("Request sent as a pull request on the requests repo:")
            show_untrusted([published.pr_url or published.repo])
            return
    st.info("The request is valid. Download it and open it as a pull request on the requests repo:")
    show_untrusted([json.dumps(request, indent=2, ensure_ascii=False)])
    st.download_button(
        "Download request JSON",
        content,
        file_name=f"{request['codec_id']}.json",
        mime="application/json",
        on_click="ignore",
    )


# -- page ----------------------------------------------------------------------------------------------------


def load(source: ResultsSource) -> Page:
    if source.folder is not None:
        from kodek.leaderboard.loading import fingerprint

        stamp = fingerprint(Path(source.folder))  # changes when a results file does: no stale page
        return Page(source, (source, stamp), load_local(source.folder, stamp))
    nonce = st.session_state.get("nonce", 0)
    return Page(source, (source, nonce), load_hub(source.repo, source.revision, nonce))


def main() -> None:
    st.set_page_config(page_title="kodek: speech tokenizers on Polish speech", page_icon="🎙️", layout="wide")
    st.title("kodek: speech tokenizers on Polish speech")
    st.caption(
        "How well neural codecs, SSL tokenizers and classic codecs represent Polish speech (BIGOS-v2), "
        "and how well their tokens serve the Polish LLM Bielik."
    )
    source = ResultsSource.from_env(os.environ)
    try:
        page = load(source)
    except Exception as error:  # the page says what went wrong instead of a traceback
        st.error("The results could not be read:")
        show_untrusted([source.label, f"{type(error).__name__}: {str(error)[:500]}"])
        return
    sidebar(page)
    if page.dataset is None:
        st.info("No results yet: run `make demo` (or `kodek score`), then `kodek leaderboard --results RESULTS`.")
        show_untrusted([source.label])
    elif any(r["dataset"].get("synthetic") for r in page.results):
        st.warning(
            "These results were measured on synthetic data (kodek's bundled sample or a test fixture), "
            "not on BIGOS-v2: they exercise the pipeline and say nothing about real Polish speech."
        )

    # Only the open tab runs (its label is in the URL: ?view=Plots links to a view).
    tabs = dict(zip(VIEWS, st.tabs(VIEWS, key="view", bind="query-params"), strict=True))
    needs_data = {
        "Reconstruction": view_reconstruction,
        "SpeechLLM": view_speechllm,
        "Per subset": view_breakdown,
        "Plots": view_plots,
        "Listen": view_listen,
    }
    for name, view in needs_data.items():
        with tabs[name]:
            if tabs[name].open and page.dataset is not None:
                view(page)
    with tabs["Methodology"]:
        if tabs["Methodology"].open:
            view_methodology(page)
    with tabs["Submit"]:
        if tabs["Submit"].open:
            view_submit(os.environ.get("KODEK_REQUESTS_REPO") or DEFAULT_REQUESTS_REPO)

    # Files that failed validation are listed with the reason, below every view, never as data.
    rejected = page.prepared.loaded.rejected
    if rejected:
        with st.expander(f"{len(rejected)} results files rejected (not shown as data)"):
            st.dataframe(pd.DataFrame(rejected, columns=["file", "reason"]), hide_index=True)


# Streamlit runs this file as __main__; a multiprocessing child that re-imports it (as __mp_main__) must not.
if __name__ == "__main__":
    main()
