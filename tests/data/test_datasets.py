"""Every dataset and protocol on trees of empty files: counts, leaks, folds, bad input."""

from __future__ import annotations

import os
import shutil
import time
from collections import Counter
from pathlib import Path

import pytest
from hydra.utils import instantiate

from tests.conftest import make_cfg
from ucfbench.data.base import SUBSETS, ActionDataset, DatasetError
from ucfbench.data.folder import VideoFolder
from ucfbench.data.hmdb51 import HMDB51, source_of
from ucfbench.data.splits import holdout_fraction
from ucfbench.data.types import VideoRecord
from ucfbench.data.ucf50 import UCF50
from ucfbench.data.ucf101 import UCF101

UCF101_COUNTS = {1: (9537, 3783), 2: (9586, 3734), 3: (9624, 3696)}
UCF101_TEST_GROUPS = {k: set(range(7 * (k - 1) + 1, 7 * k + 1)) for k in (1, 2, 3)}


def touch(root: Path, relpaths: list[str]) -> None:
    """Create empty files (and their folders) under ``root``."""
    for folder in {os.path.dirname(p) for p in relpaths}:
        os.makedirs(os.path.join(root, folder), exist_ok=True)
    for relpath in relpaths:
        os.close(os.open(os.path.join(root, relpath), os.O_CREAT | os.O_WRONLY, 0o644))


def check_protocol(ds: ActionDataset) -> dict[str, list[VideoRecord]]:
    """Invariants of every protocol instance; returns its subsets."""
    subsets = {name: ds.subset(name) for name in SUBSETS}
    paths = [r.relpath for name in SUBSETS for r in subsets[name]]
    assert len(paths) == len(set(paths)), "a video is in two sets"
    assert sorted(paths) == [r.relpath for r in ds.records()]
    if ds.grouped:
        groups = {name: {r.group for r in subsets[name]} for name in SUBSETS}
        assert groups["train"].isdisjoint(groups["test"]) and groups["val"].isdisjoint(groups["test"])
        assert groups["train"].isdisjoint(groups["val"])
    assert ds.describe()["leaky"] is ds.leaky
    return subsets


# -- split helper ----------------------------------------------------------------------------
def _records(classes: int = 3, groups: int = 10, clips: int = 3) -> list[VideoRecord]:
    return [VideoRecord(relpath=f"C{c}/v_C{c}_g{g:02d}_c{k:02d}.avi", label=c, group=g, clip=k)
            for c in range(classes) for g in range(1, groups + 1) for k in range(1, clips + 1)]


@pytest.mark.parametrize("fraction", [0.1, 0.2, 0.5])
def test_holdout_fraction_stratified(fraction: float) -> None:
    records = _records()
    kept, held = holdout_fraction(records, fraction=fraction, seed=3)
    assert len(kept) + len(held) == len(records) and not {r.relpath for r in kept} & {r.relpath for r in held}
    for count in Counter(r.label for r in held).values():  # nearest video to the share of each class
        assert count == round(fraction * 30)
    assert holdout_fraction(records, fraction=fraction, seed=3) == (kept, held)
    assert holdout_fraction(records, fraction=fraction, seed=4) != (kept, held)


def test_holdout_fraction_keeps_groups_together() -> None:
    records = _records()
    kept, held = holdout_fraction(records, fraction=0.2, seed=0, key=lambda r: r.group)
    assert {r.group for r in kept}.isdisjoint({r.group for r in held})
    assert len({r.group for r in held}) == 2  # 2 of 10 groups hold 20 % of every class
    assert holdout_fraction(records, fraction=0.0) == (records, [])


# -- UCF101 ----------------------------------------------------------------------------------
UCF101_CLASSES = ["ApplyEyeMakeup", "Basketball", "HandstandPushups"]


def write_ucf101(root: Path, *, groups: int = 25, clips: int = 2) -> Path:
    """A UCF101-shaped tree of empty files (``root/UCF-101``) and its official-format lists beside it.

    CRLF endings, 1-based classInd, unlabelled test lists, ``HandstandPushups/v_HandStandPushups_*``.
    """
    videos = root / "UCF-101"
    lists = root / "ucfTrainTestlist"
    lists.mkdir(parents=True)
    token = {"HandstandPushups": "HandStandPushups"}
    rows = [(c, f"{c}/v_{token.get(c, c)}_g{g:02d}_c{k:02d}.avi", g)
            for c in UCF101_CLASSES for g in range(1, groups + 1) for k in range(1, clips + 1)]
    touch(videos, [p for _, p, _ in rows])

    def write(name: str, lines: list[str]) -> None:
        (lists / name).write_bytes(("\r\n".join(lines) + "\r\n").encode())

    write("classInd.txt", [f"{i} {c}" for i, c in enumerate(UCF101_CLASSES, 1)])
    for k in (1, 2, 3):
        test = UCF101_TEST_GROUPS[k]
        write(f"trainlist{k:02d}.txt", [f"{p} {UCF101_CLASSES.index(c) + 1}" for c, p, g in rows if g not in test])
        write(f"testlist{k:02d}.txt", [p for c, p, g in rows if g in test])
    return videos


