"""The first hour's mistakes (issue table), each a test of its message and exit status, in-process.

The Hydra commands are driven through ``ucfbench.cli.entry.main`` (the ``ucfbench`` console script):
their front door answers before the heavy imports, so these run in milliseconds to seconds.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import instantiate
from rich.console import Console

from tests.conftest import CONF, REPO, make_cfg
from tests.utils import write_video
from ucfbench.check import check, leak_verdict
from ucfbench.cli.args import Command, Key
from ucfbench.cli.entry import main as ucfbench
from ucfbench.cli.main import bad_video_message, explain
from ucfbench.cli.validate import validate_dataset
from ucfbench.data.base import DatasetError
from ucfbench.data.folder import VideoFolder
from ucfbench.data.video import VideoOpenError
from ucfbench.utils.errors import UsageError


@pytest.fixture(autouse=True)
def _in_checkout(monkeypatch) -> None:
    monkeypatch.chdir(REPO)  # printed commands read `uv run ucfbench ...` inside the checkout


def clips(root: Path, per_class: dict[str, int]) -> Path:
    rng = np.random.default_rng(0)
    for cls, n in per_class.items():
        for i in range(n):
            write_video(root / cls / f"{cls}_{i}.mp4", rng.integers(0, 255, (8, 32, 32, 3), dtype=np.uint8))
    return root


def exit_of(argv: list[str], capsys) -> tuple[int, str]:
    """``ucfbench <argv>`` in this process: (exit status, stderr)."""
    with pytest.raises(SystemExit) as info:
        code = ucfbench(argv)
        raise SystemExit(code)
    return int(info.value.code or 0), capsys.readouterr().err


# -- config mistakes: the message alone, exit 2, before torch (the front door) -------------------------
@pytest.mark.parametrize(("argv", "expected"), [
    (["run", "model=GRU"], "error: model=GRU: no such option (did you mean gru?)"),
    (["run", "seed=-1"], "error: seed=-1: an integer from 0 to 4294967295"),
    (["run", f"seed={2**33}"], f"error: seed={2**33}: an integer from 0 to 4294967295"),
    (["run", "data.eval_batch_size=0"], "error: data.eval_batch_size=0: videos per validation / test batch"),
    (["run", "features.backend=decord"], "error: features.backend=decord: the video decoder, one of auto, pyav"),
    (["run", "-m", "model=gru,GRU"], "error: model=GRU: no such option (did you mean gru?)"),
    (["run", "-m", "--cfg", "job"], "error: Only one of --run, --multirun, --cfg, --info and --shell_completion"),
    (["run", "-m", "model=gru,lstm", "seed=0,-1"], "error: seed=-1: an integer from 0 to 4294967295"),
    (["run", "model=cnn_rnn", "data.backend=torchvision"], "error: data.backend=torchvision: the video decoder"),
    (["extract", "dataset=ucf5"], "error: dataset=ucf5: no such option (did you mean ucf50?)"),
    (["check", "dataset=HMDB51"], "error: dataset=HMDB51: no such option (did you mean hmdb51?)"),
])
def test_config_mistakes_end_in_one_message_with_status_2(argv: list[str], expected: str, capsys) -> None:
    status, err = exit_of(argv, capsys)
    assert status == 2 and err.startswith(expected), err
    assert "Traceback" not in err and len(err.strip().splitlines()) <= 2
    assert "python -m" not in err
    if "no such option" in err:  # the hint prints the form that runs after the README's set-up
        assert err.splitlines()[1].endswith("(uv run ucfbench run --help lists every group)")


def test_a_sweep_tries_each_swept_value_once() -> None:
    from ucfbench.cli.front import sweep_variants

    jobs = sweep_variants(["-m", "debug=tiny", "model=gru,lstm,rnn", "seed=range(0,2)", "model.optimizer.lr=interval(0.1,1)"])
    assert jobs == [["debug=tiny", "model=gru", "seed=0"], ["debug=tiny", "model=lstm", "seed=0"],
                    ["debug=tiny", "model=rnn", "seed=0"], ["debug=tiny", "model=gru", "seed=1"]]


def test_the_resolved_config_prints_without_making_folders(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("UCFBENCH_HOME", str(tmp_path / "home"))
    with pytest.raises(SystemExit) as info:
        ucfbench(["run", "--cfg", "job", "--resolve", "debug=tiny"])
    out = capsys.readouterr().out
    assert not info.value.code and f"data_dir: {tmp_path / 'home' / 'data'}" in out and "frame_size: 32" in out
    assert not (tmp_path / "home").exists()


def test_unknown_command_suggests_one(capsys) -> None:
    status, err = exit_of(["reprot", "x"], capsys)
    assert status == 2 and "reprot: no such command (did you mean report?)" in err


def test_overview_lists_every_command(capsys) -> None:
    assert ucfbench(["--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: uv run ucfbench <command>")
    for name in ("run", "report", "check", "extract", "predict", "export", "app"):
        assert f"\n  {name} " in out


# -- dataset arguments: checked in the job before any work --------------------------------------------
@pytest.mark.parametrize(("overrides", "expected"), [
    (["dataset.split=4"], "dataset=synthetic: dataset.split must be 1, 2 or 3, got 4"),
    (["dataset.spec.groups=1"], "dataset=synthetic: SyntheticSpec.groups must be in [3, 99], got 1"),
])
def test_bad_dataset_values_are_usage_errors(overrides: list[str], expected: str, tmp_path: Path) -> None:
    with pytest.raises(UsageError) as info:
        validate_dataset(make_cfg(tmp_path, overrides), choice="synthetic")
    assert str(info.value) == expected


def test_folder_without_a_root_says_what_a_root_is(tmp_path: Path) -> None:
    with pytest.raises(DatasetError) as info:
        validate_dataset(make_cfg(tmp_path, ["dataset=folder"]), choice="folder")
    message = str(info.value)
    assert "does not exist. dataset=folder reads your own videos, one folder per class" in message
    assert "<root>/<class name>/<video>.mp4" in message and "the folder folder" not in message


def presets() -> list[tuple[str, str]]:
    return [(d.stem, s.stem) for d in sorted((CONF / "debug").glob("*.yaml"))
            for s in sorted((CONF / "dataset").glob("*.yaml"))]


@pytest.mark.parametrize(("debug", "dataset"), presets())
def test_every_debug_preset_builds_every_dataset(debug: str, dataset: str, tmp_path: Path) -> None:
    """debug=tiny with dataset=folder used to pass the synthetic set's val_groups to VideoFolder."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("config", overrides=[f"debug={debug}", f"dataset={dataset}", f"dataset.root={tmp_path}"])
    built = instantiate(cfg.dataset)
    assert built.root == tmp_path.resolve()
    if debug == "tiny":
        assert cfg.trainer.max_epochs == 2 and cfg.features.sampler.num_frames == 8


