"""A web demo of a trained model: upload a video (or pick an example), see what it is doing.

    python -m ucfbench.app checkpoint=<run dir | .ckpt | model.onnx> [port=7860] [host=127.0.0.1] [examples=<folder>]

Shows the top-5 actions with their probabilities as bars, the frames the model sampled, and,
for models that weight time steps (the CNN-RNN's temporal attention), the attention over time.
Examples: the videos in ``examples=<folder>``, else one video per class from the run's dataset
when it is on this machine, else (for the synthetic dataset) one freshly generated, held-out
clip per class. Gradio, with analytics off; nothing is fetched from the internet.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # before gradio is imported: no telemetry

import numpy as np  # noqa: E402

from ucfbench.data.video import (  # noqa: E402
    VIDEO_EXTENSIONS,
    VideoDecodeError,  # noqa: E402
    is_video,
)
from ucfbench.inference.cli import UsageError, parse_args, run_command  # noqa: E402
from ucfbench.inference.predictor import OnnxPredictor, Prediction, Predictor, TorchPredictor, load_predictor  # noqa: E402
from ucfbench.predict import list_videos  # noqa: E402

log = logging.getLogger("ucfbench.app")

USAGE = __doc__.split("\n\n")[1]
KEYS = {"checkpoint": None, "port": "7860", "host": "127.0.0.1", "examples": None, "device": "cpu"}
MAX_EXAMPLES = 12


def default_examples(predictor: Predictor) -> list[Path]:
    """One video per class from the run's dataset if present, else generated synthetic clips (or none)."""
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
    sampler = predictor.clip.sampler
    kind = "ONNX export" if isinstance(predictor, OnnxPredictor) else "checkpoint"
    return (f"**{predictor.name}** ({predictor.family.replace('_', ' ')}, {kind} `{predictor.source}`), "
            f"{len(predictor.class_names)} classes; {sampler.num_frames} frames per video "
            f"({type(sampler).__name__}) at {predictor.clip.size}x{predictor.clip.size}.")


def build_demo(predictor: Predictor, examples: list[Path]):
    """The Gradio Blocks of the demo (not launched)."""
    import gradio as gr

    def classify(path: str | None):
        if not path:
            return None, "", [], gr.update(value=None, visible=False)
        name = Path(path).name
        try:
            pred = predictor.predict(path)
        except VideoDecodeError as err:
            # Name the file as the user knows it, not by Gradio's upload copy.
            reason = str(err).replace(str(path), name).removeprefix(f"{name}: ")
            message = f"{name} is not a readable video: {reason}"
            gr.Warning(message)
            return None, f"**{message}**", [], gr.update(value=None, visible=False)
        scores = {name: float(p) for name, p in zip(pred.class_names, pred.probs)}
        gallery = [(frame, f"frame {i + 1}" + (" (repeat)" if i >= pred.length else "")) for i, frame in enumerate(pred.frames)]
        top = pred.top(1)[0]
        status = f"Predicted **{top['label']}** ({100 * top['prob']:.1f}%) for `{name}`"
        plot = gr.update(value=attention_figure(pred), visible=True) if pred.attention is not None else gr.update(value=None, visible=False)
        return scores, status, gallery, plot

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
        frames = gr.Gallery(label="Sampled frames (what the model sees)", height="auto",
                            columns=min(8, int(predictor.clip.sampler.num_frames)),
                            object_fit="contain", elem_id="frames")
        attention = gr.Plot(label="Temporal attention", visible=False, elem_id="attention")
        video.change(classify, inputs=video, outputs=[top5, status, frames, attention])
    return demo


def run(argv: list[str]) -> int:
    import gradio as gr

    args = parse_args(argv, keys=KEYS, usage=USAGE)
    if not args["checkpoint"]:
        raise UsageError(f"checkpoint=<run dir | .ckpt | model.onnx> is required\n{USAGE}")
    try:
        port = int(args["port"])
    except ValueError as err:
        raise UsageError(f"port must be an integer, got {args['port']!r}") from err
    predictor = load_predictor(args["checkpoint"], device=args["device"])
    examples = list_videos(args["examples"])[:MAX_EXAMPLES] if args["examples"] else default_examples(predictor)
    demo = build_demo(predictor, examples)
    # System fonts: the default theme would fetch Google Fonts.
    theme = gr.themes.Default(font=["ui-sans-serif", "system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])
    log.info("Serving %s on http://%s:%d", predictor.source, args["host"], port)
    demo.launch(server_name=args["host"], server_port=port, share=False, ssr_mode=False, theme=theme,
                allowed_paths=[str(p.parent) for p in examples], footer_links=[], quiet=False)
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_command(run, argv)


if __name__ == "__main__":
    sys.exit(main())
