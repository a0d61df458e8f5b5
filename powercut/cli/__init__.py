"""The `powercut` command: a thin door over the library API.

Each subcommand lives in its own small module (`record`, `show`, `replay`,
`explore`, `faults`, `umount`) and only parses options and calls the library.
This module turns every `PowercutError` into one line on stderr and an exit
status (2 for bad usage or input, 3 for a bug of powercut's own); a
traceback appears only with --debug.
"""

from __future__ import annotations

import sys

import click

from powercut import __version__
from powercut.errors import PowercutError

INTERNAL_ERROR = 3  # exit status of a bug (not the user's input): one line unless --debug


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="powercut")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Find the crash states a program cannot recover from."""
    ctx.obj = {"debug": debug}


def _register() -> None:
    from powercut.cli import diff, explore, faults, record, replay, show, umount

    for module in (record, show, replay, explore, faults, diff, umount):
        for command in module.COMMANDS:
            cli.add_command(command)


def main(argv: list[str] | None = None) -> int:
    _register()
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    try:
        result = cli.main(args=args, prog_name="powercut", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("powercut: interrupted", err=True)
        return 130
    except click.ClickException as e:
        # One line, as every other error: click's own form is usage, hint and error.
        command = e.ctx.command_path if isinstance(e, click.UsageError) and e.ctx else None
        see = f"; see '{command} --help'" if command else ""
        click.echo(f"powercut: error: {_one_line(e.format_message()).rstrip('.')}{see}", err=True)
        return 2
    except PowercutError as e:
        if debug:
            raise
        click.echo(f"powercut: error: {_one_line(str(e))}", err=True)
        return e.exit_status
    except KeyboardInterrupt:
        click.echo("powercut: interrupted", err=True)
        return 130
    except OSError as e:
        if debug:
            raise
        where = f": {e.filename}" if e.filename else ""
        click.echo(f"powercut: error: {e.strerror or e}{where}", err=True)
        return 2
    except Exception as e:  # a bug: still one line, the traceback on request
        if debug:
            raise
        click.echo(f"powercut: internal error: {type(e).__name__}: {_one_line(str(e))} "
                   "(run again with --debug for the traceback, and please report it)", err=True)
        return INTERNAL_ERROR
    return result if isinstance(result, int) else 0


def _one_line(text: str) -> str:
    return " ".join(text.split())


if __name__ == "__main__":
    sys.exit(main())
