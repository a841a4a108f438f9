"""Export a trained model to ONNX and check it against PyTorch with onnxruntime.

    uv run ucfbench export checkpoint=<run dir | .ckpt> [format=onnx] [out=<dir>] [opset=N] [tol=1e-3]

Writes into ``out`` (default ``<run dir>/export/``): ``model.onnx`` (frames -> logits: the frozen
backbone + head, or the whole end-to-end model; ``ucfbench predict`` accepts it) and,
for a sequence head, ``head.onnx`` (per-frame features -> logits), each with a JSON sidecar
(class names, clip settings), plus ``export.json`` with the parity check: the largest absolute
difference between PyTorch's and onnxruntime's logits on random inputs of several batch sizes
and lengths. Batch and time axes are dynamic. Exit status: 0 all files within ``tol``, 1 a parity
check failed, 2 usage error.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from ucfbench.cli.args import Command, Key, UsageError, run_command, to_number

COMMAND = Command(
    name="export",
    summary=("Exports a trained model to ONNX (model.onnx: frames -> logits; for a sequence head also "
             "head.onnx: features -> logits), each with a JSON sidecar, and checks each file against PyTorch "
             "with onnxruntime on several batch sizes and lengths (export.json)."),
    keys={
        "checkpoint": Key(None, "a run directory or a .ckpt file", placeholder="<run dir | .ckpt>"),
        "format": Key("onnx", "the export format (onnx only)"),
        "out": Key(None, "where to write (default: <run dir>/export/)", placeholder="<dir>"),
        "opset": Key(None, "ONNX opset (default: the exporter's)", placeholder="N"),
        "tol": Key(None, "largest |torch - onnxruntime| difference of logits accepted (default 1e-3)",
                   placeholder="1e-3"),
    },
    required=("checkpoint",),
    exits={0: "every file within tol", 1: "a parity check failed", 2: "a mistake in the arguments or the checkpoint"},
)


def run(argv: list[str]) -> int:
    args = COMMAND.parse(argv)  # before the heavy imports: --help is instant
    if args["format"] != "onnx":
        raise UsageError(f"format={args['format']}: only onnx is supported")
    tol = to_number("tol", args["tol"], float, low=0) if args["tol"] else None
    opset = to_number("opset", args["opset"], int, low=1) if args["opset"] else None
    from ucfbench.inference.model import load_trained, resolve_checkpoint
    from ucfbench.inference.onnx import DEFAULT_TOL, export_onnx

    tol = DEFAULT_TOL if tol is None else tol
    _, run_dir = resolve_checkpoint(args["checkpoint"])
    out = Path(args["out"]) if args["out"] else run_dir / "export"
    trained = load_trained(args["checkpoint"])
    results = export_onnx(trained, out, opset=opset, tol=tol)
    table = Table(title=f"ONNX export of {trained.model_name} ({trained.family}) -> {out}", title_justify="left")
    for col in ("file", "exporter", "checked (B, T)", "max |torch - onnxruntime|", "ok"):
        table.add_column(col)
    for r in results:
        table.add_row(r.path.name, r.exporter, " ".join(f"({b},{t})" for b, t in r.cases), f"{r.max_abs_diff:.3g}",
                      "yes" if r.ok else f"NO (tol {r.tol:g})")
    Console().print(table)
    (out / "export.json").write_text(json.dumps([r.to_json() for r in results], indent=2) + "\n")
    return 0 if all(r.ok for r in results) else 1


def main(argv: list[str] | None = None) -> int:
    return run_command(run, argv)


if __name__ == "__main__":
    sys.exit(main())
