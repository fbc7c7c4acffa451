"""The leaderboard's data logic: schema, loading and rejection, tables, best values, plots data (no Streamlit)."""

from __future__ import annotations

import copy
import json
import math
import os
import subprocess
import sys

import pandas as pd
import pytest

from kodek.leaderboard import tables
from kodek.leaderboard.data import ResultsSource, prepare
from kodek.leaderboard.loading import (
    MAX_RESULTS_BYTES,
    fingerprint,
    index_listening,
    load_results,
    local_audio_paths,
    read_local_audio,
)
from kodek.leaderboard.schema import validate
from kodek.leaderboard.synthetic import speechllm, write_synthetic
from leaderboard_fixtures import IMG, SCRIPT, SUBSETS, results, write, write_hostile_results


@pytest.fixture
def hostile(tmp_path):
    folder = tmp_path / "results"
    return folder, write_hostile_results(folder)


def test_the_data_logic_imports_neither_streamlit_nor_torch():
    code = (
        "import sys; import kodek.leaderboard.data, kodek.leaderboard.tables, kodek.leaderboard.submissions; "
        "heavy = {'streamlit', 'torch', 'transformers'} & set(sys.modules); assert not heavy, heavy"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=os.environ)
    assert out.returncode == 0, out.stderr


# -- schema and loading ------------------------------------------------------------------------------------


def test_synthetic_results_are_valid_and_speechllm_needs_an_llm():
    data = results(0)
    assert validate(data) == []
    llm = speechllm(data)
    assert validate(llm) == []
    del llm["llm"]
    assert any("'llm' is a required property" in e for e in validate(llm))
    llm = speechllm(data)
    llm["metrics"]["ppl"]["trained"] = "low"
    assert any(e.startswith("metrics/ppl/trained") for e in validate(llm))
    broken = copy.deepcopy(data)
    broken["by_subset"]["fair-mls-20"]["wer"]["rec"] = {"mean": "x"}
    assert any(e.startswith("by_subset/fair-mls-20/wer/rec") for e in validate(broken))


def test_invalid_files_are_rejected_with_their_reason(hostile):
    folder, written = hostile
    loaded = load_results(folder)
    reasons = dict(loaded.rejected)
    assert set(reasons) == {
        "bad-id/reconstruction.json",
        "broken/reconstruction.json",
        "no-metrics/reconstruction.json",
        "wrong-folder/reconstruction.json",
        f"{written['good'][2]['codec']['id']}/reconstruction-again.json",
    }
    assert (
        "does not match" in reasons["bad-id/reconstruction.json"]
        and "codec/id" in reasons["bad-id/reconstruction.json"]
    )
    assert reasons["broken/reconstruction.json"].startswith("unreadable:")
    assert "'metrics' is a required property" in reasons["no-metrics/reconstruction.json"]
    assert "does not match its folder" in reasons["wrong-folder/reconstruction.json"]
    assert "duplicate of" in reasons[f"{written['good'][2]['codec']['id']}/reconstruction-again.json"]
    ids = {r["codec"]["id"] for r in loaded.results}
    assert ids == {r["codec"]["id"] for r in written["good"]} | {written["random"]["codec"]["id"]}


def test_random_weight_runs_are_never_shown_as_scores(hostile):
    folder, written = hostile
    loaded = load_results(folder)
    random_id = written["random"]["codec"]["id"]
    assert [r["codec"]["id"] for r in loaded.random_weight_runs] == [random_id]
    assert random_id not in {r["codec"]["id"] for r in loaded.shown}
    prepared = prepare(loaded, [], folder)
    assert all(random_id not in board.values.index for board in prepared.reconstruction.values())
    assert random_id not in set(tables.reconstruction_table(loaded.results)["Codec"])


def test_a_file_must_be_named_after_its_task_and_reasons_stay_short(tmp_path):
    data = results(0)
    write(tmp_path, f"{data['codec']['id']}/speechllm.json", data)
    long = results(1)
    long["codec"]["family"] = "x" * 10_000
    write(tmp_path, f"{long['codec']['id']}/reconstruction.json", long)
    reasons = dict(load_results(tmp_path).rejected)
    assert "does not match the file name 'speechllm.json'" in reasons[f"{data['codec']['id']}/speechllm.json"]
    assert "codec/family: the value fails maxLength 80" in reasons[f"{long['codec']['id']}/reconstruction.json"]
    assert len(reasons[f"{long['codec']['id']}/reconstruction.json"]) < 300


