"""The tamper-evident extraction ledger: entries, hash chain, sinks and budgets."""

from .chain import BudgetClaim, Head, Verification, verify
from .config import LedgerConfig, ledger_from_dict
from .entry import GENESIS, Entry, FieldDenied, Outcome, SourceRead
from .rows import AuditQuery
from .writer import Ledger, open_sink

__all__ = [
    "GENESIS",
    "AuditQuery",
    "BudgetClaim",
    "Entry",
    "FieldDenied",
    "Head",
    "Ledger",
    "LedgerConfig",
    "Outcome",
    "SourceRead",
    "Verification",
    "ledger_from_dict",
    "open_sink",
    "verify",
]
