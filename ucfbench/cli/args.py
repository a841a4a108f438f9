"""``key=value`` command lines for the commands that take no training config (report, predict,
export, app): the same style as the Hydra commands (run, extract, check), so one habit works.

Each command declares its keys once (:class:`Key`: default and meaning) and its exit codes;
``--help`` is rendered from that declaration before anything heavy is imported.
"""

from __future__ import annotations

import logging
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field

from ucfbench.utils.commands import command
from ucfbench.utils.errors import EXIT_USAGE, UsageError, UserError, did_you_mean, print_error

__all__ = ["Command", "Key", "UsageError", "run_command", "setup_logging", "to_bool"]


@dataclass(frozen=True)
class Key:
    """One ``key=value`` argument: its default (None: not given) and what it means."""

    default: object
    help: str
    repeatable: bool = False
    placeholder: str = ""


@dataclass(frozen=True)
class Command:
    """A command's arguments, help and exit codes.

    Args:
        name: the subcommand (``ucfbench <name>``).
        summary: what the command does, one paragraph.
        keys: ``key -> Key``, in the order help lists them.
        exits: exit status -> meaning.
        positional: the key a bare argument fills (``report <dir>`` is ``report dir=<dir>``).
    """

    name: str
    summary: str
    keys: dict[str, Key]
    exits: dict[int, str]
    positional: str | None = None
    required: tuple[str, ...] = field(default=())

    def usage(self) -> str:
        words = []
        for k, key in self.keys.items():
            shown = f"{k}={key.placeholder or '...'}"
            if k == self.positional:
                shown = f"{key.placeholder or '<' + k + '>'}"
            words.append(shown if k in self.required else f"[{shown}]")
            if key.repeatable:
                words.append("...")
        return command(self.name, *words, quote=False)

    def help(self) -> str:
        width = max(len(k) for k in self.keys) + 2
        lines = [f"usage: {self.usage()}", "", textwrap.fill(self.summary, 100), "", "arguments (key=value):"]
        for k, key in self.keys.items():
            shown = str(key.default).lower() if isinstance(key.default, bool) else key.default
            default = "required" if k in self.required else (
                "" if key.default in (None, [], ()) else f"default {shown}")
            extra = "; ".join(x for x in (default, "repeatable" if key.repeatable else "",
                                          "may be given bare" if k == self.positional else "") if x)
            lines.append(f"  {k:<{width}}{key.help}" + (f" ({extra})" if extra else ""))
        lines += ["", "exit status: " + "; ".join(f"{code} {what}" for code, what in sorted(self.exits.items()))]
        return "\n".join(lines)

    def parse(self, argv: list[str]) -> dict:
        """``key=value`` tokens -> dict of every key (defaults filled); ``-h``/``--help`` print help, exit 0."""
        if any(token in ("-h", "--help") for token in argv):
            print(self.help())
            raise SystemExit(0)
        args: dict = {k: (list(v.default or []) if v.repeatable else v.default) for k, v in self.keys.items()}
        for token in argv:
            key, sep, value = token.partition("=")
            if not sep and self.positional and not token.startswith("-") and args[self.positional] is None:
                key, value = self.positional, token
            elif not sep or key not in self.keys:
                hint = did_you_mean(key.lstrip("-").replace("-", "_"), list(self.keys))
                raise UsageError(f"unexpected argument {token!r}{hint}; {self.name} takes "
                                 f"{', '.join(k + '=' for k in self.keys)}\n(see {command(self.name, '--help')})")
            if self.keys[key].repeatable:
                args[key].append(value)
            else:
                args[key] = value
        for key in self.required:
            if args[key] in (None, ""):
                raise UsageError(f"{key}={self.keys[key].placeholder or '...'} is required\nusage: {self.usage()}")
        return args


def to_bool(key: str, value: object) -> bool:
    if isinstance(value, bool):
        return value
    if str(value).lower() in ("1", "true", "yes", "on"):
        return True
    if str(value).lower() in ("0", "false", "no", "off"):
        return False
    raise UsageError(f"{key} must be true or false, got {value!r}")


def to_number(key: str, value: object, kind: type = int, *, low: float | None = None) -> int | float:
    """``value`` as ``kind`` (int or float), at least ``low``; a :class:`UsageError` naming ``key`` otherwise."""
    try:
        number = kind(value)
    except (TypeError, ValueError):
        raise UsageError(f"{key} must be {'an integer' if kind is int else 'a number'}, got {value!r}") from None
    if low is not None and number < low:
        raise UsageError(f"{key} must be >= {low}, got {value!r}")
    return number


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
