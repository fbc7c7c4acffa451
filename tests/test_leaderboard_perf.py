"""How fast the page is with 50 codecs x 12 BIGOS subsets: a cold start under 3 s, a warm re-render under 0.5 s.

Cold: a fresh Python process imports Streamlit's AppTest and runs the page once (loading, validating and
tabulating 100 results files). Warm: the median of five re-runs of the same page (what a widget change costs).
``pytest -s tests/test_leaderboard_perf.py`` prints the figures.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from kodek.leaderboard.synthetic import write_synthetic

APP = Path(__file__).resolve().parents[1] / "leaderboard" / "app.py"
VIEWS = ("Reconstruction", "SpeechLLM", "Per subset", "Plots", "Methodology")
COLD_LIMIT_S = 3.0
WARM_LIMIT_S = 0.5

MEASURE = textwrap.dedent(
    """
    import json, statistics, sys, time
    started = time.perf_counter()
    from streamlit.testing.v1 import AppTest
    app = AppTest.from_file(sys.argv[1], default_timeout=60)
    app.query_params["view"] = sys.argv[2]
    app.run()
    cold = time.perf_counter() - started
    assert not app.exception, app.exception
    warm = []
    for _ in range(5):
        tick = time.perf_counter()
        app.run()
        warm.append(time.perf_counter() - tick)
    print(json.dumps({"cold_s": cold, "warm_s": statistics.median(warm)}))
    """
)


@pytest.fixture(scope="module")
def fifty_codecs(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("results-50x12")
    write_synthetic(folder, codecs=50, subsets=12)
    return folder


@pytest.mark.parametrize("view", VIEWS)
def test_cold_start_and_warm_rerender_with_fifty_codecs(fifty_codecs, view):
    env = {**os.environ, "KODEK_RESULTS": str(fifty_codecs)}
    out = subprocess.run(
        [sys.executable, "-c", MEASURE, str(APP), view], capture_output=True, text=True, timeout=120, env=env
    )
    assert out.returncode == 0, out.stderr[-2000:]
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"\n{view}: cold start {figures['cold_s']:.2f} s, warm re-render {figures['warm_s'] * 1000:.0f} ms")
    assert figures["cold_s"] < COLD_LIMIT_S
    assert figures["warm_s"] < WARM_LIMIT_S
