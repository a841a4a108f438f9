"""Deterministic synthetic action videos in the UCF101 layout: the suite's embedded default dataset.

Every class is one member of a pair that real data cannot provide:

* ``reversed`` pairs: one class is exactly the other played backwards (growing / shrinking, fading
  in / out, sliding right / left, red-to-blue / blue-to-red). Both have the same set of frames, so
  a model that ignores temporal order is at chance within the pair.
* ``tempo`` pairs: the same cycle run once or three times per clip (slow / fast blinking or
  pulsing). When the clip length is not a multiple of three (the default 32 is not), the fast
  clip's frames are a permutation of the slow clip's: frame statistics cannot tell them apart.

Each (class, group) draws its own background and object appearance, and its clips only jitter it,
like UCF groups cut from one long video: a split that mixes a group's clips between train and test
leaks appearance, a group-held-out split (the official scheme, scaled to the number of groups) does
not. Files, names and split lists follow UCF101 exactly, so the same reader serves both.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from filelock import Timeout
from rich.progress import Progress

from ucfbench.utils.io import is_write_failure, make_temp_dir, write_error
from ucfbench.utils.locks import file_lock

__all__ = [
    "ALL_CLASSES",
    "FPS",
    "MANIFEST",
    "PAIRS",
    "Appearance",
    "SyntheticSpec",
    "class_names",
    "clip_appearance",
    "generate",
    "is_generated",
    "jitter",
    "render_clip",
    "sample_appearance",
    "split_test_groups",
    "write_clip",
]

log = logging.getLogger(__name__)

FPS = 25  # as UCF101 ships
MANIFEST = "synthetic.json"
# Bumped whenever rendering changes, so a dataset made by older code is not silently reused.
VERSION = 1
# Fixed mpeg4 quantiser (ffmpeg's -q:v); 2 is the encoder's default floor and keeps small frames sharp.
QSCALE = 2
FAST_CYCLES = 3
# (kind, base class, partner). The partner of a reversed pair is the base played backwards; the
# partner of a tempo pair runs the base's cycle FAST_CYCLES times instead of once.
PAIRS: tuple[tuple[str, str, str], ...] = (
    ("reversed", "Grow", "Shrink"),
    ("reversed", "FadeIn", "FadeOut"),
    ("reversed", "SlideRight", "SlideLeft"),
    ("reversed", "WarmToCool", "CoolToWarm"),
    ("tempo", "BlinkSlow", "BlinkFast"),
    ("tempo", "PulseSlow", "PulseFast"),
)
ALL_CLASSES: tuple[str, ...] = tuple(name for _, base, partner in PAIRS for name in (base, partner))
_PARTNER = {partner: (kind, base) for kind, base, partner in PAIRS}
_CLASS_ID = {name: i for i, name in enumerate(ALL_CLASSES)}  # stable seed key, whatever the subset


@dataclass(frozen=True, kw_only=True)
class SyntheticSpec:
    """Parameters of a synthetic dataset; equal specs give identical files.

    The default (12 classes x 36 groups x 2 clips = 864 videos of 32 frames at 64 px) runs the whole
    default pipeline in a few minutes on two CPU cores. It spends its videos on many groups with few
    clips each: frozen random-CNN features generalise across groups only when they have seen many.

    Attributes:
        size: frame height and width in pixels (a multiple of 16, as mpeg4 macroblocks want).
        frames: frames per video.
        groups: groups per class (UCF101 has 25); splits hold out blocks of round(7 * groups / 25).
        clips: clips per group.
        seed: seeds every appearance and jitter.
        classes: which classes to make, from :data:`ALL_CLASSES`; pairs count only when complete.
    """

    size: int = 64
    frames: int = 32
    groups: int = 36
    clips: int = 2
    seed: int = 0
    classes: tuple[str, ...] = ALL_CLASSES

    def __post_init__(self) -> None:
        if self.size < 16 or self.size % 16:
            raise ValueError(f"SyntheticSpec.size must be a multiple of 16, got {self.size}")
        if self.frames < 8:
            raise ValueError(f"SyntheticSpec.frames must be >= 8 to show a fast cycle, got {self.frames}")
        if not 3 <= self.groups <= 99:  # one test block per split; gNN has two digits
            raise ValueError(f"SyntheticSpec.groups must be in [3, 99], got {self.groups}")
        if not 1 <= self.clips <= 99:
            raise ValueError(f"SyntheticSpec.clips must be in [1, 99], got {self.clips}")
        unknown = [c for c in self.classes if c not in _CLASS_ID]
        if unknown or len(set(self.classes)) != len(self.classes) or len(self.classes) < 2:
            raise ValueError(
                f"SyntheticSpec.classes must be >= 2 distinct names from {ALL_CLASSES}, got {self.classes}"
            )


@dataclass(frozen=True, kw_only=True)
class Appearance:
    """Nuisance look of one clip; colours are RGB in [0, 1], positions fractions of the frame.

    Attributes:
        background: base colour of the background.
        texture: (angle, frequency, phase, amplitude) of a low-frequency wave over the background.
        gradient: (angle, amplitude) of a linear shading over the background.
        color: object colour.
        hue: object hue in [0, 1) (the start hue of the hue classes).
        shape: 0 disc, 1 square, 2 diamond.
        radius: object half-size.
        center: (x, y) resting position of the object.
        phase: start of the cycle of tempo classes, in cycles.
    """

    background: tuple[float, float, float]
    texture: tuple[float, float, float, float]
    gradient: tuple[float, float]
    color: tuple[float, float, float]
    hue: float
    shape: int
    radius: float
    center: tuple[float, float]
    phase: float


def class_names(spec: SyntheticSpec) -> list[str]:
    """Class names in label order (0-based label = position)."""
    return list(spec.classes)


def split_test_groups(*, groups: int, split: int) -> list[int]:
    """1-based groups tested by ``split`` (1-3): UCF101's 7-of-25 blocks scaled to ``groups``."""
    block = max(1, round(7 * groups / 25))
    return list(range(block * (split - 1) + 1, min(block * split, groups) + 1))


