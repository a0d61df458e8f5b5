"""`powercut show` (being built)."""

import click

COMMANDS: list[click.Command] = []
