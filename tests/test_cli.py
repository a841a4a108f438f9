"""First contact: short errors with exit status 2, help, the multirun end message, file modes, quiet output."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from tests.conftest import CONF, REPO, make_cfg
from ucfbench.cli.callbacks import ReportCommand
from ucfbench.cli.main import discard_run_dir, explain, explain_hydra
from ucfbench.cli.validate import validate_config
from ucfbench.data.base import DatasetError
from ucfbench.utils.errors import UsageError, did_you_mean
from ucfbench.utils.io import atomic_write, make_temp_dir


def composition_error(overrides: list[str]) -> Exception:
    GlobalHydra.instance().clear()
    with pytest.raises(Exception) as info, initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        compose("config", overrides=overrides)
    return info.value


# -- messages (in-process, milliseconds) ---------------------------------------------------------------
def test_unknown_option_suggests_the_closest_and_never_offers_base() -> None:
    message = explain_hydra(composition_error(["model=gruu"]), config_dir=str(CONF), config_name="config",
                            argv=["model=gruu"])
    assert message.startswith("model=gruu: no such option (did you mean gru?)")
    assert "_base" not in message and "mean_pool" in message
    assert not (CONF / "model" / "_base.yaml").exists()  # model=_base is not an option at all


def test_misspelt_key_suggests_the_real_one() -> None:
    argv = ["trainer.max_epoch=3", "model=lstm"]
    message = explain_hydra(composition_error(argv), config_dir=str(CONF), config_name="config", argv=argv)
    assert message == "trainer.max_epoch: no such key (did you mean trainer.max_epochs?)"


def test_misspelt_key_of_an_object_suggests_its_arguments() -> None:
    """A Trainer argument that is not in the yaml is offered with +."""
    argv = ["trainer.gradient_clip_vall=1.0"]
    message = explain_hydra(composition_error(argv), config_dir=str(CONF), config_name="config", argv=argv)
    assert message == "trainer.gradient_clip_vall: no such key (did you mean +trainer.gradient_clip_val?)"


def test_override_syntax_error_is_short() -> None:
    message = explain_hydra(composition_error(["seed=[1"]), config_dir=str(CONF), config_name="config", argv=[])
    assert message.startswith("cannot parse the override 'seed=[1'")


def test_bad_values_are_named_with_their_fix(tmp_path: Path) -> None:
    cfg = make_cfg(tmp_path, ["data.batch_size=0", "trainer.max_epochs=-3", "model.optimizer.lr=0"])
    with pytest.raises(UsageError) as info:
        validate_config(cfg)
    lines = str(info.value).splitlines()
    assert lines == ["data.batch_size=0: videos per batch, an integer >= 1",
                     "model.optimizer.lr=0: the learning rate, a number > 0",
                     "trainer.max_epochs=-3: an integer >= 1 (or -1: until stopped)"]
    validate_config(make_cfg(tmp_path, ["trainer.max_epochs=-1"]))  # -1: train until stopped


def test_added_key_is_checked_against_the_objects_arguments(tmp_path: Path) -> None:
    """Hydra's own hint for a misspelt key is to add it with +: that fails here, not inside Trainer."""
    cfg = make_cfg(tmp_path, ["+trainer.max_epoch=3"])
    with pytest.raises(UsageError, match=r"trainer.max_epoch: Trainer takes no argument 'max_epoch' "
                                         r"\(did you mean trainer.max_epochs\?\)"):
        validate_config(cfg, overrides=["+trainer.max_epoch=3"])
    ok = make_cfg(tmp_path, ["+trainer.gradient_clip_val=1.0"])
    validate_config(ok, overrides=["+trainer.gradient_clip_val=1.0", "+experiment=synthetic_baselines"],
                    groups={"experiment"})
    # A callback added whole: its _target_ names a new object, not an argument of the one it replaces.
    added = ["+callbacks.early_stopping._target_=lightning.pytorch.callbacks.EarlyStopping",
             "+callbacks.early_stopping.monitor=val/top1"]
    validate_config(make_cfg(tmp_path, added), overrides=added)


def test_missing_dataset_says_where_to_get_it_and_how_to_check_it(monkeypatch) -> None:
    monkeypatch.chdir(REPO)  # printed commands start `uv run ucfbench` inside the checkout
    message = explain(DatasetError("dataset.root /x/UCF50 does not exist"), dataset="ucf50")
    assert message.splitlines() == [
        "dataset.root /x/UCF50 does not exist",
        "Download UCF50 from https://www.crcv.ucf.edu/data/UCF50.php and extract it.",
        "Check a copy: uv run ucfbench check dataset=ucf50 dataset.root=/data/UCF50",
        "then train:   uv run ucfbench run dataset=ucf50 dataset.root=/data/UCF50 ...",
    ]
    assert explain(RuntimeError("a bug")) is None  # bugs keep their traceback


