"""A web demo of a trained model: upload a video (or pick an example), see what it is doing.

    uv run ucfbench app checkpoint=<run dir | .ckpt | model.onnx> [port=7860] [host=127.0.0.1] [examples=<folder>] [max_upload_mb=200] [max_video_seconds=600]

Shows the uploaded video in a player (a browser-playable H.264 copy made with PyAV), the top-5
actions with their probabilities as bars, the frames the model sampled, and, for models that
weight time steps (the CNN-RNN's temporal attention), the attention over time.
Examples: the videos in ``examples=<folder>``, else one video per class from the run's dataset
when it is on this machine, else (for the synthetic dataset) one freshly generated, held-out
clip per class. Gradio, with analytics off; nothing is fetched from the internet.

Safe to leave running for colleagues: it listens on ``host=127.0.0.1`` (this machine only) unless
given another address (``host=0.0.0.0``: every interface); uploads over ``max_upload_mb`` are
refused by Gradio, and videos longer than ``max_video_seconds`` (by their container header,
before any decoding) are refused with a message, so a two-hour upload never holds a core.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # before gradio is imported: no telemetry

from typing import TYPE_CHECKING  # noqa: E402

import numpy as np  # noqa: E402

from ucfbench.cli.args import Command, Key, UsageError, run_command  # noqa: E402
from ucfbench.predict import CHECKPOINT, list_videos  # noqa: E402

if TYPE_CHECKING:
    from ucfbench.inference.predictor import Prediction, Predictor

log = logging.getLogger("ucfbench.app")

COMMAND = Command(
    name="app",
    summary=("A web demo of a trained model: upload a video (or pick an example) and see the top-5 actions, "
             "the frames the model sampled and, for models that weight time steps, the attention over time. "
             "Gradio with analytics off; nothing is fetched from the internet."),
    keys={
        "checkpoint": CHECKPOINT,
        "port": Key(7860, "the port to listen on"),
        "host": Key("127.0.0.1", "the address to listen on (0.0.0.0: every interface, reachable by others)"),
        "examples": Key(None, "a folder of example videos (default: one per class of the run's dataset when on "
                        "this machine, else generated held-out clips for the synthetic set)", placeholder="<folder>"),
        "device": Key("cpu", "cpu, cuda, ..."),
        "max_upload_mb": Key(200, "larger uploads are refused"),
        "max_video_seconds": Key(600, "longer videos (by their container header) are refused before decoding"),
    },
    required=("checkpoint",),
    exits={0: "stopped (Ctrl-C)", 2: "a mistake in the arguments or the checkpoint"},
)
MAX_EXAMPLES = 12
PLAYER_HEIGHT = 360  # pixels of the playable copy (short side at most this; never upscaled)


class VideoRefused(ValueError):
    """A video the demo will not decode (too large or too long); the message says why and the limit."""


def header_seconds(path: str | Path) -> float | None:
    """The video's length from its container header (nothing decoded); None when the header does not say."""
    import av

    try:
        with av.open(str(path)) as container:
            if container.duration:  # microseconds
                return container.duration / 1_000_000
            stream = container.streams.video[0]
            if stream.duration and stream.time_base:
                return float(stream.duration * stream.time_base)
            if stream.frames and stream.average_rate:
                return stream.frames / float(stream.average_rate)
    except (av.error.FFmpegError, IndexError, OSError):
        return None  # not a video: the predictor says so, naming the file
    return None


def check_limits(path: str | Path, *, max_bytes: int, max_seconds: float, name: str | None = None) -> None:
    """Raise :class:`VideoRefused` for a file over ``max_bytes`` or a video over ``max_seconds``."""
    name = name or Path(path).name
    size = Path(path).stat().st_size
    if size > max_bytes:
        raise VideoRefused(f"{name} is {size / 2**20:.0f} MB; this demo takes videos up to {max_bytes / 2**20:.0f} MB "
                           "(max_upload_mb)")
    seconds = header_seconds(path)
    if seconds is not None and seconds > max_seconds:
        raise VideoRefused(f"{name} is {seconds / 60:.1f} min long; this demo decodes videos up to "
                           f"{max_seconds:g} s (max_video_seconds): cut the part to classify")


