"""Training speed of the end-to-end CNN-RNN, and where the time goes (not a test).

Three measurements on one configuration (defaults: the CNN-RNN write-up's ResNet-18, 16 frames, batch 4 x 2):

1. **decode**: clips/s of the training Dataset in one process (decode + resize + augment), what one
   DataLoader worker delivers;
2. **compute**: one training step on random clips of the same shape, split into backbone forward,
   head forward, backward (backbone / head) and optimizer step, in ms per clip; on CUDA also the
   peak GPU memory;
3. **train**: clips/s of the real loop, DataLoader workers decoding while the model trains.

    uv run python benchmarks/cnn_rnn_profile.py --synthetic --size 64 --threads 2        # CPU, synthetic
    uv run python benchmarks/cnn_rnn_profile.py --device cuda --size 144 --precision 16-mixed  # the write-up's GPU run

The last line is JSON with every figure (``docs/benchmarks.md`` quotes them).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ucfbench.backbones.trainable import Backbone2D  # noqa: E402
from ucfbench.data.clips import ClipDataset  # noqa: E402
from ucfbench.data.sampling import StrideSampler  # noqa: E402
from ucfbench.data.synthetic import SyntheticUCF101  # noqa: E402
from ucfbench.data.transforms import ClipTransform  # noqa: E402
from ucfbench.models.classifier import VideoClassifier  # noqa: E402
from ucfbench.models.heads.temporal import TemporalHead  # noqa: E402

UCF101_TRAIN_CLIPS = 9537  # split 1 training list


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _autocast(device: torch.device, precision: str):
    dtype = torch.float16 if precision == "16-mixed" else torch.bfloat16
    return torch.autocast(device.type, dtype=dtype, enabled=precision != "32-true")


def measure_decode(ds: ClipDataset, n: int) -> float:
    """Clips per second of ``ds[i]`` in this process."""
    ds[0]  # open the decoder once
    start = time.perf_counter()
    for i in range(n):
        ds[(i * 7) % len(ds)]
    return n / (time.perf_counter() - start)


def measure_compute(net: VideoClassifier, x: torch.Tensor, lengths: torch.Tensor, labels: torch.Tensor, *,
                    precision: str, steps: int, device: torch.device) -> dict:
    """Mean ms per clip of each part of a training step, on ``x`` (B, T, 3, H, W)."""
    params = [p for p in net.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=3e-4)
    scaler = torch.amp.GradScaler(device.type, enabled=precision == "16-mixed")
    parts = {"backbone_fwd": [], "head_fwd": [], "backward": [], "head_bwd": [], "optimizer": []}
    for step in range(steps + 2):  # two warmup steps
        t = [time.perf_counter()]
        with _autocast(device, precision):
            feats = net.features(x)  # (B, T, D)
            _sync(device)
            t.append(time.perf_counter())
            logits = net.head(feats, lengths)
            loss = torch.nn.functional.cross_entropy(logits.float(), labels)
        _sync(device)
        t.append(time.perf_counter())
        scaler.scale(loss).backward()
        _sync(device)
        t.append(time.perf_counter())
        scaler.step(opt)
        scaler.update()
        opt.zero_grad(set_to_none=True)
        _sync(device)
        t.append(time.perf_counter())
        # The head's share of the backward: the same head on detached features.
        with _autocast(device, precision):
            head_loss = torch.nn.functional.cross_entropy(net.head(feats.detach(), lengths).float(), labels)
        _sync(device)
        h0 = time.perf_counter()
        head_loss.backward()
        _sync(device)
        h1 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        if step >= 2:
            for key, dt in zip(("backbone_fwd", "head_fwd", "backward", "optimizer"), np.diff(t)):
                parts[key].append(dt)
            parts["head_bwd"].append(h1 - h0)
    b = x.shape[0]
    ms = {k: 1000 * float(np.mean(v)) / b for k, v in parts.items()}
    ms["backbone_bwd"] = max(ms["backward"] - ms["head_bwd"], 0.0)
    ms["step"] = ms["backbone_fwd"] + ms["head_fwd"] + ms["backward"] + ms["optimizer"]
    return ms


def measure_train(net: VideoClassifier, ds: ClipDataset, *, batch: int, accumulate: int, workers: int, steps: int,
                  precision: str, device: torch.device) -> float:
    """Clips per second of the real loop: workers decode while the model trains."""
    # forkserver: this process decoded videos (PyAV threads) before, and a forked worker can hang on
    # their state; the suite's own runs never decode in the main process, so plain fork is fine there.
    loader = DataLoader(ds, batch_size=batch, shuffle=True, num_workers=workers, pin_memory=device.type == "cuda",
                        persistent_workers=workers > 0, drop_last=True,
                        multiprocessing_context="forkserver" if workers > 0 else None)
    opt = torch.optim.Adam([p for p in net.parameters() if p.requires_grad], lr=3e-4)
    scaler = torch.amp.GradScaler(device.type, enabled=precision == "16-mixed")
    done, start, it = 0, None, 0
    while done < steps:
        for b in loader:
            if it == 2:  # skip worker start-up and first steps
                _sync(device)
                start, done = time.perf_counter(), 0
            x = b["x"].to(device, non_blocking=True)
            with _autocast(device, precision):
                loss = torch.nn.functional.cross_entropy(net(x, b["lengths"].to(device)).float(),
                                                         b["label"].to(device)) / accumulate
            scaler.scale(loss).backward()
            it += 1
            if it % accumulate == 0:
                scaler.step(opt)
                scaler.update()
                opt.zero_grad(set_to_none=True)
            done += x.shape[0] if start is not None else 0
            if start is not None and done >= steps * batch:
                break
        if start is not None and done >= steps * batch:
            break
    _sync(device)
    return done / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--threads", type=int, default=2, help="torch intra-op threads (CPU)")
    ap.add_argument("--arch", default="resnet18")
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--stride", type=int, default=2)
    ap.add_argument("--size", type=int, default=144)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--accumulate", type=int, default=2)
    ap.add_argument("--precision", default="32-true", choices=["32-true", "16-mixed", "bf16-mixed"])
    ap.add_argument("--finetune", default="layer3,layer4", help="trainable backbone stages (comma list, or all)")
    ap.add_argument("--steps", type=int, default=6, help="measured steps per measurement")
    ap.add_argument("--workers", type=int, default=2, help="DataLoader workers for the train measurement")
    ap.add_argument("--synthetic", action="store_true", help="decode the synthetic set (generated if missing)")
    ap.add_argument("--root", default=os.path.join(os.environ.get("UCFBENCH_HOME", "."), "data", "synthetic"))
    ap.add_argument("--skip-train", action="store_true", help="skip the end-to-end loop measurement")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = torch.device(args.device)
    layers = ["all"] if args.finetune == "all" else args.finetune.split(",")
    encoder = Backbone2D(arch=args.arch, weights=None, finetune_layers=layers)
    net = VideoClassifier(encoder=encoder, head=TemporalHead(input_dim=encoder.out_dim, num_classes=101)).to(device).train()
    result = {"device": torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu x{args.threads}",
              **{k: v for k, v in vars(args).items() if k not in ("root",)}}

    b, t, s = args.batch, args.frames, args.size
    x = torch.randn(b, t, 3, s, s, device=device)
    lengths = torch.full((b,), t, device=device)
    labels = torch.arange(b, device=device) % 101
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    ms = measure_compute(net, x, lengths, labels, precision=args.precision, steps=args.steps, device=device)
    print(f"compute: {ms}", file=sys.stderr, flush=True)
    result["ms_per_clip"] = {k: round(v, 2) for k, v in ms.items()}
    result["compute_clips_per_s"] = round(1000 / ms["step"], 2)
    if device.type == "cuda":
        result["peak_gpu_mem_gib"] = round(torch.cuda.max_memory_allocated(device) / 2**30, 3)

    if args.synthetic:
        dataset = SyntheticUCF101(root=args.root)
        dataset.prepare()
        records = dataset.subset("train")
        ds = ClipDataset(root=dataset.root, records=records, sampler=StrideSampler(num_frames=t, stride=args.stride),
                              size=s, transform=ClipTransform(size=s, train=True, hflip=0.0), random_clips=True)
        with torch.inference_mode():
            result["decode_clips_per_s"] = round(measure_decode(ds, 4 * args.steps), 2)
        result["ms_per_clip"]["decode"] = round(1000 / result["decode_clips_per_s"], 2)
        print(f"decode: {result['decode_clips_per_s']} clips/s", file=sys.stderr, flush=True)
        if not args.skip_train:
            result["train_clips_per_s"] = round(measure_train(
                net, ds, batch=b, accumulate=args.accumulate, workers=args.workers, steps=args.steps,
                precision=args.precision, device=device), 2)
    rate = result.get("train_clips_per_s", result["compute_clips_per_s"])
    result["ucf101_epoch_minutes_est"] = round(UCF101_TRAIN_CLIPS / rate / 60, 1)
    result["ucf101_45_epochs_hours_est"] = round(45 * UCF101_TRAIN_CLIPS / rate / 3600, 2) if math.isfinite(rate) else None
    print(json.dumps(result))


if __name__ == "__main__":
    main()
