"""Training-loop overhead: a sequence head trained through Lightning against a bare PyTorch loop.

Both train the same head (the suite's GRU, hidden 512, the UCF50 write-up's Adam + StepLR recipe) on the
same random cached-feature-shaped data (float16 ``(N, T, D)``, e.g. 2048 videos x 32 x 512, or
``--dim 2048`` for ResNet-50 features), same batches (:class:`InMemoryLoader`, the loader
``FeatureDataModule`` uses with ``data.device_resident``), same precision:

* ``plain``: ``for batch in loader: standardise, forward, cross-entropy, backward, step``; nothing else.
* ``lightning``: the real ``ActionClassifier`` (its torchmetrics and ``self.log`` calls included)
  under a ``Trainer`` with logging, progress bar, checkpointing and model summary off.
* ``lightning+callbacks``: the same with the suite's default callbacks (progress bar, checkpoint
  every epoch, history.csv, model summary) and a CSV logger, to show what they cost.
* ``lightning+dataloader``: the lean trainer fed by a ``DataLoader`` over the memory-mapped
  features (``data.device_resident=false``), to compare the two loader paths.

Throughput is training samples per second over the epochs after the first (warm-up), from the
wall clock and, since a shared machine's wall time wanders, also per CPU second of this process.
Modes alternate over ``--repeats`` rounds, in reverse order every other round (so a load that
drifts during the run favours no mode); the best round of each figure counts.

    uv run python benchmarks/train_loop.py [--dim 2048] [--device cuda] [--repeats 3]
    uv run python benchmarks/train_loop.py --study [--quick]     # the eight-head study, time per head

``--study`` times the UCF50 write-up's study on UCF50-sized features (5,344 train and 1,337 test videos x 32 x
2048, 20 epochs) for every head in ``conf/model/`` (but ``cnn_rnn``), each with its own config and
``trainer=gpu``'s mixed precision on CUDA. The last line of output is one JSON object.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import platform
import tempfile
import time
from pathlib import Path

import lightning as L
import numpy as np
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from lightning.pytorch.callbacks import Callback
from omegaconf import OmegaConf
from torch.utils.data import DataLoader

from ucfbench.datamodules import model_input
from ucfbench.datamodules.feature_datamodule import EpochOrder, FeatureDataset, InMemoryLoader
from ucfbench.models.heads.gru import GRUHead
from ucfbench.models.module import ActionClassifier
from ucfbench.utils.resolvers import amp_precision

log = logging.getLogger("benchmarks.train_loop")
CONF = Path(__file__).resolve().parents[1] / "conf"
MODES = ("plain", "lightning", "lightning+callbacks", "lightning+dataloader")


# -- data ----------------------------------------------------------------------------------------
def random_split(n: int, t: int, d: int, classes: int, *, seed: int = 0) -> dict[str, torch.Tensor]:
    """Cached-feature-shaped random data: float16 (N, T, D) features, full lengths, labels."""
    g = torch.Generator().manual_seed(seed)
    return {"features": torch.randn(n, t, d, generator=g).half(), "lengths": torch.full((n,), t, dtype=torch.int64),
            "labels": torch.randint(0, classes, (n,), generator=g)}


def input_stats(split: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """(D,) mean and std of the features, for ``model.input_norm=standardize`` (the suite's default)."""
    x = split["features"].flatten(0, 1).float()  # (N*T, D)
    return x.mean(0), x.std(0)


def memory_loader(split: dict[str, torch.Tensor], device: torch.device, batch_size: int, *,
                  shuffle: bool = True, seed: int = 0) -> InMemoryLoader:
    on_device = {k: v.to(device) for k, v in split.items()}
    order = EpochOrder(len(split["labels"]), shuffle=shuffle, seed=seed)
    return InMemoryLoader(**on_device, batch_size=batch_size, order=order)


def memmap_loader(split: dict[str, torch.Tensor], workdir: Path, batch_size: int, device: torch.device) -> DataLoader:
    """The ``device_resident=false`` path: a DataLoader over the features memory-mapped from a .npy."""
    path = workdir / "features.npy"
    np.save(path, split["features"].numpy())
    features = np.load(path, mmap_mode="r")
    dataset = FeatureDataset(features=features, lengths=split["lengths"].numpy(), rows=np.arange(len(features)),
                             labels=split["labels"].numpy())
    return DataLoader(dataset, batch_size=batch_size, shuffle=True, num_workers=0, pin_memory=device.type == "cuda")


# -- the model -----------------------------------------------------------------------------------
def gru(input_dim: int, classes: int, hidden: int) -> GRUHead:
    return GRUHead(input_dim=input_dim, num_classes=classes, hidden_dim=hidden, dropout=0.3)


def optimizer_factory(params) -> torch.optim.Optimizer:
    return torch.optim.Adam(params, lr=1e-3, weight_decay=1e-5)


def scheduler_factory(optimizer: torch.optim.Optimizer):
    return torch.optim.lr_scheduler.StepLR(optimizer, step_size=5, gamma=0.5)


def precision_for(device: torch.device) -> str:
    return amp_precision("gpu") if device.type == "cuda" else "32-true"


def autocast(device: torch.device, precision: str):
    """What Lightning's precision plugin wraps the forward in."""
    if precision.startswith(("bf16", "16")):
        dtype = torch.bfloat16 if precision.startswith("bf16") else torch.float16
        return torch.autocast(device.type, dtype=dtype)
    return contextlib.nullcontext()


# -- timing --------------------------------------------------------------------------------------
def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Clock:
    """Wall and process CPU seconds of each epoch."""

    def __init__(self, device: torch.device) -> None:
        self.device, self.epochs, self._start = device, [], (0.0, 0.0)

    def start(self) -> None:
        _sync(self.device)
        self._start = (time.perf_counter(), time.process_time())

    def stop(self) -> None:
        _sync(self.device)
        self.epochs.append((time.perf_counter() - self._start[0], time.process_time() - self._start[1]))

    def rates(self, samples: int) -> dict[str, float]:
        """Samples per wall second and per CPU second over the epochs after the first."""
        timed = self.epochs[1:] or self.epochs
        wall, cpu = sum(e[0] for e in timed), sum(e[1] for e in timed)
        return {"samples_per_s": samples * len(timed) / wall, "samples_per_cpu_s": samples * len(timed) / cpu,
                "epoch_s": wall / len(timed)}


class EpochClock(Callback):
    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self.clock.start()

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self.clock.stop()


def train_plain(loader, *, input_dim: int, classes: int, hidden: int, epochs: int, device: torch.device,
                precision: str, stats: tuple[torch.Tensor, torch.Tensor]) -> Clock:
    """The bare loop: same head, optimiser, scheduler, batches and precision; no metrics, no hooks."""
    torch.manual_seed(0)
    net = gru(input_dim, classes, hidden).to(device).train()
    mean, std = (s.to(device) for s in stats)
    optimizer = optimizer_factory(net.parameters())
    scheduler = scheduler_factory(optimizer)
    scaler = torch.amp.GradScaler(device.type) if precision.startswith("16") else None  # float16 only
    criterion = torch.nn.CrossEntropyLoss()
    clock = Clock(device)
    for epoch in range(epochs):
        if hasattr(loader, "sampler") and hasattr(loader.sampler, "set_epoch"):
            loader.sampler.set_epoch(epoch)
        clock.start()
        for batch in loader:
            batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
            with autocast(device, precision):
                x = (batch["x"] - mean) / std  # model.input_norm=standardize, as ActionClassifier does
                loss = criterion(net(x, batch["lengths"]), batch["label"])
            optimizer.zero_grad(set_to_none=True)
            if scaler is None:
                loss.backward()
                optimizer.step()
            else:
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
        scheduler.step()
        clock.stop()
    return clock


def suite_callbacks(out_dir: Path) -> tuple[list[Callback], list]:
    """The suite's default callbacks (conf/callbacks/default.yaml) and a CSV logger, writing to ``out_dir``.

    There is no validation split here, so the checkpoint monitors nothing (saves every epoch).
    """
    callbacks = OmegaConf.load(CONF / "callbacks" / "default.yaml")
    logger = OmegaConf.load(CONF / "logger" / "csv.yaml")
    cfg = OmegaConf.create({"paths": {"output_dir": str(out_dir)}, "callbacks": callbacks, "logger": logger})
    cfg.callbacks.model_checkpoint.monitor = None
    cfg.callbacks.model_checkpoint.filename = "epoch{epoch:03d}"
    return ([instantiate(c) for c in cfg.callbacks.values()], [instantiate(c) for c in cfg.logger.values()])


def train_lightning(loader, *, input_dim: int, classes: int, hidden: int, epochs: int, device: torch.device,
                    precision: str, stats: tuple[torch.Tensor, torch.Tensor], callbacks: bool, workdir: Path) -> Clock:
    torch.manual_seed(0)
    model = ActionClassifier(net=gru(input_dim, classes, hidden), optimizer=optimizer_factory,
                             scheduler=scheduler_factory, num_classes=classes, input_dim=input_dim,
                             input_norm="standardize")
    model.model.norm.set(*stats)
    clock = Clock(device)
    extra, loggers = suite_callbacks(workdir / "run") if callbacks else ([], [])
    trainer = L.Trainer(
        accelerator=device.type if device.type == "cuda" else "cpu", devices=1, precision=precision,
        max_epochs=epochs, logger=loggers or False, enable_checkpointing=callbacks, enable_progress_bar=callbacks,
        enable_model_summary=callbacks, callbacks=[EpochClock(clock), *extra], num_sanity_val_steps=0,
        limit_val_batches=0, log_every_n_steps=10, deterministic=False,
    )
    trainer.fit(model, train_dataloaders=loader)
    return clock


def compare(args: argparse.Namespace, device: torch.device) -> dict:
    precision = precision_for(device)
    split = random_split(args.videos, args.frames, args.dim, args.classes)
    kw = {"input_dim": args.dim, "classes": args.classes, "hidden": args.hidden, "epochs": args.epochs,
          "device": device, "precision": precision, "stats": input_stats(split)}
    best: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        loaders = {"memory": memory_loader(split, device, args.batch_size),
                   "dataloader": memmap_loader(split, workdir, args.batch_size, device)}
        for r in range(args.repeats):
            for mode in args.modes if r % 2 == 0 else args.modes[::-1]:  # ABBA: a drifting load favours none
                loader = loaders["dataloader" if mode == "lightning+dataloader" else "memory"]
                if mode == "plain":
                    clock = train_plain(loader, **kw)
                else:
                    clock = train_lightning(loader, **kw, callbacks=mode == "lightning+callbacks",
                                            workdir=workdir / f"{mode}-{r}")
                rates = clock.rates(args.videos)
                log.info("round %d %-22s %8.1f samples/s  %8.1f samples/CPU s", r, mode, rates["samples_per_s"],
                         rates["samples_per_cpu_s"])
                kept = best.setdefault(mode, rates)  # best round of each figure
                kept.update({k: max(kept[k], v) for k, v in rates.items() if k.startswith("samples")})
                kept["epoch_s"] = min(kept["epoch_s"], rates["epoch_s"])
        loader_only = {name: loader_throughput(loader, device, args.batch_size) for name, loader in loaders.items()}
    return {"modes": best, "loader_only": loader_only, "precision": precision}


def loader_throughput(loader, device: torch.device, batch_size: int, passes: int = 3) -> float:
    """Batches per second of iterating the loader alone (batches moved to the device), best of ``passes``."""
    best = 0.0
    for _ in range(passes):
        _sync(device)
        start, n = time.perf_counter(), 0
        for batch in loader:
            x = batch["x"].to(device, non_blocking=True)
            n += 1
        del x
        _sync(device)
        best = max(best, n / (time.perf_counter() - start))
    return best


# -- the study -----------------------------------------------------------------------------------
def study_heads() -> list[str]:
    """Every model that reads cached features (no ``model.encoder``): the eight sequence heads."""
    return sorted(p.stem for p in (CONF / "model").glob("*.yaml") if not p.stem.startswith("_")
                  and model_input(compose_cfg([f"model={p.stem}"])) == "features")


def compose_cfg(overrides: list[str]):
    """The suite's config with ``overrides``, as ``uv run ucfbench run`` composes it."""
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose("config", overrides=overrides)


def study(args: argparse.Namespace, device: torch.device) -> dict:
    """Seed 003's eight-head study on UCF50-sized random features: train and test time per head."""
    n_train, n_test, t, d, classes, epochs = 5344, 1337, 32, 2048, 50, 20
    if args.quick:
        n_train, n_test, epochs = 96, 32, 3  # the transformer warms up for 2 epochs
    precision = precision_for(device)
    train_split = random_split(n_train, t, d, classes, seed=0)
    test_split = random_split(n_test, t, d, classes, seed=1)
    stats = input_stats(train_split)
    train_loader = memory_loader(train_split, device, 16)
    test_loader = memory_loader(test_split, device, 64, shuffle=False)
    results = {}
    for head in args.heads or study_heads():
        cfg = compose_cfg([f"model={head}", f"trainer.max_epochs={epochs}"])
        torch.manual_seed(0)
        net = instantiate(cfg.model.net)(input_dim=d, num_classes=classes)
        model = instantiate(cfg.model, net=net, num_classes=classes, input_dim=d)
        model.model.norm.set(*stats)
        clock = Clock(device)
        trainer = L.Trainer(accelerator="cuda" if device.type == "cuda" else "cpu", devices=1, precision=precision,
                            max_epochs=epochs, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                            enable_model_summary=False, callbacks=[EpochClock(clock)], limit_val_batches=0,
                            num_sanity_val_steps=0, deterministic=False)
        _sync(device)
        start = time.perf_counter()
        trainer.fit(model, train_dataloaders=train_loader)
        _sync(device)
        fit_s = time.perf_counter() - start
        start = time.perf_counter()
        trainer.test(model, dataloaders=test_loader, verbose=False)
        _sync(device)
        test_s = time.perf_counter() - start
        results[head] = {"params": sum(p.numel() for p in net.parameters()), "fit_s": round(fit_s, 2),
                         "test_s": round(test_s, 2), "epoch_s": round(clock.rates(n_train)["epoch_s"], 3),
                         "train_samples_per_s": round(clock.rates(n_train)["samples_per_s"], 1)}
        log.info("%-14s fit %.1f s, test %.1f s", head, fit_s, test_s)
    return {"heads": results, "videos": [n_train, n_test], "shape": [t, d], "epochs": epochs, "precision": precision,
            "total_s": round(sum(r["fit_s"] + r["test_s"] for r in results.values()), 1)}


# -- output --------------------------------------------------------------------------------------
def machine(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)}, torch {torch.__version__}, lightning {L.__version__}"
    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs visible, "
            f"{torch.get_num_threads()} torch threads, torch {torch.__version__}, lightning {L.__version__}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--threads", type=int, help="torch CPU threads (1 steadies timings on a busy machine)")
    parser.add_argument("--videos", type=int, default=2048)
    parser.add_argument("--frames", type=int, default=32)
    parser.add_argument("--dim", type=int, default=512, help="feature size D (2048: ResNet-50)")
    parser.add_argument("--classes", type=int, default=50)
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=3, help="the first is warm-up and not timed")
    parser.add_argument("--repeats", type=int, default=2, help="rounds over the modes; the best counts")
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    parser.add_argument("--study", action="store_true", help="time the eight-head study instead")
    parser.add_argument("--quick", action="store_true", help="--study on a few videos for 3 epochs (a smoke run)")
    parser.add_argument("--heads", nargs="+", help="--study: only these heads")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)
    if args.threads:
        torch.set_num_threads(args.threads)
        os.environ["OMP_NUM_THREADS"] = str(args.threads)  # Lightning resets threads unless this is set
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device here")

    if args.study:
        out = study(args, device)
        print(f"\nStudy on {machine(device)}: {out['videos'][0]} train / {out['videos'][1]} test videos x "
              f"{out['shape'][0]} x {out['shape'][1]}, {out['epochs']} epochs, {out['precision']}")
        print(f"{'head':<14} {'params':>10} {'fit s':>9} {'test s':>8} {'s/epoch':>9} {'train samples/s':>16}")
        for head, r in out["heads"].items():
            print(f"{head:<14} {r['params']:>10,} {r['fit_s']:>9.1f} {r['test_s']:>8.1f} {r['epoch_s']:>9.2f} "
                  f"{r['train_samples_per_s']:>16.1f}")
        print(f"total {out['total_s']:.1f} s")
        print(json.dumps({"study": out, "machine": machine(device)}))
        return

    out = compare(args, device)
    modes = out["modes"]
    print(f"\n{args.videos} videos x {args.frames} x {args.dim}, GRU hidden {args.hidden}, batch {args.batch_size}, "
          f"{args.epochs} epochs (first not timed), {out['precision']}, best of {args.repeats}; {machine(device)}")
    print(f"{'mode':<22} {'samples/s':>10} {'samples/CPU s':>14} {'s/epoch':>8} {'vs plain':>9}")
    plain = modes.get("plain", {}).get("samples_per_s")
    for mode, r in modes.items():
        ratio = f"{r['samples_per_s'] / plain:.3f}" if plain else "-"
        print(f"{mode:<22} {r['samples_per_s']:>10.1f} {r['samples_per_cpu_s']:>14.1f} {r['epoch_s']:>8.2f} {ratio:>9}")
    print("loader alone (batches/s): " + ", ".join(f"{k} {v:.0f}" for k, v in out["loader_only"].items()))
    summary = {
        "lightning_samples_per_s": round(modes["lightning"]["samples_per_s"], 2) if "lightning" in modes else None,
        "plain_samples_per_s": round(plain, 2) if plain else None,
        "ratio": round(modes["lightning"]["samples_per_s"] / plain, 4) if plain and "lightning" in modes else None,
        "cpu_ratio": (round(modes["lightning"]["samples_per_cpu_s"] / modes["plain"]["samples_per_cpu_s"], 4)
                      if plain and "lightning" in modes else None),
        "modes": {k: {m: round(v, 3) for m, v in r.items()} for k, r in modes.items()},
        "loader_only_batches_per_s": {k: round(v, 1) for k, v in out["loader_only"].items()},
        "shape": [args.videos, args.frames, args.dim], "batch_size": args.batch_size, "hidden": args.hidden,
        "precision": out["precision"], "device": str(device), "machine": machine(device),
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
