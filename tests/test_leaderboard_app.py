"""The Streamlit page, driven by AppTest: every view, from fixture results with invalid and hostile files."""

from __future__ import annotations

import base64
import importlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from xml.etree import ElementTree

import pytest
import yaml
from huggingface_hub import HfApi
from streamlit.testing.v1 import AppTest

from kodek.leaderboard import app_path, tables
from kodek.leaderboard.synthetic import write_synthetic
from leaderboard_fixtures import (
    IMG,
    SCRIPT,
    html_tables,
    html_texts,
    main_module_kept,
    section_summaries,
    section_tables,
    shown_tables,
    write_hostile_results,
)

ROOT = Path(__file__).resolve().parents[1]
SPACE = ROOT / "leaderboard"
APP = SPACE / "app.py"
SVG = "{http://www.w3.org/2000/svg}"
HOSTILE = ("<script", "<img", "onerror", "<b>")
# Element types whose text Streamlit renders as Markdown.
MARKDOWN_TYPES = {"markdown", "caption", "title", "header", "subheader", "alert", "info", "warning", "error", "success"}


@pytest.fixture(autouse=True)
def _keep_main_module():
    with main_module_kept():
        yield


@pytest.fixture
def hostile(tmp_path, monkeypatch):
    folder = tmp_path / "results"
    written = write_hostile_results(folder)
    monkeypatch.setenv("KODEK_RESULTS", str(folder))
    return folder, written


def run(view: str | None = None, **query: str) -> AppTest:
    app = AppTest.from_file(str(APP), default_timeout=60)
    if view:
        app.query_params["view"] = view
    app.query_params.update(query)
    return app.run()


def nodes(app: AppTest):
    return [node for node in app._tree if hasattr(node, "proto")]


def markdown_texts(app: AppTest) -> list[str]:
    texts = [getattr(n, "value", "") or "" for n in nodes(app) if n.type in MARKDOWN_TYPES]
    labels = [getattr(n, "label", "") or "" for n in nodes(app)]  # widget, expander and tab labels are Markdown
    return [str(t) for t in texts + labels]


def plain_texts(app: AppTest) -> list[str]:
    return [str(n.value) for n in nodes(app) if n.type in ("text", "code")]


def table_strings(app: AppTest) -> set[str]:
    """Every header and cell text of every table the page shows (collapsed sections included)."""
    found: set[str] = set()
    for frame in shown_tables(app):
        found |= {str(c) for c in frame.columns}
        found |= {str(v) for v in frame.astype(str).to_numpy().ravel()}
    return found


def assert_safe(app: AppTest) -> None:
    assert not app.exception, app.exception
    for node in nodes(app):
        if node.type == "markdown":
            assert not node.proto.allow_html
    for text in markdown_texts(app):
        assert not any(h in text for h in HOSTILE), text
    for element in app.get("html"):  # the static tables: markup only from the page, every string escaped
        assert not any(h in element.proto.body for h in ("<script", "<img", "<b>")), element.proto.body


# -- views ------------------------------------------------------------------------------------------------


