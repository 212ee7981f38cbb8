"""Statistical disclosure control applied to result cells for callers who are not owners."""

from .apply import DisclosureTally, apply_disclosure, controlled_measures
from .cell_key import P_TABLE, perturb
from .ten_five import ten_five

__all__ = [
    "P_TABLE",
    "DisclosureTally",
    "apply_disclosure",
    "controlled_measures",
    "perturb",
    "ten_five",
]