@pytest.mark.parametrize("split", [1, 2, 3])
def test_ucf101_splits(tmp_path: Path, split: int) -> None:
    ds = UCF101(root=write_ucf101(tmp_path), split=split, val_groups=3)
    subsets = check_protocol(ds)
    assert ds.classes == UCF101_CLASSES and ds.split_name == f"split{split}"
    assert {r.group for r in subsets["test"]} == UCF101_TEST_GROUPS[split]
    assert len(subsets["test"]) == 3 * 7 * 2 and len(subsets["train"]) + len(subsets["val"]) == 3 * 18 * 2
    assert len({r.group for r in subsets["val"]}) == 3
    assert {r.label for r in subsets["val"]} == {0, 1, 2}
    hsp = [r for r in ds.records() if "HandStand" in r.relpath]
    assert hsp and {r.label for r in hsp} == {2}
    assert ds.missing_files() == []
    ds.prepare()
    assert [f.split_name for f in ds.folds()] == ["split1", "split2", "split3"]


@pytest.mark.parametrize("where", ["beside", "inside", "splits_dir"])
def test_ucf101_finds_its_lists(tmp_path: Path, where: str) -> None:
    root = write_ucf101(tmp_path / "data", groups=21, clips=1)
    lists, splits_dir = tmp_path / "data" / "ucfTrainTestlist", None
    if where == "inside":
        shutil.move(lists, root / "ucfTrainTestlist")
    elif where == "splits_dir":
        splits_dir = shutil.move(lists, tmp_path / "elsewhere")
    assert len(UCF101(root=root, splits_dir=splits_dir).subset("test")) == 3 * 7


def test_ucf101_real_lists_on_13320_empty_files(tmp_path: Path, shared_data: Path) -> None:
    """The scale check: the official lists over a full-size tree index in seconds, decoding nothing."""
    lists = tmp_path / "ucfTrainTestlist"
    shutil.copytree(shared_data / "ucf101_splits", lists)
    names = {line.split()[0] for k in (1, 2, 3) for name in (f"trainlist0{k}.txt", f"testlist0{k}.txt")
             for line in (lists / name).read_text().splitlines() if line.strip()}
    assert len(names) == 13320
    root = tmp_path / "UCF-101"
    touch(root, sorted(names))

    start = time.perf_counter()
    for split, (n_train, n_test) in UCF101_COUNTS.items():
        ds = UCF101(root=root, split=split)
        subsets = check_protocol(ds)
        assert ds.num_classes == 101 and len(ds.records()) == 13320
        assert (len(subsets["train"]) + len(subsets["val"]), len(subsets["test"])) == (n_train, n_test)
        assert {r.group for r in subsets["test"]} == UCF101_TEST_GROUPS[split]
        assert ds.missing_files() == []
    print(f"indexed 3 splits of 13,320 files in {time.perf_counter() - start:.2f} s")

    gone = sorted(names)[::5000]
    for name in gone:
        (root / name).unlink()
    ds = UCF101(root=root, split=1)
    assert ds.missing_files() == gone
    with pytest.raises(DatasetError, match=gone[0]):
        ds.prepare()


def test_ucf101_root_one_level_too_high(tmp_path: Path) -> None:
    root = write_ucf101(tmp_path, groups=21, clips=1)
    with pytest.raises(DatasetError, match=f"set dataset.root={root}"):
        UCF101(root=tmp_path).subset("train")
    shutil.move(tmp_path / "ucfTrainTestlist", root / "ucfTrainTestlist")  # lists inside, root above
    with pytest.raises(DatasetError, match=f"set dataset.root={root}"):
        UCF101(root=tmp_path).subset("train")


def test_ucf101_root_is_a_class_folder(tmp_path: Path) -> None:
    root = write_ucf101(tmp_path, groups=21, clips=1)
    shutil.move(tmp_path / "ucfTrainTestlist", root / "ucfTrainTestlist")
    with pytest.raises(DatasetError, match=f"single class folder; set dataset.root={root}"):
        UCF101(root=root / "Basketball").subset("train")


