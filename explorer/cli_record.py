"""`powercut record` (being built)."""

import click

COMMANDS: list[click.Command] = []
