"""Self-supervised speech models discretised with k-means: wav2vec 2.0, HuBERT, WavLM, w2v-BERT 2.0.

A codec id names the model, the layer and the number of clusters, e.g.
``hubert-base-l9-k500``: the output of transformer layer 9 of HuBERT base, one
frame every 20 ms, assigned to the nearest of 500 centroids fitted on Polish
BIGOS-v2 training audio (``kodek kmeans fit``). These tokenizers have no decoder:
reconstruction metrics are not applicable to them.

Layers, one line each of why:
- base models (12 layers): wav2vec 2.0 L6 (phonetic content peaks mid-network, Pasad et al. 2021),
  HuBERT L9 and mHuBERT-147 L9 (the layer HuBERT's own later iterations and GSLM-style units use),
  WavLM L6 (its phonetic layers sit lower than HuBERT's);
- large models (24 layers): XLS-R 300M L12 and w2v-BERT 2.0 L12, the middle of the stack.

The fitted centroids are found where the codec settings' ``kmeans`` point (``kodek tokenize
--kmeans``: a folder or a Hub dataset repo holding ``kmeans/<codec_id>/centroids.npy``, see
:mod:`kodek.codecs.centroids`), else through ``KODEK_KMEANS`` if the user set it; the token
folder keeps a copy.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kodek.codecs import centroids
from kodek.codecs.base import CodecError, CodecSettings, TorchCodec
from kodek.codecs.init import load_pretrained
from kodek.codecs.registry import CodecEntry
from kodek.codecs.spec import Checkpoint, CodecSpec

ID = re.compile(r"^(?P<model>.+)-l(?P<layer>\d{1,2})-k(?P<k>\d{1,5})$")


@dataclass(frozen=True)
class SslModel:
    name: str
    family: str
    checkpoint: Checkpoint
    architecture: str  # transformers model class
    config: dict[str, Any] = field(default_factory=dict)  # over the class's default config
    layer: int = 9
    normalize: bool = False  # zero-mean unit-variance waveform, as the checkpoint's feature extractor does
    license: str = "apache-2.0"
    multilingual: bool = False
    note: str = ""


LARGE_W2V2 = {
    "hidden_size": 1024,
    "num_hidden_layers": 24,
    "num_attention_heads": 16,
    "intermediate_size": 4096,
    "feat_extract_norm": "layer",
    "do_stable_layer_norm": True,
    "conv_bias": True,
}
# Revisions: the commits of github.com/embeddings-benchmark/mteb, mteb/models/model_implementations/<file> named
# beside each; for the others no public pin was found, so "main" is resolved when the weights are downloaded and
# that commit is what codec.json and kmeans.json record.
MODELS = {
    m.name: m
    for m in (
        SslModel(
            "wav2vec2-base",
            "wav2vec2",
            # mteb: wav2vec2_models.py
            Checkpoint("facebook/wav2vec2-base", "0b5b8e868dd84f03fd87d01f9c4ff0f080fecfe8"),
            "Wav2Vec2Model",
            layer=6,
            normalize=True,
            note="English (LibriSpeech 960 h)",
        ),
        SslModel(
            "xlsr-300m",
            "wav2vec2",
            # mteb: wav2vec2_models.py
            Checkpoint("facebook/wav2vec2-xls-r-300m", "1a640f32ac3e39899438a2931f9924c02f080a54"),
            "Wav2Vec2Model",
            LARGE_W2V2,
            layer=12,
            normalize=True,
            multilingual=True,
            note="XLS-R: 128 languages incl. Polish",
        ),
        SslModel(
            "hubert-base",
            "hubert",
            # mteb: hubert_models.py
            Checkpoint("facebook/hubert-base-ls960", "dba3bb02fda4248b6e082697eee756de8fe8aa8a"),
            "HubertModel",
            layer=9,
            note="English (LibriSpeech 960 h)",
        ),
        SslModel(
            "mhubert-147",
            "hubert",
            Checkpoint("utter-project/mHuBERT-147", "main"),
            "HubertModel",
            layer=9,
            license="cc-by-nc-sa-4.0",
            multilingual=True,
            note="mHuBERT-147: 147 languages",
        ),
        SslModel(
            "wavlm-base-plus",
            "wavlm",
            # mteb: wavlm_models.py
            Checkpoint("microsoft/wavlm-base-plus", "4c66d4806a428f2e922ccfa1a962776e232d487b"),
            "WavLMModel",
            layer=6,
            license="mit",
            note="English (94k h); no multilingual WavLM checkpoint exists",
        ),
        SslModel(
            "w2v-bert-2.0",
            "w2v-bert",
            Checkpoint("facebook/w2v-bert-2.0", "main"),
            "Wav2Vec2BertModel",
            layer=12,
            license="mit",
            multilingual=True,
            note="w2v-BERT 2.0 (SeamlessM4T v2): 4.5M h, 143+ languages",
        ),
    )
}
KS = {"hubert-base": (500, 1000, 2000)}  # extra cluster counts; every model has K=500
FRAME_RATE = 50.0  # 16 kHz / 320 (the conv stack's stride; w2v-BERT: 10 ms fbank frames stacked by 2)
HOP = 320
MIN_SAMPLES = 400  # the conv stack's receptive field
MIN_FBANK_SAMPLES = 800  # w2v-BERT: enough 10 ms fbank frames for the per-utterance variance


def codec_id(model: str, layer: int, k: int) -> str:
    return f"{model}-l{layer}-k{k}"


def _spec(model: SslModel, k: int, layer: int | None = None) -> CodecSpec:
    layer = model.layer if layer is None else layer
    return CodecSpec(
        id=codec_id(model.name, layer, k),
        family=model.family,
        kind="ssl-kmeans",
        sample_rate=16_000,
        frame_rate=FRAME_RATE,
        num_codebooks=1,
        codebook_size=k,
        checkpoint=model.checkpoint,
        license=model.license,
        has_decoder=False,
        description=f"{model.name} layer {layer} features, k-means K={k} fitted on Polish BIGOS-v2 train "
        f"({model.note}).",
        options={"model": model.name, "layer": layer, "k": k},
    )


def build_model(model: SslModel, *, random_weights: bool, seed: int = 0, num_layers: int | None = None):
    """The SSL network, real or seeded-random from its architecture (``num_layers`` truncates, for tests)."""
    import torch
    import transformers

    cls = getattr(transformers, model.architecture)
    if random_weights:
        config = cls.config_class(**model.config)
        if num_layers is not None:
            config.num_hidden_layers = num_layers
        torch.manual_seed(seed)
        return cls(config).eval()
    ckpt = model.checkpoint
    return load_pretrained(
        lambda: cls.from_pretrained(ckpt.repo, revision=ckpt.revision), model.name, ckpt.repo, ckpt.revision
    ).eval()


class SslFeatures:
    """Layer-L features of an SSL model, with its own input preprocessing."""

    def __init__(self, model: SslModel, network, device: str = "cpu", layer: int | None = None) -> None:
        if layer is not None:
            model = dataclasses.replace(model, layer=layer)
        if not 1 <= model.layer <= network.config.num_hidden_layers:
            raise ValueError(f"{model.name} has layers 1..{network.config.num_hidden_layers}, not {model.layer}")
        self.model, self.network, self.device = model, network, device
        self.dtype = None
        if model.architecture == "Wav2Vec2BertModel":
            from transformers import SeamlessM4TFeatureExtractor

            self.fbank = SeamlessM4TFeatureExtractor()  # 80 mel bins, stride 2: its default config is w2v-BERT's

    @property
    def padding_exact(self) -> bool:
        # Group norm over time (base wav2vec 2.0 / HuBERT / WavLM) sees the padding; layer-norm models
        # with an attention mask and w2v-BERT (masked fbank frames) do not.
        return getattr(self.network.config, "feat_extract_norm", "layer") == "layer"

    def __call__(self, waves: np.ndarray, lengths: np.ndarray) -> list[np.ndarray]:
        """``[B, T]`` 16 kHz -> one ``[F, D]`` float32 array per item (F = ceil(length / 320))."""
        import torch

        frames = [-(-int(n) // HOP) for n in lengths]
        if waves.shape[1] < MIN_SAMPLES:  # shorter than one receptive field: zeros after it
            waves = np.pad(waves, ((0, 0), (0, MIN_SAMPLES - waves.shape[1])))
        with torch.inference_mode():
            if self.model.architecture == "Wav2Vec2BertModel":
                inputs = self.fbank(
                    [
                        np.pad(w[:n], (0, max(0, MIN_FBANK_SAMPLES - int(n))))
                        for w, n in zip(waves, lengths, strict=True)
                    ],
                    sampling_rate=16_000,
                    return_tensors="pt",
                    padding=True,
                    return_attention_mask=True,
                )
                kwargs = {"input_features": inputs["input_features"], "attention_mask": inputs["attention_mask"]}
                valid = inputs["attention_mask"].sum(-1).tolist()
            else:
                batch = np.zeros_like(waves)
                for row, wave, n in zip(batch, waves, lengths, strict=True):
                    row[:n] = _normalise(wave[:n]) if self.model.normalize else wave[:n]
                # At least one receptive field counts as valid, zeros included, whatever the batch.
                valid_samples = np.maximum(np.asarray(lengths), MIN_SAMPLES)
                mask = np.arange(waves.shape[1])[None, :] < valid_samples[:, None]
                kwargs = {"input_values": torch.as_tensor(batch), "attention_mask": torch.as_tensor(mask).long()}
                valid = self.network._get_feat_extract_output_lengths(torch.as_tensor(valid_samples)).tolist()
            kwargs = {
                k: v.to(self.device, self.dtype or v.dtype) if v.is_floating_point() else v.to(self.device)
                for k, v in kwargs.items()
            }
            hidden = self.network(**kwargs, output_hidden_states=True).hidden_states[self.model.layer]
        hidden = hidden.float().cpu().numpy()
        if not np.isfinite(hidden).all():
            raise CodecError(f"{self.model.name}: non-finite features (input too short or silent?)")
        # Convolution and fbank framing give floor-based counts: the frames of an item past its last
        # valid one are its last valid frame repeated, never frames computed over padding.
        return [_fit_frames(hidden[i, : max(1, int(v))], f) for i, (v, f) in enumerate(zip(valid, frames, strict=True))]


def _normalise(wave: np.ndarray) -> np.ndarray:
    return (wave - wave.mean()) / np.sqrt(wave.var() + 1e-7)


def _fit_frames(features: np.ndarray, frames: int) -> np.ndarray:
    if len(features) >= frames:
        return features[:frames]
    return np.concatenate([features, np.repeat(features[-1:], frames - len(features), axis=0)])


class SslKmeansCodec(TorchCodec):
    hop_length = HOP
    requires = ("torch", "transformers", "sklearn")
    install_extra = "ssl"

    def __init__(
        self,
        spec: CodecSpec,
        features: SslFeatures,
        centroids: np.ndarray,
        artefact: dict[str, Any],
        settings: CodecSettings | None = None,
        **fields: Any,
    ) -> None:
        super().__init__(spec, features.network, settings, **fields)
        self.features = features
        self.centroids = centroids.astype(np.float32)
        self.artefact = artefact  # where the centroids came from: path/repo, sha256, fit metadata

    @classmethod
    def build(cls, spec: CodecSpec, settings: CodecSettings) -> SslKmeansCodec:
        model = MODELS[spec.options["model"]]
        found, artefact = centroids.find_centroids(
            spec.id, settings.kmeans, random_weights=settings.random_weights, seed=settings.seed
        )
        network = build_model(model, random_weights=settings.random_weights, seed=settings.seed)
        features = SslFeatures(model, network, layer=int(spec.options["layer"]))
        return cls(spec, features, found, artefact, settings).placed()

    @property
    def padding_exact(self) -> bool:  # type: ignore[override]
        return self.features.padding_exact

    def to(self, device: str, dtype: Any = None) -> SslKmeansCodec:
        super().to(device, dtype)
        self.features.device, self.features.dtype = device, self.dtype
        return self

    def encode(self, waves: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        items = self.features(waves, lengths)
        frames = np.array([len(f) for f in items], dtype=np.int64)
        codes = np.zeros((len(items), 1, int(frames.max(initial=0))), dtype=np.int64)
        for row, feats in zip(codes, items, strict=True):
            row[0, : len(feats)] = centroids.assign(feats, self.centroids)
        return codes, frames

    def decode(self, codes: np.ndarray, frame_lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        raise CodecError(f"{self.spec.id}: an SSL tokenizer has no decoder (reconstruction is not applicable)")

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "kmeans": self.artefact}

    def save_artefacts(self, out: Path) -> None:
        centroids.copy_artefact(self.artefact, self.spec.id, out)


def resolve(codec_id: str) -> CodecEntry | None:
    """Any layer and K of a known model, e.g. ``hubert-base-l6-k200``: registered on first use."""
    match = ID.match(codec_id)
    if not match or match["model"] not in MODELS:
        return None
    return SslKmeansCodec.entries([_spec(MODELS[match["model"]], int(match["k"]), int(match["layer"]))])[0]


ENTRIES = SslKmeansCodec.entries(
    _spec(model, k) for model in MODELS.values() for k in (500, *[k for k in KS.get(model.name, ()) if k != 500])
)
