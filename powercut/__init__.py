"""powercut: find the crash states a program cannot recover from.

Three stages, the programs powercut knows, and a thin door on top; imports
flow one way, CLI -> targets -> explorer -> replayer -> this shared floor:

- `powercut.cli`: the `powercut` command, one module per subcommand;
- `powercut.targets`: one folder per program (its workloads and checkers),
  found through a registry;
- `powercut.explorer`: judges crash states (run, store, checkers,
  analysis, report);
- `powercut.replayer`: rebuilds crash states from a trace (models,
  enumeration, materialisation);
- `powercut.recorder`: records a trace through FUSE (uses only the floor);
- the floor: `errors`, `trace` (the format every stage reads), `process`,
  `ports`, `kernelfs` (images, loop devices and mounts of kernel file
  systems), `guard` (what a SIGKILLed powercut leaves is undone).
"""

__version__ = "0.1.0"
