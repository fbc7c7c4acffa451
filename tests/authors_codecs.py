"""Run the authors' own Mimi (``moshi``) or DAC (``descript-audio-codec``) inference on given weights and audio.

Runs with the Python of an isolated environment (``moshi`` or ``dac``), never in kodek's: those packages' pins
cannot share it. ``python authors_codecs.py FAMILY`` imports the family's package (seconds: the tests start it
ahead), then reads the path of a ``REQUEST.json`` from standard input (one request or a list). A request names the
family, a safetensors file of a transformers MimiModel / DacModel state dict, the architecture, the numbers of
codebooks and an ``.npy`` wave; the authors' model is built by their own constructor with the published
architecture, loaded (strict) with those tensors under the authors' names, and the codes and reconstructions of
their README's calls are written to an ``.npz`` (``codes_<n>``, ``wave_<n>`` for n codebooks, ...). Imports only
what each environment holds.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path


def mimi_name(authors: str) -> str:
    """The transformers MimiModel name of a tensor of moshi's MimiModel (``in_projs`` are handled apart)."""
    rules = (
        (r"^encoder\.model\.", "encoder.encoder_seanet.layers."),
        (r"^decoder\.model\.", "decoder.decoder_seanet.layers."),
        (r"^encoder_transformer\.transformer\.", "encoder.encoder_transformer."),
        (r"^decoder_transformer\.transformer\.", "decoder.decoder_transformer."),
        (r"^downsample\.conv\.conv\.conv\.", "encoder.downsample.conv."),
        (r"^upsample\.convtr\.convtr\.convtr\.", "decoder.upsample.conv."),
        (r"\.conv\.conv\.", ".conv."),
        (r"\.convtr\.convtr\.", ".conv."),
        (r"^quantizer\.rvq_first\.(vq\.)?", "quantizer.semantic_residual_vector_quantizer."),
        (r"^quantizer\.rvq_rest\.(vq\.)?", "quantizer.acoustic_residual_vector_quantizer."),
        (r"\._codebook\._initialized$", ".codebook.initialized"),
        (r"\._codebook\.embedding_sum$", ".codebook.embed_sum"),
        (r"\._codebook\.", ".codebook."),
        (r"\.linear1\.", ".mlp.fc1."),
        (r"\.linear2\.", ".mlp.fc2."),
        (r"\.norm1\.", ".input_layernorm."),
        (r"\.norm2\.", ".post_attention_layernorm."),
        (r"\.layer_scale_1\.", ".self_attn_layer_scale."),
        (r"\.layer_scale_2\.", ".mlp_layer_scale."),
        (r"\.self_attn\.out_projs\.0\.", ".self_attn.o_proj."),
    )
    for pattern, replacement in rules:
        authors = re.sub(pattern, replacement, authors)
    return authors