def playable_copy(path: str | Path, out: Path, *, max_seconds: float) -> Path | None:
    """An H.264 MP4 copy of the video that any browser plays (UCF's AVIs do not), or None if it cannot be made."""
    import av

    try:
        with av.open(str(path)) as src, av.open(str(out), "w", options={"movflags": "faststart"}) as dst:
            vin = src.streams.video[0]
            w, h = vin.codec_context.width, vin.codec_context.height
            scale = min(1.0, PLAYER_HEIGHT / max(1, min(w, h)))
            width, height = 2 * max(1, round(w * scale / 2)), 2 * max(1, round(h * scale / 2))  # even: yuv420p
            stream = dst.add_stream("libx264", rate=vin.average_rate or 25)
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            stream.options = {"preset": "ultrafast", "crf": "26"}
            for frame in src.decode(vin):
                if frame.time is not None and frame.time > max_seconds:
                    break
                for packet in stream.encode(frame.reformat(width=width, height=height, format="yuv420p")):
                    dst.mux(packet)
            for packet in stream.encode():
                dst.mux(packet)
    except (av.error.FFmpegError, IndexError, OSError, ValueError) as err:
        log.warning("no playable copy of %s: %s", path, err)
        return None
    return out


def default_examples(predictor: Predictor) -> list[Path]:
    """One video per class from the run's dataset if present, else generated synthetic clips (or none)."""
    from ucfbench.data.video import is_video
    from ucfbench.inference.predictor import TorchPredictor

    cfg = predictor.trained.config if isinstance(predictor, TorchPredictor) else None
    if cfg is None or cfg.get("dataset") is None:
        return []
    root = Path(str(cfg.dataset.get("root", "")))
    found = []
    for name in predictor.class_names[:MAX_EXAMPLES]:
        videos = sorted(p for p in (root / name).glob("*") if is_video(p.name)) if root.is_dir() else []
        if videos:
            found.append(videos[0])  # group 1: in split 1's test block, never trained on under split 1
    if found or not str(cfg.dataset.get("_target_", "")).endswith("SyntheticUCF101"):
        return found
    from ucfbench.data.synthetic_videos import ALL_CLASSES, SyntheticSpec, write_clip

    spec_cfg = dict(cfg.dataset.get("spec") or {})
    spec = SyntheticSpec(**{k: v for k, v in spec_cfg.items() if k != "classes"})
    out = Path(tempfile.mkdtemp(prefix="ucfbench-examples-"))
    held_out_group = 99  # never generated into a dataset of fewer groups
    return [write_clip(out / f"{name}_example.avi", name, spec=spec, group=held_out_group)
            for name in predictor.class_names[:MAX_EXAMPLES] if name in ALL_CLASSES]


