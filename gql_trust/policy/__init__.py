"""Attribute-based access: Casbin rules, data-sharing agreements, row obligations."""

from .agreements import Agreement, load_agreements
from .engine import Decision, Grant, PolicyEngine, RowFilter

__all__ = ["Agreement", "Decision", "Grant", "PolicyEngine", "RowFilter", "load_agreements"]
