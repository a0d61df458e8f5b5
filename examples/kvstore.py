"""A tiny key-value store with one missing fsync: the program of the regression-test example.

    python kvstore.py DIR put KEY VALUE [--fsync]

Appends `KEY=VALUE` to DIR/store.log and tells the client the write is
acknowledged (a marker line on the recording mount's control file, when
there is one). Without `--fsync` it acknowledges before the log is on
disk: a power cut then loses an acknowledged write. With `--fsync` it
fsyncs the log first: the fix.
"""

from __future__ import annotations

import json
import os
import sys


def put(directory: str, key: str, value: str, fsync: bool) -> None:
    fd = os.open(os.path.join(directory, "store.log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND,
                 0o644)
    try:
        os.write(fd, f"{key}={value}\n".encode())
        if fsync:
            os.fsync(fd)  # the fix: durable before it is acknowledged
    finally:
        os.close(fd)
    control = os.path.join(directory, ".powercut", "marker")
    if os.path.exists(control):
        with open(control, "a") as marker:
            marker.write(json.dumps({"text": f"put {key}={value} acknowledged", "key": key,
                                     "value": value}) + "\n")


def main(argv: list[str]) -> int:
    directory, command, *rest = argv
    fsync = "--fsync" in rest
    rest = [a for a in rest if a != "--fsync"]
    if command == "put":
        put(directory, rest[0], rest[1], fsync)
    elif command == "workload":  # three puts, as the example records them
        for i in range(1, 4):
            put(directory, f"k{i}", f"v{i}", fsync)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