def test_ucf101_class_ind_not_matching_folders(tmp_path: Path) -> None:
    root = write_ucf101(tmp_path, groups=21, clips=1)
    (root / "Basketball").rename(root / "BasketBall")
    with pytest.raises(DatasetError, match=r"classInd\.txt does not match.*Basketball.*BasketBall"):
        UCF101(root=root).subset("train")
    other = tmp_path / "other"  # lists of another dataset: no class folder matches at all
    touch(other, ["Foo/v_Foo_g01_c01.avi"])
    with pytest.raises(DatasetError, match="none of the 3 class folders"):
        UCF101(root=other, splits_dir=tmp_path / "ucfTrainTestlist").subset("train")


def test_ucf101_list_names_missing_files(tmp_path: Path) -> None:
    root = write_ucf101(tmp_path, groups=21, clips=1)
    (root / "Basketball" / "v_Basketball_g03_c01.avi").unlink()
    ds = UCF101(root=root)
    assert ds.missing_files() == ["Basketball/v_Basketball_g03_c01.avi"]  # indexing does not raise
    with pytest.raises(DatasetError, match=r"(?s)v_Basketball_g03_c01\.avi.*ucfbench check dataset=ucf101"):
        ds.prepare()


def test_ucf101_bad_lists(tmp_path: Path) -> None:
    root = write_ucf101(tmp_path, groups=21, clips=1)
    lists = tmp_path / "ucfTrainTestlist"
    with pytest.raises(DatasetError, match="no classInd.txt"):
        UCF101(root=root, splits_dir=tmp_path / "nowhere").subset("train")
    with (lists / "testlist01.txt").open("a") as f:
        f.write("Basketball/basketball_clip.avi\r\n")
    with pytest.raises(DatasetError, match=r"testlist01\.txt:\d+: .*not a UCF name"):
        UCF101(root=root).subset("train")
    (lists / "trainlist02.txt").write_text("Basketball/v_Basketball_g08_c01.avi 1\n")
    with pytest.raises(DatasetError, match=r"trainlist02\.txt:1: label '1'.*disagrees"):
        UCF101(root=root, split=2).subset("train")


# -- UCF50 -----------------------------------------------------------------------------------
UCF50_CLASSES = ["Basketball", "Billiards", "PushUps", "YoYo"]


def write_ucf50(root: Path, groups: int = 25) -> list[str]:
    """A UCF50-shaped tree of empty files; 1-3 clips per group; ``Billiards/v_Billards_*``."""
    token = {"Billiards": "Billards"}
    relpaths = [f"{c}/v_{token.get(c, c)}_g{g:02d}_c{k:02d}.avi" for i, c in enumerate(UCF50_CLASSES)
                for g in range(1, groups + 1) for k in range(1, 2 + (g + i) % 3)]
    touch(root, relpaths)
    (root / "Billiards" / "notes.txt").write_text("not a video")  # ignored
    return relpaths


def test_ucf50_logo_folds_cover_every_video_once(tmp_path: Path) -> None:
    relpaths = write_ucf50(tmp_path)
    ds = UCF50(root=tmp_path, protocol="logo", fold=1)
    folds = ds.folds()
    assert [f.split_name for f in folds] == [f"fold{k:02d}" for k in range(1, 26)]
    tested = Counter()
    for k, fold in enumerate(folds, 1):
        subsets = check_protocol(fold)
        assert {r.group for r in subsets["test"]} == {k}
        assert len({r.group for r in subsets["val"]}) == 3 and len({r.group for r in subsets["train"]}) == 21
        assert fold.records() == ds.records()  # one feature cache serves every fold
        tested.update(r.relpath for r in subsets["test"])
    assert sorted(tested) == sorted(relpaths) and set(tested.values()) == {1}
    assert ds.classes == UCF50_CLASSES
    assert {r.label for r in ds.records() if "Billards" in r.relpath} == {1}


def test_ucf50_fold_matches_config(tmp_path: Path) -> None:
    write_ucf50(tmp_path)
    cfg = make_cfg(tmp_path, ["dataset=ucf50", f"dataset.root={tmp_path}", "dataset.fold=7"])
    ds = instantiate(cfg.dataset)
    assert ds.split_name == "fold07" and {r.group for r in ds.subset("test")} == {7}
    assert ds.describe() == {"dataset": "ucf50", "protocol": "logo", "split": None, "fold": 7, "split_name": "fold07",
                             "leaky": False}


