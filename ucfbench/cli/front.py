"""The front door of the Hydra commands (run, extract, check): help and config mistakes answered
before torch and Lightning are imported.

A command module calls :func:`front_door` at its top, under ``if __name__ == "__main__"``, before
its heavy imports. Hydra's own flags (``--help``, ``--cfg job``, ...) run on a task that does
nothing; a single job's overrides are composed and validated here, so a mistake costs a config
composition, not a Lightning import. A sweep (``-m``) is validated job by job, as before.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ucfbench.utils.errors import EXIT_USAGE, UsageError, print_error

CONF = Path(__file__).resolve().parents[2] / "conf"
# Hydra flags that print and exit without running the task.
INFO_FLAGS = {"-h", "--help", "--hydra-help", "-c", "--cfg", "-i", "--info", "-sc", "--shell-completion"}
# Flags after which the front door steps aside (another config, a sweep): Hydra decides.
STEP_ASIDE = {"-m", "--multirun", "-cn", "--config-name", "-cp", "--config-path", "-cd", "--config-dir"}


def front_door(config_name: str, argv: list[str] | None = None, *, validate: bool = True) -> None:
    """Answer ``--help`` (exit 0) or a config mistake (exit 2) of ``argv``; return if the job should run."""
    argv = sys.argv[1:] if argv is None else argv
    if INFO_FLAGS & set(argv):
        _hydra_info(config_name, argv)
        sys.exit(0)
    if STEP_ASIDE & set(argv) or any(t.startswith("--") for t in argv):
        return
    message = config_problem(config_name, argv, validate=validate)
    if message:
        print_error(message)
        sys.exit(EXIT_USAGE)


def _hydra_info(config_name: str, argv: list[str]) -> None:
    """Hydra's help / ``--cfg`` / ``--info`` output, from a task that never runs."""
    import hydra

    saved = sys.argv
    sys.argv = [saved[0], *argv]
    try:
        hydra.main(version_base="1.3", config_path=str(CONF), config_name=config_name)(lambda cfg: None)()
    finally:
        sys.argv = saved


def config_problem(config_name: str, argv: list[str], *, validate: bool = True) -> str | None:
    """The message for a command line whose config does not compose or validate, else None."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from ucfbench.cli.main import explain_hydra
    from ucfbench.cli.validate import validate_config

    overrides = [t for t in argv if "=" in t and not t.startswith("-")]
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
            cfg = compose(config_name, overrides=overrides, return_hydra_config=True)
    except Exception as err:  # noqa: BLE001 - explained below, or left to Hydra's own report
        return explain_hydra(err, config_dir=str(CONF), config_name=config_name, argv=argv)
    finally:
        GlobalHydra.instance().clear()
    if not validate:
        return None
    try:
        validate_config(cfg, overrides=overrides, groups=set(cfg.hydra.runtime.choices))
    except UsageError as err:
        return str(err)
    return None
