"""predict starts fast: a prediction imports torch, torchvision, PyAV and numpy, not the training stack."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HEAVY = ("lightning", "pytorch_lightning", "torchmetrics", "hydra", "wandb", "gradio", "onnx", "onnxruntime",
         "matplotlib")


def test_a_prediction_imports_no_training_stack(tiny_run: Path, held_out_videos) -> None:
    code = (
        "import sys\n"
        "from ucfbench.predict import main\n"
        f"assert main(['checkpoint={tiny_run}', 'video={held_out_videos['Grow']}', 'output=json']) == 0\n"
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & {set(HEAVY)!r}))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    assert '"label"' in lines[0] and lines[-1] == "[]"
