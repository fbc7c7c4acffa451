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
from kodek.leaderboard.synthetic import speechllm, write_synthetic
from kodek.results.loading import (
    MAX_RESULTS_BYTES,
    fingerprint,
    index_listening,
    load_results,
    local_audio_paths,
    read_local_audio,
)
from kodek.results.schema import validate
from leaderboard_fixtures import IMG, SCRIPT, SUBSETS, results, write, write_hostile_results


@pytest.fixture
def hostile(tmp_path):
    folder = tmp_path / "results"
    return folder, write_hostile_results(folder)


def test_the_data_logic_imports_neither_streamlit_nor_torch():
    code = (
        "import sys; import kodek.leaderboard.data, kodek.leaderboard.tables, kodek.submissions; "
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
    from kodek.results.loading import Loaded

    return Loaded(results=items)


# -- the reconstruction board ---------------------------------------------------------------------------------


def test_reconstruction_columns_follow_the_source_study_then_the_rest():
    """The study's table: rank, codec, category, PESQ, Spk-Sim, WER, CER, STOI, Params, Bitrate; then the rest."""
    rows = [results(i) for i in range(4)]
    board = tables.reconstruction_board(rows)
    keys = [c.key for c in board.columns]
    assert keys == [
        "#",
        "Codec",
        "Category",
        "PESQ ↑",
        "Spk-Sim ↑",
        "WER ↓ GT / REC",
        "CER ↓ GT / REC",
        "STOI ↑",
        "Params (M)",
        "Bitrate (kbps)",
        "Delay (ms)",
        "dWER ↓",
        "Mel distance ↓",
        "Frame rate (Hz)",
        "Codebooks",
        "Family",
        "Utterances",
    ]
    first = rows[0]["codec"]["id"]
    wer = rows[0]["metrics"]["wer"]
    gt, rec = (f"{wer[c]['mean']:.3f}" for c in ("gt", "rec"))
    assert board.display.loc[first, "WER ↓ GT / REC"].startswith(f"{gt} / {rec}")
    assert board.values.loc[first, "WER ↓ GT / REC"] == pytest.approx(wer["rec"]["mean"])  # REC is what ranks
    assert board.display.loc[first, "Delay (ms)"] == f"{rows[0]['delay_ms']:.1f}"


def test_rows_are_ranked_by_the_chosen_headline_metric():
    rows = [results(i) for i in range(6)]
    reference = results(9)
    reference["codec"]["kind"] = "reference"
    rows[4]["metrics"]["stoi"]["rec"]["mean"] = None  # unrankable by STOI
    board = tables.reconstruction_board([*rows, reference], "STOI ↑")
    stoi = {r["codec"]["id"]: r["metrics"]["stoi"]["rec"]["mean"] for r in rows if r is not rows[4]}
    expected = sorted(stoi, key=lambda c: -stoi[c])
    order = list(board.values.index)
    assert order[0] == reference["codec"]["id"] and board.display.loc[order[0], "#"] == "reference (not ranked)"
    assert order[1:-1] == expected and list(board.display.loc[expected, "#"]) == ["1", "2", "3", "4", "5"]
    assert order[-1] == rows[4]["codec"]["id"] and board.display.loc[order[-1], "#"].startswith("unranked: STOI")
    wer = tables.reconstruction_board(rows, "WER ↓ GT / REC")
    values = wer.values["WER ↓ GT / REC"].dropna()
    assert list(values) == sorted(values)  # lower is better: ascending
    assert tables.reconstruction_board(rows).values.index[0] == max(
        (r["codec"]["id"] for r in rows),
        key=lambda c: next(r for r in rows if r["codec"]["id"] == c)["metrics"]["pesq_wb"]["rec"]["mean"],
    )  # PESQ, the study's first column, by default


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
    assert board.display.loc[second, "PESQ ↑"] == "not applicable"
    assert board.notes["PESQ ↑ "] == f"not applicable for {second}: no decoder"
    assert board.display.loc[third, "STOI ↑"] == "1200 of 1200 failed"
    assert math.isnan(board.values.loc[third, "STOI ↑"])
    partial = written["good"][1]["metrics"]["stoi"]["rec"]
    total = partial["n"] + partial["missing"]
    assert board.display.loc[second, "STOI ↑"].endswith(f"({partial['missing']} missing)") and total
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
    assert board.best["WER ↓ GT / REC"] == [rows[2]["codec"]["id"]]  # REC ranks; GT is the original's value
    shown = board.shown().set_index("Codec")
    assert shown.loc[rows[0]["codec"]["id"], "PESQ ↑"].endswith(tables.BEST)  # what a reader sees
    assert not shown.loc[reference["codec"]["id"], "PESQ ↑"].endswith(tables.BEST)


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
    assert board.display.loc[row, "Params (M)"] == "14.9"
    assert board.values.loc[row, "Params (M)"] == pytest.approx(14.85181)
    data["num_parameters"] = None
    assert tables.reconstruction_board([data]).display.loc[row, "Params (M)"] == "not reported"
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
    assert sorted(board.values.index) == sorted(d["codec"]["id"] for d in recon)
    first = recon[0]["codec"]["id"]
    ppl = tables.PPL_HEADLINE
    assert [c.key for c in board.columns] == [
        "#",
        "Codec",
        "Category",
        ppl,
        "BPC ↓ initial / fine-tuned",
        "PPL prior (no audio)",
        "BPC prior (no audio)",
        "Params (M)",
        "Bitrate (kbps)",
    ]
    assert board.values.loc[first, "Params (M)"] == pytest.approx(recon[0]["num_parameters"] / 1e6)
    assert board.values.loc[first, ppl] == pytest.approx(llm[0]["metrics"]["ppl"]["trained"])
    metrics = llm[0]["metrics"]["ppl"]
    assert board.display.loc[first, ppl].startswith(f"{tables.fmt(metrics['init'])} / {tables.fmt(metrics['trained'])}")
    assert "PPL prior (no audio)" not in board.best and "BPC ↓ initial / fine-tuned" in board.best
    trained = board.values[ppl]
    assert board.best[ppl] == list(trained.index[trained == trained.min()])
    assert list(board.values.index) == list(trained.sort_values().index)  # ranked by fine-tuned PPL


def test_speechllm_conditions_may_be_stats_or_missing():
    data = speechllm(results(0))
    data["metrics"]["ppl"]["trained"] = {"mean": 12.5, "n": 10, "missing": 2}
    data["metrics"]["ppl"]["init"] = None
    assert validate(data) == []
    board = tables.speechllm_board([data], data["llm"]["id"])
    row = data["codec"]["id"]
    assert board.display.loc[row, tables.PPL_HEADLINE] == "not run / 12.50 (2 missing)"


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
    data["metrics"]["pesq_other"] = {"label": "Params (M)", "rec": {"mean": 1.0, "n": 1, "missing": 0}}
    data["metrics"]["pesq_again"] = {"label": "Params (M)", "rec": {"mean": 2.0, "n": 1, "missing": 0}}
    data["by_subset"]["all"] = data["by_subset"]["pwr-viu-unk"]
    board = tables.reconstruction_board([data])
    keys = [c.key for c in board.columns]
    assert len(keys) == len(set(keys)) and {"Params (M)", "Params (M) [2]", "Params (M) [3]"} <= set(keys)
    row = data["codec"]["id"]
    assert {board.values.loc[row, "Params (M) [2]"], board.values.loc[row, "Params (M) [3]"]} == {1.0, 2.0}
    assert board.display.loc[row, "Params (M)"] == tables.params_cell(data["num_parameters"])[1]  # the codec's
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


# -- bounds, non-finite numbers, comparability, failure counts ---------------------------------


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_numbers_are_rejected_wherever_they_are(tmp_path, bad):
    data = results(0)
    data["metrics"]["pesq_wb"]["rec"]["mean"] = bad
    assert any("pesq_wb/rec/mean" in e and "not a finite number" in e for e in validate(data))
    deep = results(1)
    deep["by_subset"][SUBSETS[0]]["wer"]["rec"]["std"] = bad
    assert validate(deep)
    # Written by Python's json (which emits NaN / Infinity): the file is rejected, never shown, never "best".
    path = tmp_path / data["codec"]["id"] / "reconstruction.json"
    path.parent.mkdir()
    path.write_text(json.dumps(data))  # allow_nan is json's default
    assert "Infinity" in path.read_text() or "NaN" in path.read_text()
    loaded = load_results(tmp_path)
    assert not loaded.results and "not a finite number" in loaded.rejected[0][1]


def test_every_results_file_is_bounded(tmp_path):
    many = results(0)
    many["metrics"].update({f"m{i}": {"label": f"m{i}", "rec": None} for i in range(3000)})
    long_reason = results(1)
    long_reason["failures"]["by_reason"] = {"x" * 5000: 1}
    subsets = results(2)
    subsets["dataset"]["subsets"] = ["s"] * 5000
    models = results(3)
    models["models"] = {f"k{i}": i for i in range(1000)}
    for data, where in ((many, "metrics"), (long_reason, "failures/by_reason"), (subsets, "dataset/subsets")):
        errors = validate(data)
        assert errors and any(e.startswith(where) for e in errors), errors
        assert all(len(e) < 300 for e in errors)
    assert any(e.startswith("models") for e in validate(models))


def test_new_optional_fields_are_accepted_and_checked():
    data = results(0)
    assert validate(data) == [] and "comparability_key" in data and "delay_ms" in data
    data["metrics"]["pesq_wb"]["rec"]["failed"] = 2
    data["delay_ms"] = None
    assert validate(data) == []
    forged = copy.deepcopy(data)
    forged["comparability"]["limit"] = 20  # the key no longer says what the record says
    assert any("comparability_key" in e for e in validate(forged))
    nested = copy.deepcopy(data)
    nested["comparability"]["models"] = {"asr": "x"}  # flat scalars / lists of strings only
    assert validate(nested)
    data["metrics"]["pesq_wb"]["rec"]["failed"] = -1
    assert validate(data)


def test_the_comparability_key_is_the_contract_hash():
    import hashlib

    record = {"dataset": "bigos", "subsets": ["a", "b"], "limit": None, "revision": "abc"}
    canonical = '{"dataset":"bigos","limit":null,"revision":"abc","subsets":["a","b"]}'  # written out by hand
    from kodek.results import comparability_key

    assert comparability_key(record) == hashlib.sha256(canonical.encode()).hexdigest()[:16]


def test_only_results_with_the_same_comparability_key_are_ranked_together():
    from kodek.leaderboard.synthetic import comparability

    rows = [results(i) for i in range(5)]
    for data in rows[3:]:
        data.update(comparability(data, limit=20))  # a partial run: same data name, other settings
    older = results(6)
    del older["comparability"], older["comparability_key"]
    prepared = prepare(load_results_of([*rows, older]), [], "")
    key = tables.dataset_key(rows[0])
    assert sorted(prepared.reconstruction[key].values.index) == sorted(r["codec"]["id"] for r in rows[:3])
    apart = prepared.reconstruction_apart[key]
    assert [sorted(board.values.index) for _, board in apart] == [
        sorted(r["codec"]["id"] for r in rows[3:]),
        [older["codec"]["id"]],
    ]
    assert apart[0][0].differences == ["limit: 20 (ranked table: none)"]
    assert "no comparability record" in apart[1][0].differences[0]


def test_failure_counts_and_unavailable_models_are_shown_in_words():
    data = results(0)
    data["metrics"]["pesq_wb"]["rec"].update(n=36, missing=0, failed=2)
    data["metrics"]["spk_sim"].update(available=False, why="microsoft/wavlm-base-plus-sv is not in the local cache")
    data["metrics"]["spk_sim"]["rec"] = {"mean": None, "std": None, "median": None, "n": 0, "missing": 36}
    del data["metrics"]["stoi"]
    board = tables.reconstruction_board([data])
    row = data["codec"]["id"]
    assert board.display.loc[row, "PESQ ↑"].endswith("(2 of 36 failed)")
    assert board.display.loc[row, "Spk-Sim ↑"] == "model unavailable"  # not "36 of 36 failed"
    assert "not in the local cache" in board.notes["Spk-Sim ↑"]
    assert board.display.loc[row, "STOI ↑"] == "not run"
    assert all(text.strip() and text not in ("None", "nan") for text in board.shown().to_numpy().ravel())


def test_the_csv_download_has_units_and_the_data_it_was_measured_on():
    import io

    rows = [results(i) for i in range(3)]
    board = tables.reconstruction_board(rows)
    frame = pd.read_csv(io.BytesIO(board.csv("bigos / test")))
    assert {"PESQ (wb) REC [MOS-LQO 1-4.64]", "WER GT [fraction of words]", "Params (M)", "Bitrate (kbps)"} <= set(
        frame.columns
    )
    assert set(frame["Measured on"]) == {"bigos / test"} and set(frame["Comparability key"]) == {
        rows[0]["comparability_key"]
    }
    first = frame.set_index("Codec").loc[rows[0]["codec"]["id"]]
    assert first["WER GT [fraction of words]"] == pytest.approx(rows[0]["metrics"]["wer"]["gt"]["mean"])
    assert list(frame["Rank"]) == [1, 2, 3]


def test_reproduce_commands_never_turn_other_data_into_bigos():
    data = results(0)
    data["dataset"].update(name="my-lab/polish-calls", config="x")
    text = tables.reproduce_commands(data)
    assert "bigos" not in text and "--data YOUR-DATA" in text and "not a built-in kodek source" in text
    data["dataset"].update(name="sample", config=None)
    assert "--data sample" in tables.reproduce_commands(data)


def test_the_reference_is_never_on_the_pareto_front():
    points = pd.DataFrame(
        {
            "codec": ["ref", "a", "b"],
            "kind": ["reference", "acoustic", "acoustic"],
            "bitrate_kbps": [0.5, 1.0, 2.0],
            "value": [4.6, 2.0, 3.0],
            "category": "x",
        }
    )
    assert list(tables.pareto_front(points, True)["codec"]) == ["a", "b"]


def test_submission_errors_name_the_field_and_what_it_expects_in_words():
    from kodek.submissions import request_from_form, validate_request

    form = {"codec_id": "Mu-Law", "package": "", "version": "1.0", "license": "MIT", "contact": "a@b.org"}
    form |= {"checkpoint_repo": "a/b", "checkpoint_revision": "main"}
    errors = validate_request(request_from_form(form, kodek_version="0.1.0", date="now"))
    assert any(
        e.startswith("codec_id (Codec id): 'Mu-Law' is not valid; expected") and "lowercase" in e for e in errors
    )
    assert any(e.startswith("package (Python package): is empty; expected") for e in errors)
    assert any(e.startswith("checkpoint/revision (Checkpoint revision)") and "40-character" in e for e in errors)
    assert not any("^" in e or "anyOf" in e or "any of the given schemas" in e for e in errors)


def test_a_session_may_send_few_requests():
    from kodek.submissions import MAX_REQUESTS_PER_SESSION, rate_limited

    assert rate_limited([], 0.0) is None
    assert "try again in 50 s" in rate_limited([100.0], 110.0)
    assert rate_limited([100.0], 161.0) is None
    assert "already sent" in rate_limited([float(i * 1000) for i in range(MAX_REQUESTS_PER_SESSION)], 1e6)
