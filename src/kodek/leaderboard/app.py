"""kodek leaderboard (the Streamlit page): speech tokenizers on Polish speech (BIGOS-v2).

Packaged with kodek (``kodek leaderboard`` runs this file; the Space's ``app.py`` calls :func:`main`).
Results come from a local folder (``KODEK_RESULTS``, set by ``kodek leaderboard``) or
from the results repo on the Hub (``KODEK_RESULTS_REPO``). All data logic lives in
``kodek.leaderboard``; this file only presents it. Strings that come from results
files or requests (codec names, labels, contacts, reasons) are only ever shown as
text: escaped into the static HTML tables (``kodek.leaderboard.render``) or in ``st.text``, never as Markdown.

Speed: a new page load should cost little more than a hello-world Streamlit page, and each kind of Streamlit
element a page shows loads and starts code of its own first. So tables, captions, notices and collapsible listings
are static HTML (one kind, ``st.html``: no data grid, no expanders), commands are ``st.text`` (``st.code`` loads a
syntax highlighter), the choices a view offers (data, filters, ranking) sit in popovers, whose widgets are drawn
only when a reader opens them, and only the open tab runs.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import streamlit as st

from kodek.leaderboard import render, tables
from kodek.leaderboard.data import DEFAULT_REQUESTS_REPO, Prepared, ResultsSource, prepare, results_for
from kodek.leaderboard.tables import Board
from kodek.submissions import (
    builtin_codec_ids,
    rate_limited,
    request_bytes,
    request_from_form,
    send_request,
    validate_request,
)

HUB_TTL_S = 900
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


# Shared by every session without a copy (cache_data would unpickle the whole results set on every run): what
# these return is only read, never changed (filters and rankings make new tables).
@st.cache_resource(show_spinner=False, max_entries=4)
def load_local(folder: str, stamp: str) -> Prepared:
    source = ResultsSource(folder=folder)
    return prepare(*source.fetch())


@st.cache_resource(show_spinner="Reading results from the Hub…", ttl=HUB_TTL_S, max_entries=4)
def load_hub(repo: str, revision: str | None, nonce: int) -> Prepared:
    source = ResultsSource(repo=repo, revision=revision)
    return prepare(*source.fetch(token=_token()))


# Arguments named with a leading underscore are not hashed: ``version`` identifies what they hold.
@st.cache_resource(show_spinner=False, max_entries=64)
def breakdown(version: tuple, dataset: str, metric: str, condition: str, group: str, _prepared: Prepared) -> Board:
    return tables.breakdown_board(results_for(_prepared, dataset), metric, condition, group)


@dataclass(frozen=True)
class Shown:
    """A ranked table as the page shows it: the board, its HTML and its CSV."""

    board: Board
    html: str
    csv: bytes

    @classmethod
    def of(cls, board: Board, measured_on: str) -> Shown:
        return cls(board, render.board_html(board), board.csv(measured_on))


# A view switch or a filter change reruns the page: the ranked table, its HTML and its CSV are built once per choice.
@st.cache_resource(show_spinner=False, max_entries=64)
def ranked(
    version: tuple, dataset: str, name: str, llm: str, categories: tuple, bitrate: tuple, headline: str, _board: Board
) -> Shown:
    board = _board.filtered(categories, bitrate).ranked_by(headline)
    return Shown.of(board, dataset)


@st.cache_resource(show_spinner=False, max_entries=16)
def reconstruction_listings(version: tuple, dataset: str, _prepared: Prepared) -> str:
    """The collapsible listings under the Reconstruction table (failures by reason, registered systems without
    results, random-weight runs), built once per results read."""
    results = results_for(_prepared, dataset)
    sections = []
    failures = [
        {"codec": r["codec"]["id"], "reason": reason, "utterances": count}
        for r in tables.for_task(results, "reconstruction")
        for reason, count in sorted(r["failures"].get("by_reason", {}).items())
    ]
    if failures:
        sections.append(listing(f"Failures by reason ({len(failures)})", pd.DataFrame(failures)))
    unscored = tables.unscored_systems(results)
    if unscored:
        sections.append(
            listing(
                f"Registered systems without results ({len(unscored)})",
                pd.DataFrame(unscored),
                "Every system kodek registers is listed: not scored yet, or unsupported with the reason.",
            )
        )
    random = _prepared.loaded.random_weight_runs
    if random:
        runs = pd.DataFrame([{"codec": r["codec"]["id"], "task": r["task"], "date": r["date"]} for r in random])
        sections.append(
            listing(
                f"Random-weight runs: pipeline checks, not scores ({len(random)})",
                runs,
                "Built from configs with random weights for tests; their numbers mean nothing and are not shown.",
            )
        )
    return "".join(sections)


@st.cache_data(show_spinner=False, max_entries=256)
def audio_bytes(version: tuple, relative: str, _source: ResultsSource, _root: str) -> bytes:
    return _source.read_audio(Path(_root), relative, token=_token())


# -- presentation helpers ---------------------------------------------------------------------------------


def show_board(shown: Shown, key: str, *, file_name: str) -> None:
    """Every row (no scroll box), every cell as the text a reader needs (a value or why it is missing), the best
    value per column starred, why cells are empty, and a visible CSV download with units and the data measured on."""
    notes = [f"{column.strip()}: {why}" for column, why in shown.board.notes.items()]
    why = render.text_html("Why some cells are empty:") + render.lines_html(notes) if notes else ""
    show_html(shown.html, why)
    st.download_button(
        "Download CSV",
        shown.csv,
        file_name=f"{file_name}.csv",
        mime="text/csv",
        key=f"{key}_csv",
        on_click="ignore",
        help="The numbers behind this table, units in the headers, with the data they were measured on.",
    )


def show_ranked(page: Page, name: str, board: Board, headline: str, *, file_name: str, llm: str = "") -> None:
    """A table of the page's results ranked by ``headline`` under the page's filters (built once per choice)."""
    choice = (tuple(page.categories), page.bitrate, headline)
    shown = ranked(page.version, page.dataset, name, llm, *choice, board)
    if len(shown.board):
        show_board(shown, name, file_name=file_name)
    else:
        st.info("No results match the filters.")


def show_apart(apart: list, key: str, measured_on: str, name: str) -> None:
    """Results measured under other settings: never ranked with the table above, each group with why."""
    for number, (group, board) in enumerate(apart, start=1):
        with st.expander(f"Not comparable with the table above: {len(board)} more results ({number} of {len(apart)})"):
            caption = "Measured under other settings, so ranked only among themselves. They differ in:"
            show_html(render.text_html(caption), render.lines_html(group.differences))
            show_board(Shown.of(board, measured_on), f"{key}_apart_{number}", file_name=f"{name}-apart-{number}")


def show_table(frame: pd.DataFrame, *, every_row: bool = True) -> None:
    """Cells as escaped text in a static table; a ranking shows every row, a long listing (provenance, failures)
    scrolls in its box."""
    show_html(render.table_html(frame, scroll=not every_row))


def show_html(*parts: str) -> None:
    """Static blocks (tables, captions, notices, collapsible listings) as one element: the page's only raw HTML,
    every part made by ``kodek.leaderboard.render``, which escapes every string it is given."""
    st.html(render.STYLE + "".join(parts))


def listing(summary: str, frame: pd.DataFrame, caption: str = "") -> str:
    """A collapsible listing (failures, systems without results, rejected files): a scrolling table under its
    summary, closed until a reader opens it."""
    body = (render.text_html(caption) if caption else "") + render.table_html(frame, scroll=True)
    return render.details_html(summary, body)


def show_untrusted(lines: list[str]) -> None:
    """Text that came from a results file or a user: shown verbatim, never interpreted."""
    st.text("\n".join(lines))


# -- data and filters -------------------------------------------------------------------------------------------


def reload_results(page: Page) -> None:
    """Where the results come from, and a button that reads them again."""
    st.text(f"Results source: {page.source.label}")
    if st.button("Reload results", help="Read the results again (the Hub copy is cached for 15 minutes)."):
        st.session_state["nonce"] = st.session_state.get("nonce", 0) + 1
        load_hub.clear()
        load_local.clear()
        st.rerun()


def filters(page: Page) -> None:
    """The data measured on and the filters every table and plot follows, in a popover above the tabs; what is
    chosen is stated beside it."""
    prepared = page.prepared
    box = st.popover("Data and filters")
    with box:
        reload_results(page)
    if not prepared.datasets:
        return
    dataset = box.selectbox(
        "Measured on", prepared.datasets, help="Results on different data are never ranked together."
    )
    categories = set(prepared.reconstruction[dataset].rows["category"])
    for (key, _llm), board in prepared.speechllm.items():
        if key == dataset:
            categories |= set(board.rows["category"])
    if dataset in prepared.speech_lm:
        categories |= set(prepared.speech_lm[dataset].rows["category"])
    categories = sorted(categories)
    low = box.selectbox("Bitrate from (kbps)", BITRATE_LADDER_KBPS, index=0, format_func=_kbps, key="kbps_low")
    high = box.selectbox(
        "to (kbps)", BITRATE_LADDER_KBPS, index=len(BITRATE_LADDER_KBPS) - 1, format_func=_kbps, key="kbps_high"
    )
    chosen = box.pills("Category", categories, default=categories, selection_mode="multi", key="category")
    page.dataset, page.categories, page.bitrate = dataset, list(chosen), (float(low), float(high))
    shown = "all categories" if len(chosen) == len(categories) else "categories: " + (", ".join(chosen) or "none")
    rates = (
        "every bitrate"
        if (low, high) == (BITRATE_LADDER_KBPS[0], BITRATE_LADDER_KBPS[-1])
        else (f"{low:g} to {high:g} kbps")
    )
    show_html(render.text_html(f"Measured on {dataset}; {shown}; {rates}."))


def _kbps(value: float) -> str:
    return f"{value:g}"


# -- views ---------------------------------------------------------------------------------------------------


def view_reconstruction(page: Page) -> None:
    everything = page.prepared.reconstruction[page.dataset]
    headlines = everything.headlines  # the columns, whatever the filters keep
    if not headlines:
        st.info("No reconstruction results for this data yet.")
        return
    headline = st.popover("Rank by").selectbox("Rank by", headlines, index=0, key="headline")
    show_html(
        render.text_html(
            f"The study's table: one row per codec, ranked by {headline} (the reference, the original audio, is "
            "an upper bound and is not ranked). GT / REC: the metric on the original audio / on its "
            "reconstruction. ★ the best value per column. An empty cell says why: not run, not applicable, model "
            "unavailable, or how many utterances failed."
        )
    )
    show_ranked(page, "reconstruction", everything, headline, file_name="kodek-reconstruction")
    apart = [
        (group, other.filtered(page.categories, page.bitrate).ranked_by(headline))
        for group, other in page.prepared.reconstruction_apart.get(page.dataset, [])
    ]
    show_apart([a for a in apart if len(a[1])], "reconstruction", page.dataset, "kodek-reconstruction")
    listings = reconstruction_listings(page.version, page.dataset, page.prepared)
    if listings:
        show_html(listings)


def view_speechllm(page: Page) -> None:
    llms = page.prepared.llms.get(page.dataset, [])
    if not llms:
        st.info(
            "No SpeechLLM results yet: `kodek lm eval` writes `<codec>/speechllm-<config>.json` beside the "
            "reconstruction results."
        )
    else:
        llm = st.popover("LLM").selectbox("LLM", llms, key="llm") if len(llms) > 1 else llms[0]
        show_html(
            render.text_html(
                "The study's second table: transcript perplexity (PPL) and bits per character (BPC) of the frozen "
                "LLM, lower is better, as initial (random adapter) / fine-tuned (adapter trained on the codec's "
                "tokens); ranked by fine-tuned PPL. The prior (no audio) is the same for every codec. ★ the best "
                "per column."
            )
        )
        st.text(f"LLM: {llm}")
        board = page.prepared.speechllm[page.dataset, llm]
        show_ranked(page, "speechllm", board, tables.PPL_HEADLINE, file_name="kodek-speechllm", llm=llm)
        apart = [
            (group, other.filtered(page.categories, page.bitrate).ranked_by(tables.PPL_HEADLINE))
            for group, other in page.prepared.speechllm_apart.get((page.dataset, llm), [])
        ]
        show_apart([a for a in apart if len(a[1])], "speechllm", page.dataset, "kodek-speechllm")
    speech_lm = page.prepared.speech_lm.get(page.dataset)
    if speech_lm is not None and len(speech_lm):
        st.subheader("Speech-only LM on the codes")
        show_html(
            render.markdown_html(
                "Bits per second of test audio under a small causal LM trained on the codes (`kodek lm speech`), a "
                "unigram model of the codes, and a uniform code (the codec's bitrate): comparable across codecs "
                "where token perplexity is not.",
                kind="caption",
            )
        )
        show_ranked(page, "speech_lm", speech_lm, "bits/s ↓ trained", file_name="kodek-speech-lm")


def view_breakdown(page: Page) -> None:
    results = page.results
    catalogue = tables.metric_catalogue(tables.for_task(results, "reconstruction"))
    if not catalogue:
        st.info("No reconstruction results to break down.")
        return
    names = list(catalogue)
    choices = st.popover("Metric and grouping")
    metric = choices.selectbox("Metric", names, format_func=lambda n: catalogue[n].label, key="breakdown_metric")
    conditions = sorted(catalogue[metric].conditions, reverse=True) or ["rec"]  # rec before gt
    condition = choices.selectbox("Condition", conditions, format_func=str.upper, key="breakdown_condition")
    groups = tables.breakdown_groups(results)
    group = choices.selectbox("Group by", groups, format_func=lambda g: tables.GROUPS.get(g, g), key="breakdown_group")
    board = breakdown(page.version, page.dataset, metric, condition, group, page.prepared)
    board = board.filtered(page.categories, page.bitrate)
    show_html(
        render.text_html(
            f"{catalogue[metric].label} ({condition.upper()}) by {tables.GROUPS.get(group, group)}. Rows: codecs; "
            "columns: the groups. ★ the best value per column (the reference row is not ranked)."
        )
    )
    if len(board):
        show_board(Shown.of(board, page.dataset), "breakdown", file_name=f"kodek-{metric}-{condition}-by-{group}")
    else:
        st.info("No results match the filters.")


def view_plots(page: Page) -> None:
    board = page.board
    ranked = [c for c in board.columns if c.kind == "metric" and c.ranked]
    if not ranked or not len(board):
        st.info("No reconstruction results to plot.")
    else:
        key = st.popover("Quality metric").selectbox("Quality metric", [c.key for c in ranked], key="plot_metric")
        column = board.column(key)
        points = tables.plot_points(board, key)
        title = key.replace(" GT / REC", " (REC)")
        st.image(render.pareto_svg(points, column.higher_is_better, title), width="stretch")
    llms = page.prepared.llms.get(page.dataset, [])
    if llms:
        llm = st.popover("LLM").selectbox("LLM", llms, key="plot_llm") if len(llms) > 1 else llms[0]
        llm_board = page.prepared.speechllm[page.dataset, llm].filtered(page.categories, page.bitrate)
        points = tables.plot_points(llm_board, tables.PPL_HEADLINE)
        if len(points):
            st.image(render.pareto_svg(points, False, "PPL fine-tuned ↓"), width="stretch")


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
    chosen = st.popover("Codecs").multiselect("Codecs", have, default=by_bitrate[:3], max_selections=6, key="listen")
    if not chosen:
        show_html(render.text_html("Choose codecs to listen to.", kind="notice"))
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
            play(page, listening.originals[name])
        for cell, codec in zip(cells[1:], chosen, strict=True):
            with cell:
                st.text(codec)
                play(page, listening.reconstructions[codec][name])


def play(page: Page, relative: str) -> None:
    """One listening example; one that cannot be read is a message (never a traceback or a server path)."""
    try:
        content = audio_bytes(page.version, relative, page.source, page.prepared.root)
    except Exception:  # a refused path, a missing or unreadable file, a Hub error: the page stays up
        st.warning("This example could not be read.")
        return
    st.audio(content, format="audio/flac")


METHODOLOGY = """
**Data.** BIGOS-v2 (`amu-cai/pl-asr-bigos-v2`), 12 public Polish speech corpora. Codecs encode and decode the
test split. Results measured on different data (the bundled synthetic sample, one BIGOS subset, another split, a
`--limit` run) are shown separately and never ranked together.