def test_reconstruction_view_shows_valid_results_and_lists_rejected_files(hostile):
    _, written = hostile
    app = run()
    assert_safe(app)
    table = shown_tables(app)[0]
    good = sorted(d["codec"]["id"] for d in written["good"])
    assert sorted(table["Codec"]) == good  # random weights, invalid and duplicate files are not data
    study = ["#", "Codec", "Category", "PESQ ↑", "Spk-Sim ↑", "WER ↓ GT / REC", "CER ↓ GT / REC", "STOI ↑"]
    assert list(table.columns[:10]) == [*study, "Params (M)", "Bitrate (kbps)"]
    by_codec = dict(zip(table["Codec"], table.to_dict("records"), strict=True))
    first, second, third = (d["codec"]["id"] for d in written["good"])
    assert by_codec[second]["PESQ ↑"] == "not applicable"
    assert by_codec[third]["STOI ↑"] == "1200 of 1200 failed"
    pesq = tables.fmt(written["good"][0]["metrics"]["pesq_wb"]["rec"]["mean"])
    assert by_codec[first]["PESQ ↑"] in (pesq, pesq + tables.BEST)
    assert any(str(v).endswith(tables.BEST) for v in table["PESQ ↑"])  # best values are marked
    (_, classes), *_ = [t for element in app.get("html") for t in html_tables(element.proto.body)]
    column = list(table.columns).index("PESQ ↑")
    starred = [i for i, v in enumerate(table["PESQ ↑"]) if v.endswith(tables.BEST)]
    assert starred == [i for i, row in enumerate(classes) if "best" in row[column]]  # and set in bold
    assert not any(str(v) in ("None", "nan", "") for v in table.to_numpy().ravel())  # every cell says something
    assert [b.label for b in app.get("download_button")][:1] == ["Download CSV"]
    assert any(s.startswith("5 results files rejected") for s in section_summaries(app))
    reasons = section_tables(app, "results files rejected")[0]
    assert set(reasons["file"]) >= {"bad-id/reconstruction.json", "wrong-folder/reconstruction.json"}
    assert list(section_tables(app, "Random-weight runs")[0]["codec"]) == [written["random"]["codec"]["id"]]
    assert any("synthetic data" in t for t in html_texts(app))
    unscored = section_tables(app, "Registered systems without results")[0]
    rows = dict(zip(unscored["Codec"], unscored.to_dict("records"), strict=True))
    assert rows["stable-codec-speech-16khz-400bps"]["Status"] == "not scored yet"
    assert rows["dac-16khz"]["Status"] == "not scored yet" and not set(good) & set(rows)


def test_user_controlled_strings_are_shown_escaped_in_every_view(hostile):
    for view in ("Reconstruction", "SpeechLLM", "Per subset", "Plots", "Listen", "Methodology", "Submit"):
        app = run(view)
        assert_safe(app)
    app = run("Reconstruction")
    strings = table_strings(app)
    assert SCRIPT in strings  # the codec family, as a table cell
    assert f"<b>{IMG}</b> ↓" in strings  # a metric label, as a column header
    assert any(SCRIPT in s for s in strings if s.startswith("pesq_wb"))  # a failure reason
    llm = run("SpeechLLM")
    assert f"LLM: {IMG}" in plain_texts(llm)  # an LLM id, in st.text


def test_filters_by_category_and_bitrate(hostile):
    _, written = hostile
    app = run()
    categories = app.button_group(key="category")
    assert set(categories.value) == {"Neural Codec", "Semantic Codec", "Classic Codec"}  # every one at first
    categories.set_value(["Neural Codec"]).run()
    assert set(shown_tables(app)[0]["Category"]) == {"Neural Codec"}
    app.button_group(key="category").set_value(["Neural Codec", "Semantic Codec", "Classic Codec"])
    app.selectbox(key="kbps_low").set_value(1.0)
    app.selectbox(key="kbps_high").set_value(6.0).run()
    expected = sorted(d["codec"]["id"] for d in written["good"] if 1.0 <= d["codec"]["bitrate_bps"] / 1000 <= 6.0)
    assert 0 < len(expected) < len(written["good"])
    assert sorted(shown_tables(app)[0]["Codec"]) == expected


def test_speechllm_view(hostile):
    _, written = hostile
    app = run("SpeechLLM")
    assert_safe(app)
    table = shown_tables(app)[0]
    assert list(table["Codec"]) == [written["llm"]["codec"]["id"]]
    ppl = written["llm"]["metrics"]["ppl"]
    assert list(table.columns[:5]) == ["#", "Codec", "Category", tables.PPL_HEADLINE, "BPC ↓ initial / fine-tuned"]
    assert table[tables.PPL_HEADLINE].iloc[0] == f"{tables.fmt(ppl['init'])} / {tables.fmt(ppl['trained'])}" + (
        tables.BEST
    )
    assert list(table.columns[-2:]) == ["Params (M)", "Bitrate (kbps)"]


def test_per_subset_view_by_subset_and_by_gender(hostile):
    app = run("Per subset")
    assert_safe(app)
    assert list(shown_tables(app)[0].columns)[:2] == ["Codec", "all"]
    assert "pwr-viu-unk" in shown_tables(app)[0].columns
    app.selectbox(key="breakdown_condition").set_value("rec")
    app.selectbox(key="breakdown_group").set_value("speaker_gender").run()
    assert {"female", "male"} <= set(shown_tables(app)[0].columns)


