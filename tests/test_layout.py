"""The repository layout that DESIGN.md fixes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_tokenize_is_the_standard_library_module():
    import tokenize

    assert hasattr(tokenize, "generate_tokens") and "site-packages" not in (tokenize.__file__ or "")
    # Also from the repository root on sys.path, as `python -m ...` and `streamlit run` put it.
    code = "import tokenize, sys; print(tokenize.__file__); assert hasattr(tokenize, 'generate_tokens')"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert not out.stdout.startswith(str(ROOT))


def test_surface_folders_are_not_packages():
    for name in ("tokenize", "metrics", "leaderboard", "lm"):
        assert (ROOT / name).is_dir(), name
        assert not (ROOT / name / "__init__.py").exists(), name


def test_ci_runs_the_readme_test_command():
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    assert "make test" in readme and "make demo" in readme
