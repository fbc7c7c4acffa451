"""Fair numbers: one definition per metric, delay compensated, no rank gained by failing.

Expected values come from direct calls of ``pesq``, ``pystoi`` and ``soxr`` on signals built here
(shifted, cut, silenced by hand), never from kodek's own preparation helpers.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
import soxr

from kodek import audio, results
from kodek.metrics.aggregate import aggregate
from kodek.metrics.pairs import estimate_delay
from kodek.metrics.registry import METRICS
from kodek.metrics.score import compute_metrics

SIGNAL = ["pesq_wb", "pesq_nb", "stoi", "estoi", "mel_distance"]


@pytest.fixture(scope="module")
def speech(sample_test):
    """Four originals of the bundled sample at 16 kHz (float32), as read from their files."""
    import io

    import soundfile as sf

    out = []
    for row in sample_test.dataset.select(range(4)):
        wave, rate = sf.read(io.BytesIO(row["audio"]["bytes"]), dtype="float32")
        assert rate == 16_000
        out.append(wave)
    return out


def _direct(name: str, ref: np.ndarray, deg: np.ndarray) -> float:
    """The reference library on already prepared 16 kHz signals (PESQ-nb: soxr down to 8 kHz first)."""
    from pesq import pesq
    from pystoi import stoi

    ref64, deg64 = ref.astype(np.float64), deg.astype(np.float64)
    if name == "pesq_wb":
        return pesq(16_000, ref64, deg64, "wb")
    if name == "pesq_nb":
        r8 = soxr.resample(ref, 16_000, 8_000, quality="HQ").astype(np.float64)
        d8 = soxr.resample(deg, 16_000, 8_000, quality="HQ").astype(np.float64)
        return pesq(8_000, r8, d8, "nb")
    if name in ("stoi", "estoi"):
        return stoi(ref64, deg64, 16_000, extended=name == "estoi")
    raise ValueError(name)


def test_a_pure_20ms_shift_is_compensated(speech):
    """A reconstruction that is the original 20 ms late scores as the original, not as distortion."""
    shift = 320  # 20 ms at 16 kHz
    delayed = [np.concatenate([np.zeros(shift, np.float32), ref]) for ref in speech]
    delay = estimate_delay([(ref, deg, 16_000) for ref, deg in zip(speech, delayed, strict=True)])
    assert delay.ms == pytest.approx(20.0) and delay.agreeing == len(speech)
    from pystoi import stoi

    for ref, deg in zip(speech, delayed, strict=True):
        values = compute_metrics(["stoi", "estoi"], ref, deg, 16_000, delay.seconds)
        assert values["stoi"] >= 0.99 and values["estoi"] >= 0.99
        assert values["stoi"] == pytest.approx(stoi(ref.astype(float), ref.astype(float), 16_000), abs=1e-9)
        uncompensated = stoi(ref.astype(float), deg[: len(ref)].astype(float), 16_000)
        assert uncompensated < 0.9  # what the shift costs when nobody removes it
        assert compute_metrics(["stoi"], ref, deg, 16_000, 0.0)["stoi"] == pytest.approx(uncompensated, abs=1e-9)


def test_delay_of_an_8khz_codec_is_found_from_its_own_rate(speech):
    """A 8 kHz reconstruction 25 ms late: the estimate works across rates, and noise does not vote."""
    late = [soxr.resample(np.concatenate([np.zeros(400, np.float32), ref]), 16_000, 8_000) for ref in speech]
    delay = estimate_delay([(ref, deg, 8_000) for ref, deg in zip(speech, late, strict=True)])
    assert delay.ms == pytest.approx(25.0, abs=0.2)
    rng = np.random.default_rng(0)
    noise = [rng.standard_normal(len(ref)).astype(np.float32) for ref in speech]
    assert estimate_delay([(ref, n, 16_000) for ref, n in zip(speech, noise, strict=True)]).ms is None


def test_a_short_reconstruction_is_lost_audio_and_the_original_is_never_cut(speech):
    """300 ms missing at the end: scored against the whole original, the end as silence."""
    ref = speech[0]
    short = ref[: len(ref) - 4_800] * 0.9
    padded = np.concatenate([short, np.zeros(4_800, np.float32)])
    values = compute_metrics(["pesq_wb", "pesq_nb", "stoi", "estoi"], ref, short, 16_000, 0.0)
    for name in ("pesq_wb", "pesq_nb", "stoi", "estoi"):
        # PESQ-nb: soxr's edge at the cut differs by ~1e-5 whether it runs before or after the padding
        assert values[name] == pytest.approx(_direct(name, ref, padded), abs=1e-3 if name == "pesq_nb" else 1e-6), name
        assert values[name] < _direct(name, ref[: len(short)], short) - 1e-3, name  # cutting would hide the loss
    longer = np.concatenate([ref * 0.9, 0.3 * np.ones(8_000, np.float32)])  # an extra tail is ignored
    tail = compute_metrics(["stoi"], ref, longer, 16_000, 0.0)["stoi"]
    assert tail == pytest.approx(_direct("stoi", ref, ref * 0.9), abs=1e-9)


def test_pesq_nb_gets_8khz_audio_resampled_from_the_codec_rate(speech):
    ref = speech[1]
    rng = np.random.default_rng(3)
    noisy = (ref + 0.01 * rng.standard_normal(len(ref))).astype(np.float32)
    at_8k = soxr.resample(noisy, 16_000, 8_000, quality="HQ")
    from pesq import pesq

    r8 = soxr.resample(ref, 16_000, 8_000, quality="HQ").astype(np.float64)
    expected = pesq(8_000, r8, at_8k.astype(np.float64), "nb")
    value = compute_metrics(["pesq_nb"], ref, at_8k, 8_000, 0.0)["pesq_nb"]
    assert value == pytest.approx(expected, abs=1e-6)
    assert compute_metrics(["pesq_nb"], ref, noisy, 16_000, 0.0)["pesq_nb"] == pytest.approx(
        _direct("pesq_nb", ref, noisy), abs=1e-6
    )


@pytest.mark.parametrize(
    "bad,reason",
    [
        (lambda n: np.zeros(n, np.float32), "reconstruction is silent"),
        (lambda n: np.zeros(0, np.float32), "reconstruction is empty"),
        (lambda n: np.full(n, np.nan, np.float32), "reconstruction has NaN or infinite samples"),
    ],
)
def test_a_failed_reconstruction_fails_every_metric_with_the_reason(speech, bad, reason):
    ref = speech[2]
    values = compute_metrics(SIGNAL, ref, bad(len(ref)), 16_000, 0.0)
    for name in SIGNAL:
        assert values[name] is None and values[f"{name}__missing"] is None, name
        assert values[f"{name}__failed"] == reason, name


def test_the_original_decides_missing_the_reconstruction_decides_failed(speech):
    """A silent or 20 ms original has no value (missing); pystoi never crashes on a short clip."""
    ref = speech[0]
    silent = compute_metrics(SIGNAL, np.zeros(16_000, np.float32), ref[:16_000], 16_000, 0.0)
    assert all(silent[f"{n}__missing"] == "original is silent" and silent[n] is None for n in SIGNAL)
    clip = ref[8_000:8_320]  # 20 ms
    short = compute_metrics(SIGNAL, clip, clip * 0.5, 16_000, 0.0)
    for name in ("pesq_wb", "pesq_nb", "stoi", "estoi"):
        assert short[name] is None and short[f"{name}__missing"].startswith("too short"), name
        assert short[f"{name}__failed"] is None
    # A nearly silent (but not silent) reconstruction that PESQ rejects is a failure, not missing.
    whisper = (1e-4 * np.sin(np.arange(len(ref)) * 0.3)).astype(np.float32)
    faint = compute_metrics(["pesq_wb"], ref, whisper, 16_000, 0.0)
    assert faint["pesq_wb__missing"] is None and (faint["pesq_wb"] is not None or faint["pesq_wb__failed"])


def _table(rows: list[dict]) -> pa.Table:
    return pa.Table.from_pylist(rows)


def test_aggregates_leave_missing_out_and_count_failed_at_the_floor():
    rows = [
        {"audioname": "a", "dataset": "s", "stoi": 0.8, "stoi__missing": None, "stoi__failed": None},
        {"audioname": "b", "dataset": "s", "stoi": 0.6, "stoi__missing": None, "stoi__failed": None},
        {"audioname": "c", "dataset": "s", "stoi": None, "stoi__missing": "original is silent", "stoi__failed": None},
        {
            "audioname": "d",
            "dataset": "s",
            "stoi": None,
            "stoi__missing": None,
            "stoi__failed": "reconstruction is silent",
        },
    ]
    info = {"stoi": {"conditions": ["rec"]}}
    stats = aggregate(_table(rows), info)["metrics"]["stoi"]["rec"]
    assert stats["mean"] == pytest.approx((0.8 + 0.6 + 0.0) / 3)  # the missing one left out, the failed one at 0
    assert (stats["n"], stats["missing"], stats["failed"]) == (3, 1, 1)
    one = aggregate(_table(rows[:1]), info)["metrics"]["stoi"]["rec"]
    assert one["mean"] == 0.8 and one["std"] is None  # no spread from one value
    only_missing = aggregate(_table(rows[2:3]), info)["metrics"]["stoi"]["rec"]
    assert only_missing["mean"] is None and only_missing["n"] == 0


def test_an_open_ended_metric_fails_at_its_worst_value_seen():
    rows = [
        {"audioname": str(i), "dataset": "s", "wer": v, "wer__missing": None, "wer__failed": f, "wer__len": 4}
        for i, (v, f) in enumerate([(0.25, None), (1.5, None), (None, "reconstruction is silent")])
    ]
    stats = aggregate(_table(rows), {"wer": {"conditions": ["rec"]}})["metrics"]["wer"]["rec"]
    assert stats["mean"] == pytest.approx((0.25 + 1.5 + 1.5) / 3) and stats["failed"] == 1
    assert METRICS["wer"].floor([]) == 1.0 and METRICS["mel_distance"].floor([0.3]) == 5.0


def test_silencing_the_worst_utterances_never_improves_mean_or_rank(speech):
    """Property: a codec that outputs silence where it did worst gains nothing, on every signal metric."""
    rng = np.random.default_rng(7)
    codecs = {
        "A": [(ref + 0.02 * rng.standard_normal(len(ref))).astype(np.float32) for ref in speech],
        "B": [(ref + 0.05 * rng.standard_normal(len(ref))).astype(np.float32) for ref in speech],
    }

    def rows_of(recs, names):
        return [
            {"audioname": str(k), "dataset": "s", **compute_metrics(names, ref, rec, 16_000, 0.0)}
            for k, (ref, rec) in enumerate(zip(speech, recs, strict=True))
        ]

    def aggregated(rows, names):
        return aggregate(_table(rows), {n: {"conditions": ["rec"]} for n in names})["metrics"]

    baseline = {name: (rows := rows_of(recs, SIGNAL), aggregated(rows, SIGNAL)) for name, recs in codecs.items()}
    for name in SIGNAL:
        better = METRICS[name].higher_is_better
        rows, before = baseline["B"]
        order = sorted(range(len(rows)), key=lambda k: rows[k][name] if better else -rows[k][name])
        # each metric is computed per utterance: only the silenced utterances' scores change
        silenced = rows_of([np.zeros_like(rec) for rec in codecs["B"]], [name])
        for worst in (1, 2):
            rows_after = [{**row, **silenced[k]} if k in order[:worst] else row for k, row in enumerate(rows)]
            after = aggregated(rows_after, [name])[name]["rec"]["mean"]
            mean_before = before[name]["rec"]["mean"]
            assert (after <= mean_before + 1e-12) if better else (after >= mean_before - 1e-12), (name, worst)
            a_mean = baseline["A"][1][name]["rec"]["mean"]
            rank_before = sorted([mean_before, a_mean], reverse=better).index(mean_before)
            rank_after = sorted([after, a_mean], reverse=better).index(after)
            assert rank_after >= rank_before, (name, worst)


def test_comparability_key_is_the_contract_hash():
    import hashlib
    import json

    record = {"dataset": "amu-cai/pl-asr-bigos-v2", "subsets": ["a", "b"], "partial": False, "limit": None}
    expected = hashlib.sha256(json.dumps(record, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:16]
    assert results.comparability_key(record) == expected
    assert results.comparability_key({**record, "partial": True}) != expected


def test_entropy_is_bias_corrected_and_out_of_range_codes_are_errors():
    from kodek.metrics.facts import codec_facts

    codes = [np.array([[0, 1, 1, 3, 7, -1]])]  # 7 and -1 are outside a 4-entry codebook
    facts = codec_facts(codes, [0.12], [4])
    book = facts["codebooks"][0]
    assert book["out_of_range"] == 2 and facts["out_of_range_total"] == 2 and book["tokens"] == 4
    p = np.array([1, 2, 1]) / 4
    plug_in = float(-(p * np.log2(p)).sum())
    assert book["entropy_ml_bits"] == pytest.approx(plug_in)
    assert book["entropy_bits"] == pytest.approx(plug_in + (3 - 1) / (2 * 4 * np.log(2)))
    assert facts["entropy_sample_tokens"] == 4


def test_local_model_cache_key_changes_when_its_files_change(tmp_path):
    import os

    from kodek.metrics.models import ModelRef

    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(b"weights-1")
    first = ModelRef.parse(str(folder))
    assert first.revision and first.revision.startswith("local-")
    assert ModelRef.parse(str(folder)) == first
    (folder / "model.safetensors").write_bytes(b"weights-22")
    os.utime(folder / "model.safetensors", ns=(1, 1))
    assert ModelRef.parse(str(folder)).revision != first.revision


def test_codec2_decodes_the_same_codes_to_the_same_audio(speech):
    pytest.importorskip("pycodec2")
    from kodek.codecs import build_codec

    codec = build_codec("codec2-3200")
    waves = [audio.resample(w, 16_000, 8_000) for w in speech[:3]]
    codes, frames = codec.encode(*audio.pad_batch(waves, codec.pad_multiple))
    first, _ = codec.decode(codes, frames)
    codec.decode(codes[::-1].copy(), frames[::-1].copy())  # other utterances decoded in between
    again, _ = codec.decode(codes[1:2], frames[1:2])
    np.testing.assert_array_equal(first[1, : again.shape[1]], again[0])


def test_demo_measures_speaker_similarity_offline_under_its_own_name(monkeypatch):
    pytest.importorskip("resemblyzer")
    from kodek.demo import demo_speaker_model
    from kodek.metrics.speaker import DEFAULT_SPEAKER_MODEL

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # the default embedder's weights are not in this cache
    model, note = demo_speaker_model()
    assert model == "resemblyzer"
    assert DEFAULT_SPEAKER_MODEL in note and "not comparable" in note
