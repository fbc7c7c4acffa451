"""The BIGOS-v2 loader against a repository laid out like the Hub one (local test Hub server)."""

from __future__ import annotations

import io
import tarfile

import numpy as np
import pytest

from kodek.audio import load_audio
from kodek.codecs.init import calibration_audio
from kodek.data.bigos import REPO, BigosError, load_bigos

from conftest import wav_bytes

COLUMNS = [
    "audioname",
    "split",
    "dataset",
    "speaker_id",
    "samplingrate_orig",
    "sampling_rate",
    "ref_orig",
    "audiopath_bigos",
    "speaker_age",
    "speaker_gender",
]


def _subset_files(subset: str, split: str, n: int, *, withheld: bool = False) -> dict[str, bytes]:
    lines = ["\t".join(COLUMNS)]
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        for i in range(n):
            name = f"{subset}-{split}-{i:04d}-{i:05d}"
            data = wav_bytes(calibration_audio(16_000, 0.5 + 0.25 * i, seed=i), subtype="PCM_16")
            info = tarfile.TarInfo(f"{split}/{name}.wav")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
            text = "" if withheld else f"zażółć gęślą jaźń numer {i}"
            lines.append(
                "\t".join(
                    [
                        name,
                        split,
                        subset,
                        f"spk{i}",
                        "16000",
                        "16000",
                        text,
                        f"{name}.wav",
                        "N/A",
                        "female" if i % 2 else "male",
                    ]
                )
            )
    return {
        f"data/{subset}/{split}.tsv": ("\n".join(lines) + "\n").encode(),
        f"data/{subset}/{split}.tar.gz": archive.getvalue(),
    }


@pytest.fixture(scope="module")
def bigos(hub):
    files = {"pl-asr-bigos-v2.py": b"# the original loading script, which datasets>=4 refuses\n"}
    files |= _subset_files("pwr-azon_read-20", "test", 3)
    files |= _subset_files("pwr-azon_read-20", "validation", 2)
    files |= _subset_files("google-fleurs-22", "test", 2, withheld=True)
    hub.add_files("dataset", REPO, files, "BIGOS-v2 layout")
    hub.set_gated("dataset", REPO, True)
    return hub


def test_reads_a_subset_split_from_the_raw_files(bigos):
    split = load_bigos("pwr-azon_read-20", "test", token="t")
    rows = split.dataset
    assert split.layout == "raw" and len(split.revision) == 40
    assert rows.num_rows == 3 and set(rows["dataset"]) == {"pwr-azon_read-20"}
    assert rows["ref_orig"][1] == "zażółć gęślą jaźń numer 1"  # diacritics intact
    assert not split.references_withheld
    wave, rate = load_audio(rows[2]["audio"]["path"])
    assert rate == 16_000 and len(wave) == 16_000
    np.testing.assert_allclose(rows["audio_duration_seconds"], [0.5, 0.75, 1.0])


def test_gated_without_a_token_says_what_to_do(bigos):
    with pytest.raises(BigosError, match="gated: accept its conditions"):
        load_bigos("pwr-azon_read-20", "test", token=False)


def test_withheld_references_are_detected_and_reported(bigos):
    with pytest.warns(UserWarning, match="references withheld for 2 utterances"):
        split = load_bigos("google-fleurs-22", "test", token="t")
    assert split.references_withheld and split.missing_references == {"google-fleurs-22": 2}


def test_missing_splits_and_unknown_configs_are_named(bigos):
    with pytest.raises(BigosError, match="no test metadata/audio for subset fair-mls-20"):
        load_bigos("all", "test", token="t")
    with pytest.raises(BigosError, match="no train metadata/audio for subset pwr-azon_read-20"):
        load_bigos("pwr-azon_read-20", "train", token="t")
    with pytest.raises(BigosError, match="unknown BIGOS-v2 config 'nope'"):
        load_bigos("nope", "test", token="t")
    with pytest.raises(BigosError, match="unknown BIGOS-v2 split 'dev'"):
        load_bigos("pwr-azon_read-20", "dev", token="t")


def test_tokenize_cli_reads_bigos(bigos, tmp_path, monkeypatch, capsys):
    import datasets

    from kodek.cli import main

    monkeypatch.setenv("HF_TOKEN", "t")
    code = main(
        [
            "tokenize",
            "--codec",
            "opus-6kbps",
            "--data",
            "bigos:pwr-azon_read-20",
            "--split",
            "test",
            "validation",
            "--out",
            str(tmp_path),
        ]
    )
    assert code == 0, capsys.readouterr().err
    test = datasets.load_dataset(str(tmp_path), "opus-6kbps", split="test")
    assert test["audioname"][0] == "pwr-azon_read-20-test-0000-00000"
    assert datasets.load_dataset(str(tmp_path), "opus-6kbps", split="validation").num_rows == 2
    card = (tmp_path / "README.md").read_text()
    assert "license: other" in card and "inherit the licence of the subset" in card


def test_the_hub_parquet_conversion_is_preferred_when_present(hub, tmp_path):
    import datasets

    repo = "kodek-test/bigos-with-parquet-export"
    rows = {
        "audioname": ["pwr-viu-unk-test-0001-00001"],
        "split": ["test"],
        "dataset": ["pwr-viu-unk"],
        "speaker_id": ["0001"],
        "ref_orig": ["włącz radio"],
        "audio": [{"bytes": wav_bytes(calibration_audio(16_000, 0.8), subtype="PCM_16"), "path": "a.wav"}],
    }
    table = datasets.Dataset.from_dict(rows).cast_column("audio", datasets.Audio(decode=False))
    table.to_parquet(str(tmp_path / "0000.parquet"))
    hub.add_files("dataset", repo, {"pl-asr-bigos-v2.py": b"# script\n"}, "script")
    hub.add_files(
        "dataset",
        repo,
        {"pwr-viu-unk/test/0000.parquet": (tmp_path / "0000.parquet").read_bytes()},
        "parquet export",
        revision="refs/convert/parquet",
    )
    split = load_bigos("pwr-viu-unk", "test", repo=repo, token="t")
    assert split.layout == "parquet-conversion" and split.dataset["ref_orig"] == ["włącz radio"]
    assert split.dataset["audio_duration_seconds"] == [pytest.approx(0.8)]
    wave, rate = load_audio(split.dataset[0]["audio"]["bytes"])
    assert rate == 16_000 and len(wave) == 12_800


def test_a_fetched_split_reads_again_offline_from_the_cache(bigos, monkeypatch):
    """What ``kodek run-request --install`` relies on: the tokenless, offline run finds the audio fetched before."""
    from huggingface_hub import constants

    online = load_bigos("pwr-azon_read-20", "test", token="t")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    bigos.fault = "drop"  # any request would fail
    try:
        offline = load_bigos("pwr-azon_read-20", "test", revision=online.revision, token=False)
    finally:
        bigos.fault = None
    assert offline.revision == online.revision and offline.dataset["audioname"] == online.dataset["audioname"]
