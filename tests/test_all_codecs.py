"""Every registered codec that kodek can run builds a token dataset from the bundled sample (random weights)."""

from __future__ import annotations

import datasets
import numpy as np
import pytest

from kodek.codecs import availability, registry
from kodek.tokenize.pipeline import tokenize

RUNNABLE = sorted(
    entry.spec.id
    for entry in registry().entries.values()
    if entry.spec.kind != "ssl-kmeans"  # need fitted centroids: tests/test_codec_ssl.py builds their tokens
    # Lyra v2's TFLite graphs carry their weights (no random build): tests/test_codec_lyra.py runs the real ones.
    and not (entry.spec.checkpoint and entry.spec.checkpoint.loader == "github")
    and availability(entry).status in ("available", "needs-weights")
)


def test_every_seed_family_is_runnable_or_says_why():
    families = {e.spec.family for e in registry().entries.values()}
    assert {
        "encodec",
        "dac",
        "mimi",
        "xcodec",
        "snac",
        "soundstream",
        "speechtokenizer",
        "wavtokenizer",
        "opus",
        "codec2",
        "mulaw",
        "identity",
        "hubert",
        "wav2vec2",
        "wavlm",
        "w2v-bert",
    } <= families
    for entry in registry().entries.values():
        state = availability(entry)
        assert state.status != "needs-extra", f"{entry.spec.id}: {state.reason}"  # make test installs every extra
        if state.status == "unsupported":
            assert len(state.reason) > 40, entry.spec.id


@pytest.mark.parametrize("codec_id", RUNNABLE)
def test_tokens_of_the_sample(codec_id, sample_test, tmp_path, random_codec):
    codec = random_codec(codec_id)
    shortest = int(np.argmin(sample_test.dataset["audio_duration_seconds"]))
    source = type(sample_test)(**{**vars(sample_test), "dataset": sample_test.dataset.select([shortest])})
    stats = tokenize(codec, source, tmp_path, progress=False)
    assert stats.rows_written == 1 and not stats.failures
    row = datasets.load_dataset(str(tmp_path), codec_id, split="test")[0]
    codes = np.array(row["codes"])
    assert codes.shape == (codec.spec.num_codebooks, row["num_frames"])
    assert codes.min() >= 0 and codes.max() < max(codec.spec.codebook_sizes)
    expected = row["duration_s"] * codec.spec.frame_rate
    assert np.ceil(expected) <= row["num_frames"] <= np.ceil(expected) + 1