def test_did_you_mean_ignores_private_names() -> None:
    assert did_you_mean("_bas", ["_base", "gru"]) == ""
    assert did_you_mean("lstn", ["lstm", "gru"]) == " (did you mean lstm?)"


def test_a_run_that_never_started_leaves_nothing(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    empty = runs / "ucf50" / "gru" / "2026-01-01_00-00-00"
    (empty / ".hydra").mkdir(parents=True)
    (empty / ".hydra" / "config.yaml").write_text("a: 1\n")
    (empty / "run.log").write_text("error\n")
    kept = runs / "synthetic" / "gru" / "t"
    kept.mkdir(parents=True)
    (kept / "metrics.json").write_text("{}")
    assert discard_run_dir(empty, stop=runs)
    assert not (runs / "ucf50").exists()  # empty parents go too, up to runs/
    assert not discard_run_dir(kept, stop=runs) and (kept / "metrics.json").is_file()
    assert not discard_run_dir(tmp_path / "elsewhere", stop=runs)


def test_multirun_ends_with_the_report_command(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(REPO)
    sweep = tmp_path / "multirun" / "2026-01-01_00-00-00"
    for job in ("0", "1"):
        (sweep / job).mkdir(parents=True)
        (sweep / job / "metrics.json").write_text("{}")
    ReportCommand().on_multirun_end(config=OmegaConf.create({"hydra": {"sweep": {"dir": str(sweep)}}}))
    assert capsys.readouterr().out.splitlines() == [f"Sweep: {sweep}  (2 finished runs)",
                                                    f"Report: uv run ucfbench report {sweep}"]
    monkeypatch.chdir(tmp_path)  # outside the checkout uv needs to be told where the project is
    ReportCommand().on_multirun_end(config=OmegaConf.create({"hydra": {"sweep": {"dir": str(sweep)}}}))
    assert capsys.readouterr().out.splitlines()[-1] == f"Report: uv run --project {REPO} ucfbench report {sweep}"


# -- files written with the user's umask ---------------------------------------------------------------
@pytest.mark.parametrize(("umask", "file_mode", "dir_mode"), [(0o022, 0o644, 0o755), (0o027, 0o640, 0o750)])
def test_files_follow_the_umask(umask: int, file_mode: int, dir_mode: int, tmp_path: Path) -> None:
    old = os.umask(umask)
    try:
        atomic_write(tmp_path / "metrics.json", "{}")
        folder = make_temp_dir(tmp_path, prefix=".cache.")
    finally:
        os.umask(old)
    assert (tmp_path / "metrics.json").stat().st_mode & 0o777 == file_mode
    assert folder.stat().st_mode & 0o777 == dir_mode


# -- the commands, as a user runs them ----------------------------------------------------------------
def run_cli(*args: str, home: Path, env: dict | None = None, timeout: float = 900) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    environ.update({"UCFBENCH_HOME": str(home), "OMP_NUM_THREADS": "1", **(env or {})})
    return subprocess.run([sys.executable, *args], cwd=REPO, env=environ, capture_output=True, text=True,
                          timeout=timeout)


@pytest.mark.parametrize("command", ["predict", "export", "app", "report", "check", "extract"])
def test_help_exits_0_with_usage(command: str, tmp_path: Path) -> None:
    result = run_cli("-m", "ucfbench", command, "--help", home=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"uv run ucfbench {command}" in result.stdout
    assert "xit status" in result.stdout  # each command's own exit codes
    assert "error" not in result.stderr


def test_help_does_not_import_torch_for_the_inference_commands(tmp_path: Path) -> None:
    code = ("import sys\nfrom ucfbench.predict import main\ntry:\n    main(['--help'])\nexcept SystemExit as e:\n"
            "    assert e.code == 0\nprint(sorted(m for m in ('torch', 'lightning', 'gradio') if m in sys.modules))")
    result = run_cli("-c", code, home=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "[]"


@pytest.mark.slow
def test_run_help_lists_groups_and_examples(tmp_path: Path) -> None:
    result = run_cli("-m", "ucfbench.run", "--help", home=tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith("ucfbench run: train and test a video action recognition model.")
    model_line = next(line for line in out.splitlines() if line.startswith("model: "))
    assert model_line.startswith("model: attentive_probe, bilstm, cnn_rnn, gru,") and "_base" not in model_line
    assert "dataset: folder, hmdb51" in out
    assert out.count("\n  uv run ucfbench ") >= 5 and "powered by Hydra" not in out


@pytest.mark.slow
@pytest.mark.parametrize(("args", "expected"), [
    (["model=gruu"], "error: model=gruu: no such option (did you mean gru?)"),
    (["trainer.max_epoch=3"], "error: trainer.max_epoch: no such key (did you mean trainer.max_epochs?)"),
    (["data.batch_size=0"], "error: data.batch_size=0: videos per batch, an integer >= 1"),
    (["trainer.max_epochs=-3"], "error: trainer.max_epochs=-3: an integer >= 1 (or -1: until stopped)"),
    (["model=gru", "dataset=ucf50"], "Download UCF50 from https://www.crcv.ucf.edu/data/UCF50.php"),
])
def test_user_mistakes_end_in_a_few_lines_with_status_2(args: list[str], expected: str, tmp_path: Path) -> None:
    result = run_cli("-m", "ucfbench.run", "logger=none", *args, home=tmp_path)
    assert result.returncode == 2, result.stderr
    assert expected in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) <= 6, result.stderr
    leftovers = [p for p in (tmp_path / "runs").rglob("*")] if (tmp_path / "runs").exists() else []
    assert leftovers == []  # nothing left behind by a run that never started


@pytest.mark.slow
def test_missing_dataset_names_the_check_command_and_traceback_on_request(tmp_path: Path) -> None:
    result = run_cli("-m", "ucfbench.run", "model=gru", "dataset=ucf50", home=tmp_path, env={"HYDRA_FULL_ERROR": "1"})
    assert result.returncode != 0 and "Traceback" in result.stderr and "DatasetError" in result.stderr
    check = run_cli("-m", "ucfbench.check", "dataset=ucf101", home=tmp_path)
    assert check.returncode == 2
    assert "Download UCF101 from" in check.stdout
    assert "ucfbench check" not in check.stdout  # not the command just run


@pytest.mark.slow
def test_multirun_prints_the_sweep_dir_and_report_command(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    result = run_cli("-m", "ucfbench.run", "-m", "debug=tiny", "trainer.max_epochs=1", "seed=0,1",
                     f"hydra.sweep.dir={sweep}", home=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    assert f"Sweep: {sweep}  (2 finished runs)" in lines
    assert lines[-1] == f"Report: uv run ucfbench report {sweep}"


# -- quiet output ---------------------------------------------------------------------------------------
def test_quiet_by_default_verbose_keeps_everything() -> None:
    import logging
    import warnings

    from ucfbench.cli.quiet import CHATTY_LOGGERS, setup_output

    loggers = [logging.getLogger(name) for name in CHATTY_LOGGERS]
    saved = [lg.level for lg in loggers]
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            setup_output(verbose=True)
            assert all(lg.level == level for lg, level in zip(loggers, saved))
            setup_output(verbose=False)
            assert all(lg.level == logging.WARNING for lg in loggers)
            warnings.warn("`isinstance(treespec, LeafSpec)` is deprecated", DeprecationWarning, stacklevel=1)
            warnings.warn("something a user should see", UserWarning, stacklevel=1)
        assert [str(w.message) for w in caught] == ["something a user should see"]
    finally:
        for lg, level in zip(loggers, saved):
            lg.setLevel(level)


def test_progress_bar_shows_only_the_chosen_metrics(monkeypatch) -> None:
    from lightning.pytorch.callbacks import RichProgressBar

    from ucfbench.cli.terminal import QuietProgressBar

    everything = {"v_num": 0, "train/loss": 0.5, "val/loss": 0.7, "val/top1": 0.75, "val/mean_class_acc": 0.7}
    monkeypatch.setattr(RichProgressBar, "get_metrics", lambda self, trainer, module: dict(everything))
    assert QuietProgressBar().get_metrics(None, None) == {"train/loss": 0.5, "val/loss": 0.7, "val/top1": 0.75}


def test_model_summary_is_one_line_without_flops(capsys) -> None:
    from ucfbench.cli.terminal import CompactModelSummary

    data = [(" ", ["0", "1", "2", "3"]), ("Name", ["model", "model.norm", "model.head", "criterion"]),
            ("Type", ["VideoClassifier", "Standardize", "GRUHead", "CrossEntropyLoss"]),
            ("Params", ["1.6 M", "0", "1.6 M", "0"]), ("Mode", ["train"] * 4), ("FLOPs", ["0"] * 4)]
    CompactModelSummary.summarize(data, 1_600_000, 1_600_000, 6.3, {"train": 4, "eval": 0}, total_flops=0)
    assert capsys.readouterr().out.strip() == "Model: model.head (GRUHead) 1.6 M; 1.6 M params (6.3 MB)"


@pytest.mark.parametrize("command", ["report", "check"])
def test_help_into_a_closed_pipe_stops_quietly(command: str) -> None:
    """``ucfbench <command> --help | head -1``: the reader is gone before the help is written."""
    proc = subprocess.Popen([sys.executable, "-m", "ucfbench.cli.entry", command, "--help"], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 141 and err == b"", err.decode()[-2000:]