# -- own folders ---------------------------------------------------------------------------------------
def test_a_folder_too_small_to_test_names_counts_and_keys(tmp_path: Path) -> None:
    root = clips(tmp_path / "videos", {"jump": 1, "run": 1, "sit": 1})
    with pytest.raises(DatasetError) as info:
        VideoFolder(root=root).subset("train")
    message = str(info.value)
    assert "has no test videos" in message and "videos per class: jump 1, run 1, sit 1" in message
    assert "dataset.test_fraction (now 0.2" in message


def test_an_empty_validation_split_is_refused_with_counts_and_keys(tmp_path: Path) -> None:
    """3 classes x 2 clips: one tested, one trained on, none left to select the checkpoint on."""
    root = clips(tmp_path / "videos", {"jump": 2, "run": 2, "sit": 2})
    with pytest.raises(DatasetError) as info:
        VideoFolder(root=root, test_fraction=0.5).subset("val")
    message = str(info.value)
    assert "has no validation videos" in message and "jump 2, run 2, sit 2" in message
    assert "dataset.val_fraction" in message


def test_a_small_folder_gets_a_validation_video_per_class(tmp_path: Path) -> None:
    """val_fraction=0.1 of 4 training videos rounds to none; every class still validates on one."""
    root = clips(tmp_path / "videos", {"jump": 5, "run": 5})
    ds = VideoFolder(root=root)
    val = ds.subset("val")
    assert sorted(r.label for r in val) == [0, 1]
    assert not {r.relpath for r in val} & {r.relpath for r in ds.subset("train")}


def test_check_flags_an_empty_validation_split(tmp_path: Path) -> None:
    root = clips(tmp_path / "videos", {"jump": 2, "run": 2, "sit": 2})
    out = io.StringIO()
    cfg = make_cfg(tmp_path, ["dataset=folder", f"dataset.root={root}", "dataset.test_fraction=0.5"], run_dir=tmp_path)
    result, status = check(cfg, Console(file=out, width=300))
    assert status == 2 and "has no validation videos" in result["error"]
    assert "ucfbench check" not in out.getvalue()  # never suggests the command just run


