"""``key=value`` command lines for the inference commands (predict, app, export).

These commands take a handful of keys, some repeatable (``video=a.avi video=b.avi``), so they
parse them directly instead of composing the training config with Hydra.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

from ucfbench.utils.errors import EXIT_USAGE, UsageError, UserError, print_error

__all__ = ["UsageError", "parse_args", "run_command", "setup_logging", "to_bool"]


def parse_args(argv: list[str], *, keys: dict[str, object], repeatable: tuple[str, ...] = (), usage: str) -> dict:
    """``key=value`` tokens -> dict, starting from ``keys`` (the defaults; None for "not given").

    Repeatable keys collect a list. ``-h``/``--help`` print ``usage`` and exit 0 (call this before
    importing anything heavy, so help is instant).
    """
    if any(token in ("-h", "--help") for token in argv):
        print(usage)
        raise SystemExit(0)
    args: dict = {k: (list(v) if k in repeatable else v) for k, v in keys.items()}
    for token in argv:
        key, sep, value = token.partition("=")
        if not sep or key not in keys:
            raise UsageError(f"unexpected argument {token!r}; known keys: {', '.join(keys)}\n{usage}")
        if key in repeatable:
            args[key].append(value)
        else:
            args[key] = value
    return args


def to_bool(key: str, value: object) -> bool:
    if isinstance(value, bool):
        return value
    if str(value).lower() in ("1", "true", "yes", "on"):
        return True
    if str(value).lower() in ("0", "false", "no", "off"):
        return False
    raise UsageError(f"{key} must be true or false, got {value!r}")


def setup_logging(level: int = logging.INFO) -> None:
    """Log to stderr, so stdout carries only the command's result (a table or JSON lines)."""
    logging.basicConfig(level=level, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("onnxscript", "onnx_ir", "torch.onnx", "httpx", "matplotlib"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def run_command(run: Callable[[list[str]], int], argv: list[str] | None = None) -> int:
    """Log setup, then ``run(argv)``; a usage, checkpoint, weights or dataset error prints its message, exit 2."""
    setup_logging()
    try:
        return run(sys.argv[1:] if argv is None else argv)
    except Exception as err:
        if not isinstance(err, UserError):
            raise
        print_error(str(err))
        return EXIT_USAGE
