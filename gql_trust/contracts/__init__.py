"""Dataset contracts: what each department shares, described in YAML."""

from .loader import load_contracts
from .model import Aggregation, Contract, Dimension, Measure

__all__ = ["Aggregation", "Contract", "Dimension", "Measure", "load_contracts"]
