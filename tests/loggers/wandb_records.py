"""Read an offline run's ``.wandb`` file with the W&B SDK's own record type.

The file is a LevelDB-style log (W&B's ``datastore`` format: a 7-byte header ``:W&B`` + magic +
version, then 32 KiB blocks of chunks, each ``crc32 | length | type`` + data); every record is a
``wandb.proto.wandb_internal_pb2.Record``. wandb 0.31 no longer ships the Python reader
(``wandb.sdk.internal.datastore``), so this is its scan loop, without the checksum check.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from pathlib import Path

from wandb.proto import wandb_internal_pb2

BLOCK = 32768
HEADER = 7
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def read_records(path: str | Path) -> list[wandb_internal_pb2.Record]:
    data = Path(path).read_bytes()
    assert data[:4] == b":W&B", f"{path}: not a .wandb file"
    records, pos, pending = [], HEADER, b""
    while pos + HEADER <= len(data):
        left_in_block = BLOCK - pos % BLOCK
        if left_in_block < HEADER:  # block trailer
            pos += left_in_block
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos:pos + HEADER])
        chunk = data[pos + HEADER:pos + HEADER + length]
        pos += HEADER + length
        if kind == 0 and length == 0:  # zero padding at the end
            break
        if kind == FULL:
            pending = chunk
        elif kind == FIRST:
            pending = chunk
            continue
        elif kind == MIDDLE:
            pending += chunk
            continue
        elif kind == LAST:
            pending += chunk
        record = wandb_internal_pb2.Record()
        record.ParseFromString(pending)
        records.append(record)
        pending = b""
    return records


def _value(json_text: str):
    return json.loads(json_text)


@dataclass
class OfflineRun:
    """What a dashboard would show of one offline run: identity, config, summary, history keys, exit code."""

    path: Path
    run_id: str = ""
    name: str = ""
    group: str = ""
    job_type: str = ""
    tags: list[str] = field(default_factory=list)
    config: dict = field(default_factory=dict)
    summary: dict = field(default_factory=dict)
    history_keys: set[str] = field(default_factory=set)
    history: list[dict] = field(default_factory=list)
    exit_code: int | None = None
    metric_summaries: dict = field(default_factory=dict)


def _set_nested(target: dict, keys: list[str], value) -> None:
    for k in keys[:-1]:
        target = target.setdefault(k, {})
    target[keys[-1]] = value


def load_run(path: str | Path) -> OfflineRun:
    """Decode ``<offline-run dir>/run-<id>.wandb`` (or the dir itself)."""
    path = Path(path)
    if path.is_dir():
        path = next(path.glob("*.wandb"))
    run = OfflineRun(path=path)
    for rec in read_records(path):
        kind = rec.WhichOneof("record_type")
        if kind == "run":
            r = rec.run
            run.run_id, run.name, run.group, run.job_type = r.run_id, r.display_name, r.run_group, r.job_type
            run.tags = list(r.tags)
            for item in r.config.update:
                run.config[item.key] = _value(item.value_json)
        elif kind == "config":
            for item in rec.config.update:
                keys = list(item.nested_key) or [item.key]
                _set_nested(run.config, keys, _value(item.value_json))
        elif kind == "history":
            row = {}
            for item in rec.history.item:
                key = "/".join(item.nested_key) if item.nested_key else item.key
                row[key] = _value(item.value_json)
            run.history.append(row)
            run.history_keys |= set(row)
        elif kind == "summary":
            for item in rec.summary.update:
                keys = list(item.nested_key) or [item.key]
                _set_nested(run.summary, keys, _value(item.value_json))
        elif kind == "metric":
            m = rec.metric
            if m.name and m.summary:
                run.metric_summaries[m.name] = m.summary
        elif kind == "exit":
            run.exit_code = rec.exit.exit_code
    return run


def offline_runs(folder: str | Path, pattern: str = "wandb/offline-run-*") -> list[OfflineRun]:
    """The offline W&B runs of ``folder`` (a run dir; ``pattern="*/wandb/offline-run-*"``: a sweep's jobs).

    Runs finished in this process may still sit in W&B's service buffers: shut it down first so
    every record is on disk (the next ``wandb.init`` starts a new one).
    """
    import wandb

    wandb.teardown()
    return [load_run(p) for p in sorted(Path(folder).glob(pattern))]
