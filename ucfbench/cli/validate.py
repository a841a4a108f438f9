"""Cheap checks of a composed config, run before any dataset, feature or model work."""

from __future__ import annotations

import inspect
import re

from omegaconf import DictConfig, OmegaConf

from ucfbench.utils.errors import UsageError, UserError, did_you_mean

# key -> (smallest value allowed, what it means); absent keys are skipped (not every config has them)
MIN_INT = {
    "data.batch_size": (1, "videos per batch"),
    "features.batch_size": (1, "videos per extraction batch"),
    "data.num_workers": (0, "DataLoader worker processes"),
    "features.num_workers": (0, "DataLoader worker processes"),
    "features.sampler.num_frames": (1, "frames sampled per video"),
    "data.sampler.num_frames": (1, "frames sampled per video"),
    "trainer.accumulate_grad_batches": (1, "batches per optimiser step"),
    "trainer.num_nodes": (1, "machines"),
    "trainer.log_every_n_steps": (1, "steps between logged training metrics"),
    "data.test_views": (1, "clips averaged per test video"),
    "data.eval_batch_size": (1, "videos per validation / test batch"),
}
POSITIVE = {"model.optimizer.lr": "learning rate"}
SEED_MAX = 2**32 - 1


def _select(cfg: DictConfig, key: str) -> object:
    try:
        return OmegaConf.select(cfg, key, default=None)
    except Exception:  # noqa: BLE001 - an interpolation that cannot resolve yet is not ours to judge
        return None


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _added_key_problems(cfg: DictConfig, overrides: list[str], groups: set[str]) -> list[str]:
    """``+a.b.key=v`` / ``++a.b.key=v`` adding a key that the object built from ``a.b`` does not take."""
    from hydra.utils import get_object

    problems = []
    for override in overrides:
        if not override.startswith("+"):
            continue
        key = override.lstrip("+").split("=", 1)[0]
        if "@" in key or "/" in key or key in groups or "." not in key:
            continue  # a config group added (+experiment=...), or a top-level key
        parent, leaf = key.rsplit(".", 1)
        if leaf.startswith("_") and leaf.endswith("_"):
            continue  # Hydra's own keys (_target_, _partial_, ...): a new object, not an argument
        node = _select(cfg, parent)
        if not isinstance(node, DictConfig) or "_target_" not in node:
            continue
        try:
            params = inspect.signature(get_object(str(node._target_))).parameters
        except Exception:  # noqa: BLE001 - unknown target: instantiation will say so
            continue
        if leaf in params or any(p.kind is p.VAR_KEYWORD for p in params.values()):
            continue
        names = [p for p in params if p not in ("self", "args", "kwargs")]
        siblings = [str(k) for k in node.keys() if k != leaf]
        problems.append(f"{key}: {node._target_.rsplit('.', 1)[-1]} takes no argument {leaf!r}"
                        f"{did_you_mean(leaf, siblings + names, prefix=parent + '.')}")
    return problems


def validate_config(cfg: DictConfig, *, overrides: list[str] = (), groups: set[str] = frozenset()) -> None:
    """Raise :class:`UsageError` naming every bad value of ``cfg`` and its fix.

    Args:
        cfg: the composed job config.
        overrides: the command line's overrides (``hydra.overrides.task``): keys added with ``+``
            are checked against the arguments of the object they configure.
        groups: config group names (``+experiment=...`` adds a group, not a key).
    """
    problems = []
    for key, (low, what) in MIN_INT.items():
        value = _select(cfg, key)
        if value is not None and (not _is_int(value) or value < low):
            problems.append(f"{key}={value}: {what}, an integer >= {low}")
    for key, what in POSITIVE.items():
        value = _select(cfg, key)
        if value is not None and (not isinstance(value, int | float) or isinstance(value, bool) or value <= 0):
            problems.append(f"{key}={value}: the {what}, a number > 0")
    epochs = _select(cfg, "trainer.max_epochs")
    if epochs is not None and (not _is_int(epochs) or (epochs < 1 and epochs != -1)):
        problems.append(f"trainer.max_epochs={epochs}: an integer >= 1 (or -1: until stopped)")
    seed = _select(cfg, "seed")
    if seed is not None and (not _is_int(seed) or not 0 <= seed <= SEED_MAX):
        problems.append(f"seed={seed}: an integer from 0 to {SEED_MAX} (2**32 - 1, numpy's range)")
    from ucfbench.cache.claims import claim_problems  # the extraction checks the same (cache/claims.py)

    problems += claim_problems(_select(cfg, "features.claim_size"), _select(cfg, "features.claim_timeout"))
    for key in ("features.backend", "data.backend"):
        backend = _select(cfg, key)
        if backend is not None and backend != "auto":
            from ucfbench.data.video import BACKENDS  # imports torch: only for a decoder named on purpose

            if backend not in BACKENDS:
                problems.append(f"{key}={backend}: the video decoder, one of {', '.join(('auto', *BACKENDS))}")
    resume = _select(cfg, "resume")
    if resume is not None and not isinstance(resume, bool):
        problems.append(f"resume={resume}: true or false")
    problems += _added_key_problems(cfg, list(overrides), set(groups))
    if problems:
        raise UsageError("\n".join(problems) if len(problems) > 1 else problems[0])


def validate_dataset(cfg: DictConfig, *, choice: str | None = None) -> None:
    """Build the configured dataset (its arguments checked, nothing read but its root): a bad
    value or an argument its class does not take is a :class:`UsageError` naming the key.
    ``choice`` is the ``dataset=`` option, named in the message."""
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate

    choice = choice or str(_select(cfg, "dataset._target_")).rsplit(".", 1)[-1]
    node = _select(cfg, "dataset")
    if not isinstance(node, DictConfig) or "_target_" not in node:
        return
    try:
        dataset = instantiate(node)
    except InstantiationException as err:
        cause = err.__cause__ or err
        if isinstance(cause, UserError):
            raise cause from None
        unexpected = re.search(r"(\w+)\.__init__\(\) got an unexpected keyword argument '(\w+)'", str(cause))
        if unexpected:
            raise UsageError(f"dataset.{unexpected[2]}: {unexpected[1]} (dataset={choice}) takes no such "
                             "argument; remove it") from None
        if isinstance(cause, ValueError | TypeError):
            raise UsageError(f"dataset={choice}: {cause}") from None
        raise
    check = getattr(dataset, "check_exists", None)
    if check is not None:
        check()
