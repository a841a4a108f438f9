"""Split protocols as pure functions over lists of :class:`VideoRecord`.

Nothing here touches the file system: datasets parse their files into records and these
functions decide which record goes where, so every protocol is testable on plain lists.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Sequence

import numpy as np

from ucfbench.data.types import VideoRecord

# UCF-style file names: v_<Class>_g<group>_c<clip>.<ext>; the class token can differ from the
# folder name (UCF101 `HandstandPushups/v_HandStandPushups_*`, UCF50 `Billiards/v_Billards_*`).
_UCF_NAME = re.compile(r"^v_(?P<cls>.+)_g(?P<group>\d+)_c(?P<clip>\d+)\.[A-Za-z0-9]+$")


def parse_ucf_name(filename: str) -> tuple[str, int, int] | None:
    """Return ``(class_token, group, clip)`` of a UCF file name, or None if it does not match."""
    match = _UCF_NAME.match(filename.rsplit("/", 1)[-1])
    if match is None:
        return None
    return match["cls"], int(match["group"]), int(match["clip"])


def holdout_groups(
    records: Sequence[VideoRecord], *, num_groups: int, seed: int = 0
) -> tuple[list[VideoRecord], list[VideoRecord]]:
    """Split ``records`` into (kept, held_out) by holding out whole group numbers.

    UCF groups are numbered per class and a group number names the same cut of every class
    (split ``k`` of UCF101 tests on groups ``7(k-1)+1..7k`` of all classes), so holding out a
    group number keeps every class represented on both sides and no group on both.

    Args:
        records: the videos to split; all must carry a group (``>= 0``).
        num_groups: how many group numbers to hold out (0 holds out nothing).
        seed: chooses which group numbers, reproducibly.
    """
    if num_groups <= 0:
        return list(records), []
    groups = sorted({r.group for r in records})
    if any(g < 0 for g in groups):
        raise ValueError("holdout_groups needs every record to have a group (group >= 0)")
    if num_groups >= len(groups):
        raise ValueError(
            f"cannot hold out {num_groups} groups for validation: the training split has only "
            f"{len(groups)} groups ({groups}); lower dataset.val_groups"
        )
    rng = np.random.default_rng(seed)
    held = set(rng.choice(groups, size=num_groups, replace=False).tolist())
    kept = [r for r in records if r.group not in held]
    held_out = [r for r in records if r.group in held]
    return kept, held_out


def assert_disjoint(subsets: dict[str, Sequence[VideoRecord]], *, by_group: bool) -> None:
    """Raise if a video (or, with ``by_group``, a group number) appears in two subsets."""
    seen: dict[object, str] = {}
    for name, records in subsets.items():
        keys: Iterable[object] = {r.group if by_group else r.relpath for r in records}
        for key in keys:
            if key in seen and seen[key] != name:
                what = f"group {key}" if by_group else f"video {key}"
                raise AssertionError(f"{what} is in both '{seen[key]}' and '{name}': the split leaks")
            seen[key] = name


def holdout_fraction(
    records: Sequence[VideoRecord],
    *,
    fraction: float,
    seed: int = 0,
    key: Callable[[VideoRecord], Hashable] | None = None,
) -> tuple[list[VideoRecord], list[VideoRecord]]:
    """Split ``records`` into (kept, held_out), holding out about ``fraction`` of every class.

    Records with the same ``key`` (default: the video itself, i.e. a stratified split over clips)
    always land on the same side. Units are visited in a seeded random order, twice: the first pass
    holds out those that take no class past its share, the second those that still bring their
    classes' held-out counts closer to ``fraction`` of each class. Every class ends near its share
    (rounded to the nearest video for clip-level splits, to whole groups otherwise); with
    ``fraction > 0`` a last pass holds out one unit of each class that rounding left without any,
    where that leaves the class a unit to keep (a small folder still gets a validation video).
    """
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"fraction must be in [0, 1), got {fraction}")
    key = key or (lambda r: r.relpath)
    units: dict[Hashable, Counter] = {}
    for r in records:
        units.setdefault(key(r), Counter())[r.label] += 1
    total = Counter(r.label for r in records)
    target = {c: fraction * n for c, n in total.items()}
    names = sorted(units, key=str)
    held_count: Counter = Counter()
    held: set[Hashable] = set()
    order = np.random.default_rng(seed).permutation(len(names))
    for fits_only in (True, False):  # first units that overshoot no class, then the nearest rounding
        for j in order:
            counts = units[names[j]]
            if names[j] in held or (fits_only and any(held_count[c] + k > target[c] for c, k in counts.items())):
                continue
            gain = sum(abs(held_count[c] + k - target[c]) - abs(held_count[c] - target[c]) for c, k in counts.items())
            if gain < 0:
                held.add(names[j])
                held_count.update(counts)
    if fraction > 0:
        for j in order:
            counts = units[names[j]]
            if names[j] not in held and any(held_count[c] == 0 for c in counts) \
                    and all(held_count[c] + k < total[c] for c, k in counts.items()):
                held.add(names[j])
                held_count.update(counts)
    kept = [r for r in records if key(r) not in held]
    return kept, [r for r in records if key(r) in held]
