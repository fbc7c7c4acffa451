"""Upstream conformance of Mimi and DAC: kodek (transformers) against the authors' own packages.

The authors' packages cannot share kodek's environment (``moshi`` pins torch<2.10 and huggingface-hub<1.0;
``descript-audio-codec`` needs torchaudio and protobuf<3.20), so each runs in its own isolated environment
(``kodek env build moshi`` / ``kodek env build descript-dac``, built once into the usual cache folder; where they
cannot be built these tests skip and say why). kodek's seeded random weights (Mimi's codebooks seeded from
data) are saved, and ``tests/authors_codecs.py``, run by the environment's Python, builds the authors' model
with their own constructor and the published architecture, loads the same tensors under the authors' names
(strict), and runs their README's calls on the bundled sample utterance with kodek's settings.

- Mimi: moshi zero-pads the input to a whole frame (1920 samples) itself, as kodek does: codes equal on the
  utterance as it is, reconstructions equal to float round-off (the two implementations order the
  attention arithmetic differently).
- DAC: ``model.preprocess`` zero-pads to a whole hop on the right, as kodek does; ``model.encode(x,
  n_quantizers)`` and ``model.decode(z)``. Codes equal; reconstructions equal to float round-off.
  kodek does not call ``model.compress`` (DAC's file-compression helper), which first normalises loudness
  to -16 LUFS and cuts long audio into windows: a codec benchmark encodes the waveform it is given.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from kodek.audio import load_audio, pad_batch
from kodek.envs import DESCRIPT_DAC, MOSHI, EnvSpec, python_of

from conftest import built_env, started_ahead

torch = pytest.importorskip("torch")

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]  # building an environment takes minutes
AUTHORS_SCRIPT = Path(__file__).with_name("authors_codecs.py")


@contextlib.contextmanager
def authors_process(env: EnvSpec, family: str) -> Iterator[subprocess.Popen]:
    """``authors_codecs.py`` in its environment: it imports the authors' package while earlier tests run, then
    waits for the path of its requests."""
    python = python_of(built_env(env))
    with tempfile.TemporaryFile(mode="w+") as errors:
        process = subprocess.Popen(
            [str(python), str(AUTHORS_SCRIPT), family],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=errors,
            text=True,
            env={**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": ""},
        )
        process.errors = errors
        try:
            yield process
        finally:
            if process.poll() is None:
                process.kill()
            process.wait()


@started_ahead
def moshi_authors() -> contextlib.AbstractContextManager[subprocess.Popen]:
    return authors_process(MOSHI, "mimi")


@started_ahead
def dac_authors() -> contextlib.AbstractContextManager[subprocess.Popen]:
    return authors_process(DESCRIPT_DAC, "dac")


@pytest.fixture(scope="module")
def utterance(sample_test):
    """The first 1.2 s of a sample utterance plus 37 samples (not a whole hop of these codecs): rate -> wave."""
    import datasets

    item = sample_test.dataset.cast_column("audio", datasets.Audio(decode=False))[1]["audio"]
    return {rate: load_audio(item["bytes"], rate)[0][: int(1.2 * rate) + 37] for rate in (16_000, 24_000, 44_100)}


def run_authors(
    process: subprocess.Popen, folder: Path, model, arrays: dict[str, np.ndarray], **request
) -> dict[str, np.ndarray]:
    """The authors' process run on ``model``'s weights and ``arrays`` (the wave, ...); its outputs by name."""
    return run_authors_on_many(process, [(folder, model, arrays, request)])[0]


def run_authors_on_many(
    process: subprocess.Popen, jobs: list[tuple[Path, Any, dict[str, np.ndarray], dict]]
) -> list[dict]:
    """``run_authors`` for several (folder, model, arrays, request) jobs in the one process."""
    from safetensors.torch import save_file

    requests = []
    for folder, model, arrays, request in jobs:
        state = {k: v.detach().float().contiguous().clone() for k, v in model.state_dict().items()}
        save_file(state, folder / "w.st")
        for name, array in arrays.items():
            np.save(folder / f"{name}.npy", array)
            request = {**request, name: str(folder / f"{name}.npy")}
        requests.append({**request, "weights": str(folder / "w.st"), "output": str(folder / "o.npz")})
    listing = jobs[0][0] / "requests.json"
    listing.write_text(json.dumps(requests))
    process.communicate(f"{listing}\n")
    if process.returncode != 0:
        process.errors.seek(0)
        errors = process.errors.read()
        sys.stderr.write(errors)
        families = sorted({request["family"] for request in requests})
        pytest.fail(f"the authors' {', '.join(families)} failed: {errors.strip().splitlines()[-1:]}")
    outputs = []
    for request in requests:
        with np.load(request["output"]) as output:
            outputs.append(dict(output))
    return outputs


def assert_close_waves(ours: np.ndarray, theirs: np.ndarray) -> None:
    """Equal length, equal to float32 round-off relative to the signal's scale."""
    assert ours.shape == theirs.shape
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-5 * max(1.0, float(np.abs(theirs).max())))


