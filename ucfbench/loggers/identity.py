"""Who a run is, in every logger: its name, its study (W&B group), tags and the keys to group by.

A name says what distinguishes one job of a study from another: dataset, protocol and split or fold,
model (with variant), seed, and any swept value that is none of these
(``ucf50-logo03-gru-seed1``, ``ucf101-s2-cnn_rnn/no_attention-seed0``,
``synthetic-s1-gru-seed42-hidden_dim256``). The study is the experiment's name, or the multirun
directory's name when there is none, with the multirun directory's name added, so two launches of
one experiment never share a group; a single run is grouped by its experiment, if any.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePath

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.types import RunMode
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

# Overrides that are already in the name (or say nothing about the job) never add a suffix.
IDENTITY_KEYS = {"model", "variant", "seed", "dataset", "dataset.split", "dataset.fold", "dataset.protocol",
                 "experiment", "debug", "hparams_search", "logger", "resume"}


@dataclass(frozen=True)
class RunIdentity:
    """What a run is; :meth:`keys` are the flat config keys a dashboard groups and filters by."""

    name: str
    study: str | None
    model: str
    variant: str | None
    dataset: str
    protocol: str | None
    split: int | None
    fold: int | None
    seed: int
    leaky: bool
    backbone: str | None
    swept: dict[str, str] = field(default_factory=dict)

    @property
    def tags(self) -> list[str]:
        return [t for t in (self.dataset, self.protocol, "leaky" if self.leaky else None) if t]

    def keys(self) -> dict:
        """``model``, ``variant``, ``dataset``, ``protocol``, ``split``, ``fold``, ``seed``, ``leaky``, ``study``,
        ``backbone`` (``params`` is added once the model is built)."""
        keys = asdict(self)
        for k in ("name", "swept"):
            keys.pop(k)
        return keys


def model_name(choices: dict) -> str:
    """``cnn_rnn``, or ``cnn_rnn/no_attention`` for a ``variant`` other than ``full`` (as in ``metrics.json``)."""
    model, variant = choices.get("model"), choices.get("variant")
    return f"{model}/{variant}" if variant not in (None, "full") else model


def split_tag(split: str) -> str:
    """Short protocol-and-split in names: ``split2`` -> ``s2``, ``fold03`` (leave-one-group-out) -> ``logo03``."""
    if m := re.fullmatch(r"split(\d+)", split):
        return f"s{m[1]}"
    if m := re.fullmatch(r"fold(\d+)", split):
        return f"logo{m[1]}"
    return split


def study_name(*, multirun: bool, experiment: str | None, sweep_dir: str | Path | None) -> str | None:
    """The W&B group: ``<experiment>-<multirun dir name>``, the multirun dir's name, or the experiment."""
    if multirun and sweep_dir:
        folder = Path(sweep_dir).name
        return f"{experiment}-{folder}" if experiment and experiment not in folder else folder
    return experiment or None


def _sweep_dir(output_dir: str, subdir: str) -> Path:
    """The multirun directory of a job: its output dir without the job's ``hydra.sweep.subdir`` part.

    Not ``hydra.sweep.dir``: it holds ``${now:...}``, which a job started in another process
    (joblib, SLURM) would resolve to another time.
    """
    out = Path(output_dir)
    depth = len(PurePath(subdir).parts) if subdir else 0
    return out.parents[depth - 1] if depth else out


def study_of_run_dir(run_dir: str | Path) -> str | None:
    """The study of a finished job, from its ``.hydra/hydra.yaml`` (what ``report wandb=true`` groups under)."""
    path = Path(run_dir) / ".hydra" / "hydra.yaml"
    if not path.is_file():
        return None
    hydra = OmegaConf.load(path).hydra
    multirun = str(hydra.get("mode")) in ("MULTIRUN", str(RunMode.MULTIRUN))
    subdir = OmegaConf.select(hydra, "sweep.subdir", throw_on_resolution_failure=False, default=None)
    sweep = _sweep_dir(str(hydra.runtime.output_dir), str(subdir or "x")) if multirun else None
    return study_name(multirun=multirun, experiment=hydra.runtime.choices.get("experiment"), sweep_dir=sweep)


def _format_value(value: str) -> str:
    try:
        number = float(value)
    except ValueError:
        return value.replace("/", "_").replace(" ", "")
    return value if number.is_integer() and "." not in value and "e" not in value.lower() else f"{number:.3g}"


def swept_values(hc: DictConfig) -> dict[str, str]:
    """This job's value of every swept key that is not part of the identity (``{"model.net.hidden_dim": "256"}``).

    Swept keys: the sweeper's ``params`` (experiments, Optuna) and the sweeps of the multirun command
    line, read from ``<multirun dir>/multirun.yaml`` (a job's own overrides hold single values only).
    """
    if hc.mode != RunMode.MULTIRUN:
        return {}
    parser = OverridesParser.create()
    keys = set((hc.sweeper.get("params") or {}).keys())
    multirun = _sweep_dir(hc.runtime.output_dir, str(hc.sweep.subdir)) / "multirun.yaml"
    if multirun.is_file():
        launched = OmegaConf.load(multirun).hydra.overrides.task
        keys |= {o.key_or_group for o in parser.parse_overrides(list(launched)) if o.is_sweep_override()}
    values = {}
    for o in parser.parse_overrides(list(hc.overrides.task)):
        key = o.key_or_group
        if key in keys and key not in IDENTITY_KEYS and not key.startswith("hydra"):
            values[key] = o.get_value_element_as_str()
    return values


def run_identity(cfg: DictConfig, *, hydra: DictConfig | None = None, dataset: dict | None = None) -> RunIdentity:
    """The identity of a job from its config and ``hydra``, its Hydra config (default: ``cfg.hydra``,
    as a config composed with ``return_hydra_config=True`` holds it).

    ``dataset``: the built dataset's ``describe()`` (default: the dataset config's, built here).
    """
    hc = hydra if hydra is not None else cfg.hydra
    choices = hc.runtime.choices
    multirun = hc.mode == RunMode.MULTIRUN
    sweep = _sweep_dir(hc.runtime.output_dir, str(hc.sweep.subdir)) if multirun else None
    ds = dataset if dataset is not None else instantiate(cfg.dataset).describe()
    model = model_name(choices)
    # The encoder the model trains (model.encoder), else the frozen one of the feature cache.
    backbone = OmegaConf.select(cfg, "model.encoder.arch", default=None) or OmegaConf.select(cfg, "features.model", default=None)
    swept = swept_values(hc)
    parts = [ds["dataset"], split_tag(ds["split_name"]) if ds["split_name"] else None, model, f"seed{cfg.seed}"]
    parts += [f"{k.split('.')[-1].lstrip('+~')}{_format_value(v)}" for k, v in swept.items()]
    return RunIdentity(
        name="-".join(p for p in parts if p), study=study_name(multirun=multirun, experiment=choices.get("experiment"),
                                                            sweep_dir=sweep),
        model=model, variant=choices.get("variant"), dataset=ds["dataset"], protocol=ds["protocol"],
        split=ds["split"], fold=ds["fold"], seed=int(cfg.seed), leaky=bool(ds["leaky"]), backbone=backbone, swept=swept,
    )


def resolved_config(cfg: DictConfig) -> dict:
    """The whole resolved run config, nested as in ``config.yaml`` (without Hydra's own section)."""
    container = OmegaConf.to_container(cfg, resolve=True)
    container.pop("hydra", None)
    return container
