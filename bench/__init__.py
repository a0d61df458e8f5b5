"""powercut's benchmark suite: `bench/run` (this package's `__main__`) measures every figure.

One module per sub-bench, each with `run(ctx) -> list[Figure]`; `context`
holds what they share in one run, `figures` how results are printed, and
`naive_checker` the hand-written baseline that figure 2 compares against.
Benches never mock a part: they run the real etcd and the real FUSE mount.
"""
