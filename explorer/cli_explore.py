"""`powercut explore` (being built)."""

import click

COMMANDS: list[click.Command] = []