def interleaved_rope_rows(weight, heads: int):
    """q/k projection rows from transformers' rotary layout (halves) to moshi's (interleaved pairs)."""
    rows, cols = weight.shape
    return weight.view(heads, 2, rows // heads // 2, cols).transpose(1, 2).reshape(rows, cols)


def mimi_state(authors_keys, theirs: dict, heads: int) -> dict:
    import torch

    state = {}
    for key in authors_keys:
        if key.endswith("self_attn.in_projs.0.weight"):
            base = mimi_name(key.removesuffix("in_projs.0.weight"))
            q, k, v = (theirs[f"{base}{p}_proj.weight"] for p in "qkv")
            state[key] = torch.cat([interleaved_rope_rows(q, heads), interleaved_rope_rows(k, heads), v])
        else:
            state[key] = theirs[mimi_name(key)]
    return state


def run_mimi(request: dict, theirs: dict, wave) -> dict:
    """moshi's README: ``get_mimi``, ``set_num_codebooks``, ``codes = mimi.encode(wav)``, ``mimi.decode(codes)``."""
    import numpy as np
    import torch
    from moshi.models import loaders

    model = loaders.get_mimi(None, device="cpu", num_codebooks=max(request["codebooks"]))
    model.load_state_dict(mimi_state(model.state_dict(), theirs, heads=8), strict=True)
    x = torch.from_numpy(wave)[None, None]
    # kodek's quantiser input for the same wave and kodek's codes of it (all stages)
    ours, our_codes = (torch.from_numpy(np.load(request[name])) for name in ("latent", "codes"))
    out = {}
    with torch.no_grad():
        out["latent"] = model._encode_to_unquantized_latent(x)[0].numpy()
        for n in request["codebooks"]:
            model.set_num_codebooks(n)
            codes = model.encode(x)
            out[f"codes_{n}"] = codes[0].numpy()
            out[f"wave_{n}"] = model.decode(codes)[0, 0].numpy()
            out[f"codes_of_latent_{n}"] = model.quantizer.encode(ours)[0].numpy()
            out[f"wave_of_codes_{n}"] = model.decode(our_codes[:, :n])[0, 0].numpy()
    return out


DAC_RESIDUAL = {"0": "snake1", "1": "conv1", "2": "snake2", "3": "conv2"}


def dac_name(authors: str, encoder_blocks: int) -> str:
    """The transformers DacModel name of a tensor of descript's DAC (weight norm removed)."""
    parts = authors.split(".")
    if parts[0] == "quantizer":
        return authors
    side, index, rest = parts[0], int(parts[2]), parts[3:]
    ends = {0: "conv1", encoder_blocks + 1: "snake1", encoder_blocks + 2: "conv2"}  # around the blocks
    if index in ends:
        return ".".join([f"{side}.{ends[index]}", *rest])
    sub = int(rest[1])
    block = f"{side}.block.{index - 1}"
    if side == "encoder":  # EncoderBlock: three residual units, Snake, strided conv
        if sub < 3:
            return ".".join([block, f"res_unit{sub + 1}", DAC_RESIDUAL[rest[3]], *rest[4:]])
        return ".".join([block, "snake1" if sub == 3 else "conv1", *rest[2:]])
    # DecoderBlock: Snake, transposed conv, three residual units
    if sub >= 2:
        return ".".join([block, f"res_unit{sub - 1}", DAC_RESIDUAL[rest[3]], *rest[4:]])
    return ".".join([block, "snake1" if sub == 0 else "conv_t1", *rest[2:]])


def run_dac(request: dict, theirs: dict, wave) -> dict:
    """descript-audio-codec's README: ``x = model.preprocess(audio, sr)``, ``z, codes, ... = model.encode(x,
    n_quantizers)``, ``y = model.decode(z)``; also ``quantizer.from_codes`` for codes alone."""
    import dac
    import torch

    arch = request["architecture"]
    model = dac.DAC(
        encoder_dim=64,
        encoder_rates=arch["encoder_rates"],
        decoder_dim=1536,
        decoder_rates=arch["decoder_rates"],
        n_codebooks=arch["n_codebooks"],
        codebook_size=1024,
        codebook_dim=8,
        sample_rate=arch["sample_rate"],
    )
    # transformers' DacModel holds the plain weights weight norm computes at inference
    for module in model.modules():
        if hasattr(module, "weight_g"):
            torch.nn.utils.remove_weight_norm(module)
    blocks = len(arch["encoder_rates"])
    model.load_state_dict({key: theirs[dac_name(key, blocks)] for key in model.state_dict()}, strict=True)
    model.eval()
    out = {}
    with torch.no_grad():
        x = model.preprocess(torch.from_numpy(wave)[None, None], arch["sample_rate"])
        for n in request["codebooks"]:
            z, codes, *_ = model.encode(x, n_quantizers=n)
            out[f"codes_{n}"] = codes[0, :n].numpy()
            # the codes alone (what a tokenizer keeps), and for all codebooks the README's ``decode(z)``
            out[f"wave_{n}"] = model.decode(model.quantizer.from_codes(codes[:, :n])[0])[0, 0].numpy()
            if n == arch["n_codebooks"]:
                out["wave_of_z"] = model.decode(z)[0, 0].numpy()
    return out


def main(path: str) -> None:
    """One request, or a list of them (several models in one process: the imports take seconds)."""
    import numpy as np
    from safetensors.torch import load_file

    requests = json.loads(Path(path).read_text())
    for request in requests if isinstance(requests, list) else [requests]:
        theirs = load_file(request["weights"])
        run = {"mimi": run_mimi, "dac": run_dac}[request["family"]]
        np.savez(request["output"], **run(request, theirs, np.load(request["wave"])))


PACKAGES = {"mimi": "moshi.models.loaders", "dac": "dac"}

if __name__ == "__main__":
    import importlib

    importlib.import_module(PACKAGES[sys.argv[1]])
    main(sys.stdin.readline().strip())
