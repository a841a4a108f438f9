"""``claims.json``: which job is filling which pending rows of a row cache, read as untrusted input.

A claim is ``{"owner": "host:pid", "host", "pid", "start", "time", "rows"}``: ``start`` is the
process's start time (``/proc/<pid>/stat``), so a claim whose PID now belongs to another process
(the PID was reused) is recognised as dead at once instead of after ``claim_timeout``; ``time`` is
the last progress. A file that is not a list of such claims is damage: its claims are dropped (the
rows they held are pending, and some job fills them again), never the rows already done.
"""

from __future__ import annotations

import json
import logging
import math
import os
import socket
from pathlib import Path

from ucfbench.utils.errors import UsageError

log = logging.getLogger(__name__)

HOST = socket.gethostname()
CLAIM_TIMEOUT = 600.0  # seconds without progress after which another job takes over a claim
# Smallest claim_timeout: a claim's time is refreshed once per written batch, and a batch of a
# large backbone on a CPU can take tens of seconds; a shorter timeout lets jobs take over each
# other's live claims.
MIN_CLAIM_TIMEOUT = 60.0
_KEYS = {"owner": str, "host": str, "pid": int, "time": (int, float), "rows": list}


def claim_problems(claim_size: int | None, claim_timeout: float | None) -> list[str]:
    """What is wrong with the claim settings: ``claim_size`` (None: default) must be >= 1 and
    ``claim_timeout`` (None: default) >= :data:`MIN_CLAIM_TIMEOUT` seconds."""
    problems = []
    if claim_size is not None and (isinstance(claim_size, bool) or not isinstance(claim_size, int) or claim_size < 1):
        problems.append(f"features.claim_size={claim_size}: videos a job claims at a time, an integer >= 1 "
                        "(or null: 4 batches)")
    if claim_timeout is not None and (isinstance(claim_timeout, bool) or not isinstance(claim_timeout, int | float)
                                      or not claim_timeout >= MIN_CLAIM_TIMEOUT):
        problems.append(f"features.claim_timeout={claim_timeout}: seconds without progress before another job "
                        f"takes over a claim, a number >= {MIN_CLAIM_TIMEOUT:.0f}")
    return problems


def check_claim_settings(claim_size: int | None, claim_timeout: float) -> None:
    """Raise :class:`UsageError` naming the first of :func:`claim_problems`."""
    if problems := claim_problems(claim_size, claim_timeout):
        raise UsageError(problems[0])


def pid_start(pid: int) -> int | None:
    """When process ``pid`` started (clock ticks since boot), or None where unknown (no /proc)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    try:
        return int(stat.rsplit(")", 1)[1].split()[19])  # field 22; the name in (...) may hold spaces
    except (IndexError, ValueError):
        return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    except (OverflowError, ValueError):
        return False
    return True


def holder_gone(claim: dict) -> bool:
    """Whether the job that made ``claim`` on this host is dead (or its PID now runs another process)."""
    if claim["host"] != HOST:
        return False  # cannot tell from here: only the timeout applies
    if not _pid_alive(claim["pid"]):
        return True
    start = claim.get("start")
    return start is not None and pid_start(claim["pid"]) not in (None, start)


def is_stale(claim: dict, timeout: float, now: float) -> bool:
    """Whether another job may take ``claim`` over: its holder is gone, or it made no progress for ``timeout`` s."""
    return holder_gone(claim) or now - claim["time"] > timeout


def this_owner() -> str:
    """The ``owner`` of this process's claims: ``host:pid``."""
    return f"{HOST}:{os.getpid()}"


def new_claim(rows: list[int], now: float) -> dict:
    """This process's claim on ``rows``."""
    pid = os.getpid()
    return {"owner": this_owner(), "host": HOST, "pid": pid, "start": pid_start(pid), "time": now, "rows": rows}


def _problem(claims: object, n_rows: int) -> str | None:
    """What is wrong with the parsed ``claims.json``, or None."""
    if not isinstance(claims, list):
        return f"a list of claims expected, found {type(claims).__name__}"
    for i, claim in enumerate(claims):
        if not isinstance(claim, dict):
            return f"claim {i} is {type(claim).__name__}, not an object"
        for key, kind in _KEYS.items():
            value = claim.get(key)
            if not isinstance(value, kind) or isinstance(value, bool):
                return f"claim {i}: {key!r} missing or not {getattr(kind, '__name__', 'a number')}"
        if not math.isfinite(claim["time"]):
            return f"claim {i}: time {claim['time']}"
        if claim.get("start") is not None and (not isinstance(claim["start"], int) or isinstance(claim["start"], bool)):
            return f"claim {i}: start {claim['start']!r}"
        if not all(isinstance(r, int) and not isinstance(r, bool) and 0 <= r < n_rows for r in claim["rows"]):
            return f"claim {i}: rows outside 0..{n_rows - 1}"
    return None


def read_claims(path: Path, n_rows: int) -> tuple[list[dict], bool]:
    """The claims in ``path`` and whether the file was damaged (then: no claims, and a warning
    naming the file; the caller rewrites it)."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return [], False
    except (OSError, UnicodeDecodeError) as err:
        why: str | None = str(err)
    else:
        try:
            claims = json.loads(text)
        except ValueError as err:
            why = f"not JSON: {err}"
        else:
            why = _problem(claims, n_rows)
            if why is None:
                return claims, False
    log.warning("%s is damaged (%s): dropping its claims; the rows they held are pending and will be "
                "extracted by the jobs running now or the next run (finished rows are kept)", path, why)
    return [], True
