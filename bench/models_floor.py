"""Figure 1m: the weaker models' explorations against their floors, as figure 1 for lazyfs.

The seed and `etcd-writes` explored with defaults (early hangs, no cache,
the largest worker count) under `ext4-ordered` and under `alice`, each
over its own floor (`Context.floor`: every distinct state it judged,
checked bare at the deadline the exploration gave it, plus one full
timeout per confirmed hang cause, over the workers). What the model adds
that is powercut's own work (replaying namespaces, ALICE's garbage pages,
writing larger states, minimising more causes) shows as the ratio above 1.
A model run shares nothing with another here: each is a fresh exploration.
"""

from __future__ import annotations

from bench.context import SEED, Context
from bench.explore_efficiency import TRACES, efficiency
from bench.figures import Figure, Target

MODEL_TARGET = Target("<=", 1.2)
MODELS = ("ext4-ordered", "alice")


def run(ctx: Context) -> list[Figure]:
    figures = []
    for name in (SEED,) if ctx.quick else TRACES:
        for model in MODELS:
            figures += efficiency(ctx, name, model, MODEL_TARGET, "1m models")
    return figures
