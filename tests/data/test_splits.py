"""Split protocols (pure functions) and the UCF101 list reader on the official files."""

from __future__ import annotations

from pathlib import Path

import pytest

from ucfbench.data.base import DatasetError
from ucfbench.data.splits import assert_disjoint, holdout_groups, parse_ucf_name
from ucfbench.data.types import VideoRecord
from ucfbench.data.ucf101 import read_class_ind, read_split_list


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("v_ApplyEyeMakeup_g08_c01.avi", ("ApplyEyeMakeup", 8, 1)),
        ("HandstandPushups/v_HandStandPushups_g01_c04.avi", ("HandStandPushups", 1, 4)),
        ("v_Billards_g25_c07.avi", ("Billards", 25, 7)),
        ("v_Some_Class_g3_c12.mp4", ("Some_Class", 3, 12)),
        ("brush_hair_0.avi", None),
        ("v_X_g01.avi", None),
    ],
)
def test_parse_ucf_name(name: str, expected: tuple | None) -> None:
    assert parse_ucf_name(name) == expected


def _records(classes: int = 3, groups: int = 10, clips: int = 2) -> list[VideoRecord]:
    return [
        VideoRecord(relpath=f"C{c}/v_C{c}_g{g:02d}_c{k:02d}.avi", label=c, group=g, clip=k)
        for c in range(classes) for g in range(1, groups + 1) for k in range(1, clips + 1)
    ]


@pytest.mark.parametrize("num_groups", [1, 2, 5])
@pytest.mark.parametrize("seed", [0, 1, 7])
def test_holdout_groups_invariants(num_groups: int, seed: int) -> None:
    records = _records()
    kept, held = holdout_groups(records, num_groups=num_groups, seed=seed)
    assert len(kept) + len(held) == len(records)
    assert {r.group for r in kept}.isdisjoint({r.group for r in held})
    assert len({r.group for r in held}) == num_groups
    assert {r.label for r in held} == {r.label for r in records}  # every class validated
    assert holdout_groups(records, num_groups=num_groups, seed=seed) == (kept, held)  # reproducible


def test_holdout_groups_edge_cases() -> None:
    records = _records(groups=3)
    assert holdout_groups(records, num_groups=0) == (records, [])
    with pytest.raises(ValueError, match="val_groups"):
        holdout_groups(records, num_groups=3)


def test_assert_disjoint_detects_leaks() -> None:
    a, b = _records(groups=2)[:2], _records(groups=2)[2:]
    assert_disjoint({"train": a, "test": b}, by_group=False)
    with pytest.raises(AssertionError, match="both"):
        assert_disjoint({"train": a, "test": a[:1]}, by_group=False)
    same_group = [VideoRecord(relpath="x.avi", label=0, group=a[0].group)]
    with pytest.raises(AssertionError, match="group"):
        assert_disjoint({"train": a, "test": same_group}, by_group=True)


# The official UCF101 lists (CRLF, 1-based classInd, unlabelled test lists).
UCF101_COUNTS = {1: (9537, 3783), 2: (9586, 3734), 3: (9624, 3696)}
UCF101_TEST_GROUPS = {1: range(1, 8), 2: range(8, 15), 3: range(15, 22)}


@pytest.mark.parametrize("split", [1, 2, 3])
def test_official_ucf101_lists(shared_data: Path, split: int) -> None:
    folder = shared_data / "ucf101_splits"
    classes = read_class_ind(folder / "classInd.txt")
    assert len(classes) == 101 and classes[0] == "ApplyEyeMakeup"
    train = read_split_list(folder / f"trainlist{split:02d}.txt", classes)
    test = read_split_list(folder / f"testlist{split:02d}.txt", classes)
    assert (len(train), len(test)) == UCF101_COUNTS[split]
    assert {r.group for r in test} == set(UCF101_TEST_GROUPS[split])
    assert {r.group for r in train}.isdisjoint({r.group for r in test})
    assert len({r.label for r in test}) == 101
    quirk = [r for r in test + train if r.relpath.startswith("HandstandPushups/")]
    assert quirk and all("v_HandStandPushups_" in r.relpath for r in quirk)
    assert all(classes[r.label] == "HandstandPushups" for r in quirk)


def test_split_list_errors(tmp_path: Path) -> None:
    (tmp_path / "classInd.txt").write_text("1 A\r\n2 B\r\n")
    classes = read_class_ind(tmp_path / "classInd.txt")
    (tmp_path / "bad_folder.txt").write_text("C/v_C_g01_c01.avi 1\r\n")
    with pytest.raises(DatasetError, match="bad_folder.txt:1.*'C'"):
        read_split_list(tmp_path / "bad_folder.txt", classes)
    (tmp_path / "bad_label.txt").write_text("A/v_A_g01_c01.avi 2\r\n")
    with pytest.raises(DatasetError, match="disagrees"):
        read_split_list(tmp_path / "bad_label.txt", classes)
    (tmp_path / "gap.txt").write_text("1 A\n3 C\n")
    with pytest.raises(DatasetError, match="without gaps"):
        read_class_ind(tmp_path / "gap.txt")
