"""The Space app: the standard evaluate widget for this module (needs gradio, which the Space provides)."""

from pathlib import Path

import evaluate
from evaluate.utils import launch_gradio_widget

launch_gradio_widget(evaluate.load(str(Path(__file__).resolve().parent)))