def _hsv_to_rgb(h: np.ndarray, s: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Vectorised HSV -> RGB; inputs broadcast, output has a trailing axis of 3."""
    h, s, v = np.broadcast_arrays(np.asarray(h, float) % 1.0, s, v)
    k = (np.array([5.0, 3.0, 1.0]) + h[..., None] * 6.0) % 6.0
    return v[..., None] - v[..., None] * s[..., None] * np.clip(np.minimum(k, 4.0 - k), 0.0, 1.0)


def sample_appearance(rng: np.random.Generator) -> Appearance:
    """Draw the look of one (class, group): a dark, faintly tinted background and a bright object.

    The ranges are a measured trade-off (benchmarks/synthetic_probe.py): wide enough that every group
    is recognisable (so mixing a group's clips across a split leaks), narrow enough that features of
    a randomly initialised CNN still generalise across groups; the object's contrast carries the class.
    """
    hue = float(rng.random())
    return Appearance(
        background=tuple(_hsv_to_rgb(rng.random(), rng.uniform(0.0, 0.2), rng.uniform(0.05, 0.25)).tolist()),
        texture=(rng.uniform(0, np.pi), rng.uniform(0.5, 2.0), rng.uniform(0, 2 * np.pi), rng.uniform(0, 0.02)),
        gradient=(rng.uniform(0, 2 * np.pi), rng.uniform(0.0, 0.03)),
        color=tuple(_hsv_to_rgb(hue, rng.uniform(0.7, 1.0), rng.uniform(0.85, 1.0)).tolist()),
        hue=hue,
        shape=int(rng.integers(3)),
        radius=float(rng.uniform(0.2, 0.26)),
        center=(float(rng.uniform(0.42, 0.58)), float(rng.uniform(0.42, 0.58))),
        phase=0.0,
    )


def jitter(base: Appearance, rng: np.random.Generator) -> Appearance:
    """One clip's look: ``base`` with small colour, size, position and phase changes."""

    def shift(values: tuple[float, ...], scale: float) -> tuple[float, ...]:
        return tuple(np.clip(np.asarray(values) + rng.normal(0, scale, len(values)), 0, 1).tolist())

    return Appearance(
        background=shift(base.background, 0.02),
        texture=base.texture,
        gradient=base.gradient,
        color=shift(base.color, 0.03),
        hue=base.hue,
        shape=base.shape,
        radius=base.radius * float(rng.uniform(0.95, 1.05)),
        center=shift(base.center, 0.02),
        # A small phase offset, not a uniform one: tempo classes then start alike, which a head
        # learns from few groups; any phase keeps the slow and fast frame sets equal.
        phase=float(rng.uniform(0.0, 0.1)),
    )


def clip_appearance(spec: SyntheticSpec, *, name: str, group: int, clip: int) -> Appearance:
    """The look of clip ``clip`` of group ``group`` (both 1-based) of class ``name``."""
    key = (spec.seed, _CLASS_ID[name], group)  # keyed by class, not label: subsets look the same
    return jitter(sample_appearance(np.random.default_rng(key)), np.random.default_rng((*key, clip)))


def _background(app: Appearance, size: int) -> np.ndarray:
    """(H, W, 3) float background."""
    yy, xx = np.mgrid[0:size, 0:size] / size  # (H, W) pixel positions in [0, 1)
    angle, freq, phase, amp = app.texture
    wave = amp * np.sin(2 * np.pi * freq * (xx * np.cos(angle) + yy * np.sin(angle)) + phase)
    g_angle, g_amp = app.gradient
    shade = g_amp * ((xx - 0.5) * np.cos(g_angle) + (yy - 0.5) * np.sin(g_angle)) * 2
    return np.asarray(app.background)[None, None, :] + (wave + shade)[..., None]


def _trajectory(name: str, app: Appearance, frames: int) -> dict[str, np.ndarray]:
    """Per-frame object state of a base class: cx, cy, radius, alpha (T,) and color (T, 3)."""
    t = np.linspace(0.0, 1.0, frames)  # linear classes go from first to last frame
    ones = np.ones(frames)
    state = {
        "cx": app.center[0] * ones,
        "cy": app.center[1] * ones,
        "radius": app.radius * ones,
        "alpha": ones,
        "color": np.broadcast_to(np.asarray(app.color), (frames, 3)),
    }
    cycles = FAST_CYCLES if name.endswith("Fast") else 1
    # Phases j/T + phase: with cycles coprime to T the fast clip visits the same phases as the slow.
    cycle = (cycles * np.arange(frames) / frames + app.phase) % 1.0
    if name == "Grow":
        state["radius"] = app.radius * (0.3 + 0.9 * t)
    elif name == "FadeIn":
        state["alpha"] = t
    elif name == "SlideRight":
        state["cx"] = app.center[0] + 0.5 * (t - 0.5)
    elif name == "WarmToCool":
        # Fixed end colours (red-orange to blue), nudged per group by the object's own hue.
        value, nudge = max(app.color), 0.1 * (app.hue - 0.5)
        warm, cool = _hsv_to_rgb(0.02 + nudge, 0.9, value), _hsv_to_rgb(0.6 + nudge, 0.9, value)
        state["color"] = warm * (1 - t[:, None]) + cool * t[:, None]
    elif name in ("BlinkSlow", "BlinkFast"):
        state["alpha"] = (cycle < 0.5).astype(float)
    elif name in ("PulseSlow", "PulseFast"):
        state["radius"] = app.radius * (0.8 + 0.5 * np.sin(2 * np.pi * cycle))
    else:
        raise KeyError(f"no trajectory for class {name!r}")
    return state


def render_clip(name: str, *, appearance: Appearance, size: int, frames: int) -> np.ndarray:
    """Render one clip of class ``name`` as (T, H, W, 3) uint8 RGB.

    A reversed-pair partner is its base class rendered with the same ``appearance`` and flipped in
    time, so the two are exact reverses of each other.
    """
    kind, base = _PARTNER.get(name, (None, name))
    if kind == "reversed":
        return render_clip(base, appearance=appearance, size=size, frames=frames)[::-1].copy()
    s = _trajectory(name, appearance, frames)
    yy, xx = np.mgrid[0:size, 0:size] / size
    dx = xx[None] - s["cx"][:, None, None]  # (T, H, W)
    dy = yy[None] - s["cy"][:, None, None]
    if appearance.shape == 0:
        dist = np.sqrt(dx**2 + dy**2)
    elif appearance.shape == 1:
        dist = np.maximum(np.abs(dx), np.abs(dy)) * 1.1
    else:
        dist = (np.abs(dx) + np.abs(dy)) * 0.8
    # One-pixel soft edge keeps sub-pixel motion visible and avoids aliasing.
    mask = np.clip((s["radius"][:, None, None] - dist) * size + 0.5, 0.0, 1.0)
    cover = (mask * s["alpha"][:, None, None])[..., None]  # (T, H, W, 1)
    clip = _background(appearance, size)[None] * (1 - cover) + s["color"][:, None, None, :] * cover
    return np.clip(np.rint(clip * 255), 0, 255).astype(np.uint8)


def _encode(path: Path, clip: np.ndarray) -> None:
    """Write (T, H, W, 3) uint8 ``clip`` as MPEG-4 Part 2 in AVI at :data:`FPS`."""
    with av.open(str(path), mode="w", format="avi") as container:
        stream = container.add_stream("mpeg4", rate=Fraction(FPS))
        stream.width, stream.height, stream.pix_fmt = clip.shape[2], clip.shape[1], "yuv420p"
        ctx = stream.codec_context
        ctx.thread_count = 1  # one thread: byte-identical output whatever the machine
        # Intra-only: every frame is coded on its own, so a clip played backwards decodes to exactly
        # the reversed frames and an order-blind model cannot use coding artefacts to tell them apart.
        ctx.gop_size = 1
        ctx.qscale = True
        ctx.global_quality = QSCALE * 118  # FF_QP2LAMBDA
        for image in clip:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode(None))


def _manifest(spec: SyntheticSpec) -> dict:
    params = asdict(spec) | {"classes": list(spec.classes), "version": VERSION, "fps": FPS}
    present = set(spec.classes)
    pairs = [
        {"kind": kind, "classes": [base, partner]}
        for kind, base, partner in PAIRS
        if base in present and partner in present
    ]
    splits = {str(k): split_test_groups(groups=spec.groups, split=k) for k in (1, 2, 3)}
    return {"params": params, "classes": class_names(spec), "pairs": pairs, "test_groups": splits}


def _relpath(name: str, group: int, clip: int) -> str:
    return f"{name}/v_{name}_g{group:02d}_c{clip:02d}.avi"


def _write_lists(root: Path, spec: SyntheticSpec) -> None:
    """classInd.txt, trainlist0k.txt and testlist0k.txt in the official format (CRLF, 1-based)."""
    names = class_names(spec)

    def write(file: str, lines: list[str]) -> None:
        (root / file).write_bytes("".join(f"{line}\r\n" for line in lines).encode())

    write("classInd.txt", [f"{i} {name}" for i, name in enumerate(names, 1)])
    for k in (1, 2, 3):
        held = set(split_test_groups(groups=spec.groups, split=k))
        train, test = [], []
        for label, name in enumerate(names, 1):
            for g in range(1, spec.groups + 1):
                for c in range(1, spec.clips + 1):
                    rel = _relpath(name, g, c)
                    if g in held:
                        test.append(rel)  # official test lists carry no label
                    else:
                        train.append(f"{rel} {label}")
        write(f"trainlist0{k}.txt", train)
        write(f"testlist0{k}.txt", test)


def is_generated(root: str | Path, spec: SyntheticSpec) -> bool:
    """True if ``root`` holds a dataset generated from ``spec`` by this version of the generator."""
    path = Path(root) / MANIFEST
    if not path.is_file():
        return False
    try:
        return json.loads(path.read_text())["params"] == _manifest(spec)["params"]
    except (json.JSONDecodeError, KeyError, TypeError):
        return False


def generate(root: str | Path, spec: SyntheticSpec) -> Path:
    """Write the dataset of ``spec`` to ``root`` and return ``root``; a no-op if already there.

    Everything is built in a temporary sibling directory and renamed into place at the end, so an
    error or Ctrl-C never leaves a half-written ``root``. Jobs started at once take turns on a lock
    beside ``root`` (``.<name>.lock``): the first generates, the others wait and find it done. The
    lock holder also removes temporary folders that killed generations left behind.

    Raises:
        FileExistsError: ``root`` is non-empty and was not generated from ``spec``.
        WriteError: the disk is full, or the folder read-only or not ours (the message names it).
    """
    root = Path(root)
    try:
        return _generate(root, spec)
    except OSError as err:
        if not is_write_failure(err):
            raise
        raise write_error(root, err, what="generate the synthetic dataset in",
                          hint="or set dataset.root (or UCFBENCH_HOME) to a folder you can write") from err


def _generate(root: Path, spec: SyntheticSpec) -> Path:
    if is_generated(root, spec):
        log.info("synthetic dataset already at %s", root)
        return root
    root.parent.mkdir(parents=True, exist_ok=True)
    lock = file_lock(root.parent / f".{root.name}.lock")
    try:
        lock.acquire(timeout=0)
    except Timeout:
        log.info("another job is generating the synthetic dataset at %s; waiting for it", root)
        lock.acquire()
    try:
        if is_generated(root, spec):
            log.info("synthetic dataset generated by another job at %s", root)
            return root
        if root.exists() and (not root.is_dir() or any(root.iterdir())):
            raise FileExistsError(
                f"{root} exists and was not generated with these parameters ({spec}); delete it or choose another root"
            )
        for stale in root.parent.glob(f".{root.name}.*.tmp"):  # nobody else generates while we hold the lock
            log.info("removing %s, left by a generation that was killed", stale)
            shutil.rmtree(stale, ignore_errors=True)
        _generate_into(root, spec)
    finally:
        lock.release()
    log.info("generated %d synthetic videos at %s", len(class_names(spec)) * spec.groups * spec.clips, root)
    return root


def _generate_into(root: Path, spec: SyntheticSpec) -> None:
    tmp = make_temp_dir(root.parent, prefix=f".{root.name}.", suffix=".tmp")  # umask mode, not 0700
    try:
        names = class_names(spec)
        with Progress(transient=True) as progress:
            task = progress.add_task("generating synthetic videos", total=len(names) * spec.groups * spec.clips)
            for name in names:
                (tmp / name).mkdir()
                for g in range(1, spec.groups + 1):
                    for c in range(1, spec.clips + 1):
                        app = clip_appearance(spec, name=name, group=g, clip=c)
                        clip = render_clip(name, appearance=app, size=spec.size, frames=spec.frames)
                        _encode(tmp / _relpath(name, g, c), clip)
                        progress.advance(task)
        _write_lists(tmp, spec)
        (tmp / MANIFEST).write_text(json.dumps(_manifest(spec), indent=2) + "\n")
        if root.exists():
            root.rmdir()  # empty, checked under the lock
        os.replace(tmp, root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_clip(path: str | Path, name: str, *, spec: SyntheticSpec | None = None, group: int, clip: int = 1) -> Path:
    """Render and encode one clip of class ``name`` to ``path``, exactly as :func:`generate` would.

    ``group`` may lie beyond ``spec.groups``: such a group's appearance was never generated into
    the dataset, which makes held-out examples for predictions and demos.
    """
    spec = spec or SyntheticSpec()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    app = clip_appearance(spec, name=name, group=group, clip=clip)
    _encode(path, render_clip(name, appearance=app, size=spec.size, frames=spec.frames))
    return path