def test_ucf50_groups_protocol(tmp_path: Path) -> None:
    relpaths = write_ucf50(tmp_path)
    ds = UCF50(root=tmp_path, protocol="groups")
    subsets = check_protocol(ds)
    assert ds.split_name == "groups" and {r.group for r in subsets["test"]} == set(range(1, 8))
    assert sum(len(s) for s in subsets.values()) == len(relpaths)
    assert ds.folds() == []
    other = UCF50(root=tmp_path, protocol="groups", test_groups=[20, 21])
    assert {r.group for r in other.subset("test")} == {20, 21}


def test_ucf50_random_protocol_is_leaky(tmp_path: Path) -> None:
    relpaths = write_ucf50(tmp_path)
    ds = UCF50(root=tmp_path, protocol="random", test_fraction=0.2, seed=3)
    assert ds.leaky and not ds.grouped and ds.split_name == "random" and ds.describe()["leaky"] is True
    subsets = check_protocol(ds)
    per_class = Counter(r.label for r in ds.records())
    for label, n in Counter(r.label for r in subsets["test"]).items():
        assert n == round(0.2 * per_class[label])
    assert sum(len(s) for s in subsets.values()) == len(relpaths)
    # the leak: clips of one group (same actor and scene) in both train and test
    assert {(r.label, r.group) for r in subsets["train"]} & {(r.label, r.group) for r in subsets["test"]}
    same = UCF50(root=tmp_path, protocol="random", seed=3)
    assert [r.relpath for r in same.subset("test")] == [r.relpath for r in subsets["test"]]


def test_ucf50_bad_input(tmp_path: Path) -> None:
    write_ucf50(tmp_path / "UCF50", groups=5)
    with pytest.raises(DatasetError, match=f"set dataset.root={tmp_path / 'UCF50'}"):
        UCF50(root=tmp_path).subset("test")
    with pytest.raises(DatasetError, match=r"group\(s\) \[9\]"):
        UCF50(root=tmp_path / "UCF50", fold=9).subset("test")
    with pytest.raises(ValueError, match="dataset.fold"):
        UCF50(root=tmp_path, fold=26)
    touch(tmp_path / "UCF50", ["YoYo/yoyo clip.avi"])
    with pytest.raises(DatasetError, match="YoYo/yoyo clip.avi"):
        UCF50(root=tmp_path / "UCF50").subset("test")


# -- HMDB51 ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("relpath", "source"),
    [
        ("brush_hair/April_09_brush_hair_u_nm_np1_ba_goo_0.avi", "April_09"),
        ("shoot_gun/DefensivePistolShootingTechniques_shoot_gun_f_nm_np1_fr_med_3.avi",
         "DefensivePistolShootingTechniques"),
        ("talk/Fellowship_4_talk_u_nm_np1_fr_med_0.avi", "Fellowship_4"),
        ("talk/some_clip.avi", None),
    ],
)
def test_hmdb51_source_of(relpath: str, source: str | None) -> None:
    assert source_of(relpath) == source


