"""Published top-1 of frozen-feature probes, printed beside a user's result in the report.

Keyed by (dataset, protocol, backbone, head, frames): a run matches only when it used the same
frozen backbone (timm name), the same probe and the same number of evenly spaced frames, so a
number shown beside a result is one that result can be compared with (``experiment=dinov2_probe``).
"""

from __future__ import annotations

import yaml

from ucfbench.eval.run_dir import Run, RunDir, run_protocol

DINOV2 = "DINOv2 (arXiv 2304.07193), Table 7"
# (dataset, protocol, features.model, head, frames) -> (top-1 as a fraction, source)
PUBLISHED: dict[tuple[str, str, str, str, int], tuple[float, str]] = {
    ("ucf101", "official", "vit_small_patch14_dinov2.lvd142m", "linear_mean", 8): (0.870, DINOV2),
    ("ucf101", "official", "vit_base_patch14_dinov2.lvd142m", "linear_mean", 8): (0.891, DINOV2),
    ("ssv2", "official", "vit_small_patch14_dinov2.lvd142m", "linear_concat", 8): (0.331, DINOV2),
    ("ssv2", "official", "vit_base_patch14_dinov2.lvd142m", "linear_concat", 8): (0.344, DINOV2),
}


def run_frames(run: Run) -> int | None:
    """Frames per video the run sampled (``features.sampler.num_frames`` in its ``config.yaml``), if known."""
    path = RunDir(run.path).config
    if not path.is_file():
        return None
    try:
        frames = ((yaml.safe_load(path.read_text()) or {}).get("features") or {}).get("sampler", {}).get("num_frames")
        return int(frames) if frames is not None else None
    except (yaml.YAMLError, AttributeError, TypeError, ValueError):
        return None  # not this project's config: no published number matches


def published(run: Run) -> tuple[float, str] | None:
    """The published (top-1, source) for the run's dataset, protocol, backbone, head and frames, if any."""
    key = (str(run.metrics["dataset"]), run_protocol(run.metrics), str(run.backbone),
           str(run.metrics["model"]), run_frames(run) or 0)
    return PUBLISHED.get(key)
