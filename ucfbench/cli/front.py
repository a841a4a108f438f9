"""The front door of the Hydra commands (run, extract, check): help and config mistakes answered
before torch and Lightning are imported.

A command module calls :func:`front_door` at its top, under ``if __name__ == "__main__"``, before
its heavy imports. Hydra's own flags (``--help``, ``--cfg job``, ...) run on a task that does
nothing; a single job's overrides are composed and validated here, so a mistake costs a config
composition, not a Lightning import. A sweep (``-m``) has each value of each swept key checked
here too (one composition per value, not per job), so no job runs before a later one is refused.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ucfbench.utils.errors import EXIT_USAGE, UsageError, print_error

CONF = Path(__file__).resolve().parents[2] / "conf"
# Hydra flags that print and exit without running the task.
INFO_FLAGS = {"-h", "--help", "--hydra-help", "-c", "--cfg", "-i", "--info", "-sc", "--shell-completion"}
# Flags after which the front door steps aside (another config): Hydra decides.
STEP_ASIDE = {"-cn", "--config-name", "-cp", "--config-path", "-cd", "--config-dir"}
MULTIRUN = {"-m", "--multirun"}


def front_door(config_name: str, argv: list[str] | None = None, *, validate: bool = True) -> None:
    """Answer ``--help`` (exit 0) or a config mistake (exit 2) of ``argv``; return if the job should run."""
    argv = sys.argv[1:] if argv is None else argv
    if INFO_FLAGS & set(argv):
        _hydra_info(config_name, argv)
        sys.exit(0)
    if STEP_ASIDE & set(argv) or any(t.startswith("--") and t not in MULTIRUN for t in argv):
        return
    jobs = sweep_variants(argv) if MULTIRUN & set(argv) else [argv]
    message = next((m for job in jobs if (m := config_problem(config_name, job, validate=validate))), None)
    if message:
        print_error(message)
        sys.exit(EXIT_USAGE)


def _hydra_info(config_name: str, argv: list[str]) -> None:
    """Hydra's help / ``--cfg`` / ``--info`` output, from a task that never runs."""
    import hydra

    if "--resolve" in argv:  # the config's own resolvers (${ucfbench_home:}, ...); they import torch
        from ucfbench.utils.resolvers import register_resolvers

        register_resolvers()
    saved = sys.argv
    sys.argv = [saved[0], *argv]
    try:
        hydra.main(version_base="1.3", config_path=str(CONF), config_name=config_name)(lambda cfg: None)()
    except ValueError as err:  # Hydra's own flags combined as it cannot run them (e.g. -m with --cfg)
        print_error(str(err))
        sys.exit(EXIT_USAGE)
    finally:
        sys.argv = saved


def sweep_variants(argv: list[str]) -> list[list[str]]:
    """Command lines that together try every value of every swept key of a multirun's ``argv`` once
    (the other swept keys at their first value). Sweeps a sweeper samples (``interval``, Optuna's)
    and ``hydra.*`` keys are left to Hydra."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.core.override_parser.types import ValueType

    enumerable = {ValueType.CHOICE_SWEEP, ValueType.SIMPLE_CHOICE_SWEEP, ValueType.RANGE_SWEEP}
    tokens = [t for t in argv if "=" in t and not t.startswith("-")]
    try:
        parsed = OverridesParser.create().parse_overrides(tokens)
    except Exception:  # noqa: BLE001 - a malformed override: Hydra's own message says which
        return [tokens]
    values = [[f"{o.get_key_element()}={v}" for v in o.sweep_string_iterator()]
              if o.value_type in enumerable and not o.key_or_group.startswith("hydra") else [o.input_line]
              for o in parsed if o.value_type in enumerable or not o.is_sweep_override()]
    first = [v[0] for v in values]
    return [first] + [[*first[:i], value, *first[i + 1:]] for i, vs in enumerate(values) for value in vs[1:]]


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
