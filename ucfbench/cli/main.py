"""``@hydra_main``: Hydra's ``@hydra.main`` for ucfbench's commands, with errors a user can act on.

What it adds around a task function:

* the terminal quiet unless ``verbose=true`` (:mod:`ucfbench.cli.quiet`);
* :func:`~ucfbench.cli.validate.validate_config` before the task does any work;
* a user's mistake (unknown option or key, bad value or override syntax, missing dataset, a file
  that cannot be used) ends in a few lines on stderr, ``error: <what is wrong> (did you mean
  ...)`` and what to do, with exit status 2 and no traceback; anything else is a bug and keeps
  its traceback. ``HYDRA_FULL_ERROR=1`` shows the traceback of every error;
* a run that fails on such a mistake leaves no run directory behind (Hydra creates it, with
  ``.hydra/`` and the log file, before the task starts).
"""

from __future__ import annotations

import functools
import inspect
import logging
import os
import re
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.errors import (
    ConfigCompositionException,
    InstantiationException,
    MissingConfigException,
    OverrideParseException,
)
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import InterpolationResolutionError, MissingMandatoryValue

from ucfbench.cli.quiet import setup_output
from ucfbench.cli.validate import validate_config, validate_dataset
from ucfbench.utils.errors import EXIT_USAGE, DatasetError, UsageError, UserError, dataset_hint, print_error

# Set when we (not the user) turned on HYDRA_FULL_ERROR, so that Hydra hands us its exceptions.
_OURS = "_UCFBENCH_FULL_ERROR"
# What Hydra and a run write before the work starts: a run dir holding only these holds nothing.
_BOOKKEEPING = {".hydra", "config.yaml"}
_CONFIG_FLAGS = {"--config-name", "-cn", "--config-path", "-cp", "--config-dir", "-cd"}


def user_wants_traceback() -> bool:
    return os.environ.get("HYDRA_FULL_ERROR") == "1" and os.environ.get(_OURS) != "1"


def explain(err: BaseException, *, dataset: str | None = None, root: str | None = None) -> str | None:
    """The message to show for a user's mistake, or None for an error that is a bug.

    ``dataset`` (the ``dataset=`` option) and ``root`` (``dataset.root``) complete the commands a
    message suggests."""
    cause = err
    while isinstance(cause, InstantiationException) and cause.__cause__ is not None:
        cause = cause.__cause__
    while isinstance(cause, InterpolationResolutionError) and cause.__context__ is not None:
        cause = cause.__context__  # a resolver's error (a read-only home for hydra.run.dir); OmegaConf drops __cause__
    if isinstance(cause, MissingMandatoryValue):
        return f"{cause.full_key} must be set (it is ??? in the config): add {cause.full_key}=<value>"
    if not isinstance(cause, UserError):
        return None
    if isinstance(cause, _video_error()):
        return bad_video_message(cause, dataset=dataset, root=root)
    # where to get the dataset and how to check it: for a root that is not there, not for a
    # folder that is there but too small (its message has the keys)
    missing_root = root is None or not Path(str(root)).expanduser().is_dir()
    hint = dataset_hint(dataset) if isinstance(cause, DatasetError) and missing_root else ""
    return f"{cause}\n{hint}" if hint else str(cause)


def _video_error() -> type:
    video = sys.modules.get("ucfbench.data.video")
    return getattr(video, "VideoDecodeError", ()) or ()


def bad_video_message(err: BaseException, *, dataset: str | None, root: str | None) -> str:
    """A video that cannot be decoded, named, with the two ways out (skip it, or list every one)."""
    from ucfbench.utils.commands import command

    text = str(err)
    if "Original Traceback" in text:  # re-raised from a DataLoader worker: the original message is last
        text = [line for line in text.splitlines() if line.strip()][-1].split(": ", 1)[-1]
    check = ["check", f"dataset={dataset or '<name>'}"] + ([f"dataset.root={root}"] if root else []) + ["probe=true"]
    return (f"cannot decode a video of the dataset: {text}\n"
            "Leave unreadable videos out (they are listed in skipped.txt): add dataset.on_bad_video=skip\n"
            f"Find every unreadable video first: {command(*check)}")


def _overrides(argv: list[str], *, without: str | None = None) -> list[str]:
    """The ``key=value`` overrides of a command line (flags and their values dropped)."""
    out, skip = [], False
    for token in argv:
        if skip or token in _CONFIG_FLAGS:
            skip = not skip
            continue
        if token.startswith("-") or "=" not in token or token.split("=", 1)[0].lstrip("+~") == without:
            continue
        out.append(token)
    return out


def _compose(config_dir: str, config_name: str, overrides: list[str]) -> DictConfig | None:
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    for attempt in (overrides, []):
        GlobalHydra.instance().clear()
        try:
            with initialize_config_dir(config_dir=config_dir, version_base="1.3"):
                return compose(config_name, overrides=attempt)
        except Exception:  # noqa: BLE001 - another bad override: try without any
            continue
    return None


