"""Probe: does the default synthetic dataset separate an order-aware head from an order-blind one?

Runs the suite's default pipeline in plain PyTorch: generate the dataset, extract random-ResNet-18
features of 32 uniformly sampled frames, train a GRU head and a mean-pool head on trainlist01 minus
two validation groups, test on testlist01 (held-out groups). A leak check then trains the mean-pool
head on a split that mixes each test group's clips between train and test: there, appearance alone
tells reversed pairs apart. Prints a table and, last, one JSON line with top-1 per head, within-pair
accuracy per pair, and the time each stage took.

    uv run python benchmarks/synthetic_probe.py --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from dataclasses import fields
from pathlib import Path

import av
import numpy as np
import torch
from torch import nn
from torchvision.models import resnet18

from ucfbench.data.synthetic_videos import MANIFEST, SyntheticSpec, generate

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
Record = tuple[str, int, int, int]  # relpath, 0-based label, group, clip


def read_split(root: Path, split: int) -> tuple[list[Record], list[Record]]:
    """Train and test records of ``split``, parsed from the UCF list files."""
    names = [line.split()[1] for line in (root / "classInd.txt").read_text().splitlines()]

    def parse(file: str) -> list[Record]:
        records = []
        for line in (root / file).read_text().splitlines():
            rel = line.split()[0]
            group, clip = rel.removesuffix(".avi").rsplit("_g", 1)[1].split("_c")
            records.append((rel, names.index(rel.split("/")[0]), int(group), int(clip)))
        return records

    return parse(f"trainlist0{split}.txt"), parse(f"testlist0{split}.txt")


def decode(path: Path) -> np.ndarray:
    """All frames of a video as (N, H, W, 3) uint8."""
    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


@torch.inference_mode()
def extract(root: Path, relpaths: list[str], *, num_frames: int, batch_videos: int = 8) -> torch.Tensor:
    """(N, T, 512) random-ResNet-18 features of uniformly sampled frames, stored as float16."""
    torch.manual_seed(0)
    net = resnet18(weights=None)
    net.fc = nn.Identity()
    net.eval()
    out = []
    for start in range(0, len(relpaths), batch_videos):
        clips = []
        for rel in relpaths[start : start + batch_videos]:
            frames = decode(root / rel)
            n = len(frames)
            # UniformSampler: the centre frame of each of T equal segments.
            idx = np.minimum(np.floor((np.arange(num_frames) + 0.5) * n / num_frames).astype(int), n - 1)
            clips.append(frames[idx])
        x = torch.from_numpy(np.stack(clips))  # (B, T, H, W, 3) uint8
        b, t = x.shape[:2]
        x = x.flatten(0, 1).permute(0, 3, 1, 2).float().div(255)  # (B*T, 3, H, W)
        out.append(net((x - MEAN) / STD).view(b, t, -1).half())  # (B, T, 512)
    return torch.cat(out)


class Standardize(nn.Module):
    """The one extra regularisation: inputs standardised with train-set statistics (no parameters)."""

    def __init__(self, *, mean: torch.Tensor | None, std: torch.Tensor | None) -> None:
        super().__init__()
        self.enabled = mean is not None
        if self.enabled:
            self.register_buffer("mean", mean)
            self.register_buffer("std", std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std if self.enabled else x


class GRUHead(nn.Module):
    def __init__(self, *, norm: nn.Module, num_classes: int, dim: int = 512) -> None:
        super().__init__()
        self.norm = norm
        self.gru = nn.GRU(dim, 512, batch_first=True)
        self.out = nn.Sequential(nn.Dropout(0.3), nn.Linear(512, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, h = self.gru(self.norm(x))  # h: (1, B, 512)
        return self.out(h[-1])


class MeanPoolHead(nn.Module):
    def __init__(self, *, norm: nn.Module, num_classes: int, dim: int = 512) -> None:
        super().__init__()
        self.norm = norm
        self.mlp = nn.Sequential(
            nn.Dropout(0.3), nn.Linear(dim, 512), nn.ReLU(), nn.Dropout(0.3), nn.Linear(512, num_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp(self.norm(x).mean(dim=1))  # (B, T, D) -> (B, D) -> (B, C)


def train(head: nn.Module, x: torch.Tensor, y: torch.Tensor, *, seed: int, epochs: int = 20) -> float:
    """Fit ``head`` with the suite's recipe; return the last epoch's train accuracy."""
    opt = torch.optim.Adam(head.parameters(), lr=1e-3, weight_decay=1e-5)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=5, gamma=0.5)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        head.train()
        correct = 0
        for idx in torch.randperm(len(x), generator=gen).split(16):
            logits = head(x[idx])
            loss = nn.functional.cross_entropy(logits, y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            correct += (logits.argmax(1) == y[idx]).sum().item()
        sched.step()
    return correct / len(x)


@torch.inference_mode()
def evaluate(head: nn.Module, x: torch.Tensor, y: torch.Tensor, pairs: dict[str, tuple[int, int]]) -> dict:
    """Top-1, and per pair the accuracy of choosing between just that pair's two classes."""
    head.eval()
    logits = head(x)
    result = {"top1": (logits.argmax(1) == y).float().mean().item()}
    for name, (a, b) in pairs.items():
        sel = (y == a) | (y == b)
        pick = torch.where(logits[sel, a] >= logits[sel, b], a, b)
        result[name] = (pick == y[sel]).float().mean().item()
    return result


