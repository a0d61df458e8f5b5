"""The journal file format: a header, then CRC-checked msgpack records of verdicts.

A journal file starts with the header `{"powercut": "journal", "version":
1}`; each later record is `{"key", "checker_id", "verdict", "crc"}` where
`crc` is the CRC-32 of the packed `[key, checker_id, verdict]`, so a record
torn by a power cut can never pass for a verdict. Reading stops at the
first record that is cut short or fails its CRC: that is the tail a crash
tore. Pure encoding and streaming reads; `journal` appends.
"""

from __future__ import annotations

import dataclasses
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgpack

from powercut.errors import PowercutError
from powercut.explorer.verdict import Evidence, LostWrite, Verdict

HEADER = {"powercut": "journal", "version": 1}
_HEADER_BYTES = msgpack.packb(HEADER)
_VERDICT_FIELDS = frozenset(f.name for f in dataclasses.fields(Verdict))
_EVIDENCE = {f.name: f for f in dataclasses.fields(Evidence)}
_READ_CHUNK = 1 << 20
_MAX_RECORD = 64 << 20  # a verdict's log tail and evidence are kilobytes; refuse absurd ones


class JournalError(PowercutError):
    """A journal that cannot be used (not a journal, unreadable, in the way)."""


def encode_verdict(verdict: Verdict) -> dict[str, Any]:
    """A verdict as plain msgpack-able values (its evidence's fields that are set)."""
    fields = {f: getattr(verdict, f) for f in _VERDICT_FIELDS}
    fields["evidence"] = encode_evidence(verdict.evidence)
    return fields


def decode_verdict(fields: Mapping[str, Any]) -> Verdict:
    """The verdict `encode_verdict` made; fields a newer powercut added are ignored. A
    journal or cache of the powercut before verdicts named their value (`kind`) reads too."""
    known = {k: v for k, v in fields.items() if k in _VERDICT_FIELDS}
    if "verdict" not in known and "kind" in fields:
        known["verdict"] = fields["kind"]
    known["evidence"] = decode_evidence(fields.get("evidence") or {})
    return Verdict(**known)


def encode_evidence(evidence: Evidence) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, spec in _EVIDENCE.items():
        value = getattr(evidence, name)
        default = spec.default_factory() if callable(spec.default_factory) else spec.default
        if value == default:
            continue
        if name == "missing":
            value = [dataclasses.asdict(m) for m in value]
        out[name] = _plain(value)
    return out


def decode_evidence(raw: Mapping[str, Any]) -> Evidence:
    """`encode_evidence` undone; a free map of an older powercut keeps what it can (its
    cluster `members` map becomes the field of the members that did not recover)."""
    known: dict[str, Any] = {}
    notes: dict[str, Any] = dict(raw.get("notes") or {}) if isinstance(raw.get("notes"),
                                                                        Mapping) else {}
    for name, value in raw.items():
        if name == "missing":
            items = value if isinstance(value, list | tuple) else [value]
            known["missing"] = tuple(_lost(m) for m in items)
        elif name == "fields" and isinstance(value, Mapping):
            known["fields"] = {str(k): tuple(str(x) for x in v) for k, v in value.items()}
        elif name == "members" and isinstance(value, Mapping):  # before fields were declared
            known["fields"] = {"members": tuple(sorted(str(n) for n, v in value.items()
                                                       if v != "ok"))}
        elif name == "argv" and isinstance(value, list | tuple):
            known["argv"] = tuple(str(a) for a in value)
        elif name in _EVIDENCE and name != "notes":
            known[name] = value
        elif name != "notes":
            notes[name] = value
    return Evidence(**known, notes=notes)


def _lost(item: Any) -> LostWrite:
    if isinstance(item, Mapping) and "key" in item:
        return LostWrite(_text(item["key"]), _text_or_none(item.get("value")),
                         _text_or_none(item.get("found")))
    return LostWrite(_text(item))


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _text_or_none(value: Any) -> str | None:
    return None if value is None else _text(value)


def _plain(value: Any) -> Any:
    # Evidence is JSON-like by contract; anything else is kept as its text
    # rather than failing the append of a verdict already judged.
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str | bytes):
        return value
    return str(value)


def _pack_record(key: str, checker_id: str, verdict: dict[str, Any]) -> bytes:
    body = msgpack.packb([key, checker_id, verdict], use_bin_type=True)
    return msgpack.packb({"key": key, "checker_id": checker_id, "verdict": verdict,
                          "crc": zlib.crc32(body)}, use_bin_type=True)


def _valid(record: object) -> bool:
    if not isinstance(record, dict) or set(record) != {"key", "checker_id", "verdict", "crc"}:
        return False
    key, checker_id, verdict = record["key"], record["checker_id"], record["verdict"]
    if not (isinstance(key, str) and isinstance(checker_id, str) and isinstance(verdict, dict)):
        return False
    body = msgpack.packb([key, checker_id, verdict], use_bin_type=True)
    return record["crc"] == zlib.crc32(body)


@dataclass(frozen=True)
class Record:
    """One valid journal record and where it lies in the file."""

    key: str
    checker_id: str
    verdict: dict[str, Any]
    offset: int
    length: int


def records(path: Path | str) -> Iterator[Record]:
    """Stream the valid records of a journal, stopping at its torn tail (if any).

    Raises JournalError for a file that is not a journal (a torn header,
    all zeros or a cut-short header, counts as an empty journal).
    """
    path = Path(path)
    try:
        f = open(path, "rb")  # noqa: SIM115 - closed below, also when the caller stops early
    except IsADirectoryError:
        raise JournalError(f"journal {path} is a directory; give a file path") from None
    except OSError as e:
        raise JournalError(f"cannot read journal {path}: {e.strerror}") from None
    with f:
        head = f.read(len(_HEADER_BYTES))
        if head != _HEADER_BYTES:
            if _HEADER_BYTES.startswith(head.rstrip(b"\0")) and not f.read(1).strip(b"\0"):
                return  # the header itself was torn: nothing was ever reported
            raise JournalError(f"{path} is not a powercut journal; choose another --journal "
                               "path or remove the file")
        unpacker = msgpack.Unpacker(f, raw=False, read_size=_READ_CHUNK,
                                    max_buffer_size=_MAX_RECORD, strict_map_key=False)
        offset = len(_HEADER_BYTES)
        while True:
            try:
                record = next(unpacker)
            except StopIteration:
                return  # out of data: a record cut short, or none left
            except Exception:  # any undecodable bytes (a dict as a map key...)
                return  # garbage: the torn tail
            if not _valid(record):
                return
            end = len(_HEADER_BYTES) + unpacker.tell()
            yield Record(record["key"], record["checker_id"], record["verdict"], offset,
                         end - offset)
            offset = end


def scan(path: Path | str) -> tuple[list[tuple[str, str, dict[str, Any]]], int, int]:
    """Read a whole journal: its valid records, the end of the last one, and the file size."""
    found = list(records(path))
    end = found[-1].offset + found[-1].length if found else 0
    if not found and _valid_header(path):
        end = len(_HEADER_BYTES)
    return [(r.key, r.checker_id, r.verdict) for r in found], end, Path(path).stat().st_size


def _valid_header(path: Path | str) -> bool:
    with open(path, "rb") as f:
        return f.read(len(_HEADER_BYTES)) == _HEADER_BYTES
