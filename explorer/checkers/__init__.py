"""Generic checkers: the protocol (`base`), the `command` checker, signatures and the oracle.

A checker judges one materialised crash state. Checkers of known programs
live with their targets (`powercut.targets`); here is what every checker
shares: `base.Checker` and `failure_verdict`, `signature` (the pure log
analysis that groups equal failures) and `durability` (the oracle of
acknowledged writes).
"""

from powercut.explorer.checkers.base import DEFAULT_TIMEOUT, Checker
from powercut.explorer.checkers.command import CommandChecker

__all__ = ["DEFAULT_TIMEOUT", "Checker", "CommandChecker"]
