"""`powercut diff A.json B.json`: the root causes B has that A has not, and the other way.

Causes are matched by their stable ids, so two reports of the same
program, before and after a change, say what the change fixed and what it
broke. Exit status 1 when B has a cause A has not, else 0.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from powercut.errors import PowercutError


def causes_of(path: Path) -> dict[str, dict[str, Any]]:
    """Cause id -> cause, from a JSON report (one model or several)."""
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise PowercutError(f"cannot read the report {path}: {e}") from None
    if not isinstance(doc, dict) or doc.get("kind") != "powercut-report":
        raise PowercutError(f"{path} is not a powercut JSON report (powercut-report/2)")
    if doc.get("version") != 2:
        raise PowercutError(f"{path} is a powercut-report version {doc.get('version')!r}; "
                            "this powercut reads version 2 (see the README's migration note)")
    return {str(c["id"]): c for c in doc.get("causes", []) if isinstance(c, dict) and "id" in c}


def describe(cause: dict[str, Any]) -> str:
    return f"{cause['id']} {cause.get('kind', '?')}: {cause.get('barrier', '')}"


@click.command("diff")
@click.argument("before", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("after", type=click.Path(dir_okay=False, path_type=Path))
def diff_command(before: Path, after: Path) -> int:
    """Compare the root causes of two JSON reports (by their ids)."""
    old, new = causes_of(before), causes_of(after)
    added = [c for k, c in new.items() if k not in old]
    fixed = [c for k, c in old.items() if k not in new]
    for title, found in (("new", added), ("gone", fixed)):
        for cause in found:
            click.echo(f"{title}: {describe(cause)}")
    click.echo(f"{len(added)} new, {len(fixed)} gone, {len(set(old) & set(new))} in both")
    return 1 if added else 0


COMMANDS: list[click.Command] = [diff_command]
