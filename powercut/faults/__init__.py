"""fsync failures: fail one call of a program's own run, and judge how the program reacts.

`record --fail` fails one call (see `powercut.faultplan`); this package
sweeps it: `sweep` fails each candidate call of a workload in turn, one run
each (`job`), reads what the program did about it (`reaction`: exited,
answered with an error, or acknowledged anyway) and explores the crash
states after the failed call with the target's checker and the durability
oracle; `summary` folds the causes across runs. The command line
(`powercut faults`) and the test helpers (`powercut.testing`) call it.
"""

from powercut.faults.job import FaultJob, FaultRun, Judging, candidates, run_job
from powercut.faults.reaction import Reaction, react
from powercut.faults.sweep import Sweep, choose, sweep

__all__ = ["FaultJob", "FaultRun", "Judging", "Reaction", "Sweep", "candidates", "choose",
           "react", "run_job", "sweep"]
