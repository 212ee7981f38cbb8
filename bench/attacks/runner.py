"""Run every attack as every non-owner demo principal against one live server."""

from __future__ import annotations

import contextlib
import logging
import random
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gql_trust.config import Settings, load_settings
from gql_trust.identity import mint_token

from . import averaging, differencing, lsq, marginal, ratio, zeros
from .client import Client
from .common import FULL, QUICK, Budget, Context
from .oracle import Oracle
from .scoring import Score
from .server import serving
from .views import CLAIMS, Geography, build_views

ATTACKS: tuple[tuple[str, Callable[[Context], list[Score]]], ...] = (
    ("averaging", averaging.run),
    ("differencing", differencing.run),
    ("marginal", marginal.run),
    ("ratio", ratio.run),
    ("zeros", zeros.run),
    ("lsq", lsq.run),
)


@contextlib.contextmanager
def target(config: Path, url: str | None) -> Iterator[str]:
    if url:
        yield url.rstrip("/")
    else:
        with serving(config) as started:
            yield started


def run(
    config: Path,
    *,
    quick: bool = False,
    url: str | None = None,
    only: set[str] | None = None,
    budget: Budget | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Every attack x view; the scores and what they were run against."""
    # Casbin logs every denial at WARNING (the attacks are denied often): keep the table readable.
    logging.getLogger("casbin").setLevel(logging.ERROR)
    report = progress or (lambda _message: None)
    settings = load_settings(config)
    geo = Geography.load(settings.areas_csv)
    oracle = Oracle(settings, geo)
    views = build_views(settings, geo, oracle.periods())
    budget = budget or (QUICK if quick else FULL)
    scores: list[Score] = []
    learned: dict[str, Any] = {}
    started = time.monotonic()
    with target(config, url) as base:
        for view in views:
            client = Client(base, _token(settings, view.principal))
            try:
                for name, attack in ATTACKS:
                    if only and name not in only:
                        continue
                    report(f"{name} as {view.name}")
                    rng = random.Random(f"{name}:{view.name}")
                    context = Context(view, client, oracle, geo, budget, rng, learned)
                    began = time.monotonic()
                    found = attack(context)
                    for result in found:
                        result.extra["seconds"] = round((time.monotonic() - began) / len(found), 2)
                    scores.extend(found)
            finally:
                client.close()
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": _commit(),
        "config": str(config),
        "quick": quick,
        "budget": budget.__dict__,
        "seconds": round(time.monotonic() - started, 1),
        "scores": [s.as_dict() for s in scores],
    }


def _commit() -> str | None:
    """The commit of the code under attack, when run from a git checkout."""
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return done.stdout.strip()


def _token(settings: Settings, principal: str) -> str:
    assert settings.auth is not None, "the config has no [auth]: no principal can sign in"
    return mint_token(
        settings.auth, sub=f"attacker-{principal}", ttl_s=6 * 3600, **CLAIMS[principal]
    )