def test_oversized_results_files_are_not_parsed(tmp_path):
    write(tmp_path, "huge/reconstruction.json", " " * (MAX_RESULTS_BYTES + 1))
    assert "larger than" in load_results(tmp_path).rejected[0][1]


def test_fingerprint_changes_when_a_results_file_does(tmp_path):
    path = write(tmp_path, "a/reconstruction.json", results(0))
    before = fingerprint(tmp_path)
    data = results(0)
    data["date"] = "2027-01-01T00:00:00+00:00"
    path.write_text(json.dumps(data) + "\n")
    assert fingerprint(tmp_path) != before


def test_results_on_different_data_are_never_ranked_together():
    real = [results(i) for i in range(3)]
    for data in real:
        data["dataset"].update(name="bigos", config=None, synthetic=False)
    sample = results(4)
    sample["dataset"].update(name="sample", synthetic=True)
    keys = tables.dataset_keys([*real, sample])
    assert keys == ["bigos / test", "sample / test"]
    prepared = prepare(load_results_of([*real, sample]), [], "")
    assert len(prepared.reconstruction["bigos / test"]) == 3 and len(prepared.reconstruction["sample / test"]) == 1


def load_results_of(items):
    from kodek.leaderboard.loading import Loaded

    return Loaded(results=items)


# -- the reconstruction board ---------------------------------------------------------------------------------


def test_reconstruction_columns_follow_the_source_study_then_the_rest():
    board = tables.reconstruction_board([results(i) for i in range(4)])
    keys = [c.key for c in board.columns]
    assert keys[:10] == [
        "Codec",
        "PESQ ↑",
        "Spk-Sim ↑",
        "WER ↓ GT",
        "WER ↓ REC",
        "CER ↓ GT",
        "CER ↓ REC",
        "STOI ↑",
        "dWER ↓",
        "Mel distance ↓",
    ]
    assert keys[10:] == ["Params", "Bitrate (kbps)", "Frame rate (Hz)", "Codebooks", "Category", "Family", "Utterances"]
    assert not board.column("WER ↓ GT").ranked and board.column("WER ↓ REC").ranked


def test_an_unknown_metric_is_rendered_from_its_label_and_direction():
    data = results(0)
    data["metrics"]["utmos"] = {"label": "UTMOS", "higher_is_better": True, "rec": {"mean": 3.2, "n": 5, "missing": 0}}
    board = tables.reconstruction_board([data, results(1)])
    assert board.column("UTMOS ↑").ranked
    assert board.display.loc[data["codec"]["id"], "UTMOS ↑"] == "3.200"
    assert board.display.loc[results(1)["codec"]["id"], "UTMOS ↑"] == "not run"


def test_missing_values_say_why(hostile):
    _, written = hostile
    board = tables.reconstruction_board(written["good"])
    _, second, third = (d["codec"]["id"] for d in written["good"])
    assert board.display.loc[second, "PESQ ↑"] == "n/a (no decoder)"
    assert board.display.loc[third, "STOI ↑"] == "missing: failed 1200 of 1200"
    assert math.isnan(board.values.loc[third, "STOI ↑"])
    partial = written["good"][1]["metrics"]["stoi"]["rec"]
    assert board.display.loc[second, "STOI ↑"].endswith(f"({partial['missing']} failed)")
    assert board.values.loc[second, "STOI ↑"] == pytest.approx(partial["mean"])


def test_best_values_ignore_the_reference_and_mark_ties():
    rows = [results(i) for i in range(3)]
    reference = results(9)
    reference["codec"]["kind"] = "reference"
    reference["metrics"]["pesq_wb"]["rec"]["mean"] = 4.64
    for data in rows[:2]:
        data["metrics"]["pesq_wb"]["rec"]["mean"] = 4.0  # a tie at the top
    rows[2]["metrics"]["pesq_wb"]["rec"]["mean"] = 2.0
    rows[2]["metrics"]["wer"]["rec"]["mean"] = 0.01
    board = tables.reconstruction_board([*rows, reference])
    assert sorted(board.best["PESQ ↑"]) == sorted(d["codec"]["id"] for d in rows[:2])
    assert board.best["WER ↓ REC"] == [rows[2]["codec"]["id"]]
    assert "WER ↓ GT" not in board.best  # GT is the original audio's value: nothing to rank


