"""LazyFS configs that reproduce each vulnerability (`powercut explore --lazyfs-dir DIR`).

Writes one complete LazyFS config per vulnerability that has a LazyFS
fault (`vuln-1-atomicity-op8.toml`: LazyFS's usual sections plus the
`[[injection]]` table, with comments saying which crash state it leaves and
the `powercut replay` command of the same state), and a README.txt index
that also says why a vulnerability has no fault. It writes only inside DIR
and never runs LazyFS or anything else.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from powercut.errors import PowercutError
from powercut.explorer.analysis.vulnerability import Vulnerability
from powercut.explorer.report.files import write_text_atomic
from powercut.explorer.report.timeline import kept_text
from powercut.explorer.verdict import Exploration

BASE_CONFIG = """\
[faults]
fifo_path="/tmp/faults.fifo"

[cache]
apply_eviction=false

[cache.simple]
custom_size="1gb"
blocks_per_page=1

[filesystem]
log_all_operations=false
logfile="/tmp/lazyfs.log"
"""


def config_name(n: int, v: Vulnerability) -> str:
    return f"vuln-{n}-{re.sub(r'[^a-z0-9]+', '-', v.slug.lower()).strip('-')}.toml"


def config_text(n: int, v: Vulnerability, exploration: Exploration) -> str:
    """A whole LazyFS config reproducing vulnerability `n` (it must have a fault)."""
    assert v.lazyfs is not None
    fault = v.lazyfs
    comments = [
        f"powercut vulnerability #{n} ({v.kind}, {v.verdict}) in {exploration.trace}",
        v.summary,
        "",
        f"This fault leaves the crash state at crash point {fault.point} with kept pages:",
        f"  {kept_text(fault.kept)}",
    ]
    if fault.note:
        comments.append(f"Note: {fault.note}.")
    comments += [
        "powercut materialises the vulnerability's smallest failing state with:",
        f"  {v.replay}",
        "",
        "To reproduce: mount LazyFS with this config over the program's data directory",
        "(-m), its root (-r) being the directory the fault's paths start with, holding",
        "the trace's initial tree; run the workload until LazyFS",
        "crashes; remount without the [[injection]] and start the program: it fails with",
    ]
    comments += [f"  {s.signature}" for s in v.signatures[:3]]
    # A signature or path may hold a newline: every line of it stays a comment.
    lines = [part for line in comments for part in (line.splitlines() or [""])]
    header = "\n".join(f"# {line}".rstrip() for line in lines)
    return f"{header}\n\n{BASE_CONFIG}\n{fault.toml()}\n"


def write_lazyfs_dir(
    directory: str | os.PathLike[str], exploration: Exploration, vulns: list[Vulnerability]
) -> list[Path]:
    """Write the configs and README.txt into `directory` (made if missing); return them."""
    target = Path(directory)
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise PowercutError(
            f"cannot make the LazyFS config directory {target}: {e.strerror or e}"
        ) from e
    written: list[Path] = []
    index = [f"LazyFS faults for the vulnerabilities powercut found in {exploration.trace}", ""]
    for n, v in enumerate(vulns, 1):
        if v.lazyfs is None:
            index.append(f"#{n} {v.kind}: no LazyFS fault ({v.lazyfs_why_not})")
        else:
            path = target / config_name(n, v)
            write_text_atomic(path, config_text(n, v, exploration), "LazyFS config")
            written.append(path)
            index.append(f"#{n} {v.kind}: {path.name}")
        index += [f"    {v.summary}", f"    replay: {v.replay}", ""]
    if not vulns:
        index.append("No vulnerability was found: there is nothing to reproduce.")
    readme = target / "README.txt"
    write_text_atomic(readme, "\n".join(index).rstrip() + "\n", "LazyFS README")
    return [*written, readme]
