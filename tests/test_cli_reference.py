"""The command-line reference (docs/cli.md) says what `--help` prints, no more and no less;
the README stays short and its links lead somewhere.

Every option a command's `--help` prints is in that command's table in
docs/cli.md, or, for a target's own option, in that target's page
(docs/targets/NAME.md); every option a table names is one the command
takes. A new option without its line in the reference, or a line left over
from an option that is gone, fails here.
"""

from __future__ import annotations

import re

import click

from powercut import targets
from powercut.cli import cli, main
from tests.realparts import REPO

DOCS = REPO / "docs"
OPTION = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")


def commands() -> dict[str, click.Command]:
    main(["--help"])  # registers the commands, as the console script does
    return dict(cli.commands)  # type: ignore[attr-defined]


def printed(command: click.Command) -> set[str]:
    """The long options `--help` prints for a command."""
    return {o for p in command.params if isinstance(p, click.Option) and not p.hidden
            for o in p.opts + p.secondary_opts if o.startswith("--")} - {"--help"}


def documented() -> dict[str, set[str]]:
    """Per command, the options the first column of its table in docs/cli.md names."""
    found: dict[str, set[str]] = {}
    current: list[str] = []
    for line in (DOCS / "cli.md").read_text().splitlines():
        if line.startswith("## "):
            current = re.findall(r"`powercut (\w+)`|`(\w+)`", line)
            current = [a or b for a, b in current]
            continue
        if line.startswith("| `") and current:
            cell = line.split("|")[1]
            which = re.match(r"\s*`?(\w+)`?:", line.split("|")[2])
            for option in OPTION.findall(cell):
                for name in ([which.group(1)] if which and which.group(1) in current
                             else current[:1]):
                    found.setdefault(name, set()).add(option)
    return found


def documented_by_targets() -> set[str]:
    """The targets' own options that a page of a target declaring them names."""
    found = set()
    for target, option in targets.options():
        page = DOCS / "targets" / f"{target.name}.md"
        if page.exists() and option.flag in OPTION.findall(page.read_text()):
            found.add(option.flag)
    return found


def test_every_option_help_prints_is_in_the_reference() -> None:
    docs = documented()
    own = documented_by_targets()
    missing = [f"powercut {name} {option}" for name, command in commands().items()
               for option in sorted(printed(command))
               if option not in docs.get(name, set()) and option not in own]
    assert not missing, ("options --help prints that docs/cli.md (or the target's page) "
                         f"does not: {missing}")


def test_every_option_in_the_reference_is_one_help_prints() -> None:
    known = {name: printed(command) for name, command in commands().items()}
    stale = [f"powercut {name} {option}" for name, options in documented().items()
             for option in sorted(options) if option not in known.get(name, set())]
    assert not stale, f"options docs/cli.md names that --help does not print: {stale}"


def test_the_readme_reads_in_five_minutes() -> None:
    """What it finds, the quick start, a picture and links: the reference is in docs/."""
    readme = (REPO / "README.md").read_text().splitlines()
    assert len(readme) <= 300, len(readme)
    linked = {m for line in readme for m in re.findall(r"\]\((docs/[^)#]+)", line)}
    assert linked and all((REPO / path).exists() for path in linked), linked
