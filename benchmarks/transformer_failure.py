"""Why the UCF50 write-up's Transformer scored 3.14%, and what makes the suite's train.

Trains :class:`ucfbench.models.heads.transformer.TransformerHead` under several recipes on the same
features, in plain PyTorch (batch 16, 20 epochs, as the seed), and prints per epoch: learning rate,
train loss / accuracy, test accuracy, and ``spread``, how much the pooled representation that
feeds the classifier still varies between videos (std across a fixed probe batch over its RMS;
0 means every video maps to the same vector and the classifier can only learn the class prior).
The last line is one JSON object with every curve.

Recipes: ``seed`` is the UCF50 write-up's (post-norm, dropout 0.3, ReLU, Adam 1e-3 / wd 1e-5, no warmup,
StepLR 5 x 0.5); ``ours`` is ``conf/model/transformer.yaml``'s (pre-norm + final LayerNorm, dropout
0.1, GELU, Adam 3e-4, 2 warmup epochs then cosine); the others change one thing at a time.

Data: ``cache`` reads cached suite features (``<UCFBENCH_HOME>/cache/features/*/features.npy``,
(N, T, 512) float16; labels from the class folder in ``videos.txt``; groups 1-7 are test, as
split 1); ``resnet50`` generates 2048-d features with ResNet-50-like statistics (non-negative,
log-normal, mean 0.5, heavy tail) and 50 classes, what the seed trained on.

    uv run python benchmarks/transformer_failure.py --data resnet50 --recipes seed ours
    uv run python benchmarks/transformer_failure.py --data cache --cache /tmp/ucfdef/cache/features/synthetic-*
"""

from __future__ import annotations

import argparse
import glob
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from ucfbench.models.heads.transformer import TransformerHead
from ucfbench.models.schedulers import warmup_cosine


@dataclass(frozen=True)
class Recipe:
    """A head configuration and its optimisation."""

    net: dict = field(default_factory=dict)
    lr: float = 1e-3
    schedule: str = "step"  # step: StepLR(5, 0.5); warmup_cosine: 2 warmup epochs, cosine to 0
    weight_decay: float = 1e-5


SEED_NET = {"norm_first": False, "dropout": 0.3, "activation": "relu"}
OURS_NET = {"norm_first": True, "dropout": 0.1, "activation": "gelu"}
RECIPES: dict[str, Recipe] = {
    "seed": Recipe(net=SEED_NET, lr=1e-3, schedule="step"),
    "seed+warmup": Recipe(net=SEED_NET, lr=1e-3, schedule="warmup_cosine"),
    "seed+lr1e-4": Recipe(net=SEED_NET, lr=1e-4, schedule="step"),
    "seed+lr3e-4+warmup": Recipe(net=SEED_NET, lr=3e-4, schedule="warmup_cosine"),
    "prenorm": Recipe(net=OURS_NET, lr=1e-3, schedule="step"),
    "ours": Recipe(net=OURS_NET, lr=3e-4, schedule="warmup_cosine"),
}