MIMI_CODEBOOKS = (8, 16, 32)
# Largest relative distance gap at which two nearest codebook entries count as a tie under float32 round-off of
# the latents (the flips seen in this test: gaps of 0 to 1.2e-7).
NEAR_TIE = 1e-4


@pytest.fixture(scope="module")
def mimi_run(moshi_authors, random_codec, utterance, tmp_path_factory):
    """kodek's latent and codes of the utterance, and what moshi makes of the same wave, latent and codes."""
    codec = random_codec(f"mimi-{max(MIMI_CODEBOOKS)}cb")  # one model for 8, 16 and 32 codebooks
    wave = utterance[24_000]
    padded, lengths = pad_batch([wave], codec.pad_multiple)
    with torch.no_grad():
        latent = codec.model.encoder(torch.from_numpy(padded)[:, None]).latents  # the quantiser's input
    codes, _ = codec.encode(padded, lengths)
    theirs = run_authors(
        moshi_authors,
        tmp_path_factory.mktemp("moshi"),
        codec.model,
        {"wave": wave, "latent": latent.numpy(), "codes": codes},
        family="mimi",
        codebooks=list(MIMI_CODEBOOKS),
    )
    return {"latent": latent, "codes": codes[0]}, theirs


def stage_distances(model, latent, codes: np.ndarray) -> list:
    """Per stage, the distances ``[F, entries]`` from the residual reached with ``codes`` to every entry
    (Mimi's split quantiser: one semantic stage on the latent, then acoustic residual stages on it)."""
    out = []
    quantizer = model.quantizer
    stages = iter(codes)
    with torch.no_grad():
        for rvq in (quantizer.semantic_residual_vector_quantizer, quantizer.acoustic_residual_vector_quantizer):
            residual = rvq.input_proj(latent)[0].T.float()  # [F, D]
            for layer, stage in zip(rvq.layers, stages, strict=False):  # the stages run out first
                embed = layer.codebook.embed.float()
                out.append(torch.cdist(residual, embed).numpy())
                residual = residual - embed[torch.from_numpy(stage)]
    return out


