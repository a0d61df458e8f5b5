"""`powercut replay` (being built)."""

import click

COMMANDS: list[click.Command] = []
