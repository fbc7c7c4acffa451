"""Synthesise the bundled Polish sample with espeak-ng (``python -m kodek.data.make_sample``).

The sample is synthetic speech in the BIGOS-v2 schema, for tests and the offline
demo: 36 utterances over three synthetic source subsets and six voices (espeak-ng
Polish with different variants, pitch and speed), split 24/6/6 so that every split
covers every subset. The texts were written for kodek. Output: one parquet file
with the audio embedded as 16-bit FLAC at 16 kHz.
"""

from __future__ import annotations

import argparse
import io
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kodek import audio

RATE = 16_000
ESPEAK_RATE = 22_050
SAMPLE_DIR = Path(__file__).resolve().parent / "sample"


@dataclass(frozen=True)
class Voice:
    speaker_id: str
    variant: str  # espeak-ng variant: m* male, f* female
    pitch: int  # espeak-ng -p (0-99)
    speed: int  # espeak-ng -s (words per minute)

    @property
    def gender(self) -> str:
        return {"f": "female", "m": "male"}.get(self.variant[0], "N/A")


VOICES = (
    Voice("spk01", "f1", 55, 150),
    Voice("spk02", "m1", 40, 140),
    Voice("spk03", "f3", 65, 165),
    Voice("spk04", "m3", 35, 155),
    Voice("spk05", "f5", 50, 135),
    Voice("spk06", "m7", 45, 170),
)

TEXTS: dict[str, tuple[str, ...]] = {
    "synth-read": (
        "Dzień dobry, nazywam się Anna i mieszkam w Łodzi.",
        "Wczoraj wieczorem padał deszcz, więc zostałem w domu.",
        "Ten pociąg jedzie do Gdańska przez Bydgoszcz.",
        "Książka leży na półce obok zielonej lampy.",
        "Żółty liść spadł na mokrą ścieżkę w parku.",
        "Mój brat gra na gitarze w szkolnym zespole.",
        "Proszę zamknąć okno, bo robi się zimno.",
        "W sobotę pojedziemy nad jezioro z przyjaciółmi.",
        "Kawa w tej kawiarni smakuje wyjątkowo dobrze.",
        "Nauczycielka opowiadała nam o historii Krakowa.",
        "Źrebak sąsiadów biega każdego ranka po łące.",
        "Jutro zaczynam nową pracę w centrum miasta.",
    ),
    "synth-commands": (
        "Włącz światło w kuchni.",
        "Ustaw budzik na siódmą rano.",
        "Zadzwoń do mamy.",
        "Jaka będzie jutro pogoda w Poznaniu?",
        "Wyłącz muzykę w salonie.",
        "Przypomnij mi o spotkaniu o piętnastej.",
        "Zrób głośniej, proszę.",
        "Dodaj mleko i chleb do listy zakupów.",
        "Pokaż mi drogę do najbliższej apteki.",
        "Otwórz bramę garażu.",
        "Ile kilometrów jest z Warszawy do Wrocławia?",
        "Zatrzymaj odtwarzanie i zapisz notatkę.",
    ),
    "synth-numbers": (
        "Dwadzieścia trzy złote i pięćdziesiąt groszy.",
        "Spotkanie odbędzie się czternastego lipca.",
        "Mój numer telefonu kończy się na czterdzieści siedem.",
        "Rok tysiąc dziewięćset osiemdziesiąty dziewiąty był przełomowy.",
        "Pociąg odjeżdża o szesnastej dwadzieścia.",
        "W klasie jest dwudziestu ośmiu uczniów.",
        "Temperatura spadła do minus pięciu stopni.",
        "Zamówienie numer sto dwanaście jest gotowe.",
        "Urodziłam się trzeciego maja.",
        "Bilet kosztuje osiem złotych czterdzieści.",
        "Dom stoi przy ulicy Długiej siedemnaście.",
        "Mamy jeszcze dziewięćdziesiąt dziewięć dni do wakacji.",
    ),
}
# Per subset: 8 train, 2 validation, 2 test (the order of TEXTS).
SPLITS = ("train",) * 8 + ("validation",) * 2 + ("test",) * 2


