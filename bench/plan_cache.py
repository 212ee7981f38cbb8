"""What the compiled-plan cache saves: sqlglot compilation against a cache hit.

    python -m bench.plan_cache [--scale 1]

Compiles two query shapes of the benchmark trust (W1's filtered look-up, W4's shape
rolled up to regions, whose SQL inlines the area hierarchy as a VALUES list) with the
cache bypassed, then through it: the shape key plus the lookup each request pays.
"""

from __future__ import annotations

import argparse
import time

from gql_trust.config import load_settings
from gql_trust.planner import And, CellQuery, Cond
from gql_trust.reference import Level
from gql_trust.trust import Trust

from .run import default_data_dir

SHAPES = {
    "W1 (one area, one period)": CellQuery(
        "claimants",
        ("ageBand", "sex"),
        ("claimants",),
        And((Cond("area", "eq", ("E08000025",)), Cond("period", "eq", ("2026-09",)))),
        Level.LOCAL_AUTHORITY,
        limit=1_000,
    ),
    "W4's shape at REGION (roll-up VALUES)": CellQuery(
        "claimants",
        ("period", "area", "ageBand"),
        ("claimants",),
        Cond("period", "gte", ("2024-11",)),
        Level.REGION,
        limit=100_000,
    ),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1)
    parser.add_argument("--repeat", type=int, default=300)
    args = parser.parse_args()
    trust = Trust.from_settings(load_settings(default_data_dir(args.scale) / "gql-trust.toml"))
    for name, query in SHAPES.items():
        shape = query.shape()
        started = time.perf_counter()
        for _ in range(args.repeat):
            trust._compile(shape)
        compiled_ms = (time.perf_counter() - started) / args.repeat * 1000
        trust.compile(shape)
        hits = args.repeat * 100
        started = time.perf_counter()
        for _ in range(hits):
            trust.compile(query.shape())
        cached_us = (time.perf_counter() - started) / hits * 1e6
        print(f"{name}: compiled {compiled_ms:.3f} ms, from the cache {cached_us:.1f} us")


if __name__ == "__main__":
    main()