def plots(app: AppTest) -> list[ElementTree.Element]:
    """The page's plots: SVG documents, shown as images (data URLs)."""
    out = []
    for image in app.get("image"):
        for url in image.value:
            assert url.startswith("data:image/svg+xml;base64,")
            out.append(ElementTree.fromstring(base64.b64decode(url.split(",", 1)[1])))
    return out


def svg_texts(svg: ElementTree.Element) -> list[str]:
    return ["".join(t.itertext()) for t in svg.iter(f"{SVG}text")]


def test_plots_view_draws_quality_and_perplexity_against_bitrate(hostile):
    _, written = hostile
    app = run("Plots")
    assert_safe(app)
    quality, ppl = plots(app)
    texts = svg_texts(quality)
    assert any("Pareto front" in t for t in texts) and "bitrate (kbps, log scale)" in texts
    plotted = [d for d in written["good"] if d["metrics"]["pesq_wb"].get("applicable") is not False]
    assert plotted and all(d["codec"]["id"] in texts for d in plotted)  # each point labelled with its codec
    assert written["llm"]["codec"]["id"] in svg_texts(ppl)
    # Categories told apart by colour and by shape, with a legend.
    marks = [
        m
        for m in quality
        if m.tag in {f"{SVG}{k}" for k in ("circle", "rect", "polygon")} and m.find(f"{SVG}title") is not None
    ]
    assert len({(m.tag, m.get("fill")) for m in marks}) >= len({d["codec"]["kind"] for d in plotted})


def test_an_unreadable_listening_example_is_a_message(hostile):
    folder, written = hostile
    path = folder / written["good"][0]["codec"]["id"] / "audio" / "utt-1.flac"
    path.unlink()
    path.symlink_to(folder.parent / "elsewhere.flac")  # refused: outside the results folder (and absent)
    app = run("Listen")
    assert not app.exception
    assert any("could not be read" in w.value for w in app.warning)
    assert not any("elsewhere" in t or "utt-1.flac" in t for t in markdown_texts(app) + plain_texts(app))
    assert len(app.get("audio")) == 2


def test_listen_view_puts_the_original_beside_the_reconstructions(hostile):
    app = run("Listen")
    assert_safe(app)
    assert len(app.get("audio")) == 3  # the original and two codecs
    assert "original" in plain_texts(app) and "utterance utt-1" in plain_texts(app)


def test_methodology_view_documents_metrics_provenance_and_reproduction(hostile):
    app = run("Methodology")
    assert_safe(app)
    metrics = shown_tables(app)[0]
    assert {"pesq_wb", "wer", "stoi"} <= set(metrics["metric"])
    assert "higher" in set(metrics["better"])
    commands = plain_texts(app)
    assert any("kodek tokenize --codec" in c and "kodek score" in c for c in commands)


def test_an_empty_results_folder_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("KODEK_RESULTS", str(tmp_path))
    app = run()
    assert not app.exception
    assert any("No results yet" in i.value for i in app.info)


# -- the submit form --------------------------------------------------------------------------------------------


def fill(app: AppTest, **fields: str) -> AppTest:
    for name, value in fields.items():
        app.text_input(key=f"submit_{name}").set_value(value) if name != "description" else app.text_area(
            key="submit_description"
        ).set_value(value)
    next(b for b in app.button if b.label == "Check and submit").click()
    return app.run()


GOOD_FORM = {
    "codec_id": "mu-law-8khz",
    "package": "kodek-mulaw",
    "version": "1.0.2",
    "license": "MIT",
    "contact": "author@example.org",
}


def test_the_submit_form_rejects_malformed_requests_and_shows_them_as_text(hostile):
    app = fill(run("Submit"), **{**GOOD_FORM, "codec_id": "../../etc/passwd", "contact": SCRIPT})
    assert_safe(app)
    assert any("not valid" in e.value for e in app.error)
    problems = "\n".join(plain_texts(app))
    assert "codec_id (Codec id)" in problems and "contact (Contact)" in problems and SCRIPT in problems  # as code
    assert "expected an e-mail address" in problems and "[a-z" not in problems  # in words, not a regex