def fit_and_test(head_cls: type[nn.Module], data: dict, *, seed: int, standardize: bool) -> tuple[dict, float]:
    """Train one head on ``data["fit"]``; return its metrics and training seconds."""
    x_fit, y_fit = data["fit"]
    mean, std = (x_fit.mean(dim=(0, 1)), x_fit.std(dim=(0, 1)) + 1e-6) if standardize else (None, None)
    torch.manual_seed(seed)
    head = head_cls(norm=Standardize(mean=mean, std=std), num_classes=data["num_classes"])
    t0 = time.perf_counter()
    row = {"seed": seed, "train_top1": train(head, x_fit, y_fit, seed=seed)}
    seconds = time.perf_counter() - t0
    if "val" in data:
        row["val_top1"] = evaluate(head, *data["val"], {})["top1"]
    return row | evaluate(head, *data["test"], data["pairs"]), seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for f in fields(SyntheticSpec):
        if f.name != "classes":
            parser.add_argument(f"--{f.name}", type=int, default=f.default, help="SyntheticSpec field")
    parser.add_argument("--root", type=Path, help="dataset root (default: a temporary directory)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="training seeds")
    parser.add_argument("--num-frames", type=int, default=32, help="frames sampled per video")
    parser.add_argument("--no-standardize", action="store_true", help="drop the input standardisation")
    parser.add_argument("--val-groups", type=int, default=2, help="train groups held out for validation")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_num_threads(args.threads)
    spec = SyntheticSpec(**{f.name: getattr(args, f.name) for f in fields(SyntheticSpec) if f.name != "classes"})
    times = {}

    with tempfile.TemporaryDirectory() as tmp:
        root = args.root or Path(tmp) / "synthetic"
        t0 = time.perf_counter()
        generate(root, spec)
        times["generate_s"] = time.perf_counter() - t0
        manifest = json.loads((root / MANIFEST).read_text())
        train_recs, test_recs = read_split(root, 1)
        records = train_recs + test_recs
        t0 = time.perf_counter()
        feats = extract(root, [r[0] for r in records], num_frames=args.num_frames).float()
        times["extract_s"] = time.perf_counter() - t0

    classes = manifest["classes"]
    pairs = {"/".join(p["classes"]): tuple(classes.index(c) for c in p["classes"]) for p in manifest["pairs"]}
    labels = torch.tensor([r[1] for r in records])

    def subset(keep) -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.tensor([i for i, r in enumerate(records) if keep(r)])
        return feats[idx], labels[idx]

    # Validation groups drawn as the suite's holdout_groups does; the heads never look at them.
    train_groups = sorted({r[2] for r in train_recs})
    val_groups = set(np.random.default_rng(0).choice(train_groups, size=args.val_groups, replace=False).tolist())
    test_groups = {r[2] for r in test_recs}
    data = {
        "fit": subset(lambda r: r[2] not in val_groups and r[2] not in test_groups),
        "val": subset(lambda r: r[2] in val_groups),
        "test": subset(lambda r: r[2] in test_groups),
        "pairs": pairs,
        "num_classes": len(classes),
    }
    # Leaky split: every test group's last clip is tested, its other clips are trained on.
    leaky = data | {
        "fit": subset(lambda r: r[2] not in val_groups and (r[2] not in test_groups or r[3] < spec.clips)),
        "test": subset(lambda r: r[2] in test_groups and r[3] == spec.clips),
    }
    del leaky["val"]

    cols = ["train_top1", "val_top1", "top1", *pairs]
    print(f"spec: {spec}\nstandardize inputs: {not args.no_standardize}")
    print(f"fit/val/test videos: {len(data['fit'][1])}/{len(data['val'][1])}/{len(data['test'][1])}")
    print(f"{'head':<18}{'seed':>5}" + "".join(f"{c[:13]:>14}" for c in cols))
    runs = {"gru": (GRUHead, data), "mean_pool": (MeanPoolHead, data), "mean_pool_leaky": (MeanPoolHead, leaky)}
    results: dict[str, list[dict]] = {name: [] for name in runs}
    for seed in args.seeds:
        for name, (head_cls, split) in runs.items():
            row, seconds = fit_and_test(head_cls, split, seed=seed, standardize=not args.no_standardize)
            times[f"train_{name}_s"] = times.get(f"train_{name}_s", 0.0) + seconds / len(args.seeds)
            results[name].append(row)
            cells = "".join(f"{row[c]:>14.3f}" if c in row else f"{'-':>14}" for c in cols)
            print(f"{name:<18}{seed:>5}{cells}", flush=True)

    summary = {
        name: {
            "top1": round(float(np.mean([r["top1"] for r in rows])), 4),
            "top1_per_seed": [round(r["top1"], 4) for r in rows],
            "within_pair": {p: round(float(np.mean([r[p] for r in rows])), 4) for p in pairs},
        }
        for name, rows in results.items()
    }
    print("times: " + ", ".join(f"{k}={v:.1f}" for k, v in times.items()))
    print(json.dumps(summary | {"seeds": args.seeds, "times": {k: round(v, 1) for k, v in times.items()}}))


if __name__ == "__main__":
    main()
