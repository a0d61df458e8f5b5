"""The allocated extents of a sparse file: what is worth reading of it.

A file-system image or a preallocated log is mostly holes; reading it
whole costs its apparent size. The trace writer stores only these extents
of an initial file, and a recovered tree's key hashes only these extents
of each file.
"""

from __future__ import annotations

import os
from collections.abc import Iterator


def data_extents(fd: int, size: int) -> Iterator[tuple[int, int]]:
    """(start, end) of each allocated extent of an open file, up to `size` (the whole file
    where the file system cannot tell holes)."""
    offset = 0
    while offset < size:
        try:
            start = os.lseek(fd, offset, os.SEEK_DATA)
        except OSError:
            return  # ENXIO: no data past offset
        end = min(os.lseek(fd, start, os.SEEK_HOLE), size)
        yield start, end
        offset = end