**One preparation for every metric** (the same in `kodek score` and in the `evaluate` modules): the reconstruction
is resampled from the codec's rate straight to the metric's rate (16 kHz; 8 kHz for PESQ-nb) with soxr (quality
HQ), the codec's constant delay is removed, and the reconstruction is fitted to the original's length: a short one
is padded with zeros (the missing end is lost audio and scored as such), an extra tail is ignored; the original is
never cut.

**Delay.** Each codec's constant delay is estimated from the data (cross-correlation of its first 16
reconstructions with their originals within +-100 ms, amplitude envelopes where a vocoder keeps no waveform phase;
the median, accepted where at least half the utterances agree within 5 ms) and removed before every metric, since
STOI, ESTOI and the mel distance punish a pure shift as distortion. The Delay column shows it; empty where none
could be established (then nothing is compensated).

**GT and REC.** Intrusive metrics (PESQ, STOI, speaker similarity, mel distance) compare the reconstruction with
the original: REC only. ASR metrics transcribe with a pinned multilingual ASR: GT is the WER/CER of the original
audio against the reference text, REC of the reconstruction; dWER compares the reconstruction's transcript with
the original's (no reference needed). Polish text normalisation keeps diacritics.

**No rank gained by failing.** A reconstruction that is empty, silent or not finite, or that a metric cannot
score while the original can, has failed: it counts at the metric's floor (PESQ 1.0, STOI 0, ESTOI -1, speaker
similarity -1; for WER/CER and the mel distance the worse of an empty output's value and the codec's own worst),
and the cell says how many failed. An utterance whose original cannot be scored is left out for every codec. A
value never made up: a cell says why it is empty, in words: `not run`, `not applicable` (e.g. a tokenizer without
a decoder), `model unavailable` (the reason is listed under the table), or `n of N failed`.

