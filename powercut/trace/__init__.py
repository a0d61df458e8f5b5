"""The trace format, the contract every stage reads: operations, reader and writer.

See the README's "Trace format" for the fields; `format` holds the rules,
`reader` and `writer` stream whole traces.
"""

from powercut.trace.format import (
    FORMAT_KIND,
    FORMAT_VERSION,
    MAX_FILE_OFFSET,
    OP_ATTRS,
    OP_FIELDS,
    OP_OPTIONAL_FIELDS,
    RENAME_FLAGS,
    ROOT_PATH_OPS,
    STATUSES,
    Op,
    Status,
    check_path,
    op_from_record,
)
from powercut.trace.reader import InitialEntry, Trace, open_trace
from powercut.trace.writer import TraceWriter, initial_tree

__all__ = ["FORMAT_KIND", "FORMAT_VERSION", "MAX_FILE_OFFSET", "OP_ATTRS", "OP_FIELDS",
           "OP_OPTIONAL_FIELDS", "RENAME_FLAGS", "ROOT_PATH_OPS", "STATUSES", "InitialEntry",
           "Op", "Status", "Trace", "TraceWriter", "check_path", "initial_tree",
           "op_from_record", "open_trace"]