def test_check_gives_one_leak_verdict_for_a_folder(tmp_path: Path) -> None:
    root = clips(tmp_path / "videos", {"jump": 5, "run": 5})
    out = io.StringIO()
    result, status = check(make_cfg(tmp_path, ["dataset=folder", f"dataset.root={root}"], run_dir=tmp_path),
                           Console(file=out, width=300))
    text = out.getvalue()
    assert status == 0 and result["grouped"] is False
    assert "leaky: not guarded (disjoint by video only" in text and "leaky: no (" not in text
    grouped = VideoFolder(root=root, group_pattern=r"_(?P<group>\d+)\.")
    assert leak_verdict(grouped).startswith("no (")


def test_an_unreadable_video_names_the_file_and_both_ways_out() -> None:
    err = VideoOpenError("/data/mine/sit/broken.mp4: no backend can open it (moov atom not found)")
    message = explain(err, dataset="folder", root="/data/mine")
    assert message.splitlines() == [
        "cannot decode a video of the dataset: /data/mine/sit/broken.mp4: no backend can open it (moov atom not found)",
        "Leave unreadable videos out (they are listed in skipped.txt): add dataset.on_bad_video=skip",
        "Find every unreadable video first: uv run ucfbench check dataset=folder dataset.root=/data/mine probe=true",
    ]


def test_a_folder_too_small_gets_no_download_hint(tmp_path: Path) -> None:
    message = explain(DatasetError("folder (stratified20) has no validation videos: ..."), dataset="folder",
                      root=str(tmp_path))
    assert message == "folder (stratified20) has no validation videos: ..."  # the root is there: no "Check a copy"
    assert "Check a copy: uv run ucfbench check dataset=folder" in explain(DatasetError("x"), dataset="folder",
                                                                           root=str(tmp_path / "absent"))


def test_an_unreadable_video_from_a_dataloader_worker_keeps_only_the_original_message() -> None:
    worker = VideoOpenError("Caught VideoOpenError in DataLoader worker process 0.\nOriginal Traceback (most recent "
                            "call last):\n  File \"x.py\", line 1, in f\nucfbench.data.video.VideoOpenError: "
                            "/d/a/b.mp4: no backend can open it\n")
    message = bad_video_message(worker, dataset="folder", root="/d")
    assert message.splitlines()[0] == "cannot decode a video of the dataset: /d/a/b.mp4: no backend can open it"
    assert "Traceback" not in message


# -- the key=value commands -------------------------------------------------------------------------------
def test_report_on_a_missing_path_says_no_such_folder(tmp_path: Path, capsys) -> None:
    from ucfbench.report import main as report

    assert report([str(tmp_path / "nope")]) == 2
    assert capsys.readouterr().err.strip() == f"error: {tmp_path / 'nope'}: no such folder"


def test_report_keys_are_checked_before_any_work(tmp_path: Path, capsys) -> None:
    from ucfbench.report import main as report

    assert report([str(tmp_path), "--out", "x"]) == 2
    assert "unexpected argument '--out' (did you mean out?)" in capsys.readouterr().err
    assert report([str(tmp_path), "dpi=0"]) == 2
    assert "dpi must be >= 1" in capsys.readouterr().err


def test_a_command_help_lists_keys_defaults_and_exit_codes() -> None:
    command = Command(name="demo", summary="Does a thing.", keys={
        "checkpoint": Key(None, "the run", placeholder="<run dir>"), "top_k": Key(5, "classes shown"),
        "video": Key(None, "a file", repeatable=True)}, required=("checkpoint",), exits={0: "done", 2: "usage"})
    text = command.help()
    assert text.splitlines()[0] == "usage: uv run ucfbench demo checkpoint=<run dir> [top_k=...] [video=...] ..."
    assert "  top_k       classes shown (default 5)" in text and "(required)" in text and "(repeatable)" in text
    assert text.endswith("exit status: 0 done; 2 usage")
    assert command.parse(["checkpoint=r", "video=a", "video=b"]) == {"checkpoint": "r", "top_k": 5, "video": ["a", "b"]}
    with pytest.raises(UsageError, match="checkpoint=<run dir> is required"):
        command.parse(["top_k=3"])
    with pytest.raises(UsageError, match=r"'topk=3' \(did you mean top_k\?\)"):
        command.parse(["checkpoint=r", "topk=3"])


def test_predict_says_what_the_model_was_trained_on() -> None:
    from types import SimpleNamespace

    from omegaconf import OmegaConf

    from ucfbench.predict import trained_on

    config = OmegaConf.create({"dataset": {"_target_": "ucfbench.data.synthetic.SyntheticUCF101"}})
    predictor = SimpleNamespace(class_names=["Grow", "Shrink"], name="gru", trained=SimpleNamespace(config=config))
    line = trained_on(predictor)
    assert line == ("Model gru trained on synthetic (generated shapes, not real actions): it answers with one of "
                    "2 classes: Grow, Shrink")
