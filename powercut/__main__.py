import sys

from powercut.explorer.cli import main

sys.exit(main())
