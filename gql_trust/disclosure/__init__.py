"""Statistical disclosure control applied to result cells for callers who are not owners."""

from . import dp, perturbed_mean  # noqa: F401  (registers them, like the modules below)
from .apply import DisclosureTally, apply_disclosure, controlled_measures
from .cell_key import P_TABLE, perturb
from .methods import METHODS, Method, register
from .ten_five import ten_five

__all__ = [
    "METHODS",
    "P_TABLE",
    "DisclosureTally",
    "Method",
    "apply_disclosure",
    "controlled_measures",
    "perturb",
    "register",
    "ten_five",
]