def test_filters_by_category_and_bitrate_recompute_the_best():
    rows = [results(i) for i in range(10)]
    board = tables.reconstruction_board(rows)
    neural = board.filtered(["Neural Codec"])
    assert set(neural.rows["category"]) == {"Neural Codec"} and 0 < len(neural) < len(board)
    for key, winners in neural.best.items():
        column = neural.column(key)
        values = neural.values[key].dropna()
        assert set(winners) <= set(neural.values.index)
        assert neural.values.loc[winners[0], key] == (values.max() if column.higher_is_better else values.min())
    low = board.filtered(bitrate_kbps=(0.0, 2.0))
    assert (low.rows["bitrate_kbps"] <= 2.0).all() and len(low) < len(board)


def test_parameters_and_bitrate_are_shown_readably():
    data = results(0)
    data["num_parameters"] = 14_851_810
    board = tables.reconstruction_board([data])
    row = data["codec"]["id"]
    assert board.display.loc[row, "Params"] == "14.9M" and board.values.loc[row, "Params"] == pytest.approx(14.85181)
    assert board.values.loc[row, "Bitrate (kbps)"] == data["codec"]["bitrate_bps"] / 1000


# -- SpeechLLM, breakdown, plots ------------------------------------------------------------------------------


def test_speechllm_board_per_llm_with_params_from_reconstruction():
    recon = [results(i) for i in range(3)]
    llm = [speechllm(d) for d in recon]
    other = speechllm(recon[0])
    other["llm"] = {"id": "speakleash/Bielik-4.5B-v3.0-Instruct", "revision": None}
    items = [*recon, *llm, other]
    assert tables.llm_ids(items) == ["speakleash/Bielik-1.5B-v3.0-Instruct", "speakleash/Bielik-4.5B-v3.0-Instruct"]
    board = tables.speechllm_board(items, "speakleash/Bielik-1.5B-v3.0-Instruct")
    assert list(board.values.index) == sorted(d["codec"]["id"] for d in recon)
    first = recon[0]["codec"]["id"]
    assert board.values.loc[first, "Params"] == pytest.approx(recon[0]["num_parameters"] / 1e6)
    assert board.values.loc[first, "PPL ↓ trained"] == pytest.approx(llm[0]["metrics"]["ppl"]["trained"])
    assert "PPL ↓ prior" not in board.best and "PPL ↓ trained" in board.best and "BPC ↓ init" in board.best
    trained = board.values["PPL ↓ trained"]
    assert board.best["PPL ↓ trained"] == list(trained.index[trained == trained.min()])


def test_speechllm_conditions_may_be_stats_or_missing():
    data = speechllm(results(0))
    data["metrics"]["ppl"]["trained"] = {"mean": 12.5, "n": 10, "missing": 2}
    data["metrics"]["ppl"]["init"] = None
    assert validate(data) == []
    board = tables.speechllm_board([data], data["llm"]["id"])
    row = data["codec"]["id"]
    assert board.display.loc[row, "PPL ↓ trained"] == "12.50 (2 failed)"
    assert board.display.loc[row, "PPL ↓ init"] == tables.MISSING


def test_breakdown_by_subset_and_by_speaker_group():
    rows = [results(i) for i in range(3)]
    board = tables.breakdown_board(rows, "wer", "rec")
    assert [c.key for c in board.columns] == ["Codec", "all", *sorted(SUBSETS)]
    first = rows[0]["codec"]["id"]
    assert board.values.loc[first, "pwr-viu-unk"] == pytest.approx(
        rows[0]["by_subset"]["pwr-viu-unk"]["wer"]["rec"]["mean"]
    )
    assert tables.breakdown_groups(rows) == ["subset", "speaker_gender"]
    gender = tables.breakdown_board(rows, "wer", "gt", "speaker_gender")
    assert [c.key for c in gender.columns] == ["Codec", "all", "female", "male"]
    assert not gender.best  # GT: nothing to rank


def test_pareto_front_in_both_directions():
    points = pd.DataFrame(
        {"codec": list("abcde"), "bitrate_kbps": [1, 2, 3, 4, 5], "value": [1.0, 3.0, 2.0, 3.5, 3.5], "category": "x"}
    )
    assert list(tables.pareto_front(points, True)["codec"]) == ["a", "b", "d"]
    assert list(tables.pareto_front(points, False)["codec"]) == ["a"]


def test_reproduce_commands_quote_strings_from_results():
    data = results(0)
    data["dataset"].update(name="bigos", config="pwr-viu-unk; rm -rf ~", revision="abc123")
    text = tables.reproduce_commands(data)
    assert "--data 'bigos:pwr-viu-unk; rm -rf ~'" in text and "--revision abc123" in text
    assert f"kodek score --tokens tokens --codec {data['codec']['id']}" in text


