"""Which packages the `powercut` distribution holds: every folder of its roots, found.

The stages live at the top of the repository (recorder/ captures,
replayer/ rebuilds, explorer/ judges), the programs powercut knows in
targets/, the shared floor and the CLI in powercut/; all install under one
name (`powercut.<root>.<folder>`), so `import powercut.replayer` can never
collide with another distribution. The packages are found, not listed, so
that a new target is one folder under targets/ and nothing else changes.
Everything else is in pyproject.toml.
"""

from setuptools import find_packages, setup

ROOTS = {"powercut": "powercut", "powercut.recorder": "recorder",
         "powercut.replayer": "replayer", "powercut.explorer": "explorer",
         "powercut.targets": "targets"}

setup(package_dir=ROOTS,
      packages=[f"{name}.{sub}" if sub else name for name, folder in ROOTS.items()
                for sub in ["", *find_packages(folder)]])