def attention_figure(pred: Prediction):
    """A bar plot of the attention weight of each sampled frame."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    weights = np.asarray(pred.attention)[: len(pred.frames)]
    fig, ax = plt.subplots(figsize=(8, 2.4))
    ax.bar(np.arange(1, len(weights) + 1), weights, color="#4c72b0")
    ax.set_xlabel("sampled frame")
    ax.set_ylabel("attention")
    ax.set_xlim(0.5, len(weights) + 0.5)
    fig.tight_layout()
    return fig


def describe(predictor: Predictor) -> str:
    from ucfbench.inference.predictor import OnnxPredictor

    sampler = predictor.clip.sampler
    kind = "ONNX export" if isinstance(predictor, OnnxPredictor) else "checkpoint"
    return (f"**{predictor.name}** ({predictor.family.replace('_', ' ')}, {kind} `{predictor.source}`), "
            f"{len(predictor.class_names)} classes; {sampler.num_frames} frames per video "
            f"({type(sampler).__name__}) at {predictor.clip.size}x{predictor.clip.size}.")


def build_demo(predictor: Predictor, examples: list[Path], *, max_upload_mb: float = 200,
               max_video_seconds: float = 600):
    """The Gradio Blocks of the demo (not launched)."""
    import gradio as gr

    from ucfbench.data.video import VIDEO_EXTENSIONS, VideoDecodeError

    previews = Path(tempfile.mkdtemp(prefix="ucfbench-demo-"))
    hidden = gr.update(value=None, visible=False)

    def classify(path: str | None):
        if not path:
            return None, "", [], hidden, hidden
        name = Path(path).name
        try:
            check_limits(path, max_bytes=int(max_upload_mb * 2**20), max_seconds=max_video_seconds, name=name)
            pred = predictor.predict(path)
        except VideoRefused as err:
            gr.Warning(str(err))
            return None, f"**{err}**", [], hidden, hidden
        except VideoDecodeError as err:
            # Name the file as the user knows it, not by Gradio's upload copy.
            reason = str(err).replace(str(path), name).removeprefix(f"{name}: ")
            message = f"{name} is not a readable video: {reason}"
            gr.Warning(message)
            return None, f"**{message}**", [], hidden, hidden
        scores = {name: float(p) for name, p in zip(pred.class_names, pred.probs)}
        gallery = [(frame, f"frame {i + 1}" + (" (repeat)" if i >= pred.length else "")) for i, frame in enumerate(pred.frames)]
        top = pred.top(1)[0]
        status = f"Predicted **{top['label']}** ({100 * top['prob']:.1f}%) for `{name}`"
        plot = gr.update(value=attention_figure(pred), visible=True) if pred.attention is not None else hidden
        copy = playable_copy(path, Path(tempfile.mkdtemp(dir=previews)) / f"{Path(name).stem}.mp4",
                             max_seconds=max_video_seconds)
        player = gr.update(value=str(copy), visible=True) if copy is not None else hidden
        return scores, status, gallery, plot, player

    with gr.Blocks(title="ucfbench action recognition", analytics_enabled=False) as demo:
        gr.Markdown("# What is happening in this video?\n" + describe(predictor))
        with gr.Row():
            with gr.Column(scale=1):
                video = gr.File(label="Video", file_types=list(VIDEO_EXTENSIONS), type="filepath", elem_id="video-input")
                if examples:
                    gr.Examples(examples=[[str(p)] for p in examples], inputs=[video], label="Examples",
                                examples_per_page=MAX_EXAMPLES)
            with gr.Column(scale=1):
                top5 = gr.Label(num_top_classes=5, label="Top-5 actions", elem_id="top5")
                status = gr.Markdown(elem_id="status")
                player = gr.Video(label="The video", interactive=False, visible=False, elem_id="player",
                                  height=PLAYER_HEIGHT)
        frames = gr.Gallery(label="Sampled frames (what the model sees)", height="auto",
                            columns=min(8, int(predictor.clip.sampler.num_frames)),
                            object_fit="contain", elem_id="frames")
        attention = gr.Plot(label="Temporal attention", visible=False, elem_id="attention")
        video.change(classify, inputs=video, outputs=[top5, status, frames, attention, player])
    return demo


def positive(key: str, value: str, kind: type) -> int | float:
    """``value`` as ``kind`` (int or float), > 0; else a :class:`UsageError` naming ``key``."""
    try:
        number = kind(value)
    except ValueError as err:
        raise UsageError(f"{key} must be a number, got {value!r}") from err
    if number <= 0:
        raise UsageError(f"{key} must be > 0, got {value!r}")
    return number


def run(argv: list[str]) -> int:
    args = COMMAND.parse(argv)  # before the heavy imports: --help is instant
    port = positive("port", args["port"], int)
    max_upload_mb = positive("max_upload_mb", args["max_upload_mb"], float)
    max_video_seconds = positive("max_video_seconds", args["max_video_seconds"], float)
    import gradio as gr

    from ucfbench.inference.predictor import load_predictor

    predictor = load_predictor(args["checkpoint"], device=args["device"])
    examples = list_videos(args["examples"])[:MAX_EXAMPLES] if args["examples"] else default_examples(predictor)
    demo = build_demo(predictor, examples, max_upload_mb=max_upload_mb, max_video_seconds=max_video_seconds)
    # System fonts: the default theme would fetch Google Fonts.
    theme = gr.themes.Default(font=["ui-sans-serif", "system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])
    log.info("Serving %s on http://%s:%d", predictor.source, args["host"], port)
    if args["host"] not in ("127.0.0.1", "localhost", "::1"):
        log.warning("host=%s: the demo is reachable from other machines", args["host"])
    demo.launch(server_name=args["host"], server_port=port, share=False, ssr_mode=False, theme=theme,
                allowed_paths=[str(p.parent) for p in examples], footer_links=[], quiet=False,
                max_file_size=int(max_upload_mb * 2**20))  # bytes; larger uploads are refused by Gradio
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_command(run, argv)


if __name__ == "__main__":
    sys.exit(main())
