"""powercut: find the crash states a program cannot recover from.

The work is split in three stages that import one way only:
`powercut.explorer` (judge and report) -> `powercut.replayer` (rebuild crash
states) -> `powercut.recorder` (capture a trace; owns the trace format).
"""

__version__ = "0.1.0"