@pytest.fixture(scope="module")
def hmdb51_tree(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Path:
    """The official split files beside an ``hmdb51/`` tree of the 6,766 listed videos, empty."""
    base = tmp_path_factory.mktemp("hmdb")
    lists = shutil.copytree(shared_data / "hmdb51_splits", base / "testTrainMulti_7030_splits")
    names = [f"{p.name.rsplit('_test_split', 1)[0]}/{line.split()[0]}"
             for p in lists.glob("*_test_split1.txt") for line in p.read_text().splitlines() if line.strip()]
    touch(base / "hmdb51", names)
    return base / "hmdb51"


@pytest.mark.parametrize("split", [1, 2, 3])
def test_hmdb51_official_splits(hmdb51_tree: Path, split: int) -> None:
    ds = HMDB51(root=hmdb51_tree, split=split)
    subsets = check_protocol(ds)
    assert ds.num_classes == 51 and ds.classes[0] == "brush_hair"
    assert len(subsets["train"]) + len(subsets["val"]) == 3570 and len(subsets["test"]) == 1530
    assert all(n == 30 for n in Counter(r.label for r in subsets["test"]).values())
    val_share = Counter(r.label for r in subsets["val"])
    assert len(val_share) == 51 and all(8 <= n <= 13 for n in val_share.values())  # ~15 % of 70
    # validation never shares a source movie with train, in any class
    sources = {name: {source_of(r.relpath) for r in subsets[name]} for name in ("train", "val")}
    assert sources["train"].isdisjoint(sources["val"])
    assert ds.missing_files() == []
    assert [f.split_name for f in ds.folds()] == ["split1", "split2", "split3"]


def test_hmdb51_missing_and_bad_input(hmdb51_tree: Path, tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=f"set dataset.root={hmdb51_tree}"):
        HMDB51(root=hmdb51_tree.parent).subset("train")
    with pytest.raises(DatasetError, match="no HMDB51 split files"):
        HMDB51(root=hmdb51_tree, splits_dir=tmp_path).subset("train")
    root = tmp_path / "hmdb51"  # a partial copy: one class only
    shutil.copytree(hmdb51_tree / "wave", root / "wave")
    ds = HMDB51(root=root, splits_dir=hmdb51_tree.parent / "testTrainMulti_7030_splits")
    assert len(ds.missing_files()) == 5100 - 100
    with pytest.raises(DatasetError, match="not on disk"):
        ds.prepare()


# -- any folder ------------------------------------------------------------------------------
def test_folder_stratified(tmp_path: Path) -> None:
    touch(tmp_path, [f"{c}/clip{i}.{ext}" for c in ("a", "b") for i in range(10) for ext in ("avi", "MP4")]
          + ["c/x.mkv", "c/y.webm", "c/z.avi", "c/w.avi", "c/v.avi", "a/readme.txt", ".hidden/q.avi"])
    ds = VideoFolder(root=tmp_path, test_fraction=0.2, seed=1)
    subsets = check_protocol(ds)
    assert ds.classes == ["a", "b", "c"] and len(ds.records()) == 45 and ds.split_name == "stratified20"
    assert Counter(r.label for r in subsets["test"]) == {0: 4, 1: 4, 2: 1}


def test_folder_grouped(tmp_path: Path) -> None:
    touch(tmp_path, [f"{c}/v_{c}_g{g:02d}_c{k}.avi" for c in ("x", "y", "z") for g in range(1, 11) for k in (1, 2)])
    pattern = r"dataset.group_pattern='_g(?P<group>\d+)_c'"
    cfg = make_cfg(tmp_path, ["dataset=folder", f"dataset.root={tmp_path}", pattern])
    ds = instantiate(cfg.dataset)
    subsets = check_protocol(ds)
    assert ds.grouped and ds.split_name == "grouped20"
    assert len({r.group for r in subsets["test"]}) == 2 and len(subsets["test"]) == 12
    with pytest.raises(ValueError, match="named group"):
        VideoFolder(root=tmp_path, group_pattern=r"_g(\d+)")
    touch(tmp_path, ["x/odd.avi"])
    with pytest.raises(DatasetError, match="x/odd.avi"):
        VideoFolder(root=tmp_path, group_pattern=r"_g(?P<group>\d+)_").subset("test")


# -- synthetic: the leak on generated data ---------------------------------------------------
def test_synthetic_random_protocol(tiny_home: Path, tiny_dataset: ActionDataset) -> None:
    cfg = make_cfg(tiny_home, ["debug=tiny", "dataset.protocol=random"])
    ds = instantiate(cfg.dataset)
    assert ds.leaky and ds.split_name == "random" and ds.describe()["leaky"] is True and ds.folds() == []
    subsets = check_protocol(ds)
    assert ds.records() == tiny_dataset.records()  # the same videos (and features), split another way
    assert {r.group for r in subsets["train"]} & {r.group for r in subsets["test"]}
    assert not tiny_dataset.leaky and tiny_dataset.split_name == "split1"


# -- configs ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("experiment", "key", "values"), [
    ("ucf50_logo", "dataset.fold", list(range(1, 26))),
    ("ucf101_splits", "dataset.split", [1, 2, 3]),
    ("seed003_ucf50_random", "model",
     ["rnn", "lstm", "gru", "bilstm", "stacked_lstm", "transformer", "swin", "mean_pool"]),
])
def test_protocol_experiments(tmp_path: Path, experiment: str, key: str, values: list) -> None:
    from hydra.core.override_parser.overrides_parser import OverridesParser

    cfg = make_cfg(tmp_path, [f"experiment={experiment}"])
    assert cfg.hydra.mode.name == "MULTIRUN"
    assert (cfg.features.model, cfg.features.weights, cfg.features.size) == ("resnet50", "IMAGENET1K_V1", 224)
    assert cfg.features.sampler._target_.endswith("UniformSampler") and cfg.features.sampler.num_frames == 32
    sweep = OverridesParser.create().parse_overrides([f"{key}={cfg.hydra.sweeper.params[key]}"])[0]
    assert list(sweep.sweep_iterator()) == values
    if experiment.startswith("seed003"):
        assert cfg.dataset.protocol == "random" and cfg.dataset.test_fraction == 0.2
