"""The scores as a markdown table: each figure next to its baseline."""

from __future__ import annotations

from typing import Any

HEADER = (
    "| attack | principal/dataset | targets | exact | baseline exact | +-1 | baseline +-1 "
    "| queries | refused |"
)


def table(scores: list[dict[str, Any]]) -> str:
    lines = [HEADER, "|" + "---|" * 9]
    for s in scores:
        n = s["targets"] or 1
        base_exact = max(s["base_exact"], s["published_exact"])
        base_within = max(s["base_within1"], s["published_within1"])
        lines.append(
            f"| {s['attack']} | {s['view']} | {s['targets']} "
            f"| {s['exact']} ({s['exact'] / n:.0%}) | {base_exact} ({base_exact / n:.0%}) "
            f"| {s['within1']} ({s['within1'] / n:.0%}) | {base_within} ({base_within / n:.0%}) "
            f"| {s['queries']} | {s['refused']} |"
        )
    return "\n".join(lines)
