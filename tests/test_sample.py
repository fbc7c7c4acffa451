"""The bundled Polish sample: schema, coverage, audio sanity, reproducibility."""

from __future__ import annotations

import re
import shutil

import numpy as np
import pytest

from kodek.audio import load_audio
from kodek.data import make_sample
from kodek.data.sample import SAMPLE_DIR, load_sample, sample_info

BIGOS_COLUMNS = {
    "audioname",
    "split",
    "dataset",
    "speaker_id",
    "ref_orig",
    "audio",
    "samplingrate_orig",
    "sampling_rate",
    "audiopath_bigos",
    "speaker_age",
    "speaker_gender",
    "utt_length_words",
    "utt_length_chars",
    "audio_duration_samples",
    "audio_duration_seconds",
}


@pytest.fixture(scope="module")
def sample():
    return load_sample()


def test_schema_and_coverage(sample):
    assert set(sample.column_names) == BIGOS_COLUMNS
    assert sample.num_rows >= 30
    assert len(set(sample["dataset"])) >= 3 and len(set(sample["speaker_id"])) >= 4
    for split in ("train", "validation", "test"):
        assert set(load_sample(split)["dataset"]) == set(sample["dataset"]), split
    assert len(set(sample["audioname"])) == sample.num_rows
    assert all(re.fullmatch(r"synth-[a-z]+-(train|validation|test)-spk\d\d-\d{5}", n) for n in sample["audioname"])
    assert set(sample["speaker_gender"]) == {"female", "male"}


def test_texts_are_polish_and_distinct(sample):
    texts = sample["ref_orig"]
    assert len(set(texts)) == len(texts)
    assert set("ąćęłńóśźż") <= set("".join(texts).lower())  # every Polish diacritic occurs
    assert all(row["utt_length_words"] == len(row["ref_orig"].split()) for row in sample)


def test_every_utterance_decodes_to_clean_16k_speech(sample):
    for row in sample:
        wave, rate = load_audio(row["audio"]["bytes"], name=row["audioname"])
        assert rate == 16_000 == row["sampling_rate"]
        assert len(wave) == row["audio_duration_samples"]
        assert 1.0 <= row["audio_duration_seconds"] <= 6.0
        assert np.sqrt(np.mean(wave**2)) > 0.02  # not silent
        assert np.abs(wave).max() < 0.99  # not clipped


def test_the_datasets_audio_feature_decodes_it_too(sample):
    """Users can read the sample with plain `datasets` (torchcodec decodes the FLAC bytes)."""
    import datasets

    decoded = sample.select([0]).cast_column("audio", datasets.Audio(sampling_rate=16_000))
    samples = decoded[0]["audio"].get_all_samples()
    assert samples.sample_rate == 16_000 and samples.data.shape[-1] == sample[0]["audio_duration_samples"]


def test_unknown_split_is_named():
    with pytest.raises(ValueError, match=r"no split 'dev' .*train, validation, test"):
        load_sample("dev")


def test_sample_is_small_and_documented():
    size = sum(p.stat().st_size for p in SAMPLE_DIR.iterdir())
    assert size < 3_000_000
    assert "synthetic" in (SAMPLE_DIR / "README.md").read_text()
    info = sample_info()
    assert info["utterances"] == 36 and info["synthesiser"].startswith("eSpeak NG")


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")
def test_generator_reproduces_the_stored_utterances(sample):
    wanted = make_sample.utterances()[:2]
    for item, row in zip(make_sample.build_rows(wanted), sample.select(range(2)), strict=True):
        assert item["audioname"] == row["audioname"] and item["ref_orig"] == row["ref_orig"]
        assert abs(item["audio_duration_seconds"] - row["audio_duration_seconds"]) < 0.005
