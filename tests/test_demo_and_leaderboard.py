"""make demo's job offline, and the minimal leaderboard page over its results."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest

from kodek.demo import run_demo

APP = Path(__file__).resolve().parents[1] / "leaderboard" / "app.py"


@pytest.fixture(scope="module")
def demo(tmp_path_factory, hub):
    out = tmp_path_factory.mktemp("demo")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        # semanticodec-50tps runs in an isolated environment that cannot be built offline: listed, never a crash.
        codecs = ["identity-16khz", "opus-6kbps", "encodec-24khz-6kbps", "hubert-base-l9-k500", "semanticodec-50tps"]
        code = run_demo(out, codecs=codecs, workers=2)
    assert code == 0
    return out, printed.getvalue()


@pytest.fixture(scope="module")
def demo_out(demo):
    return demo[0]


def test_demo_scores_offline_codecs_and_reports_skips(demo):
    demo_out, printed = demo
    assert (demo_out / "results" / "opus-6kbps" / "reconstruction.json").is_file()
    assert "identity-16khz" in printed and "opus-6kbps" in printed
    assert "semanticodec-50tps" in printed.split("Not run here: 3 codecs")[1]
    assert "encodec-24khz-6kbps: weights facebook/encodec_24khz@" in printed
    assert "kodek tokenize --codec CODEC_ID --data bigos" in printed
    kmeans = printed.split("without a fitted k-means quantiser")[1]
    assert kmeans.splitlines()[1].strip() == "- hubert-base-l9-k500" and "kodek kmeans fit" in kmeans
    # A metric whose model is not available is listed with its reason, not printed as an empty column.
    table = printed.split("Reconstruction quality")[1].split("\n\n")[1]
    assert "PESQ" in table and "missing" not in table
    assert "make leaderboard" in printed


def test_leaderboard_page_shows_the_results(demo_out, monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("KODEK_RESULTS", str(demo_out / "results"))
    app = AppTest.from_file(str(APP), default_timeout=60).run()
    assert not app.exception
    from leaderboard_fixtures import shown_tables

    table = shown_tables(app)[0]
    assert set(table["Codec"]) == {"identity-16khz", "opus-6kbps"}
    assert "PESQ ↑" in table.columns and "STOI ↑" in table.columns


def test_leaderboard_rejects_invalid_results(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "reconstruction.json").write_text('{"schema_version": 1}')
    monkeypatch.setenv("KODEK_RESULTS", str(tmp_path))
    app = AppTest.from_file(str(APP), default_timeout=60).run()
    assert not app.exception
    from leaderboard_fixtures import section_summaries

    assert any("1 results files rejected" in s for s in section_summaries(app))
