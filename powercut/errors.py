"""The one exception family powercut raises on purpose.

Every message says what happened and what to do about it; the CLI prints it
as one line and exits with `exit_status` (2: bad usage or input).
"""


class PowercutError(Exception):
    """A failure the user can act on (bad input, missing binary, busy mount...)."""

    exit_status = 2


class TraceError(PowercutError):
    """A trace that is malformed, cut short, altered or unsafe to replay."""


class MountError(PowercutError):
    """The FUSE mount could not be made, used or removed."""


class WorkloadError(PowercutError):
    """The workload could not be started or did not reach its goal."""


class CheckerError(PowercutError):
    """A checker could not be set up (missing binary, bad command...)."""


class DiskFull(PowercutError):
    """No space left to build or check a crash state: the exploration pauses (its verdicts
    are in the journal; `--resume` continues once there is space)."""
