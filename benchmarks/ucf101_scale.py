"""The feature path at UCF101 scale on a CPU: how each step grows from 1k to 13,320 videos.

For each size N, a folder dataset of N (empty) UCF-named videos in 101 class folders, and a
feature cache of N x 32 x D float16 random features (D = 2048: ResNet-50's), through the suite's
own code, each step timed:

* ``index``: ``VideoFolder`` lists the class folders and splits them (grouped by ``_gNN_``);
* ``fingerprint``: the dataset's file hash (a cache key part);
* ``create``/``write``: the cache entry made, every row written in chunks of 256 as extraction
  writes them, then ``COMPLETE``;
* ``verify``: a fresh cache object checks every row's checksum (what a run does on opening);
* ``load``: ``FeatureDataModule``'s steps: ``load()`` (memory map), rows of each split, the input
  statistics over the train split, the train split gathered into memory (RSS growth reported);
* ``loader``: one epoch of ``InMemoryLoader`` (batch 16, shuffled) against a bare loop over the
  same tensor (``randperm``, ``index_select``, ``.float()``);
* ``heads``: seconds per train epoch of every feature head (``conf/model``), from the second of two
  epochs limited to ``--head-batches`` batches (at the sizes in ``--head-sizes``).

    OMP_NUM_THREADS=1 uv run python benchmarks/ucf101_scale.py [--sizes 1000 2000 4000 8000 13320]
        [--dim 2048] [--plot docs/img/ucf101_scale.png]

The last line is one JSON object; ``--plot`` draws seconds against videos on log-log axes.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import lightning as L  # noqa: E402
from hydra.utils import instantiate  # noqa: E402
from train_loop import Clock, EpochClock, compose_cfg, study_heads  # noqa: E402

from ucfbench.cache.features import FeatureCache, FeatureSpec  # noqa: E402
from ucfbench.data.folder import VideoFolder  # noqa: E402
from ucfbench.data.sampling import UniformSampler  # noqa: E402
from ucfbench.datamodules.feature_datamodule import (  # noqa: E402
    EpochOrder,
    FeatureDataset,
    InMemoryLoader,
    feature_stats,
    gather_split,
)

log = logging.getLogger("benchmarks.ucf101_scale")
T, CLASSES, BATCH = 32, 101, 16
SPEC = FeatureSpec(arch="resnet50", weights=None, init_seed=0, size=224, sampler=UniformSampler(num_frames=T),
                   backend="auto")


def rss_mib() -> float:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:")) / 1024


def make_folder(root: Path, n: int) -> None:
    """``n`` empty videos named like UCF101's, spread over 101 classes and 25 groups each."""
    for i in range(n):
        c, k = i % CLASSES, i // CLASSES
        folder = root / f"Class{c:03d}"
        if k == 0:
            folder.mkdir(parents=True)
        (folder / f"v_Class{c:03d}_g{k % 25 + 1:02d}_c{k // 25 + 1:02d}.avi").touch()


def timed(results: dict, name: str, fn, *args, **kwargs):
    """Run ``fn``; wall seconds under ``name``, this process's CPU seconds under ``name_cpu`` (the
    figure to trust on a shared machine, where wall time waits for other jobs)."""
    start, cpu = time.perf_counter(), time.process_time()
    out = fn(*args, **kwargs)
    results[name] = round(time.perf_counter() - start, 6)  # a toy size takes well under a millisecond
    results[f"{name}_cpu"] = round(time.process_time() - cpu, 6)
    log.info("  %-12s %.3f s (%.3f s CPU)", name, results[name], results[f"{name}_cpu"])
    return out


