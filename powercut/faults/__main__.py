"""`python -m powercut.faults JOB RESULT`: one run of a sweep in a process of its own."""

import sys

from powercut.faults.job import main

sys.exit(main(sys.argv[1:]))