# -- data -------------------------------------------------------------------------------------
def load_cache(directory: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(features (N, T, D) float32, labels (N,), groups (N,)) of one suite feature-cache entry."""
    feats = np.load(directory / "features.npy").astype(np.float32)
    videos = (directory / "videos.txt").read_text().split()
    classes = sorted({v.split("/")[0] for v in videos})
    labels = np.array([classes.index(v.split("/")[0]) for v in videos])
    groups = np.array([int(v.rsplit("_g", 1)[1][:2]) for v in videos])
    assert len(feats) == len(videos), f"{directory}: {len(feats)} feature rows for {len(videos)} videos"
    return feats, labels, groups


def resnet50_like(*, classes: int = 50, train_per_class: int = 16, test_per_class: int = 8, frames: int = 32,
                  dim: int = 2048, latent: int = 64, seed: int = 0) -> tuple[np.ndarray, ...]:
    """Features shaped like frozen ResNet-50 avgpool outputs, with a class-dependent temporal signal.

    A latent random walk per video (class prototype + video offset + class-specific drift over
    time + noise) is mixed into ``dim`` channels and exponentiated: non-negative, log-normal with
    mean 0.5 and median 0.3, a heavy right tail, as post-ReLU average-pooled CNN features.
    """
    rng = np.random.default_rng(seed)
    proto = rng.normal(size=(classes, latent))
    drift = rng.normal(size=(classes, latent))
    mix = rng.normal(size=(latent, dim)) / math.sqrt(latent)
    n = train_per_class + test_per_class
    label = np.repeat(np.arange(classes), n)
    offset = rng.normal(size=(len(label), 1, latent))  # nuisance: appearance of this video
    ramp = np.linspace(-1.0, 1.0, frames)[None, :, None]  # (1, T, 1)
    walk = np.cumsum(rng.normal(scale=0.15, size=(len(label), frames, latent)), axis=1)
    z = 0.6 * proto[label][:, None] + offset + 0.8 * drift[label][:, None] * ramp + walk  # (N, T, latent)
    logit = z @ mix  # (N, T, D)
    logit = (logit - logit.mean()) / logit.std()
    feats = np.exp(logit + math.log(0.5) - 0.5).astype(np.float32)  # log-normal, mean 0.5
    is_test = np.tile(np.arange(n) >= train_per_class, classes)
    return feats, label, np.where(is_test, 1, 8)  # group 1: test, as in the cache split


# -- training ---------------------------------------------------------------------------------
def make_scheduler(recipe: Recipe, optimizer: torch.optim.Optimizer, epochs: int):
    if recipe.schedule == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=5, gamma=0.5)
    return warmup_cosine(optimizer, warmup_epochs=2, max_epochs=epochs)


def spread(pooled: torch.Tensor) -> float:
    """Between-video variation of the pooled representation over its RMS (0: collapsed)."""
    return float((pooled - pooled.mean(0)).pow(2).mean().sqrt() / pooled.pow(2).mean().sqrt().clamp_min(1e-12))


def run(name: str, recipe: Recipe, data: tuple[np.ndarray, ...], *, epochs: int, batch: int, seed: int,
        log: Callable[[str], None]) -> dict:
    feats, labels, groups = data
    train, test = groups > 7, groups <= 7
    x_tr, y_tr = torch.from_numpy(feats[train]), torch.from_numpy(labels[train])
    x_te, y_te = torch.from_numpy(feats[test]), torch.from_numpy(labels[test])
    num_classes, (n, t, d) = int(labels.max()) + 1, x_tr.shape
    torch.manual_seed(seed)
    net = TransformerHead(input_dim=d, num_classes=num_classes, **recipe.net)
    optimizer = torch.optim.Adam(net.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    scheduler = make_scheduler(recipe, optimizer, epochs)
    pooled: list[torch.Tensor] = []
    net.fc.register_forward_hook(lambda _m, inp, _out: pooled.append(inp[0].detach()))
    probe = torch.randperm(n, generator=torch.Generator().manual_seed(0))[:128]
    full = lambda b: torch.full((b,), t)  # noqa: E731 - every video has T steps here

    def evaluate(x: torch.Tensor, y: torch.Tensor) -> float:
        net.eval()
        with torch.no_grad():
            pred = torch.cat([net(x[i : i + 256], full(len(x[i : i + 256]))).argmax(-1) for i in range(0, len(x), 256)])
        return float((pred == y).float().mean())

    curve = []
    generator = torch.Generator().manual_seed(seed)
    for epoch in range(epochs):
        lr = optimizer.param_groups[0]["lr"]
        net.train()
        losses, correct = [], 0
        for idx in torch.randperm(n, generator=generator).split(batch):
            logits = net(x_tr[idx], full(len(idx)))
            loss = F.cross_entropy(logits, y_tr[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            correct += int((logits.argmax(-1) == y_tr[idx]).sum())
        scheduler.step()
        pooled.clear()
        net.eval()
        with torch.no_grad():
            net(x_tr[probe], full(len(probe)))
        row = {"epoch": epoch + 1, "lr": lr, "train_loss": float(np.mean(losses)), "train_acc": correct / n,
               "test_acc": evaluate(x_te, y_te), "spread": spread(pooled[0]),
               "first_losses": [round(v, 3) for v in losses[:: max(1, len(losses) // 8)]] if epoch == 0 else None}
        curve.append(row)
        log(f"{name:>20} {row['epoch']:>3} {lr:9.2e} {row['train_loss']:8.3f} {100 * row['train_acc']:7.1f}% "
            f"{100 * row['test_acc']:7.1f}% {row['spread']:7.3f}")
    return {"recipe": name, "seed": seed, "chance_loss": math.log(num_classes), "curve": curve}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", choices=["cache", "resnet50"], default="resnet50")
    parser.add_argument("--cache", default="/tmp/ucfdef/cache/features/synthetic-*",
                        help="feature-cache entry (glob; the first match with features.npy is used)")
    parser.add_argument("--recipes", nargs="+", default=["seed", "ours"], choices=sorted(RECIPES))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--train-per-class", type=int, default=16, help="resnet50 data: training videos per class")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (the machine is shared)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    if args.data == "cache":
        entries = [Path(p) for p in sorted(glob.glob(args.cache)) if (Path(p) / "features.npy").is_file()]
        if not entries:
            raise SystemExit(f"no feature cache matches {args.cache}: run `uv run ucfbench run` once, or use --data resnet50")
        data = load_cache(entries[0])
        source = str(entries[0])
    else:
        data = resnet50_like(train_per_class=args.train_per_class)
        source = "resnet50-like synthetic"
    feats = data[0]
    print(f"data: {source}  shape {feats.shape}  classes {data[1].max() + 1}  "
          f"train {(data[2] > 7).sum()}  test {(data[2] <= 7).sum()}  "
          f"feature mean {feats.mean():.3f} std {feats.std():.3f} max {feats.max():.2f}", flush=True)
    print(f"{'recipe':>20} {'ep':>3} {'lr':>9} {'loss':>8} {'train':>8} {'test':>8} {'spread':>7}", flush=True)
    results = []
    for seed in args.seeds:
        for name in args.recipes:
            start = time.perf_counter()
            result = run(name, RECIPES[name], data, epochs=args.epochs, batch=args.batch, seed=seed,
                         log=lambda line: print(line, flush=True))
            result["seconds"] = round(time.perf_counter() - start, 1)
            results.append(result)
    print(json.dumps({"data": source, "results": results}))


if __name__ == "__main__":
    main()
