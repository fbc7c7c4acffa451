"""kodek.metrics functions against direct calls of their reference libraries, on several kinds of pairs."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from kodek import audio
from kodek.codecs import build_codec
from kodek.metrics import intrusive, random_models, text
from kodek.metrics.asr import load_asr
from kodek.metrics.cache import ModelCache
from kodek.metrics.facts import codec_facts
from kodek.metrics.intrusive import MetricUnavailable
from kodek.metrics.models import ModelUnavailable, cached_outputs
from kodek.metrics.speaker import load_speaker_embedder, speaker_similarity


@pytest.fixture(scope="module")
def originals(sample_test):
    return [audio.load_audio(row["audio"]["bytes"], 16_000)[0] for row in sample_test.dataset]


@pytest.fixture(scope="module")
def pairs(originals):
    """(kind, reference, degraded) at 16 kHz: clean, noisy, codec-degraded, and of different lengths."""
    rng = np.random.default_rng(0)
    opus = build_codec("opus-6kbps")
    out = []
    for k, ref in enumerate(originals[:3]):
        noisy = (ref + 0.02 * rng.standard_normal(len(ref))).astype(np.float32)
        padded, lengths = audio.pad_batch([ref], opus.pad_multiple)
        codes, frames = opus.encode(padded, lengths)
        decoded, decoded_lengths = opus.decode(codes, frames)
        coded = audio.fit_length(decoded[0, : decoded_lengths[0]], len(ref))
        out += [(f"clean-{k}", ref, ref.copy()), (f"noisy-{k}", ref, noisy), (f"opus-{k}", ref, coded)]
    short = originals[3][:16_000]  # 1 s, and a pair whose reconstruction came out 37 samples short
    out.append(("short-1s", short, short + 0.01 * rng.standard_normal(len(short)).astype(np.float32)))
    out.append(("scaled", originals[4][:-37], originals[4][:-37] * 0.8))
    return out


def test_pesq_stoi_estoi_equal_the_reference_libraries(pairs):
    from pesq import pesq
    from pystoi import stoi

    assert len({len(ref) for _, ref, _ in pairs}) >= 4  # several lengths
    for kind, ref, deg in pairs:
        ref64, deg64 = ref.astype(np.float64), deg.astype(np.float64)
        assert intrusive.pesq_wb(ref, deg) == pytest.approx(pesq(16_000, ref64, deg64, "wb"), abs=1e-9), kind
        ref8, deg8 = audio.resample(ref, 16_000, 8_000), audio.resample(deg, 16_000, 8_000)
        expected_nb = pesq(8_000, ref8.astype(np.float64), deg8.astype(np.float64), "nb")
        assert intrusive.pesq_nb(ref8, deg8) == pytest.approx(expected_nb, abs=1e-9), kind
        assert intrusive.stoi(ref, deg) == pytest.approx(stoi(ref64, deg64, 16_000), abs=1e-9), kind
        assert intrusive.estoi(ref, deg) == pytest.approx(stoi(ref64, deg64, 16_000, extended=True), abs=1e-9), kind
    values = {kind: intrusive.pesq_wb(ref, deg) for kind, ref, deg in pairs}
    assert values["clean-0"] > values["opus-0"] and values["clean-0"] > values["noisy-0"]


def test_mel_distance_equals_a_direct_librosa_computation(pairs):
    import librosa

    def direct(ref, deg):
        def log_mel(x):
            mel = librosa.feature.melspectrogram(
                y=x, sr=16_000, n_fft=1024, hop_length=256, n_mels=80, power=1.0, fmin=0, fmax=8000, pad_mode="constant"
            )
            return np.log10(np.maximum(mel, 1e-5))

        return float(np.mean(np.abs(log_mel(ref) - log_mel(deg))))

    for kind, ref, deg in pairs:
        assert intrusive.mel_distance(ref, deg) == pytest.approx(direct(ref, deg), abs=1e-9), kind
    assert intrusive.mel_distance(pairs[0][1], pairs[0][2]) == 0.0
    assert intrusive.mel_distance(pairs[2][1], pairs[2][2]) > 0
    with pytest.raises(MetricUnavailable, match="silent reference"):
        intrusive.mel_distance(np.zeros(16_000, np.float32), pairs[0][1][:16_000])


def test_pesq_nb_on_silence_is_missing_not_a_number():
    speech = (0.3 * np.sin(2 * np.pi * 200 * np.arange(8_000) / 8_000)).astype(np.float32)
    with pytest.raises(MetricUnavailable, match="PESQ"):
        intrusive.pesq_nb(speech, np.zeros_like(speech))


# --- speaker similarity ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def xvector_folder(tmp_path_factory):
    return random_models.xvector(tmp_path_factory.mktemp("xvector"))


def test_xvector_similarity_equals_a_direct_transformers_call(xvector_folder, pairs):
    import torch
    from transformers import AutoFeatureExtractor, WavLMForXVector

    embedder = load_speaker_embedder(str(xvector_folder))
    model = WavLMForXVector.from_pretrained(xvector_folder).eval()
    extractor = AutoFeatureExtractor.from_pretrained(xvector_folder)

    def direct(ref, deg):
        with torch.inference_mode():
            a = model(**extractor(ref, sampling_rate=16_000, return_tensors="pt")).embeddings
            b = model(**extractor(deg, sampling_rate=16_000, return_tensors="pt")).embeddings
        return float(torch.nn.functional.cosine_similarity(a.double(), b.double()).item())

    for kind, ref, deg in (pairs[1], pairs[2], pairs[9]):  # noisy, Opus-coded, the 1 s pair
        assert speaker_similarity(ref, deg, embedder) == pytest.approx(direct(ref, deg), abs=1e-5), kind
    # Batched embedding (equal lengths share a batch) equals one utterance at a time.
    waves = [pairs[1][1], pairs[1][2], pairs[-2][1], pairs[-2][2]]
    batched = np.array(embedder.embed(waves))
    single = np.array([embedder.embed([w])[0] for w in waves])
    np.testing.assert_allclose(batched, single, atol=1e-5)
    assert embedder.describe()["id"] == str(xvector_folder)
    assert embedder.describe()["revision"].startswith("local-")  # a fingerprint of the folder's files


def test_resemblyzer_similarity_equals_a_direct_resemblyzer_call(pairs):
    pytest.importorskip("resemblyzer")
    from resemblyzer import preprocess_wav

    embedder = load_speaker_embedder("resemblyzer", "cpu")
    encoder = embedder.encoder  # resemblyzer's own VoiceEncoder, called directly below
    for kind, ref, deg in pairs[1:3]:
        a = encoder.embed_utterance(preprocess_wav(ref, source_sr=16_000))
        b = encoder.embed_utterance(preprocess_wav(deg, source_sr=16_000))
        expected = float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))
        assert speaker_similarity(ref, deg, embedder) == pytest.approx(expected, abs=1e-6), kind
    assert embedder.describe()["revision"]  # the package version
    with pytest.raises(MetricUnavailable, match="silent audio"):
        speaker_similarity(np.zeros(16_000, np.float32), pairs[0][1], embedder)


# --- ASR ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ctc_folder(tmp_path_factory):
    return random_models.ctc_asr(tmp_path_factory.mktemp("ctc"))


@pytest.fixture(scope="module")
def whisper_folder(tmp_path_factory):
    return random_models.whisper_asr(tmp_path_factory.mktemp("whisper"))


def test_ctc_backend_equals_a_direct_transformers_call(ctc_folder, originals):
    import torch
    from transformers import AutoProcessor, Wav2Vec2ForCTC

    asr = load_asr(str(ctc_folder))
    model = Wav2Vec2ForCTC.from_pretrained(ctc_folder).eval()
    processor = AutoProcessor.from_pretrained(ctc_folder)
    waves = originals[:3]
    expected = []
    for wave in waves:
        with torch.inference_mode():
            logits = model(**processor(wave, sampling_rate=16_000, return_tensors="pt")).logits
        expected.append(processor.batch_decode(logits.argmax(-1))[0].strip())
    assert asr.transcribe(waves) == expected
    assert set("".join(expected).replace("<unk>", "")) <= set(random_models.POLISH_LETTERS + " ")
    assert asr.describe()["backend"] == "ctc"


def test_whisper_backend_equals_a_direct_generate_call(whisper_folder, originals):
    import torch
    from transformers import WhisperForConditionalGeneration, WhisperProcessor

    asr = load_asr(str(whisper_folder))
    model = WhisperForConditionalGeneration.from_pretrained(whisper_folder).eval()
    processor = WhisperProcessor.from_pretrained(whisper_folder)
    expected = []
    for wave in originals[:2]:
        features = processor(wave, sampling_rate=16_000, return_tensors="pt").input_features
        with torch.inference_mode(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ids = model.generate(features, language="pl", task="transcribe", max_new_tokens=20)
        expected.append(processor.batch_decode(ids, skip_special_tokens=True)[0].strip())
    assert asr.transcribe(originals[:2]) == expected
    assert asr.describe()["revision"].startswith("local-")  # a fingerprint of the folder's files
    assert asr.describe() | {"id": None, "revision": None} == {
        "id": None,
        "revision": None,
        "backend": "whisper",
        "language": "pl",
        "task": "transcribe",
        "decoding": "greedy",
    }


def test_transcripts_are_cached_by_audio_content_and_model(ctc_folder, originals, tmp_path):
    asr = load_asr(str(ctc_folder))
    cache = ModelCache(tmp_path)
    first = cached_outputs(originals[:2], asr.transcribe, asr.cache_key(), cache)
    calls = []
    again = cached_outputs(
        [originals[1].copy(), originals[0]], lambda w: calls.append(w) or [], asr.cache_key(), ModelCache(tmp_path)
    )
    assert again == first[::-1] and calls == []  # from disk, keyed by content: no model call
    assert cache.get_many([], "other-model") == {}


def test_unreachable_weights_are_an_honest_unavailable(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelUnavailable, match=r"not available: weights for kodek-test/no-such-asr not reachable"):
        load_asr("kodek-test/no-such-asr", local_files_only=True)
    with pytest.raises(ModelUnavailable, match=r"weights for microsoft/wavlm-base-plus-sv@1bfd64eca136"):
        load_speaker_embedder(None, local_files_only=True)


# --- text -----------------------------------------------------------------------------------------


def test_polish_normalisation_keeps_diacritics_and_names_its_variants():
    raw = "Źrebak  <unk> sąsiadów, [szum] biega — po ŁĄCE!"
    assert text.normalise(raw, "all") == "źrebak sąsiadów biega po łące"
    assert text.normalise(raw, "lowercase") == "źrebak <unk> sąsiadów, [szum] biega — po łące!"
    assert text.normalise(raw, "punctuation") == "Źrebak sąsiadów biega po ŁĄCE"
    assert text.normalise(raw, "none") == raw
    assert text.normalise("a\u0328", "all") == "ą"  # NFC: a + combining ogonek is ą
    assert text.wer("łąka", "laka") == 1.0 and text.cer("łąka", "laka") == 0.5  # ł is not l
    with pytest.raises(ValueError, match="unknown normalisation"):
        text.normalise("x", "ascii")


def test_wer_cer_equal_jiwer_after_normalisation():
    import jiwer

    references = ["Źrebak sąsiadów biega każdego ranka po łące.", "Ile kilometrów jest z Warszawy do Wrocławia?"]
    hypotheses = ["źrebak sąsiadow biega każdego ranka łące", "ile kilometrów jest warszawy do wroclawia i"]
    for variant in text.NORMALISATIONS:
        for ref, hyp in zip(references, hypotheses, strict=True):
            r, h = text.normalise(ref, variant), text.normalise(hyp, variant)
            assert text.wer(ref, hyp, variant) == pytest.approx(jiwer.wer(r, h))
            assert text.cer(ref, hyp, variant) == pytest.approx(jiwer.cer(r, h))
    with pytest.raises(MetricUnavailable, match="reference empty"):
        text.wer(" <unk> ... ", "coś")


# --- codec facts ----------------------------------------------------------------------------------


def test_codec_facts_from_codes():
    codes = [np.array([[0, 1, 1, 3], [2, 2, 2, 2]]), np.array([[3, 3], [0, 1]])]
    facts = codec_facts(codes, [0.08, 0.04], [4, 4], decode_seconds=0.03, decode_audio_seconds=0.12)
    assert facts["frames"] == 6 and facts["frame_rate_measured"] == pytest.approx(50.0)
    assert facts["bitrate_bps_measured"] == pytest.approx(50.0 * 4) and facts["tokens_per_second"] == pytest.approx(100)
    first, second = facts["codebooks"]
    assert first["usage"] == 0.75 and second["usage"] == 0.75
    p = np.array([1, 2, 3]) / 6  # codebook 0: counts of 0, 1, 3
    assert first["entropy_ml_bits"] == pytest.approx(-(p * np.log2(p)).sum())
    # Miller-Madow: + (entries seen - 1) / (2 N ln 2), N = 6 tokens
    assert first["entropy_bits"] == pytest.approx(-(p * np.log2(p)).sum() + 2 / (12 * np.log(2)))
    assert facts["decode_rtf"] == pytest.approx(0.25) and facts["encode_rtf"] is None