def test_the_submit_form_opens_a_pull_request_on_the_requests_repo(hostile, hub, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "t")
    monkeypatch.setenv("KODEK_REQUESTS_REPO", "kodek-test/requests-form")
    app = fill(run("Submit"), **GOOD_FORM, description="G.711 mu-law")
    assert_safe(app)
    assert any("pull request" in s.value for s in app.success)
    api = HfApi(token="t")
    files = api.list_repo_files("kodek-test/requests-form", repo_type="dataset", revision="refs/pr/1")
    assert "requests/mu-law-8khz.json" in files
    path = api.hf_hub_download(
        "kodek-test/requests-form", "requests/mu-law-8khz.json", repo_type="dataset", revision="refs/pr/1"
    )
    request = json.loads(Path(path).read_text())
    assert request["submitted_via"] == "space" and request["contact"] == "author@example.org"
    # The same session at once again: refused by the per-session limit, offered as a file instead.
    next(b for b in app.button if b.label == "Check and submit").click()
    app.run()
    assert any("Not sent" in w.value and "try again" in w.value for w in app.warning)
    prs = [d for d in api.get_repo_discussions("kodek-test/requests-form", repo_type="dataset")]
    assert len(prs) == 1
    assert not hub.unhandled


def test_without_a_token_the_form_offers_the_request_to_download(hostile, monkeypatch):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    app = fill(run("Submit"), **GOOD_FORM)
    assert_safe(app)
    assert any("valid" in i.value for i in app.info)
    assert len(app.get("download_button")) == 1


# -- data from the Hub, and what the page never does --------------------------------------------------------------


def test_results_from_the_results_repo_on_the_hub(tmp_path, hub, monkeypatch):
    from kodek.hub import publish_folder

    folder = tmp_path / "results"
    written = write_hostile_results(folder)
    good = [d["codec"]["id"] for d in written["good"]]
    publish_folder(folder, "kodek-test/results-app", patterns=[f"{c}/**" for c in good] + ["_originals/*"], token="t")
    monkeypatch.delenv("KODEK_RESULTS", raising=False)
    monkeypatch.setenv("KODEK_RESULTS_REPO", "kodek-test/results-app")
    app = run()
    assert_safe(app)
    assert sorted(shown_tables(app)[0]["Codec"]) == sorted(good)
    assert "Results source: Hub dataset kodek-test/results-app" in plain_texts(app)
    listen = run("Listen")
    assert len(listen.get("audio")) == 3  # downloaded on demand
    assert not hub.unhandled


def test_an_unreachable_results_repo_is_an_error_message_not_a_traceback(hub, monkeypatch):
    monkeypatch.delenv("KODEK_RESULTS", raising=False)
    monkeypatch.setenv("KODEK_RESULTS_REPO", "kodek-test/no-such-results")
    app = run()
    assert not app.exception
    assert any("could not be read" in e.value for e in app.error)


def test_the_page_never_loads_codec_entry_points(hostile, tmp_path, monkeypatch):
    """Submitted packages register codecs through entry points: the page must not import them."""
    registry_module = importlib.import_module("kodek.codecs.registry")

    marker = tmp_path / "imported"
    (tmp_path / "evil_codec.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\nENTRIES = []\n")
    dist = tmp_path / "evil_codec-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: evil-codec\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[kodek.codecs]\nevil = evil_codec:ENTRIES\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    registry_module.reset_registry()
    try:
        for view in ("Reconstruction", "Submit"):
            assert not run(view).exception
        app = fill(run("Submit"), **GOOD_FORM)
        assert not app.exception
        assert not marker.exists()
        assert registry_module._REGISTRY is None
    finally:
        registry_module.reset_registry()


