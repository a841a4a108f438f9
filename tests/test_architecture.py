"""Sub-packages depend on each other one way (docs/architecture.md): no package imports one above it."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "ucfbench"
# Bottom to top, as docs/architecture.md lists them; entry points (ucfbench/*.py) sit above all.
LAYERS = ["utils", "data", "backbones", "cache", "datamodules", "models", "callbacks", "eval", "loggers", "inference", "cli"]


def imported_packages(path: Path) -> set[str]:
    """The ucfbench sub-packages a module imports (at any depth of the file, lazy imports included)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = [node.module or ""] if isinstance(node, ast.ImportFrom) else (
            [a.name for a in node.names] if isinstance(node, ast.Import) else [])
        for name in names:
            parts = name.split(".")
            if parts[0] == "ucfbench" and len(parts) > 1 and parts[1] in LAYERS:
                found.add(parts[1])
    return found


def test_every_subpackage_is_in_the_layer_list() -> None:
    packages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    assert packages == set(LAYERS)


def test_packages_import_only_packages_below_them() -> None:
    upward = []
    for layer, name in enumerate(LAYERS):
        for path in sorted((PACKAGE / name).rglob("*.py")):
            for other in imported_packages(path):
                if LAYERS.index(other) > layer:
                    upward.append(f"{path.relative_to(PACKAGE.parent)} imports ucfbench.{other}")
    assert not upward, "\n".join(upward)


# Packages below the entry points receive built objects: no Hydra global state, no relaunching.
LIBRARY = ["data", "backbones", "cache", "datamodules", "models", "callbacks", "eval", "loggers", "inference"]
FORBIDDEN = {"HydraConfig", "subprocess"}


def test_library_packages_neither_read_hydra_state_nor_start_processes() -> None:
    found = []
    for name in LIBRARY:
        for path in sorted((PACKAGE / name).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                names = [a.name for a in node.names] if isinstance(node, (ast.Import, ast.ImportFrom)) else []
                if isinstance(node, ast.ImportFrom):
                    names.append(node.module or "")
                used = {part for n in names for part in n.split(".")} & FORBIDDEN
                found += [f"{path.relative_to(PACKAGE.parent)} imports {u}" for u in sorted(used)]
    assert not found, "\n".join(found)


def test_user_errors_share_one_base_class() -> None:
    """Each package's "fix what you asked" error is a UserError, which the commands print without a traceback."""
    from ucfbench.backbones.frame_encoder import WeightsUnavailableError
    from ucfbench.cli.main import explain
    from ucfbench.data.base import DatasetError
    from ucfbench.data.video import VideoDecodeError
    from ucfbench.inference.model import CheckpointError
    from ucfbench.utils.errors import UsageError, UserError

    for cls in (UsageError, DatasetError, CheckpointError, WeightsUnavailableError):
        assert issubclass(cls, UserError), cls
        assert explain(cls("what to do")) == "what to do"
    assert issubclass(VideoDecodeError, UserError)  # a broken video of the user's: the message adds the ways out
    assert "on_bad_video=skip" in explain(VideoDecodeError("x.mp4: not a video"), dataset="folder", root="/data")
    assert explain(RuntimeError("a bug")) is None
    assert "Download UCF101" in explain(DatasetError("no videos"), dataset="ucf101")
