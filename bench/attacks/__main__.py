"""``python -m bench.attacks --config FILE [--quick] [--url URL] [--json OUT]``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rich.console import Console

from .report import table
from .runner import ATTACKS, run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.attacks", description=__doc__)
    parser.add_argument("--config", type=Path, required=True, help="the trust's gql-trust.toml")
    parser.add_argument("--quick", action="store_true", help="few targets and sets (CI)")
    parser.add_argument("--url", help="attack this running server instead of starting one")
    parser.add_argument("--json", type=Path, help="write the scores here")
    parser.add_argument(
        "--only", action="append", choices=[n for n, _ in ATTACKS], help="run only these attacks"
    )
    args = parser.parse_args(argv)
    console = Console(stderr=True)
    result = run(
        args.config,
        quick=args.quick,
        url=args.url,
        only=set(args.only) if args.only else None,
        progress=lambda message: console.log(message),
    )
    print(f"{result['date']}, commit {result['commit']}, {args.config}\n")
    print(table(result["scores"]))
    console.log(f"{result['seconds']} s")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