@pytest.mark.parametrize("codebooks", MIMI_CODEBOOKS)
def test_mimi_equals_moshi(codebooks, random_codec, mimi_run, utterance):
    ours, theirs = mimi_run
    codec = random_codec(f"mimi-{codebooks}cb")
    wave = utterance[24_000]
    codes, frames = codec.encode(*pad_batch([wave], codec.pad_multiple))
    # moshi zero-pads the utterance as it is to a whole frame itself: the same frames, the same latents
    assert theirs[f"codes_{codebooks}"].shape == (codebooks, frames[0]) == (codebooks, -(-len(wave) // 1920))
    np.testing.assert_allclose(ours["latent"][0].numpy(), theirs["latent"], rtol=1e-5, atol=1e-5)
    # given the same latent, moshi's quantiser picks kodek's codes, every stage
    np.testing.assert_array_equal(codes[0], theirs[f"codes_of_latent_{codebooks}"])
    np.testing.assert_array_equal(codes[0], ours["codes"][:codebooks])
    # from the wave, a frame's codes can part only at a near-tie (float round-off of the latent), after
    # which its residual differs and later stages may differ too
    distances = stage_distances(codec.model, ours["latent"], codes[0])
    for frame in np.flatnonzero((codes[0] != theirs[f"codes_{codebooks}"]).any(axis=0)):
        stage = int(np.flatnonzero(codes[0, :, frame] != theirs[f"codes_{codebooks}"][:, frame])[0])
        row = distances[stage][frame]
        gap = row[theirs[f"codes_{codebooks}"][stage, frame]] - row[codes[0, stage, frame]]
        assert 0 <= gap <= NEAR_TIE * row.min(), (stage, frame, gap / row.min())
    # moshi's decoder on kodek's codes gives kodek's reconstruction, moshi's length
    out, lengths = codec.decode(codes, frames)
    assert lengths[0] == len(theirs[f"wave_{codebooks}"]) == frames[0] * 1920
    assert_close_waves(out[0], theirs[f"wave_of_codes_{codebooks}"])


# descript/dac_16khz, dac_24khz, dac_44khz: the architecture their model cards and descript's release publish
DAC_ARCHITECTURES = {
    "16khz": {"sample_rate": 16_000, "encoder_rates": [2, 4, 5, 8], "decoder_rates": [8, 5, 4, 2], "n_codebooks": 12},
    "24khz": {"sample_rate": 24_000, "encoder_rates": [2, 4, 5, 8], "decoder_rates": [8, 5, 4, 2], "n_codebooks": 32},
    "44khz": {"sample_rate": 44_100, "encoder_rates": [2, 4, 8, 8], "decoder_rates": [8, 8, 4, 2], "n_codebooks": 9},
}


DAC_SECONDS = 0.5  # the last 0.5 s (+37 samples) of the utterance: DAC's 44.1 kHz decoder is the slowest part


def dac_wave(utterance: dict[int, np.ndarray], rate: int) -> np.ndarray:
    return utterance[rate][-(int(DAC_SECONDS * rate) + 37) :]


def dac_variants(model: str) -> list:
    from kodek.codecs.dac import ENTRIES

    return [entry.spec for entry in ENTRIES if entry.spec.options["model"] == model]


@pytest.fixture(scope="module")
def dac_outputs(dac_authors, random_codec, utterance, tmp_path_factory) -> dict[str, dict[str, np.ndarray]]:
    """What descript's DAC makes of each published architecture on kodek's weights (one process for all three)."""
    jobs = []
    for model, arch in sorted(DAC_ARCHITECTURES.items()):
        request = {"family": "dac", "architecture": arch}
        request["codebooks"] = sorted(spec.num_codebooks for spec in dac_variants(model))
        wave = {"wave": dac_wave(utterance, arch["sample_rate"])}
        jobs.append((tmp_path_factory.mktemp(f"dac-{model}"), random_codec(f"dac-{model}").model, wave, request))
    outputs = run_authors_on_many(dac_authors, jobs)
    return dict(zip(sorted(DAC_ARCHITECTURES), outputs, strict=True))


@pytest.mark.parametrize("model", sorted(DAC_ARCHITECTURES))
def test_dac_equals_descript_dac(model, dac_outputs, random_codec, utterance):
    arch = DAC_ARCHITECTURES[model]
    variants = dac_variants(model)
    assert arch["n_codebooks"] in {spec.num_codebooks for spec in variants}
    wave = dac_wave(utterance, arch["sample_rate"])
    outputs = dac_outputs[model]
    for spec in variants:
        codec = random_codec(spec.id)
        n = spec.num_codebooks
        codes, frames = codec.encode(*pad_batch([wave], codec.pad_multiple))
        hop = int(np.prod(arch["encoder_rates"]))
        assert outputs[f"codes_{n}"].shape == (n, frames[0]) == (n, -(-len(wave) // hop))
        np.testing.assert_array_equal(codes[0], outputs[f"codes_{n}"], err_msg=spec.id)
        out, lengths = codec.decode(codes, frames)
        assert lengths[0] == len(outputs[f"wave_{n}"])  # upstream decoder length, not whole hops
        assert_close_waves(out[0], outputs[f"wave_{n}"])
        if n == arch["n_codebooks"]:
            assert_close_waves(out[0], outputs["wave_of_z"])
