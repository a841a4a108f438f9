"""Predict the action in videos with a trained model.

    uv run ucfbench predict checkpoint=<run dir | .ckpt | model.onnx> video=<file> [video=<file> ...]
    uv run ucfbench predict checkpoint=<...> videos=<folder> [output=json] [top_k=5] [device=cpu]

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

from ucfbench.cli.args import Command, Key, UsageError, run_command, to_number

if TYPE_CHECKING:
    from ucfbench.inference.predictor import Prediction

# Imports only what a prediction needs (torch, torchvision, PyAV, numpy), and only once the command
# line is parsed: no Lightning, Hydra, W&B or Gradio, onnxruntime only for a .onnx file
# (tests/test_cli.py checks sys.modules).

log = logging.getLogger("ucfbench.predict")

# What load_predictor accepts; the demo (app.py) takes the same key.
CHECKPOINT = Key(None, "a run directory, a .ckpt file or an exported model.onnx",
                 placeholder="<run dir | .ckpt | model.onnx>")
COMMAND = Command(
    name="predict",
    summary=("Predicts the action in videos with a trained model (any family: a sequence head brings its "
             "frozen backbone and sampling from the run's config.yaml, an exported model.onnx its model.json). "
             "The model answers only with the classes it was trained on; the first line names them."),
    keys={
        "checkpoint": CHECKPOINT,
        "video": Key(None, "a video file", repeatable=True, placeholder="<file>"),
        "videos": Key(None, "every video file directly in this folder (by extension), sorted", placeholder="<folder>"),
        "output": Key("table", "table (one per video) or json (one object per line: video, label, top5, frames; "
                      "or video, error)"),
        "top_k": Key(5, "classes shown per video"),
        "device": Key("cpu", "cpu, cuda, cuda:1, ..."),
    },
    required=("checkpoint",),
    exits={0: "every video predicted", 1: "some video could not be read (named; the others are predicted)",
           2: "a mistake in the arguments, a missing or unusable checkpoint, no videos"},
)


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


def trained_on(predictor) -> str:
    """What the model knows: its dataset and classes (it answers with one of these, whatever the video)."""
    classes = predictor.class_names
    shown = ", ".join(classes[:10]) + (f", ... ({len(classes)} in all)" if len(classes) > 10 else "")
    config = getattr(getattr(predictor, "trained", None), "config", None)
    target = str(config.dataset.get("_target_", "")) if config is not None and "dataset" in config else ""
    dataset = None
    if target:
        from ucfbench.inference.build import locate  # not Hydra's get_class: a prediction never imports Hydra

        try:
            dataset = locate(target).name
        except Exception:  # noqa: BLE001 - a dataset class renamed since: its path still says which
            dataset = target.rpartition(".")[2]
    where = f"trained on {dataset}" if dataset else "trained"
    note = " (generated shapes, not real actions)" if dataset == "synthetic" else ""
    return f"Model {predictor.name} {where}{note}: it answers with one of {len(classes)} classes: {shown}"


def run(argv: list[str]) -> int:
    args = COMMAND.parse(argv)  # before the heavy imports: --help is instant
    if args["output"] not in ("table", "json"):
        raise UsageError(f"output must be table or json, got {args['output']!r}")
    k = to_number("top_k", args["top_k"], int, low=1)
    videos = [Path(v) for v in args["video"]]
    if args["videos"]:
        found = list_videos(args["videos"])
        if not found:
            from ucfbench.data.video import VIDEO_EXTENSIONS

            raise UsageError(f"videos={args['videos']}: no video files ({' '.join(VIDEO_EXTENSIONS)}) in it")
        videos += found
    if not videos:
        raise UsageError(f"give video=<file> (repeatable) or videos=<folder>\nusage: {COMMAND.usage()}")

    from ucfbench.data.video import VideoDecodeError
    from ucfbench.inference.predictor import load_predictor

    predictor = load_predictor(args["checkpoint"], device=args["device"])
    console, errors = Console(soft_wrap=True), Console(stderr=True, soft_wrap=True)
    (console if args["output"] == "table" else errors).print(trained_on(predictor), highlight=False)
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
