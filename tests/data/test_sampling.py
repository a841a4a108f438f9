"""Clip samplers: exact cases, then invariants over many video lengths."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest

from ucfbench.data.sampling import SegmentSampler, StrideSampler, UniformSampler

CASES = [
    # sampler, frames in video, rng seed (None = eval), expected indices, expected length
    (UniformSampler(num_frames=4), 8, None, [1, 3, 5, 7], 4),
    (UniformSampler(num_frames=4), 4, None, [0, 1, 2, 3], 4),
    (UniformSampler(num_frames=4), 2, None, [0, 0, 1, 1], 4),
    (UniformSampler(num_frames=3), 1, None, [0, 0, 0], 3),
    (UniformSampler(num_frames=1), 10, None, [5], 1),
    (UniformSampler(num_frames=4), 8, 0, [1, 3, 5, 7], 4),  # rng ignored
    (StrideSampler(num_frames=4, stride=2), 10, None, [1, 3, 5, 7], 4),
    (StrideSampler(num_frames=4, stride=2), 7, None, [0, 2, 4, 6], 4),
    (StrideSampler(num_frames=4, stride=2), 5, None, [0, 2, 4, 4], 3),
    (StrideSampler(num_frames=4, stride=2), 5, 0, [0, 2, 4, 4], 3),
    (StrideSampler(num_frames=4, stride=3), 1, None, [0, 0, 0, 0], 1),
    (StrideSampler(num_frames=4, stride=1), 6, None, [1, 2, 3, 4], 4),
    (
        StrideSampler(num_frames=16, stride=2),
        20,
        None,
        [0, 2, 4, 6, 8, 10, 12, 14, 16, 18] + [18] * 6,
        10,
    ),
    (SegmentSampler(num_frames=4), 8, None, [1, 3, 5, 7], 4),
    (SegmentSampler(num_frames=3), 10, None, [1, 5, 8], 3),
    (SegmentSampler(num_frames=4), 2, None, [0, 0, 1, 1], 4),
]


@pytest.mark.parametrize(("sampler", "n", "seed", "expected", "length"), CASES)
def test_cases(sampler, n, seed, expected, length):
    rng = None if seed is None else np.random.default_rng(seed)
    indices, got_length = sampler(n, rng)
    assert indices.tolist() == expected
    assert got_length == length


SAMPLERS = (
    [UniformSampler(num_frames=t) for t in (1, 2, 3, 8, 32)]
    + [
        StrideSampler(num_frames=t, stride=s)
        for t, s in itertools.product((1, 2, 8, 16), (1, 2, 3, 5))
    ]
    + [SegmentSampler(num_frames=t) for t in (1, 3, 8, 16)]
)


@pytest.mark.parametrize("sampler", SAMPLERS, ids=repr)
@pytest.mark.parametrize("seed", [None, 0, 1])
def test_invariants(sampler, seed):
    rng = None if seed is None else np.random.default_rng(seed)
    for n in range(1, 120):
        indices, length = sampler(n, rng)
        t = sampler.num_frames
        assert indices.shape == (t,) and indices.dtype == np.int64, (n, indices)
        assert indices.min() >= 0 and indices.max() <= n - 1, (n, indices)
        assert np.all(np.diff(indices) >= 0), (n, indices)
        assert 1 <= length <= t
        # Padding repeats the last real frame.
        assert np.all(indices[length:] == indices[length - 1]), (n, indices, length)


@pytest.mark.parametrize(("t", "stride"), [(1, 1), (4, 2), (16, 2), (8, 5)])
def test_stride_clip_is_contiguous_when_it_fits(t, stride):
    sampler = StrideSampler(num_frames=t, stride=stride)
    rng = np.random.default_rng(0)
    for n in range(sampler.span, sampler.span + 40):
        for r in (None, rng):
            indices, length = sampler(n, r)
            assert length == t
            assert np.all(np.diff(indices) == stride)


@pytest.mark.parametrize("n", [1, 5, 30, 31])
def test_stride_pads_short_videos(n):
    sampler = StrideSampler(num_frames=16, stride=2)  # span 31
    indices, length = sampler(n, np.random.default_rng(0))
    real = list(range(0, n, 2))
    assert length == min(len(real), 16)
    assert indices[:length].tolist() == real[:length]


def test_stride_train_start_covers_every_offset():
    sampler = StrideSampler(num_frames=4, stride=2)  # span 7; n=10 leaves starts 0..3
    rng = np.random.default_rng(0)
    starts = {int(sampler(10, rng).indices[0]) for _ in range(200)}
    assert starts == {0, 1, 2, 3}


def test_segment_train_stays_in_segments_and_covers_frames():
    sampler, n = SegmentSampler(num_frames=4), 18
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(300):
        indices = sampler(n, rng).indices
        for i, k in enumerate(indices):
            assert i * n / 4 - 1 < k < (i + 1) * n / 4, (i, k)
        seen.update(indices.tolist())
    assert seen == set(range(n))


@pytest.mark.parametrize("sampler", SAMPLERS[:8] + SAMPLERS[-2:], ids=repr)
def test_eval_is_deterministic_and_seeded_train_reproducible(sampler):
    for n in (1, 7, 50, 301):
        assert sampler(n).indices.tolist() == sampler(n, None).indices.tolist()
        a = sampler(n, np.random.default_rng(3)).indices
        b = sampler(n, np.random.default_rng(3)).indices
        assert a.tolist() == b.tolist()


def test_segment_eval_matches_uniform():
    for n in range(1, 80):
        assert np.array_equal(
            SegmentSampler(num_frames=8)(n).indices, UniformSampler(num_frames=8)(n).indices
        )


@pytest.mark.parametrize("sampler", [UniformSampler(), StrideSampler(), SegmentSampler()], ids=repr)
@pytest.mark.parametrize("n", [0, -3])
def test_empty_video_raises(sampler, n):
    with pytest.raises(ValueError, match="frames"):
        sampler(n)


@pytest.mark.parametrize(
    "make",
    [
        lambda: UniformSampler(num_frames=0),
        lambda: StrideSampler(num_frames=0),
        lambda: StrideSampler(stride=0),
        lambda: SegmentSampler(num_frames=-1),
    ],
)
def test_bad_parameters_raise(make):
    with pytest.raises(ValueError):
        make()


def test_defaults_frozen_and_keyword_only():
    assert UniformSampler().num_frames == 32
    assert (StrideSampler().num_frames, StrideSampler().stride) == (16, 2)
    assert SegmentSampler().num_frames == 8
    with pytest.raises(dataclasses.FrozenInstanceError):
        UniformSampler().num_frames = 3  # type: ignore[misc]
    with pytest.raises(TypeError):
        UniformSampler(8)  # type: ignore[misc]
