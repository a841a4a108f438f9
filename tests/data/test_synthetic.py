"""The synthetic generator: UCF101 layout and list formats, splits, determinism, pair properties."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import av
import numpy as np
import pytest

from ucfbench.data import synthetic_videos as synthetic
from ucfbench.data.synthetic_videos import (
    MANIFEST,
    PAIRS,
    SyntheticSpec,
    class_names,
    generate,
    is_generated,
    render_clip,
    sample_appearance,
    split_test_groups,
)

TINY = SyntheticSpec(size=32, frames=8, groups=4, clips=2, seed=0, classes=("Grow", "Shrink", "BlinkSlow", "BlinkFast"))
NAME = re.compile(r"^v_(?P<cls>[A-Za-z]+)_g(?P<g>\d{2})_c(?P<c>\d{2})\.avi$")


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate(tmp_path_factory.mktemp("synthetic") / "ucf", TINY)


def read_lines(path: Path) -> list[str]:
    """Lines of an official-format list file, checking every line ends in CRLF."""
    data = path.read_bytes()
    assert data.endswith(b"\r\n"), path
    lines = data.split(b"\r\n")[:-1]
    assert not any(b"\n" in line or b"\r" in line for line in lines), f"{path} mixes line endings"
    return [line.decode() for line in lines]


def videos(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*.avi")}


def appearance(seed: int) -> synthetic.Appearance:
    return synthetic.jitter(sample_appearance(np.random.default_rng(seed)), np.random.default_rng(seed + 1))


def test_layout_and_names(root: Path) -> None:
    expected = {
        f"{name}/v_{name}_g{g:02d}_c{c:02d}.avi"
        for name in TINY.classes
        for g in range(1, TINY.groups + 1)
        for c in range(1, TINY.clips + 1)
    }
    assert videos(root) == expected
    assert {p.name for p in root.iterdir() if p.is_file()} == {
        "classInd.txt",
        MANIFEST,
        *(f"{kind}list0{k}.txt" for kind in ("train", "test") for k in (1, 2, 3)),
    }
    assert all(NAME.match(Path(v).name) for v in expected)


def test_class_ind(root: Path) -> None:
    assert read_lines(root / "classInd.txt") == [f"{i} {n}" for i, n in enumerate(class_names(TINY), 1)]


@pytest.mark.parametrize("split", [1, 2, 3])
def test_split_lists(root: Path, split: int) -> None:
    labels = {n: i for i, n in enumerate(class_names(TINY), 1)}
    train, test = [], []
    for line in read_lines(root / f"trainlist0{split}.txt"):
        rel, label = line.split(" ")
        assert int(label) == labels[rel.split("/")[0]], line  # 1-based, matches classInd
        train.append(rel)
    for line in read_lines(root / f"testlist0{split}.txt"):
        assert " " not in line, f"test lists carry no label: {line!r}"
        test.append(line)
    assert len(set(train)) == len(train) and len(set(test)) == len(test)
    assert not set(train) & set(test)
    assert set(train) | set(test) == videos(root)  # every video in exactly one list

    def groups(rels: list[str]) -> set[int]:
        return {int(NAME.match(Path(r).name)["g"]) for r in rels}

    assert not groups(train) & groups(test)
    assert groups(test) == set(split_test_groups(groups=TINY.groups, split=split))


@pytest.mark.parametrize(
    ("groups", "split", "expected"),
    [
        (25, 1, range(1, 8)),
        (25, 3, range(15, 22)),
        (24, 1, range(1, 8)),
        (24, 2, range(8, 15)),
        (24, 3, range(15, 22)),  # 22-24 always train
        (8, 2, range(3, 5)),  # round(7 * 8 / 25) = 2
        (4, 3, range(3, 4)),
        (3, 3, range(3, 4)),
    ],
)
def test_test_groups(groups: int, split: int, expected: range) -> None:
    assert split_test_groups(groups=groups, split=split) == list(expected)


def test_manifest(root: Path) -> None:
    manifest = json.loads((root / MANIFEST).read_text())
    assert manifest["classes"] == class_names(TINY)
    assert manifest["pairs"] == [
        {"kind": "reversed", "classes": ["Grow", "Shrink"]},
        {"kind": "tempo", "classes": ["BlinkSlow", "BlinkFast"]},
    ]
    assert manifest["params"]["groups"] == TINY.groups
    assert is_generated(root, TINY)
    assert not is_generated(root, replace(TINY, seed=1))
    assert not is_generated(root.parent / "missing", TINY)


def test_videos_decode(root: Path) -> None:
    for rel in sorted(videos(root)):
        with av.open(str(root / rel)) as container:
            stream = container.streams.video[0]
            assert container.format.name == "avi" and stream.codec_context.name == "mpeg4"
            assert stream.average_rate == synthetic.FPS
            frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
        assert len(frames) == TINY.frames, rel
        assert frames[0].shape == (TINY.size, TINY.size, 3)


def decode(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


def test_videos_hold_the_rendered_clip(root: Path) -> None:
    for name in TINY.classes:
        app = synthetic.clip_appearance(TINY, name=name, group=2, clip=1)
        rendered = render_clip(name, appearance=app, size=TINY.size, frames=TINY.frames)
        decoded = decode(root / f"{name}/v_{name}_g02_c01.avi")
        error = np.abs(decoded.astype(float) - rendered).mean()
        assert error < 4, f"{name}: coding changed pixels by {error:.1f} grey levels on average"


def test_coding_keeps_reversal_exact(tmp_path: Path) -> None:
    """Each frame is coded on its own, so a reversed clip decodes to exactly the reversed frames."""
    clip = render_clip("Grow", appearance=appearance(3), size=32, frames=12)
    synthetic._encode(tmp_path / "a.avi", clip)
    synthetic._encode(tmp_path / "b.avi", clip[::-1].copy())
    np.testing.assert_array_equal(decode(tmp_path / "b.avi"), decode(tmp_path / "a.avi")[::-1])


def test_clips_of_a_group_share_appearance(root: Path) -> None:
    """Clips jitter their (class, group)'s look: closer to each other than to other groups."""

    def look(rel: str) -> np.ndarray:
        return decode(root / rel).astype(float).mean(axis=(0, 1, 2))  # mean RGB over the clip

    for name in TINY.classes:
        looks = {(g, c): look(f"{name}/v_{name}_g{g:02d}_c{c:02d}.avi") for g in range(1, 5) for c in (1, 2)}
        within = np.mean([np.linalg.norm(looks[g, 1] - looks[g, 2]) for g in range(1, 5)])
        between = np.mean(
            [np.linalg.norm(looks[g, 1] - looks[h, 1]) for g in range(1, 5) for h in range(1, 5) if g != h]
        )
        assert within < between / 2, (name, within, between)


