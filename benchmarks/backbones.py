"""Feature extraction per backbone against the backbone's forward pass alone, and cache sizes.

For each backbone (random init, ``weights=None``: the speed does not depend on the weights):

1. **extract**: :func:`ucfbench.cache.extraction.extract_features` into a fresh cache, as a run
   does it (``Trainer.predict``, ``--workers`` decoding processes, the cache writer), wall time
   from the call to the complete cache.
2. **forward**: the same clips decoded beforehand into memory, then the encoder alone on the same
   batches (preprocessing included, no decoding, no writing); best of ``--repeats`` passes before
   and as many after the extraction.

The ratio extract/forward says whether decoding overlaps compute (1.0: extraction runs at the
speed of the network). It is given for the whole call (Trainer and worker start-up included, a
fixed second or two that dominates a run this small) and for the steady state (batches 2..n,
between the first and the last write to the cache). Frames/s count sampled frames (videos x ``--frames``). Cache size per
1,000 videos is ``1000 x T x D x 2`` bytes (float16) at the study's T = 32, plus what was measured.

    uv run python benchmarks/backbones.py [--videos 16 --frames 8 --size 112 --workers 1]
        [--backbones resnet18 resnet50 dinov2_vits14 clip_vitb16]

The last line of output is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader
from ucfbench.data.datasets import ClipDataset

from ucfbench.backbones.frame_encoder import FrameEncoder
from ucfbench.cache import extraction
from ucfbench.cache.extraction import extract_features
from ucfbench.cache.features import FeatureSpec
from ucfbench.data.sampling import UniformSampler
from ucfbench.data.synthetic import SyntheticUCF101
from ucfbench.data.synthetic_videos import SyntheticSpec

log = logging.getLogger("benchmarks.backbones")

# features= option -> FrameEncoder arguments (the configs' model and pool)
BACKBONES = {
    "resnet18": dict(library="torchvision", model="resnet18", pool="mean"),
    "resnet50": dict(library="torchvision", model="resnet50", pool="mean"),
    "dinov2_vits14": dict(library="timm", model="vit_small_patch14_dinov2.lvd142m", pool="cls_mean"),
    "dinov2_vitb14": dict(library="timm", model="vit_base_patch14_dinov2.lvd142m", pool="cls_mean"),
    "clip_vitb16": dict(library="timm", model="vit_base_patch16_clip_224.openai", pool="cls"),
    "siglip_vitb16": dict(library="timm", model="vit_base_patch16_siglip_224.webli", pool="cls"),
}
STUDY_FRAMES = 32  # features.sampler.num_frames of the configs


def dataset(root: Path, videos: int, size: int) -> SyntheticUCF101:
    """A synthetic set of at least ``videos`` videos at ``size`` px."""
    classes = ("Grow", "Shrink", "BlinkSlow", "BlinkFast")
    groups = max(3, -(-videos // len(classes)))
    spec = SyntheticSpec(classes=classes, groups=groups, clips=1, size=size, frames=32)
    ds = SyntheticUCF101(root=root, spec=spec, val_groups=1)
    ds.prepare()
    return ds


def forward_only(encoder: FrameEncoder, clips: list[torch.Tensor], batch_size: int) -> float:
    """Seconds for the encoder over ``clips`` (uint8 (T, H, W, 3) each) in batches, after a warm-up batch."""
    batches = [torch.stack(clips[i : i + batch_size]).movedim(-1, -3) for i in range(0, len(clips), batch_size)]
    with torch.inference_mode():
        encoder(batches[0])
        start = time.perf_counter()
        for b in batches:
            encoder(b)  # (B, T, D)
    return time.perf_counter() - start


def measure(name: str, ds: SyntheticUCF101, args: argparse.Namespace, work: Path) -> dict:
    encoder = FrameEncoder(**BACKBONES[name], weights=None, size=args.size)
    pre = encoder.preprocessing
    sampler = UniformSampler(num_frames=args.frames)
    spec = FeatureSpec(arch=encoder.model_name, library=encoder.library, weights=None, pool=encoder.pool, init_seed=0,
                       size=pre.size, preprocess=pre.as_dict(), sampler=sampler, backend="pyav")
    records = ds.records()[: args.videos]
    ds.records = lambda: records  # the first --videos videos only
    # Decoded in a worker process, as extraction does: decoding here first would leave the decoder's
    # threads in this process, and extraction's forked workers can then hang.
    loader = DataLoader(ClipDataset(root=ds.root, records=records, sampler=sampler, size=pre.resize, backend="pyav",
                                    train=False), batch_size=1, num_workers=1)
    clips = [torch.as_tensor(b["x"][0]) for b in loader]
    # Forward passes before and after the extraction (best counts), so a change of machine load
    # during the measurement does not land on one side of the ratio only.
    fwd = min(forward_only(encoder, clips, args.batch_size) for _ in range(args.repeats))
    written: list[float] = []  # when each batch reached the cache
    original = extraction.CacheWriter.write_on_batch_end

    def timed(self, *a, **k):
        original(self, *a, **k)
        written.append(time.perf_counter())

    extraction.CacheWriter.write_on_batch_end = timed
    start = time.perf_counter()
    try:
        cache = extract_features(ds, spec, encoder=encoder, root=work / name, batch_size=args.batch_size,
                                 num_workers=args.workers, accelerator="cpu", precision="32-true")
    finally:
        extraction.CacheWriter.write_on_batch_end = original
    extract = time.perf_counter() - start
    # Steady state: batches 2..n over the time between the first and the last write (no start-up).
    steady = (len(written) - 1) * args.batch_size * args.frames / (written[-1] - written[0])
    fwd = min([fwd] + [forward_only(encoder, clips, args.batch_size) for _ in range(args.repeats)])
    frames = len(records) * args.frames
    measured = (cache.dir / "features.npy").stat().st_size
    return {"backbone": name, "model": encoder.model_name, "pool": encoder.pool, "dim": encoder.out_dim,
            "input": pre.size, "params_m": round(sum(p.numel() for p in encoder.parameters()) / 1e6, 1),
            "forward_fps": round(frames / fwd, 1), "extract_fps": round(frames / extract, 1),
            "ratio": round(fwd / extract, 2), "steady_extract_fps": round(steady, 1),
            "steady_ratio": round(steady * fwd / frames, 2),
            "cache_mb_per_1000_videos_t32": round(1000 * STUDY_FRAMES * encoder.out_dim * 2 / 2**20, 1),
            "cache_bytes_measured": measured, "videos": len(records), "frames": args.frames}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbones", nargs="+", default=["resnet18", "resnet50", "dinov2_vits14", "clip_vitb16"],
                        choices=list(BACKBONES))
    parser.add_argument("--videos", type=int, default=16)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--size", type=int, default=112, help="input size (224 is the study's; small here for CPU)")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--workers", type=int, default=1, help="decoding processes during extraction")
    parser.add_argument("--repeats", type=int, default=2, help="forward-only passes (best counts)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("lightning").setLevel(logging.WARNING)
    rows = []
    with tempfile.TemporaryDirectory(prefix="ucfbench-backbones-") as tmp:
        ds = dataset(Path(tmp) / "data", args.videos, size=max(64, args.size))
        for name in args.backbones:
            rows.append(measure(name, ds, args, Path(tmp) / "cache"))
            log.info("%s", rows[-1])
    print("| backbone | D | params (M) | forward frames/s | extraction frames/s (whole call) | ratio "
          "| extraction frames/s (steady) | ratio | cache per 1,000 videos (T=32) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['backbone']} ({r['pool']}) | {r['dim']} | {r['params_m']} | {r['forward_fps']} "
              f"| {r['extract_fps']} | {r['ratio']:.2f} | {r['steady_extract_fps']} | {r['steady_ratio']:.2f} "
              f"| {r['cache_mb_per_1000_videos_t32']} MB |")
    machine = {"cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(), "load_avg": os.getloadavg(),
               "torch": torch.__version__, "python": platform.python_version()}
    print(json.dumps({"machine": machine, "args": vars(args), "rows": rows}))


if __name__ == "__main__":
    main()
