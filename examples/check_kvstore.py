"""Judges a crash state of `kvstore.py`: every acknowledged key must be in the log.

    python check_kvstore.py STATE_DIR MARKERS_FILE

Exit 0: recovered. Otherwise it prints the documented data-loss line
`{"verdict": "data-loss", "missing": [...]}` and exits 1.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

state, markers = Path(sys.argv[1]), Path(sys.argv[2])
log = state / "store.log"
text = log.read_text() if log.exists() else ""
acked = [json.loads(line) for line in markers.read_text().splitlines() if line.strip()]
missing = [m["key"] for m in acked if "key" in m and f"{m['key']}={m['value']}\n" not in text]
if missing:
    print(json.dumps({"verdict": "data-loss", "missing": missing}))
    sys.exit(1)