def _key_suggestion(key: str, config_dir: str, config_name: str, argv: list[str]) -> str:
    """``" (did you mean trainer.max_epochs?)"`` for a key that is not in the config, from its
    siblings and, where the node builds an object, that object's arguments (``+key=``)."""
    import difflib

    cfg = _compose(config_dir, config_name, _overrides(argv, without=key))
    if cfg is None:
        return ""
    parent, _, leaf = key.rpartition(".")
    node = OmegaConf.select(cfg, parent) if parent else cfg
    if not isinstance(node, DictConfig):
        return ""
    prefix = f"{parent}." if parent else ""
    options = {str(k): f"{prefix}{k}" for k in node.keys() if not str(k).startswith("_")}
    if "_target_" in node and not difflib.get_close_matches(leaf, list(options), n=1, cutoff=0.6):
        # the object's own arguments only when no key of the yaml is close: importing the
        # target (Lightning's Trainer) costs seconds
        try:
            from hydra.utils import get_object

            params = inspect.signature(get_object(str(node._target_))).parameters
            options.update({p: f"+{prefix}{p}" for p in params if p not in options and p not in ("self", "args", "kwargs")})
        except Exception:  # noqa: BLE001 - no signature to offer
            pass
    match = difflib.get_close_matches(leaf, list(options), n=1, cutoff=0.6)
    if match:
        return f" (did you mean {options[match[0]]}?)"
    shown = ", ".join(sorted(k for k, v in options.items() if not v.startswith("+"))[:15])
    return f"; {parent or 'the config'} has: {shown}" if shown else ""


def explain_hydra(err: BaseException, *, config_dir: str, config_name: str, argv: list[str]) -> str | None:
    """Short messages for Hydra's composition errors (before any job starts)."""
    from ucfbench.utils.commands import command
    from ucfbench.utils.errors import did_you_mean

    if isinstance(err, MissingConfigException) and err.missing_cfg_file and err.options is not None:
        group, _, name = err.missing_cfg_file.rpartition("/")
        options = [o for o in err.options if not o.startswith("_")]
        return (f"{group}={name}: no such option{did_you_mean(name, options)}\n"
                f"{group} options: {', '.join(options)}  ({command('run', '--help')} lists every group)")
    if isinstance(err, OverrideParseException):
        reason = str(err).splitlines()[0]
        return (f"cannot parse the override {err.override!r}: {reason}\n"
                "Quote values with spaces or brackets: 'key=[a,b]'; see "
                "https://hydra.cc/docs/advanced/override_grammar/basic/")
    if isinstance(err, ConfigCompositionException):
        found = re.match(r"Could not override '([^']+)'", str(err))
        if found and "not in struct" in str(err.__cause__ or ""):
            key = found[1]
            return f"{key}: no such key{_key_suggestion(key, config_dir, config_name, argv)}"
        lines = [str(err).splitlines()[0]]
        if err.__cause__ is not None:
            lines.append(str(err.__cause__).splitlines()[0])
        return "\n".join(lines)
    return None


def discard_run_dir(out: str | Path, *, stop: str | Path) -> bool:
    """Remove ``out`` if it holds only bookkeeping (``.hydra/``, logs, ``config.yaml``), then its
    empty parents up to ``stop``; True if removed."""
    out, stop = Path(out).resolve(), Path(stop).resolve()
    if not out.is_dir() or out == stop or stop not in out.parents:
        return False
    if any(p.name not in _BOOKKEEPING and not (p.is_file() and p.suffix == ".log") for p in out.iterdir()):
        return False
    for logger in [logging.getLogger(), *logging.root.manager.loggerDict.values()]:
        for handler in list(getattr(logger, "handlers", [])):
            if isinstance(handler, logging.FileHandler) and Path(handler.baseFilename).parent == out:
                handler.close()
                logger.removeHandler(handler)
    shutil.rmtree(out, ignore_errors=True)
    parent = out.parent
    while parent != stop and stop in parent.parents:
        try:
            parent.rmdir()  # only if empty: another job may be writing beside us
        except OSError:
            break
        parent = parent.parent
    return not out.exists()


def _job(task: Callable[[DictConfig], object], validate: bool) -> Callable[[DictConfig], object]:
    @functools.wraps(task)
    def job(cfg: DictConfig):
        setup_output(verbose=bool(cfg.get("verbose", False)))
        hc = HydraConfig.get()
        try:
            if validate:
                validate_config(cfg, overrides=list(hc.overrides.task), groups=set(hc.runtime.choices))
                validate_dataset(cfg, choice=hc.runtime.choices.get("dataset"))
            return task(cfg)
        except Exception as err:
            message = explain(err, dataset=hc.runtime.choices.get("dataset"),
                              root=OmegaConf.select(cfg, "dataset.root", default=None, throw_on_resolution_failure=False))
            if message is None:
                raise
            log_dir = OmegaConf.select(cfg, "paths.log_dir", default=None)
            if log_dir:
                discard_run_dir(hc.runtime.output_dir, stop=log_dir)
            if user_wants_traceback():
                raise
            if hc.mode == RunMode.MULTIRUN:  # let Hydra mark the job failed; the sweep reports it
                raise UsageError(message) from err
            print_error(message)
            raise SystemExit(EXIT_USAGE) from None

    return job


def hydra_main(*, config_path: str, config_name: str, validate: bool = True) -> Callable:
    """Decorate a task function like ``@hydra.main(version_base="1.3", config_path=..., config_name=...)``."""

    def decorator(task: Callable[[DictConfig], object]) -> Callable[[], object]:
        entry = hydra.main(version_base="1.3", config_path=config_path, config_name=config_name)(_job(task, validate))
        config_dir = str((Path(inspect.getfile(task)).parent / config_path).resolve())

        @functools.wraps(task)
        def main() -> object:
            if user_wants_traceback():
                return entry()
            saved = {k: os.environ.get(k) for k in ("HYDRA_FULL_ERROR", _OURS)}
            os.environ.update({"HYDRA_FULL_ERROR": "1", _OURS: "1"})  # Hydra raises; we explain
            try:
                return entry()
            except Exception as err:
                message = explain_hydra(err, config_dir=config_dir, config_name=config_name, argv=sys.argv[1:])
                message = message or explain(err)
                if message is None:
                    raise
                print_error(message)
                sys.exit(EXIT_USAGE)
            finally:
                for key, value in saved.items():
                    if value is None:
                        os.environ.pop(key, None)
                    else:
                        os.environ[key] = value

        return main

    return decorator