# -- listening examples ------------------------------------------------------------------------------------------


def test_listening_index_and_reads_stay_inside_the_results_folder(hostile, tmp_path):
    folder, written = hostile
    paths = local_audio_paths(folder)
    index = index_listening([*paths, "../etc/x.flac", "_originals/../../x.flac", "a/audio/b/c.flac"])
    first, second = (d["codec"]["id"] for d in written["good"][:2])
    assert index.originals == {"utt-1": "_originals/utt-1.flac"}
    assert set(index.reconstructions) == {first, second}
    assert index.utterances([first, second]) == ["utt-1"]
    assert read_local_audio(folder, "_originals/utt-1.flac")[:4] == b"fLaC"
    (tmp_path / "secret.flac").write_bytes(b"secret")
    (folder / "_originals" / "leak.flac").symlink_to(tmp_path / "secret.flac")
    for bad in ("../secret.flac", "_originals/../../secret.flac", "_originals/leak.flac"):
        with pytest.raises(ValueError):
            read_local_audio(folder, bad)


def test_results_source_from_the_environment():
    assert ResultsSource.from_env({"KODEK_RESULTS": "/r"}).folder == "/r"
    hub = ResultsSource.from_env({"KODEK_RESULTS_REPO": "org/results", "KODEK_RESULTS_REVISION": "v1"})
    assert (hub.repo, hub.revision, hub.folder) == ("org/results", "v1", None)
    assert "org/results@v1" in hub.label


def test_fifty_codecs_of_synthetic_results_load_and_tabulate(tmp_path):
    write_synthetic(tmp_path, codecs=50, subsets=12)
    loaded = load_results(tmp_path)
    assert not loaded.rejected and len(loaded.results) == 100
    prepared = prepare(loaded, [], tmp_path)
    board = prepared.reconstruction["synthetic-fixture / test"]
    assert len(board) == 50 and board.best
    assert len(tables.breakdown_board(loaded.results, "stoi", "rec").columns) == 2 + 12


def test_hostile_strings_are_data_not_markup(hostile):
    _, written = hostile
    board = tables.reconstruction_board(written["good"])
    assert SCRIPT in set(board.display["Family"])
    assert f"<b>{IMG}</b> ↓" in [c.key for c in board.columns]


def test_repeated_headers_from_results_files_stay_distinct():
    data = results(0)
    data["metrics"]["pesq_other"] = {"label": "Params", "rec": {"mean": 1.0, "n": 1, "missing": 0}}
    data["metrics"]["pesq_again"] = {"label": "Params", "rec": {"mean": 2.0, "n": 1, "missing": 0}}
    data["by_subset"]["all"] = data["by_subset"]["pwr-viu-unk"]
    board = tables.reconstruction_board([data])
    keys = [c.key for c in board.columns]
    assert len(keys) == len(set(keys)) and {"Params", "Params [2]", "Params [3]"} <= set(keys)
    row = data["codec"]["id"]
    assert {board.values.loc[row, "Params [2]"], board.values.loc[row, "Params [3]"]} == {1.0, 2.0}
    assert board.display.loc[row, "Params"] == tables.params_cell(data["num_parameters"])[1]  # the codec's count
    breakdown = tables.breakdown_board([data], "wer", "rec")
    assert [c.key for c in breakdown.columns][:3] == ["Codec", "all", "all [2]"]
    assert breakdown.values.loc[row, "all [2]"] == data["by_subset"]["all"]["wer"]["rec"]["mean"]


def test_the_scorer_keeps_listening_examples_and_speaker_groups(tmp_path, sample_test):
    from kodek.codecs import build_codec
    from kodek.metrics.score import score
    from kodek.tokenize.pipeline import tokenize
    from kodek.tokenize.reader import open_tokens

    tokenize(build_codec("opus-6kbps"), sample_test, tmp_path / "tokens", progress=False)
    data = score(
        open_tokens(tmp_path / "tokens", "opus-6kbps"), tmp_path / "results", workers=1, listen=2, progress=False
    )
    index = index_listening(local_audio_paths(tmp_path / "results"))
    assert len(index.originals) == 2 and index.utterances(["opus-6kbps"]) == sorted(index.originals)
    assert set(data["by_group"]) == {"speaker_gender"}  # the sample's ages are all N/A
    assert set(data["by_group"]["speaker_gender"]) == {"female", "male"}
    assert validate(data) == []
