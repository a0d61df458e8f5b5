"""The limits a trace reader enforces, and the one check a writer runs against them.

A reader must not trust a length prefix: msgpack would allocate whatever a
hostile trace asks for. So the reader refuses records, strings, byte
strings, arrays and maps past these limits. A writer that wrote past them
would produce a trace its own reader refuses ("not a powercut trace" for a
header too large to decode), so `check_record` holds every record to the
same limits before a byte of it is written, and says which field broke
which limit. Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgpack

from powercut.errors import TraceError

MAX_RECORD_BYTES = 256 << 20  # one packed record
MAX_BIN_BYTES = MAX_RECORD_BYTES  # one byte string (a write's data)
MAX_STR_BYTES = 1 << 20  # one text string (a path, a marker's text), utf-8 encoded
MAX_ENTRIES = 1 << 20  # items of one array or map (the initial tree's entries)
# Uncompressed bytes of one chunk of an initial file (version 2): a reader
# decompresses at most this much per record, whatever the record claims.
MAX_CHUNK_BYTES = 16 << 20


def unpacker(source: Any) -> msgpack.Unpacker:
    """A msgpack reader over a binary file that refuses anything past the limits."""
    return msgpack.Unpacker(
        source, raw=False, strict_map_key=True, use_list=True,
        max_buffer_size=MAX_RECORD_BYTES, max_bin_len=MAX_BIN_BYTES,
        max_str_len=MAX_STR_BYTES, max_array_len=MAX_ENTRIES, max_map_len=MAX_ENTRIES,
        max_ext_len=0,
    )


def check_record(record: Mapping[str, Any], packed: int) -> None:
    """Raise TraceError if a reader would refuse `record` (`packed` bytes once packed)."""
    what = _name(record)
    if packed > MAX_RECORD_BYTES:
        raise TraceError(f"{what} packs to {packed} bytes, more than the {MAX_RECORD_BYTES} "
                         "bytes a trace reader accepts in one record")
    # Iterative: a workload's marker fields may nest deeply.
    stack: list[tuple[str, Any]] = [(what, record)]
    while stack:
        where, value = stack.pop()
        if isinstance(value, str):
            if len(value) > MAX_STR_BYTES // 4 and len(value.encode()) > MAX_STR_BYTES:
                raise TraceError(f"{where}: a text of {len(value.encode())} bytes, more than "
                                 f"the {MAX_STR_BYTES} a trace reader accepts")
        elif isinstance(value, bytes | bytearray | memoryview):
            if len(value) > MAX_BIN_BYTES:
                raise TraceError(f"{where}: {len(value)} bytes in one field, more than the "
                                 f"{MAX_BIN_BYTES} a trace reader accepts")
        elif isinstance(value, Mapping):
            _count(where, len(value))
            for key, item in value.items():
                if not isinstance(key, str):
                    raise TraceError(f"{where}: key {key!r} is not a string")
                stack.append((f"{where}.{key}", item))
        elif isinstance(value, list | tuple):
            _count(where, len(value))
            stack.extend((f"{where}[{i}]", item) for i, item in enumerate(value))


def _count(where: str, n: int) -> None:
    if n > MAX_ENTRIES:
        raise TraceError(f"{where}: {n} items, more than the {MAX_ENTRIES} a trace reader "
                         "accepts in one array or map")


def _name(record: Mapping[str, Any]) -> str:
    if "op" in record:
        return f"operation {record.get('seq')} ({record['op']})"
    kind = record.get("kind")
    if kind == "chunk":
        return f"chunk of {record.get('path')!r} at {record.get('offset')}"
    return {"powercut-trace": "the trace header", "end": "the footer"}.get(str(kind), "a record")