def test_same_spec_same_bytes(root: Path, tmp_path: Path) -> None:
    again = generate(tmp_path / "again", TINY)
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(again).as_posix() for p in again.rglob("*") if p.is_file())
    for rel in files:
        assert (root / rel).read_bytes() == (again / rel).read_bytes(), rel


@pytest.mark.parametrize(("base", "partner"), [(b, p) for kind, b, p in PAIRS if kind == "reversed"])
def test_reversed_pairs_are_exact_reverses(base: str, partner: str) -> None:
    for seed in range(3):
        app = appearance(seed)
        forward = render_clip(base, appearance=app, size=32, frames=9)
        backward = render_clip(partner, appearance=app, size=32, frames=9)
        assert forward.shape == (9, 32, 32, 3) and forward.dtype == np.uint8
        np.testing.assert_array_equal(backward, forward[::-1])
        assert not np.array_equal(forward, backward)  # the clip does change over time


@pytest.mark.parametrize(("slow", "fast"), [(s, f) for kind, s, f in PAIRS if kind == "tempo"])
@pytest.mark.parametrize("frames", [8, 32])
def test_tempo_pairs_share_frames(slow: str, fast: str, frames: int) -> None:
    """With a clip length coprime to the fast cycle count, the fast clip permutes the slow's frames."""
    app = appearance(7)
    a = render_clip(slow, appearance=app, size=32, frames=frames)
    b = render_clip(fast, appearance=app, size=32, frames=frames)
    assert sorted(f.tobytes() for f in a) == sorted(f.tobytes() for f in b)
    assert not np.array_equal(a, b)
    # Statistics of the frame sets agree; their order does not.
    np.testing.assert_allclose(a.mean(axis=0), b.mean(axis=0))
    assert np.abs(np.diff(b.astype(float), axis=0)).mean() > np.abs(np.diff(a.astype(float), axis=0)).mean()


