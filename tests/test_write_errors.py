"""Every file a run writes, on a full disk or a read-only folder: a short user error naming the
file and what to do (never a bare ``OSError``), the previous file whole, no temporary file left.

The disk is filled in-process and deterministically: the one function that writes a file's bytes
(``ucfbench.utils.io._write``, ``ucfbench.callbacks.checkpointing._write_bytes``) fails with ENOSPC
for the file under test.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ucfbench.callbacks import checkpointing
from ucfbench.utils import io as io_module
from ucfbench.utils.errors import UserError
from ucfbench.utils.io import WriteError, atomic_write


def _fail_writes_to(monkeypatch: pytest.MonkeyPatch, name: str, code: int = errno.ENOSPC) -> None:
    """Writes of a file called ``name`` (through its temporary ``.<name>.*``) fail with ``code``."""
    write, write_bytes = io_module._write, checkpointing._write_bytes

    def io_write(fd: int, data: bytes) -> None:
        if Path(os.readlink(f"/proc/self/fd/{fd}")).name.startswith(f".{name}."):
            os.close(fd)
            raise OSError(code, os.strerror(code))
        write(fd, data)

    def ckpt_write(f, data) -> None:
        if Path(f.name).name.startswith(f".{name}."):
            raise OSError(code, os.strerror(code))
        write_bytes(f, data)

    monkeypatch.setattr(io_module, "_write", io_write)
    monkeypatch.setattr(checkpointing, "_write_bytes", ckpt_write)


@pytest.mark.parametrize("code, says", [(errno.ENOSPC, "the disk is full"), (errno.EROFS, "read-only"),
                                        (errno.EACCES, "permission denied"), (errno.EDQUOT, "quota")])
def test_atomic_write_names_the_file_and_keeps_the_old_one(tmp_path: Path, monkeypatch, code: int, says: str) -> None:
    path = tmp_path / "metrics.json"
    atomic_write(path, "old\n")
    _fail_writes_to(monkeypatch, "metrics.json", code)
    with pytest.raises(WriteError) as err:
        atomic_write(path, "new\n" * 1000)
    message = str(err.value)
    assert str(path) in message and says in message and "run again" in message and "(4.0 kB)" in message
    assert isinstance(err.value, UserError) and isinstance(err.value.__cause__, OSError)
    assert path.read_text() == "old\n" and [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_atomic_write_into_a_read_only_folder(tmp_path: Path, monkeypatch) -> None:
    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr(io_module.tempfile, "mkstemp", read_only)
    with pytest.raises(WriteError, match=r"cannot write .*config\.yaml.*read-only\. Use a writable folder"):
        atomic_write(tmp_path / "run" / "config.yaml", "a: 1\n")


RUN_FILES = ["config.yaml", "claims.json", "COMPLETE", "best-epoch000.ckpt", "last.ckpt", "history.csv",
             "per_class.csv", "confusion.csv", "predictions.csv", "test_probs.npy", "metrics.json"]


@pytest.mark.slow  # one tiny training run per file: about 10 s each on 2 cores
@pytest.mark.parametrize("name", RUN_FILES)
def test_full_disk_on_each_file_a_run_writes(tiny_cfg, tmp_path: Path, monkeypatch, name: str) -> None:
    from ucfbench.run import train

    _fail_writes_to(monkeypatch, name)
    with pytest.raises(WriteError, match=rf"cannot write \S*{name.replace('.', '[.]')}.*the disk is full") as err:
        train(tiny_cfg("trainer.max_epochs=1", "model.net.hidden_dim=16", f"features.dir={tmp_path / 'features'}"))
    assert isinstance(err.value, UserError)
    assert not (tmp_path / "run" / "metrics.json").exists()  # a run that failed never reports results
    left = [p for p in tmp_path.rglob(f".{name}.*")]
    assert left == []  # no temporary file


@pytest.mark.slow  # a subprocess importing torch
def test_full_disk_from_the_command_line_is_a_short_error(tiny_home: Path, tmp_path: Path) -> None:
    """``python -m ucfbench.run`` on a full disk: exit 2, ``error: cannot write ...``, no traceback
    (the run's first file, so no data work is needed)."""
    inject = ("import errno, os, runpy, sys; from ucfbench.utils import io; "
              "w = io._write\n"
              "def full(fd, data):\n"
              "    if os.readlink(f'/proc/self/fd/{fd}').rsplit('/', 1)[1].startswith('.config.yaml.'):\n"
              "        raise OSError(errno.ENOSPC, 'No space left on device')\n"
              "    w(fd, data)\n"
              "io._write = full; sys.argv[0] = 'ucfbench.run'; runpy.run_module('ucfbench.run', run_name='__main__')")
    proc = subprocess.run([sys.executable, "-c", inject, "debug=tiny", "trainer.max_epochs=1",
                           f"hydra.run.dir={tmp_path / 'run'}"], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "UCFBENCH_HOME": str(tiny_home), "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    assert f"error: cannot write {tmp_path / 'run' / 'config.yaml'}" in proc.stderr and "disk is full" in proc.stderr


def test_read_only_home_is_a_short_error(tmp_path: Path, monkeypatch) -> None:
    """The run directory is claimed while Hydra resolves ``hydra.run.dir``: a read-only home ends in
    ``error: cannot create the run directory ...``, not OmegaConf's traceback."""
    from omegaconf import OmegaConf

    from ucfbench.cli.main import explain
    from ucfbench.utils import resolvers

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr(resolvers.os, "makedirs", read_only)
    cfg = OmegaConf.create({"dir": f"${{unique_dir:{tmp_path}/runs/x}}"})
    with pytest.raises(Exception) as err:
        _ = cfg.dir
    message = explain(err.value)
    assert message is not None and message.startswith(f"cannot create the run directory {tmp_path}/runs/x")
    assert "read-only" in message and "UCFBENCH_HOME" in message