**Comparable results.** Only results measured under the same settings (data revision, subsets, split, utterance
set, limit, normalisation, ASR and speaker models with their revisions, scoring version: one comparability key)
are ranked together; the others are shown apart with the settings in which they differ.

**Random weights.** Runs built from configs with random weights (tests, benchmarks) are never shown as scores.

**SpeechLLM.** Codec tokens, per-codebook embeddings summed, resampled to a fixed number of slots per 80 ms
window, so that the projector into the frozen Bielik has the same size for every codec (its parameters are
recorded); utterances are limited in seconds of audio, not codec frames, so every codec is evaluated on the same
test utterances. Transcript perplexity and bits per character in three conditions: prior (no audio), initial
(random adapter), fine-tuned (adapter trained on BIGOS train, selected on validation); PPL = exp(summed NLL /
transcript tokens) over the whole split, never a mean of batch means; bits per character compare across LLM
tokenizers. A speech-only LM of fixed size on the codes gives bits per second of audio (trained LM, unigram
model, uniform code = the bitrate), comparable across codecs where token perplexity is not.

**Submitted codecs.** The leaderboard never imports or runs submitted code: maintainers run a request with
`kodek run-request` and publish the results it writes.
"""


def view_methodology(page: Page) -> None:
    show_html(render.markdown_html(METHODOLOGY))
    results = page.results
    st.subheader("Metrics")
    show_table(tables.metrics_table(results))
    st.subheader("Models, revisions, data and software")
    if results:
        show_table(tables.provenance_table(results), every_row=False)
        codecs = sorted({r["codec"]["id"] for r in tables.for_task(results, "reconstruction")})
        if codecs:
            st.subheader("Reproduce a row")
            codec = st.popover("Codec").selectbox("Codec", codecs, key="reproduce")
            data = next(r for r in results if r["codec"]["id"] == codec and r["task"] == "reconstruction")
            st.text(tables.reproduce_commands(data))


SUBMIT_HELP = """
A codec joins the leaderboard as a Python package that registers it through the `kodek.codecs` entry-point group
(see kodek's README). Check it locally and send the request in one step:
"""


def view_submit(requests_repo: str | None) -> None:
    show_html(render.markdown_html(SUBMIT_HELP))
    st.text(
        "pip install kodek your-codec-package\n"
        "kodek submit --codec YOUR-CODEC-ID --contact you@example.org --repo "
        + (requests_repo or DEFAULT_REQUESTS_REPO)
    )
    show_html(
        render.markdown_html(
            "Or fill in the same request here. Maintainers run it with `kodek run-request`; the results appear on "
            "the leaderboard. Nothing you enter is run by this page."
        )
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
    token = _token()
    sent: list[float] = st.session_state.setdefault("requests_sent", [])
    limited = rate_limited(sent, time.monotonic()) if requests_repo and token else None
    if limited:
        st.warning(f"Not sent: {limited}. The request below is valid; download it instead.")
    elif requests_repo and token:
        sent.append(time.monotonic())  # counted before the Hub answers: a failed attempt is a request too
        try:
            published = send_request(request, requests_repo, token=token)
        except Exception as error:  # whatever the Hub answered, the page reports it and stays up
            st.error("The request could not be sent to the requests repo:")
            show_untrusted([str(error)[:500]])
        else:
            st.success("Request sent as a pull request on the requests repo:")
            show_untrusted([published.pr_url or published.repo])
            return
    st.info("The request is valid. Download it and open it as a pull request on the requests repo:")
    show_untrusted([json.dumps(request, indent=2, ensure_ascii=False)])
    st.download_button(
        "Download request JSON",
        request_bytes(request),
        file_name=f"{request['codec_id']}.json",
        mime="application/json",
        on_click="ignore",
    )


# -- page ----------------------------------------------------------------------------------------------------


def load(source: ResultsSource) -> Page:
    if source.folder is not None:
        from kodek.results.loading import fingerprint

        # Changes when a results file does (no stale page); a short digest is cheap to hash as a cache key.
        stamp = hashlib.sha1(repr(fingerprint(Path(source.folder))).encode()).hexdigest()
        return Page(source, (source, stamp), load_local(source.folder, stamp))
    nonce = st.session_state.get("nonce", 0)
    return Page(source, (source, nonce), load_hub(source.repo, source.revision, nonce))


def main() -> None:
    st.set_page_config(
        page_title="kodek: speech tokenizers on Polish speech",
        page_icon="🎙️",
        layout="wide",
    )
    st.title("kodek: speech tokenizers on Polish speech")
    show_html(
        render.text_html(
            "How well neural codecs, SSL tokenizers and classic codecs represent Polish speech (BIGOS-v2), "
            "and how well their tokens serve the Polish LLM Bielik."
        )
    )
    source = ResultsSource.from_env(os.environ)
    try:
        page = load(source)
    except Exception as error:  # the page says what went wrong instead of a traceback
        st.error("The results could not be read:")
        show_untrusted([source.label, f"{type(error).__name__}: {str(error)[:500]}"])
        return
    filters(page)
    if page.dataset is None:
        st.info("No results yet: run `make demo` (or `kodek score`), then `kodek leaderboard --results RESULTS`.")
        show_untrusted([source.label])
    elif any(r["dataset"].get("synthetic") for r in page.results):
        show_html(
            render.text_html(
                "These results were measured on synthetic data (kodek's bundled sample or a test fixture), "
                "not on BIGOS-v2: they exercise the pipeline and say nothing about real Polish speech.",
                kind="notice",
            )
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
        frame = pd.DataFrame(rejected, columns=["file", "reason"])
        show_html(listing(f"{len(rejected)} results files rejected (not shown as data)", frame))


# Streamlit runs this file as __main__; a multiprocessing child that re-imports it (as __mp_main__) must not.
if __name__ == "__main__":
    main()