def test_refuses_to_overwrite_other_parameters(root: Path) -> None:
    before = {p: p.stat().st_mtime_ns for p in root.rglob("*")}
    with pytest.raises(FileExistsError, match="delete it or choose another root"):
        generate(root, replace(TINY, seed=1))
    assert generate(root, TINY) == root  # same parameters: nothing to do
    assert {p: p.stat().st_mtime_ns for p in root.rglob("*")} == before


def test_refuses_foreign_directory(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="delete it or choose another root"):
        generate(tmp_path / "data", TINY)
    assert (tmp_path / "data" / "notes.txt").read_text() == "mine"


def test_fills_an_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    spec = replace(TINY, groups=3, clips=1)
    assert is_generated(generate(tmp_path / "empty", spec), spec)


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_failure_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: type) -> None:
    encode, calls = synthetic._encode, []

    def flaky(path: Path, clip: np.ndarray) -> None:
        calls.append(path)
        if len(calls) == 5:
            raise error("encoder died")
        encode(path, clip)

    monkeypatch.setattr(synthetic, "_encode", flaky)
    with pytest.raises(error):
        generate(tmp_path / "ucf", TINY)
    assert len(calls) == 5
    left = [p.name for p in tmp_path.iterdir() if p.name != ".ucf.lock"]  # the lock file may stay
    assert left == []  # neither the root nor the temporary sibling


def test_stale_temporary_folders_are_removed(tmp_path: Path) -> None:
    stale = tmp_path / ".ucf.k1ll3d.tmp"  # what a generation killed with SIGKILL leaves
    (stale / "Grow").mkdir(parents=True)
    (stale / "Grow" / "half.avi").write_bytes(b"\0" * 100)
    other = tmp_path / ".other.x.tmp"  # another dataset's: not ours to remove
    other.mkdir()
    generate(tmp_path / "ucf", TINY)
    assert not stale.exists() and other.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.x.tmp", ".ucf.lock", "ucf"]


RACE = """
import os, sys, time
from pathlib import Path
from ucfbench.data import synthetic_videos as synthetic
from tests.data.test_synthetic import TINY
root, log, go = map(Path, sys.argv[1:4])
encode = synthetic._encode
def counted(path, clip):
    with open(log, "a") as f:
        f.write(f"{os.getpid()} {path.name}\\n")
    time.sleep(0.02)  # long enough that the two jobs overlap
    encode(path, clip)
synthetic._encode = counted
while not go.exists():
    time.sleep(0.005)
print(synthetic.generate(root, TINY))
"""


def test_two_jobs_generating_at_once_generate_once(tmp_path: Path) -> None:
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[2]
    root, log, go = tmp_path / "home" / "ucf", tmp_path / "encoded.txt", tmp_path / "go"
    jobs = [subprocess.Popen([sys.executable, "-c", RACE, str(root), str(log), str(go)], cwd=repo,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    go.touch()
    outs = [job.communicate(timeout=300) for job in jobs]
    for job, (out, err) in zip(jobs, outs):
        assert job.returncode == 0, err[-3000:]
        assert out.strip() == str(root)
    encoded = log.read_text().splitlines()
    assert len(encoded) == len(class_names(TINY)) * TINY.groups * TINY.clips  # every video once, in all
    assert len({line.split()[0] for line in encoded}) == 1  # by one of the jobs
    assert is_generated(root, TINY)
    assert sorted(p.name for p in root.parent.iterdir()) == [".ucf.lock", "ucf"]


@pytest.mark.parametrize(
    "bad",
    [
        {"size": 40},
        {"size": 8},
        {"frames": 4},
        {"groups": 2},
        {"clips": 0},
        {"classes": ("Grow",)},
        {"classes": ("Grow", "Jump")},
        {"classes": ("Grow", "Grow")},
    ],
)
def test_spec_validation(bad: dict) -> None:
    with pytest.raises(ValueError, match="SyntheticSpec"):
        SyntheticSpec(**bad)


@pytest.mark.parametrize("errno_", [28, 30, 13])  # ENOSPC, EROFS, EACCES
def test_generation_on_a_full_or_read_only_disk_names_the_folder(tmp_path: Path, monkeypatch, errno_: int) -> None:
    import os

    from ucfbench.utils.errors import UserError

    def refuse(*args, **kwargs):
        raise OSError(errno_, os.strerror(errno_))

    monkeypatch.setattr(synthetic, "make_temp_dir", refuse)
    root = tmp_path / "ucf"
    with pytest.raises(UserError, match=re.escape(str(root))) as err:
        generate(root, TINY)
    assert "dataset.root" in str(err.value)
    assert not root.exists()