def espeak_version() -> str:
    out = subprocess.run(["espeak-ng", "--version"], capture_output=True, text=True, check=True)
    return out.stdout.split("Data at")[0].strip()  # "eSpeak NG text-to-speech: 1.51"


def synthesise(text: str, voice: Voice) -> np.ndarray:
    """espeak-ng's 22.05 kHz WAV -> 16 kHz mono float32, trimmed and normalised to -3 dBFS."""
    command = [
        "espeak-ng",
        "-v",
        f"pl+{voice.variant}",
        "-p",
        str(voice.pitch),
        "-s",
        str(voice.speed),
        "--stdout",
        text,
    ]
    wav = subprocess.run(command, capture_output=True, check=True).stdout
    wave, rate = audio.load_audio(io.BytesIO(wav))
    wave = audio.resample(wave, rate, RATE)
    wave = _trim(wave, keep=int(0.1 * RATE))
    return (wave / np.abs(wave).max() * 10 ** (-3 / 20)).astype(np.float32)


def _trim(wave: np.ndarray, keep: int, threshold: float = 1e-3) -> np.ndarray:
    loud = np.flatnonzero(np.abs(wave) > threshold)
    if not len(loud):
        return wave
    return wave[max(0, loud[0] - keep) : loud[-1] + keep]


def utterances() -> list[dict]:
    """The sample's metadata, without audio: which voice says which text in which split."""
    rows = []
    number = 0
    for s, (subset, texts) in enumerate(TEXTS.items()):
        for k, (text, split) in enumerate(zip(texts, SPLITS, strict=True)):
            # Rotated per subset so that every split hears all six voices.
            voice = VOICES[(k + 2 * s) % len(VOICES)]
            name = f"{subset}-{split}-{voice.speaker_id}-{number:05d}"
            rows.append({"audioname": name, "split": split, "dataset": subset, "voice": voice, "ref_orig": text})
            number += 1
    return rows


def build_rows(selected: list[dict] | None = None) -> list[dict]:
    rows = []
    for item in selected or utterances():
        voice: Voice = item["voice"]
        wave = synthesise(item["ref_orig"], voice)
        rows.append(
            {
                "audioname": item["audioname"],
                "split": item["split"],
                "dataset": item["dataset"],
                "speaker_id": voice.speaker_id,
                "ref_orig": item["ref_orig"],
                "audio": {"bytes": audio.encode_flac(wave, RATE), "path": f"{item['audioname']}.flac"},
                "samplingrate_orig": ESPEAK_RATE,
                "sampling_rate": RATE,
                "audiopath_bigos": f"{item['audioname']}.flac",
                "speaker_age": "N/A",
                "speaker_gender": voice.gender,
                "utt_length_words": len(item["ref_orig"].split()),
                "utt_length_chars": len(item["ref_orig"]),
                "audio_duration_samples": len(wave),
                "audio_duration_seconds": len(wave) / RATE,
            }
        )
    return rows


def write_sample(out: Path) -> Path:
    import datasets

    rows = build_rows()
    features = datasets.Features(
        {
            "audioname": datasets.Value("string"),
            "split": datasets.Value("string"),
            "dataset": datasets.Value("string"),
            "speaker_id": datasets.Value("string"),
            "ref_orig": datasets.Value("string"),
            "audio": datasets.Audio(sampling_rate=RATE, decode=False),
            "samplingrate_orig": datasets.Value("int32"),
            "sampling_rate": datasets.Value("int32"),
            "audiopath_bigos": datasets.Value("string"),
            "speaker_age": datasets.Value("string"),
            "speaker_gender": datasets.Value("string"),
            "utt_length_words": datasets.Value("int32"),
            "utt_length_chars": datasets.Value("int32"),
            "audio_duration_samples": datasets.Value("int64"),
            "audio_duration_seconds": datasets.Value("float64"),
        }
    )
    table = datasets.Dataset.from_list(rows, features=features)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "sample.parquet"
    table.to_parquet(str(path))
    (out / "VERSION").write_text(f"{espeak_version()}\n")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=SAMPLE_DIR)
    args = parser.parse_args()
    if shutil.which("espeak-ng") is None:
        raise SystemExit("espeak-ng is not installed (Debian: apt-get install espeak-ng)")
    path = write_sample(args.out)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
