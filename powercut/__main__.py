import sys

from powercut.cli import main

sys.exit(main())
