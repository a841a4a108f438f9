"""The suite's one-GPU figures in one run, as a Markdown table (``benchmarks/gpu.sh`` runs it).

1. **extraction**: frames per second through ResNet-50 and DINOv2 ViT-B/14 (random weights) from
   generated 224-px videos, 32 uniformly sampled frames per video, every CPU core decoding in
   DataLoader workers, for each decoder installed; with TorchCodec and CUDA also NVDEC decoding in
   the main process, frames staying on the GPU.
2. **study**: the eight feature heads (``conf/model``, each its own config) on UCF101-sized cached
   features (split 1: 9,537 train and 3,783 test videos x 32 x 2048) with a learnable target
   (class prototypes plus noise), in 32-true, bf16-mixed and 16-mixed: wall time and test top-1,
   and each precision's top-1 against 32-true's. 3 epochs per head (fit and test timed), the time
   also scaled to the UCF50 write-up's 20 epochs, so the whole script stays within 8 minutes.
3. **CNN-RNN**: training steps on random clips (the CNN-RNN write-up's ResNet-18 + LSTM, 16 frames at 144 px),
   as seconds per UCF101 split-1 epoch; the decoding side of an epoch comes from part 1's rate.

Peak GPU memory per part. ``--smoke`` runs everything at toy size on whatever device there is, so
the test suite keeps this script working; its figures mean nothing.

    benchmarks/gpu.sh [--smoke] [--out FILE.md]
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import lightning as L  # noqa: E402
from hydra.utils import instantiate  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402
from train_loop import compose_cfg, input_stats, memory_loader, study_heads  # noqa: E402

from ucfbench.backbones.frame_encoder import FrameEncoder  # noqa: E402
from ucfbench.backbones.trainable import Backbone2D  # noqa: E402
from ucfbench.data.clips import ClipDataset  # noqa: E402
from ucfbench.data.sampling import UniformSampler  # noqa: E402
from ucfbench.data.types import VideoRecord  # noqa: E402
from ucfbench.models.classifier import VideoClassifier  # noqa: E402
from ucfbench.models.heads.temporal import TemporalHead  # noqa: E402
from ucfbench.utils.resolvers import amp_precision  # noqa: E402

log = logging.getLogger("benchmarks.gpu")

# UCF101 split 1; 101 classes; 32 frames of 2048-d ResNet-50 features per video.
FULL = {"videos": 96, "video_frames": 150, "video_px": 224, "frames": 32, "size": 224, "vit_size": 224,
        "n_train": 9537, "n_test": 3783, "t": 32, "d": 2048, "classes": 101, "epochs": 3,
        "clip_frames": 16, "clip_px": 144, "clip_batch": 8, "clip_steps": 30, "batch": 16}
SMOKE = {"videos": 4, "video_frames": 12, "video_px": 64, "frames": 4, "size": 64, "vit_size": 28,
         "n_train": 64, "n_test": 32, "t": 4, "d": 16, "classes": 4, "epochs": 2,
         "clip_frames": 4, "clip_px": 32, "clip_batch": 2, "clip_steps": 2, "batch": 16}
STUDY_EPOCHS = 20  # the UCF50 write-up's recipe; the run trains fewer and scales the time (per-epoch cost is flat)
BACKBONES = {"ResNet-50": ("torchvision", "resnet50"), "DINOv2 ViT-B/14": ("timm", "vit_base_patch14_dinov2.lvd142m")}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _peak_reset(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def _peak_gib(device: torch.device) -> str:
    return f"{torch.cuda.max_memory_allocated(device) / 2**30:.1f}" if device.type == "cuda" else "-"


# -- 1. extraction -------------------------------------------------------------------------------
def make_videos(root: Path, n: int, frames: int, px: int) -> list[VideoRecord]:
    """``n`` MPEG-4 AVIs (UCF101's codec) of ``frames`` frames, ``px`` x ``px``: moving noise blocks."""
    import av

    rng = np.random.default_rng(0)
    records = []
    for i in range(n):
        path = root / f"v{i:04d}.avi"
        base = rng.integers(0, 255, (px // 8, px // 8, 3), dtype=np.uint8).repeat(8, 0).repeat(8, 1)
        with av.open(str(path), mode="w") as container:
            stream = container.add_stream("mpeg4", rate=Fraction(25))
            stream.width = stream.height = px
            stream.pix_fmt = "yuv420p"
            stream.bit_rate = 1_000_000
            for k in range(frames):
                image = np.ascontiguousarray(np.roll(base, k, axis=1))
                container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
            container.mux(stream.encode(None))
        records.append(VideoRecord(relpath=path.name, label=i % 101))
    return records


def decoders() -> dict[str, str]:
    """Each decoder that can run here: name -> why not (empty when it runs)."""
    out = {"pyav": ""}
    try:
        import torchcodec_reader  # noqa: F401

        out["torchcodec"] = ""
        out["torchcodec (CUDA)"] = "" if torch.cuda.is_available() else "needs CUDA"
    except (ImportError, RuntimeError, OSError) as e:
        reason = f"not installed ({str(e).splitlines()[0][:60]})"
        out["torchcodec"] = out["torchcodec (CUDA)"] = reason
    return out


class _TorchCodecClips(torch.utils.data.Dataset):
    """ClipDataset's ``x`` for each record, decoded by TorchCodec on the CPU."""

    def __init__(self, root: Path, records: list[VideoRecord], sampler, size: int) -> None:
        self.root, self.records, self.sampler, self.size = root, records, sampler, size

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        import torchcodec_reader

        frames, _ = torchcodec_reader.read(self.records[i].path(self.root), self.sampler, self.size, None)
        return {"x": torch.from_numpy(frames)}


@torch.inference_mode()
def extraction(p: dict, device: torch.device, workers: int, precision: str) -> list[list[str]]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="gpu-bench-") as tmp:
        records = make_videos(Path(tmp), p["videos"], p["video_frames"], p["video_px"])
        sampler = UniformSampler(num_frames=p["frames"])
        for name, (library, model) in BACKBONES.items():
            size = p["size"] if library == "torchvision" else p["vit_size"]
            encoder = FrameEncoder(library=library, model=model, weights=None, pool=None, size=size,
                                   crop_pct=1.0).to(device)
            for decoder, why_not in decoders().items():
                if why_not:
                    rows.append([name, decoder, "-", "-", "-", why_not])
                    continue
                _peak_reset(device)
                frames, seconds = _extract(records, Path(tmp), sampler, encoder, decoder, device, workers,
                                           precision, p["size"])
                videos = len(records)
                rows.append([name, decoder, _num(frames / seconds), _num(videos / seconds),
                             _peak_gib(device), f"13,320 videos: {13320 / (videos / seconds) / 60:.1f} min"])
                log.info("extraction %s %s: %.0f frames/s", name, decoder, frames / seconds)
    return rows


def _extract(records, root, sampler, encoder, decoder, device, workers, precision, size) -> tuple[int, float]:
    """(frames through the backbone, seconds) for one pass over ``records`` after a warm-up batch."""
    dtype = {"bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}.get(precision)
    amp = torch.autocast(device.type, dtype=dtype, enabled=dtype is not None)
    if decoder == "torchcodec (CUDA)":
        import torchcodec_reader

        def batches():
            for r in records:
                path = r.path(root)
                dec = torchcodec_reader.decoder(path, device="cuda")
                indices = np.asarray(sampler(int(dec.metadata.num_frames), None)[0])
                yield torchcodec_reader.frames_at(path, dec, indices).permute(0, 3, 1, 2)[None]  # (1, T, 3, H, W)
    else:
        if decoder == "pyav":  # the suite's own Dataset
            ds = ClipDataset(root=root, records=records, sampler=sampler, size=size)
        else:
            ds = _TorchCodecClips(root, records, sampler, size)
        loader = DataLoader(ds, batch_size=max(1, min(8, len(records) // max(workers, 1))), num_workers=workers, pin_memory=device.type == "cuda",
                            multiprocessing_context="forkserver" if workers else None)

        def batches():
            for b in loader:
                yield b["x"].permute(0, 1, 4, 2, 3)  # (B, T, 3, H, W)

    with amp:  # load the kernels before the clock starts; worker start-up is timed, as a real run pays it
        encoder(torch.zeros(2, 3, 3, size, size, dtype=torch.uint8, device=device))
    _sync(device)
    frames, start = 0, time.perf_counter()
    for x in batches():
        with amp:
            encoder(x.to(device, non_blocking=True))
        frames += x.shape[0] * x.shape[1]
    _sync(device)
    return frames, time.perf_counter() - start


# -- 2. the study ----------------------------------------------------------------------------------
def learnable_split(n: int, t: int, d: int, classes: int, *, seed: int) -> dict[str, torch.Tensor]:
    """Features whose class shows as a weak prototype under per-frame noise (float16, like the cache);
    at 2048-d a nearest-class-mean classifier scores 86 % (0.015: 47 %, 0.03: 100 %)."""
    prototypes = torch.randn(classes, d, generator=torch.Generator().manual_seed(1234))
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, classes, (n,), generator=g)
    features = 0.02 * (2048 / d) ** 0.5 * prototypes[labels][:, None, :] + torch.randn(n, t, d, generator=g)
    return {"features": features.half(), "lengths": torch.full((n,), t, dtype=torch.int64), "labels": labels}


def study(p: dict, device: torch.device, precisions: list[str]) -> list[list[str]]:
    train = learnable_split(p["n_train"], p["t"], p["d"], p["classes"], seed=0)
    test = learnable_split(p["n_test"], p["t"], p["d"], p["classes"], seed=1)
    stats = input_stats(train)
    train_loader = memory_loader(train, device, p["batch"])
    test_loader = memory_loader(test, device, 256, shuffle=False)
    rows, top1 = [], {}
    for precision in precisions:
        _peak_reset(device)
        total = 0.0
        for head in study_heads():
            cfg = compose_cfg([f"model={head}", f"trainer.max_epochs={p['epochs']}"])
            torch.manual_seed(0)
            net = instantiate(cfg.model.net)(input_dim=p["d"], num_classes=p["classes"])
            model = instantiate(cfg.model, net=net, num_classes=p["classes"], input_dim=p["d"])
            model.model.norm.set(*stats)
            trainer = L.Trainer(accelerator=device.type, devices=1, precision=precision, max_epochs=p["epochs"],
                                logger=False, enable_checkpointing=False, enable_progress_bar=False,
                                enable_model_summary=False, limit_val_batches=0, num_sanity_val_steps=0)
            _sync(device)
            start = time.perf_counter()
            trainer.fit(model, train_dataloaders=train_loader)
            result = trainer.test(model, dataloaders=test_loader, verbose=False)[0]
            _sync(device)
            seconds = time.perf_counter() - start
            total += seconds
            top1[precision, head] = 100 * result["test/top1"]
            log.info("study %s %s: %.1f s, top-1 %.1f", precision, head, seconds, top1[precision, head])
        diffs = [abs(top1[precision, h] - top1[precisions[0], h]) for h in study_heads()]
        mean = np.mean([top1[precision, h] for h in study_heads()])
        rows.append([precision, f"{total:.1f}", f"{total * STUDY_EPOCHS / p['epochs']:.0f}", f"{mean:.1f}",
                     f"{max(diffs):.2f}", _peak_gib(device)])
    return rows


# -- 3. CNN-RNN ------------------------------------------------------------------------------------
def cnn_rnn(p: dict, device: torch.device, precision: str) -> list[str]:
    """Training clips per second on random clips of the CNN-RNN write-up's shape, and the split-1 epoch it gives."""
    torch.manual_seed(0)
    encoder = Backbone2D(arch="resnet18", weights=None, finetune_layers=["layer3", "layer4"])
    net = VideoClassifier(encoder=encoder, head=TemporalHead(input_dim=encoder.out_dim, num_classes=101)).to(device).train()
    b, t, s = p["clip_batch"], p["clip_frames"], p["clip_px"]
    x = torch.randn(b, t, 3, s, s, device=device)
    lengths, labels = torch.full((b,), t, device=device), torch.arange(b, device=device) % 101
    opt = torch.optim.Adam([q for q in net.parameters() if q.requires_grad], lr=3e-4)
    scaler = torch.amp.GradScaler(device.type, enabled=precision == "16-mixed")
    dtype = {"bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}.get(precision)
    _peak_reset(device)
    start = None
    for step in range(p["clip_steps"] + 2):
        if step == 2:  # two warm-up steps
            _sync(device)
            start = time.perf_counter()
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            loss = torch.nn.functional.cross_entropy(net(x, lengths).float(), labels)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        opt.zero_grad(set_to_none=True)
    _sync(device)
    clips_per_s = p["clip_steps"] * b / (time.perf_counter() - start)
    return [precision, _num(clips_per_s), _num(9537 / clips_per_s), _peak_gib(device)]


# -- output ------------------------------------------------------------------------------------------
def _num(v: float) -> str:
    """Whole numbers from 100 up, three significant digits below (smoke runs give small rates)."""
    return f"{v:,.0f}" if v >= 100 else f"{v:.3g}"


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="toy sizes, any device: checks the script runs")
    parser.add_argument("--out", type=Path, help="also write the Markdown here")
    parser.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)), help="decoding workers")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    for name in ("lightning", "lightning.pytorch", "lightning.pytorch.utilities.rank_zero", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.ERROR)
    p = SMOKE if args.smoke else FULL
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.type == "cpu" and not args.smoke:
        raise SystemExit("benchmarks/gpu.sh needs a CUDA GPU; run benchmarks/gpu.sh --smoke to check it on a CPU")
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    precision = amp_precision(device.type if device.type == "cpu" else "gpu")
    # 16-bit AMP in float16 needs CUDA; a CPU runs the study in the two it has.
    precisions = ["32-true", "bf16-mixed", "16-mixed"] if device.type == "cuda" else ["32-true", "bf16-mixed"]
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    started = time.perf_counter()

    parts = [f"## {'Smoke run (toy sizes; figures mean nothing)' if args.smoke else 'One-GPU figures'}: "
             f"{name}, {args.workers} decoding workers, torch {torch.__version__}\n"]
    rows = extraction(p, device, args.workers, precision)
    parts.append(f"### Extraction ({p['frames']} frames per video, {p['video_px']}-px MPEG-4, {precision})\n\n"
                 + table(["backbone", "decoder", "frames/s", "videos/s", "peak GPU GiB", "UCF101 estimate"], rows))
    rows = study(p, device, precisions)
    parts.append(f"### Eight-head study ({p['n_train']:,} + {p['n_test']:,} videos x {p['t']} x {p['d']}, "
                 f"{p['epochs']} epochs per head)\n\n"
                 + table(["precision", "wall s (8 heads)", f"s for {STUDY_EPOCHS} epochs (scaled)", "mean top-1",
                          "max top-1 change vs 32-true (points)", "peak GPU GiB"], rows))
    rows = [cnn_rnn(p, device, precision)]
    parts.append(f"### CNN-RNN (ResNet-18 + LSTM, {p['clip_frames']} frames at {p['clip_px']} px, "
                 f"batch {p['clip_batch']}, compute only)\n\n"
                 + table(["precision", "clips/s", "s per split-1 epoch (9,537 clips)", "peak GPU GiB"], rows))
    parts.append(f"Total: {time.perf_counter() - started:.0f} s.")
    text = "\n\n".join(parts) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
