"""What the server does once, when it starts."""

from __future__ import annotations

import gc
from pathlib import Path

from gql_trust.app import create_app
from gql_trust.config import load_settings


async def test_startup_moves_its_objects_out_of_the_collectors_reach(
    duckdb_trust_dir: Path, tmp_path: Path
) -> None:
    """Full collections then scan only what requests create (docs/benchmarks.md: a
    collection in the middle of a 10,000-cell response cost ~70 ms before)."""
    text = (duckdb_trust_dir / "gql-trust.toml").read_text(encoding="utf-8")
    ledger = tmp_path / "ledger.sqlite"
    text = text.replace('path = "ledger/ledger.sqlite"', f'path = "{ledger}"')
    config = duckdb_trust_dir / "gql-trust-startup.toml"
    config.write_text(text, encoding="utf-8")
    app = create_app(load_settings(config))
    trust = app.state.trust

    def collectable() -> bool:
        return any(o is trust for o in gc.get_objects())

    gc.unfreeze()
    try:
        assert collectable()
        async with app.router.lifespan_context(app):
            assert not collectable() and gc.get_freeze_count() > 10_000
            assert ledger.exists()  # started before the freeze
    finally:
        gc.unfreeze()