def one_size(n: int, dim: int, workdir: Path, head_batches: int | None) -> dict:
    r: dict = {"videos": n}
    root = workdir / f"videos{n}"
    make_folder(root, n)
    dataset = VideoFolder(root=root, group_pattern=r"_g(?P<group>\d+)_")
    records = timed(r, "index", lambda: (dataset.subset("train"), dataset.records())[1])
    fingerprint = timed(r, "fingerprint", dataset.fingerprint)
    cache = FeatureCache(root=workdir / "cache", spec=SPEC, dataset_name=f"scale{n}", records=records,
                         fingerprint=fingerprint, dim=dim)
    timed(r, "create", cache.create)
    rng = np.random.default_rng(0)
    chunk = rng.standard_normal((256, T, dim), dtype=np.float32).astype(np.float16)

    def write_all() -> None:
        for start in range(0, n, 256):
            rows = np.arange(start, min(start + 256, n))
            cache.write(rows, chunk[: len(rows)], np.full(len(rows), T))
        cache.finalize()

    timed(r, "write", write_all)
    fresh = FeatureCache(root=workdir / "cache", spec=SPEC, dataset_name=f"scale{n}", records=records,
                         fingerprint=fingerprint, dim=dim)
    timed(r, "verify", fresh.verify)
    before = rss_mib()

    def load() -> dict[str, torch.Tensor]:
        features, lengths = fresh.load()
        splits = {}
        for name in ("train", "val", "test"):
            subset = dataset.subset(name)
            splits[name] = FeatureDataset(features=features, lengths=lengths, rows=fresh.rows_of(subset),
                                          labels=np.array([s.label for s in subset], dtype=np.int64))
        feature_stats(features, splits["train"].rows, lengths)
        return gather_split(splits["train"])

    train = timed(r, "load", load)
    r["load_rss_mib"] = round(rss_mib() - before, 1)
    r["train_videos"] = m = len(train["labels"])
    loader = InMemoryLoader(**train, batch_size=BATCH, order=EpochOrder(m, shuffle=True, seed=0))

    def suite_epoch() -> None:
        for batch in loader:
            batch["x"].sum()

    def bare_epoch() -> None:
        feats = train["features"]
        for idx in torch.randperm(m).split(BATCH):
            feats.index_select(0, idx).float().sum()

    timed(r, "loader_epoch", suite_epoch)
    timed(r, "bare_epoch", bare_epoch)
    r["loader_videos_per_s"] = round(m / r["loader_epoch"], 1)
    r["bare_videos_per_s"] = round(m / r["bare_epoch"], 1)
    if head_batches:
        r["head_epoch_s"] = heads(train, dim, m, head_batches)
    return r


def heads(train: dict[str, torch.Tensor], dim: int, m: int, batches: int) -> dict[str, float]:
    """CPU seconds per full train epoch of each feature head (one thread, 32-true), from ``batches`` timed batches."""
    out = {}
    x = train["features"][: 4 * BATCH].flatten(0, 1).float()
    stats = (x.mean(0), x.std(0))
    for head in study_heads():
        cfg = compose_cfg([f"model={head}"])
        torch.manual_seed(0)
        net = instantiate(cfg.model.net)(input_dim=dim, num_classes=CLASSES)
        model = instantiate(cfg.model, net=net, num_classes=CLASSES, input_dim=dim)
        model.model.norm.set(*stats)
        clock = Clock(torch.device("cpu"))
        loader = InMemoryLoader(**train, batch_size=BATCH, order=EpochOrder(m, shuffle=True, seed=0))
        trainer = L.Trainer(accelerator="cpu", devices=1, precision="32-true", max_epochs=2,
                            limit_train_batches=batches, logger=False, enable_checkpointing=False,
                            enable_progress_bar=False, enable_model_summary=False, callbacks=[EpochClock(clock)],
                            limit_val_batches=0, num_sanity_val_steps=0)
        trainer.fit(model, train_dataloaders=loader)
        out[head] = round(clock.epochs[-1][1] / batches * -(-m // BATCH), 1)  # CPU seconds: steady under load
        log.info("  %-14s %.1f s per epoch", head, out[head])
    return out


def plot(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = np.array([r["videos"] for r in results])
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for key in ("index", "fingerprint", "create", "write", "verify", "load", "loader_epoch", "bare_epoch"):
        ax.plot(n, [max(r[f"{key}_cpu"], 1e-3) for r in results], "o-", label=key)
    ref = np.array([n[0], n[-1]])
    ax.plot(ref, results[0]["write_cpu"] * ref / ref[0], "k:", label="linear (from write)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("videos")
    ax.set_ylabel("CPU seconds")
    ax.set_title(f"Feature path at scale (N x 32 x {results[0]['dim']} float16, CPU)")
    ax.legend(fontsize=8, ncol=2)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[1000, 2000, 4000, 8000, 13320])
    parser.add_argument("--dim", type=int, default=2048)
    parser.add_argument("--head-sizes", type=int, nargs="*", default=[1000, 13320])
    parser.add_argument("--head-batches", type=int, default=10)
    parser.add_argument("--plot", type=Path)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    for name in ("lightning", "lightning.pytorch", "lightning.pytorch.utilities.rank_zero", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.ERROR)
    results = []
    for n in args.sizes:
        log.info("%d videos", n)
        with tempfile.TemporaryDirectory(prefix="ucf101-scale-") as tmp:
            r = one_size(n, args.dim, Path(tmp), args.head_batches if n in args.head_sizes else None)
        r["dim"] = args.dim
        results.append(r)
    keys = ["index", "fingerprint", "create", "write", "verify", "load", "loader_epoch", "bare_epoch"]
    print("| videos | " + " | ".join(keys) + " | load RSS MiB |  (CPU seconds)")
    print("|" + "---|" * (len(keys) + 2))
    for r in results:
        print(f"| {r['videos']:,} | " + " | ".join(f"{r[k + '_cpu']:g}" for k in keys) + f" | {r['load_rss_mib']:g} |")
    if args.plot:
        plot(results, args.plot)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
