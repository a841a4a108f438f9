"""Predict the action in videos with a trained model.

    python -m ucfbench.predict checkpoint=<run dir | .ckpt | model.onnx> video=<file> [video=<file> ...]
    python -m ucfbench.predict checkpoint=<...> videos=<folder> [output=json] [top_k=5] [device=cpu]

Works for every model family: a sequence head brings its frozen backbone and sampling settings
from the run's saved ``config.yaml``, an end-to-end model its clip settings; an exported
``model.onnx`` carries them in ``model.json`` beside it. Class names come from the checkpoint.

Prints a table of the top classes per video, or with ``output=json`` one JSON object per line and
video: ``video``, ``label``, ``top5`` (``[{"label", "prob"}]``, most probable first), ``frames``;
or ``video`` and ``error`` for a file that cannot be read. ``videos=<folder>`` takes every video
file in the folder (by extension: .avi .mp4 .mkv .webm .mov .mpg .mpeg .m4v), sorted; one bad
file does not stop the others. Exit status: 0 all predicted, 1 some video failed, 2 usage error
(bad arguments, missing or unusable checkpoint, no videos).
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from ucfbench.inference.cli import UsageError, parse_args, run_command

if TYPE_CHECKING:
    from ucfbench.inference.predictor import Prediction

# Imports only what a prediction needs (torch, torchvision, PyAV, numpy), and only once the command
# line is parsed: no Lightning, Hydra, W&B or Gradio, onnxruntime only for a .onnx file
# (tests/test_cli.py checks sys.modules).

log = logging.getLogger("ucfbench.predict")

USAGE = __doc__.split("\n\n")[1]
KEYS = {"checkpoint": None, "video": [], "videos": None, "output": "table", "top_k": "5", "device": "cpu"}


def list_videos(folder: str | Path) -> list[Path]:
    """Video files directly inside ``folder`` (by extension), sorted."""
    from ucfbench.data.video import is_video  # after parsing: --help stays fast

    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise UsageError(f"videos={folder}: not a folder")
    return sorted(p for p in folder.iterdir() if p.is_file() and is_video(p.name))


def prediction_table(pred: Prediction, k: int) -> Table:
    table = Table(title=f"{pred.video}  ({pred.length} frames)", title_justify="left")
    table.add_column("#", justify="right")
    table.add_column("action")
    table.add_column("probability", justify="right")
    table.add_column("")
    for rank, row in enumerate(pred.top(k), 1):
        table.add_row(str(rank), row["label"], f"{100 * row['prob']:.1f}%", "█" * round(20 * row["prob"]))
    return table


def run(argv: list[str]) -> int:
    args = parse_args(argv, keys=KEYS, repeatable=("video",), usage=USAGE)
    if not args["checkpoint"]:
        raise UsageError(f"checkpoint=<run dir | .ckpt | model.onnx> is required\n{USAGE}")
    if args["output"] not in ("table", "json"):
        raise UsageError(f"output must be table or json, got {args['output']!r}")
    try:
        k = int(args["top_k"])
    except ValueError as err:
        raise UsageError(f"top_k must be an integer, got {args['top_k']!r}") from err
    videos = [Path(v) for v in args["video"]]
    if args["videos"]:
        found = list_videos(args["videos"])
        if not found:
            from ucfbench.data.video import VIDEO_EXTENSIONS

            raise UsageError(f"videos={args['videos']}: no video files ({' '.join(VIDEO_EXTENSIONS)}) in it")
        videos += found
    if not videos:
        raise UsageError(f"give video=<file> (repeatable) or videos=<folder>\n{USAGE}")

    from ucfbench.data.video import VideoDecodeError
    from ucfbench.inference.predictor import load_predictor

    predictor = load_predictor(args["checkpoint"], device=args["device"])
    console, errors = Console(soft_wrap=True), Console(stderr=True, soft_wrap=True)
    failed = 0
    for video in videos:
        try:
            pred = predictor.predict(video)
        except (VideoDecodeError, OSError) as err:
            failed += 1
            message = str(err) if str(video) in str(err) else f"{video}: {err}"
            if args["output"] == "json":
                print(json.dumps({"video": str(video), "error": message}), flush=True)
            else:
                errors.print(f"[red]error[/red]: {message}", highlight=False)
            continue
        if args["output"] == "json":
            print(json.dumps(pred.to_json(k)), flush=True)
        else:
            console.print(prediction_table(pred, k))
    if failed:
        log.error("%d of %d video(s) could not be read", failed, len(videos))
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    return run_command(run, argv)


if __name__ == "__main__":
    sys.exit(main())
