"""Speaker and ASR models with seeded random weights, built from configs (no download).

For tests and benchmarks, as ``--random-weights`` is for codecs: each is saved as a
local checkpoint folder, so that it is loaded by the same ``from_pretrained`` code as
the real models. Scores from them mean nothing; their cost per second of audio does
when the architecture is the real one (:func:`wavlm_base_plus_sv`).
"""

from __future__ import annotations

import json
from pathlib import Path

# The Polish alphabet: the character vocabulary of the tiny CTC model.
POLISH_LETTERS = "aąbcćdeęfghijklłmnńoóprsśtuwyzźż"


def _seed(seed: int) -> None:
    import torch

    torch.manual_seed(seed)


def xvector(folder: Path, *, tiny: bool = True, seed: int = 0) -> Path:
    """A ``WavLMForXVector`` checkpoint folder: tiny, or the WavLM Base+ x-vector architecture.

    ``tiny=False`` gives ``WavLMConfig``'s defaults (the Base architecture: 12 layers, 768
    dimensions, group-normalised feature encoder, TDNN 512x4 + 1500, 512-d x-vectors), the
    shape of ``microsoft/wavlm-base-plus-sv``.
    """
    from transformers import Wav2Vec2FeatureExtractor, WavLMConfig, WavLMForXVector

    if tiny:
        config = WavLMConfig(
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=64,
            conv_dim=(32, 32, 32),
            conv_stride=(5, 4, 4),
            conv_kernel=(10, 4, 4),
            num_conv_pos_embeddings=16,
            num_conv_pos_embedding_groups=2,
            tdnn_dim=(32, 32, 64),
            tdnn_kernel=(3, 1, 1),
            tdnn_dilation=(1, 1, 1),
            xvector_output_dim=16,
            num_buckets=32,
            max_bucket_distance=64,
        )
    else:
        config = WavLMConfig()
    _seed(seed)
    model = WavLMForXVector(config).eval()
    extractor = Wav2Vec2FeatureExtractor(
        feature_size=1, sampling_rate=16_000, padding_value=0.0, do_normalize=False, return_attention_mask=True
    )
    model.save_pretrained(folder)
    extractor.save_pretrained(folder)
    return folder


def ctc_asr(folder: Path, *, seed: int = 0) -> Path:
    """A tiny ``Wav2Vec2ForCTC`` with a Polish character vocabulary (``|`` between words)."""
    from transformers import (
        Wav2Vec2Config,
        Wav2Vec2CTCTokenizer,
        Wav2Vec2FeatureExtractor,
        Wav2Vec2ForCTC,
        Wav2Vec2Processor,
    )

    folder.mkdir(parents=True, exist_ok=True)
    vocab = {"<pad>": 0, "<unk>": 1, "|": 2, **{c: i + 3 for i, c in enumerate(POLISH_LETTERS)}}
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    tokenizer = Wav2Vec2CTCTokenizer(
        str(folder / "vocab.json"), unk_token="<unk>", pad_token="<pad>", word_delimiter_token="|"
    )
    extractor = Wav2Vec2FeatureExtractor(
        feature_size=1, sampling_rate=16_000, padding_value=0.0, do_normalize=True, return_attention_mask=False
    )
    config = Wav2Vec2Config(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        conv_dim=(32, 32),
        conv_stride=(5, 4),
        conv_kernel=(10, 8),
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2,
        pad_token_id=0,
    )
    _seed(seed)
    Wav2Vec2ForCTC(config).eval().save_pretrained(folder)
    Wav2Vec2Processor(feature_extractor=extractor, tokenizer=tokenizer).save_pretrained(folder)
    return folder


def whisper_asr(folder: Path, *, seed: int = 0, max_length: int = 24) -> Path:
    """A tiny ``WhisperForConditionalGeneration`` with a byte-level tokenizer built offline.

    The vocabulary is the 256 byte symbols of GPT-2's byte-level BPE (no merges) plus
    Whisper's special tokens, with ``<|pl|>`` and ``<|transcribe|>`` wired into the
    generation config as in the real checkpoints, so ``generate(language="pl")`` runs.
    """
    from transformers import (
        GenerationConfig,
        WhisperConfig,
        WhisperFeatureExtractor,
        WhisperForConditionalGeneration,
        WhisperProcessor,
        WhisperTokenizer,
    )

    folder.mkdir(parents=True, exist_ok=True)
    vocab = {symbol: i for i, symbol in enumerate(_byte_symbols())}
    specials = ["<|endoftext|>", "<|startoftranscript|>", "<|en|>", "<|pl|>", "<|translate|>", "<|transcribe|>"]
    specials += ["<|startoflm|>", "<|startofprev|>", "<|nocaptions|>", "<|notimestamps|>"]
    for token in specials:
        vocab[token] = len(vocab)
    (folder / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")
    end = "<|endoftext|>"
    tokenizer = WhisperTokenizer(
        str(folder / "vocab.json"),
        str(folder / "merges.txt"),
        unk_token=end,
        bos_token=end,
        eos_token=end,
        pad_token=end,
    )
    tokenizer.add_special_tokens({"additional_special_tokens": specials[1:]})
    ids = {token: vocab[token] for token in specials}
    config = WhisperConfig(
        vocab_size=len(vocab),
        num_mel_bins=80,
        d_model=32,
        encoder_layers=1,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=64,
        decoder_ffn_dim=64,
        pad_token_id=ids[end],
        bos_token_id=ids[end],
        eos_token_id=ids[end],
        decoder_start_token_id=ids["<|startoftranscript|>"],
    )
    _seed(seed)
    model = WhisperForConditionalGeneration(config).eval()
    model.generation_config = GenerationConfig(
        decoder_start_token_id=ids["<|startoftranscript|>"],
        eos_token_id=ids[end],
        pad_token_id=ids[end],
        bos_token_id=ids[end],
        lang_to_id={"<|en|>": ids["<|en|>"], "<|pl|>": ids["<|pl|>"]},
        task_to_id={"translate": ids["<|translate|>"], "transcribe": ids["<|transcribe|>"]},
        no_timestamps_token_id=ids["<|notimestamps|>"],
        is_multilingual=True,
        max_length=max_length,
    )
    model.save_pretrained(folder)
    WhisperProcessor(feature_extractor=WhisperFeatureExtractor(feature_size=80), tokenizer=tokenizer).save_pretrained(
        folder
    )
    return folder


def _byte_symbols() -> list[str]:
    """GPT-2's printable stand-ins for the 256 byte values (what byte-level BPE vocabularies hold)."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    printable += list(range(ord("®"), ord("ÿ") + 1))
    symbols, extra = [], 0
    for byte in range(256):
        if byte in printable:
            symbols.append(chr(byte))
        else:
            symbols.append(chr(256 + extra))
            extra += 1
    return symbols
