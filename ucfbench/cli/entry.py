"""``ucfbench <command> ...``: one command for every entry point (``[project.scripts]``).

``ucfbench run ...`` is exactly ``python -m ucfbench.run ...``: the Hydra commands run as their
module's ``__main__`` (their front door answers help and config mistakes before torch loads);
the others are called with their arguments. Nothing heavy is imported here.
"""

from __future__ import annotations

import importlib
import os
import runpy
import signal
import sys

from ucfbench.utils.commands import launcher
from ucfbench.utils.errors import EXIT_USAGE, did_you_mean, print_error

# name -> (module, what it does); the Hydra ones take group=option / key=value overrides of conf/.
COMMANDS = {
    "run": ("ucfbench.run", "train and test a model (a sweep with -m)"),
    "report": ("ucfbench.report", "tables, paired tests and figures of a sweep"),
    "check": ("ucfbench.check", "check a dataset on disk before training on it"),
    "extract": ("ucfbench.extract", "cache a dataset's features without training"),
    "predict": ("ucfbench.predict", "predict the action in videos with a trained model"),
    "export": ("ucfbench.export", "export a trained model to ONNX (parity checked)"),
    "app": ("ucfbench.app", "a web demo of a trained model"),
}
HYDRA_COMMANDS = {"run", "extract", "check"}


def overview() -> str:
    prog = launcher()
    lines = [f"usage: {prog} <command> [key=value ...]", "", "commands:"]
    lines += [f"  {name:<9}{what}" for name, (_, what) in COMMANDS.items()]
    lines += ["", f"Every command takes key=value arguments and its own --help ({prog} run --help).",
              "Exit status: 0 done; 1 finished with failures the command names; 2 a mistake in what was asked."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    try:
        return _dispatch(sys.argv[1:] if argv is None else list(argv))
    except BrokenPipeError:
        # The reader went away (`ucfbench run --help | head`): stop quietly with the status a
        # shell tool killed by SIGPIPE has. stdout goes to /dev/null so the exit flush cannot fail.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE


def _dispatch(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(overview())
        return 0 if argv else EXIT_USAGE
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print_error(f"{name}: no such command{did_you_mean(name, COMMANDS)}; commands: {', '.join(COMMANDS)}")
        return EXIT_USAGE
    module = COMMANDS[name][0]
    if name in HYDRA_COMMANDS:
        sys.argv = [sys.argv[0], *rest]
        runpy.run_module(module, run_name="__main__", alter_sys=True)  # Hydra reads sys.argv
        return 0
    return int(importlib.import_module(module).main(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
