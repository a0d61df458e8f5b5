"""Checkers judge one materialised crash state each: `etcd` and `command`.

See `base.Checker` for the protocol; `process` holds the child-process
helper every checker uses, `signature` the pure log analysis.
"""

from powercut.explorer.checkers.base import DEFAULT_TIMEOUT, Checker
from powercut.explorer.checkers.command import CommandChecker
from powercut.explorer.checkers.etcd import EtcdChecker, default_etcd_bin, resolve_etcd_bin
from powercut.explorer.checkers.etcd_cluster import EtcdClusterChecker

__all__ = ["DEFAULT_TIMEOUT", "Checker", "CommandChecker", "EtcdChecker", "EtcdClusterChecker",
           "default_etcd_bin", "resolve_etcd_bin"]
