"""What a check finds: where, what is wrong and what to do."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Problem:
    where: str  # file, and line / rule / contract field
    message: str  # what is wrong, and what to do
    severity: Severity = "error"

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


def did_you_mean(word: str, candidates: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, candidates, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""