def test_the_page_imports_no_torch(hostile):
    folder, _ = hostile
    code = textwrap.dedent(
        f"""
        import sys
        from streamlit.testing.v1 import AppTest
        app = AppTest.from_file({str(APP)!r}, default_timeout=60).run()
        assert not app.exception, app.exception
        heavy = {{'torch', 'transformers', 'datasets'}} & set(sys.modules)
        assert not heavy, heavy
        """
    )
    env = {**os.environ, "KODEK_RESULTS": str(folder)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr[-2000:]


# -- the Space folder ---------------------------------------------------------------------------------------------


def test_the_space_folder_deploys_as_is():
    text = (SPACE / "README.md").read_text(encoding="utf-8")
    assert text.startswith("---\n")
    card = yaml.safe_load(text.split("---\n")[1])
    assert card["sdk"] == "streamlit" and card["app_file"] == "app.py"
    from packaging.version import Version

    # The Space runs at least the Streamlit the leaderboard extra asks for (lazy tabs bound to the URL).
    assert Version(str(card["sdk_version"])) >= Version("1.67")
    requirements = [
        line.split("#")[0].strip() for line in (SPACE / "requirements.txt").read_text().splitlines() if line.strip()
    ]
    assert not any(r.startswith(("torch", "transformers", "torchaudio")) for r in requirements if r)
    assert not (SPACE / "__init__.py").exists()
    page = app_path().read_text()
    assert "unsafe_allow_html" not in page
    # Raw HTML in one place, and only what the renderer (which escapes every string it is given) made.
    assert page.count("st.html(") == 1 and 'st.html(render.STYLE + "".join(parts))' in page
    made_by_the_renderer = ("render.", "listing(", "shown.html, why)", "listings)")
    calls = [call.strip() for call in page.split("show_html(")[1:] if not call.startswith("*parts: str")]
    assert calls and all(call.startswith(made_by_the_renderer) for call in calls), calls


def test_fifty_codecs_render_in_every_view(tmp_path, monkeypatch):
    write_synthetic(tmp_path, codecs=50, subsets=12)
    monkeypatch.setenv("KODEK_RESULTS", str(tmp_path))
    for view in ("Reconstruction", "SpeechLLM", "Per subset", "Plots"):
        app = run(view)
        assert not app.exception
        assert len(shown_tables(app)[0]) == 50 if view != "Plots" else plots(app)
        if view != "Plots":
            assert app.get("download_button")
    assert tables.SOURCE_STUDY_METRICS[0] == "pesq_wb"


def test_results_under_other_settings_are_shown_apart_with_their_own_download(tmp_path, monkeypatch):
    from kodek.leaderboard.synthetic import comparability

    write_synthetic(tmp_path, codecs=4, subsets=1)
    partial = tmp_path / "synthetic-semantic-001" / "reconstruction.json"
    data = json.loads(partial.read_text())
    data.update(comparability(data, limit=20))  # the same data, scored on its first 20 utterances only
    partial.write_text(json.dumps(data))
    monkeypatch.setenv("KODEK_RESULTS", str(tmp_path))
    app = run("Reconstruction")
    assert not app.exception, app.exception
    ranked, *_ = shown_tables(app)
    assert "synthetic-semantic-001" not in set(ranked["Codec"])
    (box,) = [e for e in app.get("expander") if e.label.startswith("Not comparable with the table above")]
    assert list(shown_tables(box)[0]["Codec"]) == ["synthetic-semantic-001"]
    assert any("limit: 20" in t for t in html_texts(box))
    assert [b.label for b in box.get("download_button")] == ["Download CSV"]


def test_the_reference_is_drawn_apart_from_the_pareto_front(tmp_path, monkeypatch):
    from leaderboard_fixtures import results, write

    rows = [results(i) for i in range(4)]
    reference = results(9)
    reference["codec"].update(kind="reference", id="identity-16khz")
    reference["metrics"]["pesq_wb"]["rec"]["mean"] = 4.64
    for data in [*rows, reference]:
        write(tmp_path, f"{data['codec']['id']}/reconstruction.json", data)
    monkeypatch.setenv("KODEK_RESULTS", str(tmp_path))
    app = run("Plots")
    assert not app.exception
    (svg,) = plots(app)
    assert "reference: identity-16khz (not a codec)" in svg_texts(svg)
    rule = next(line for line in svg.iter(f"{SVG}line") if line.get("class") == "reference")
    front = next(p for p in svg.iter(f"{SVG}polyline") if p.get("class") == "front")
    assert rule.get("y1") == rule.get("y2")  # a horizontal line across the plot ...
    front_ys = {float(point.split(",")[1]) for point in front.get("points").split()}
    assert float(rule.get("y1")) not in front_ys  # ... apart from the dashed front of the codecs
    table = shown_tables(run("Reconstruction"))[0]
    assert table.iloc[0]["Codec"] == "identity-16khz" and table.iloc[0]["#"] == "reference (not ranked)"
