"""The registry of disclosure methods: one file per method, registered by name.

A method says what it needs of a contract (``check``), which extra columns it needs
from the source (``needs_cell_key``) or secrets from the trust (``needs_secret``),
whether the sparse-area rule reads its counts, and how it publishes one cell. A
contract names its method in `disclosure:`; adding one is a new file that calls
``register`` and its tests, nothing else.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from ..contracts.model import Contract, Measure

NONE = "none"  # no control: exact for everyone who may read the field


@dataclass
class Cell:
    """One row, as a method sees it while the row is published."""

    exact: Callable[[str], Any]  # a measure's value from the source
    published: Callable[[str], Any]  # a measure's value as published so far (leaders first)
    cell_key: int  # the sum of the contributors' record keys (0 when not computed)
    identity: Callable[[], bytes]  # the standard cell's identity, for keyed noise
    secret: bytes  # the trust's disclosure key


class Method:
    """A disclosure method. Subclasses set ``name`` and ``summary`` and publish cells."""

    name: ClassVar[str]
    summary: ClassVar[str]  # for the catalog: what a caller gets
    controls: ClassVar[bool] = True  # False only for `none`
    needs_cell_key: ClassVar[bool] = False  # the source also computes each cell's key
    needs_secret: ClassVar[bool] = False  # needs [disclosure] key_file
    sparse: ClassVar[bool] = False  # the sparse-area rule reads these counts

    def check(self, contract: Contract, measure: Measure) -> str | None:
        """What is wrong with using this method for ``measure``, or None."""
        return None

    def publish(self, value: Any, measure: Measure, cell: Cell) -> tuple[Any, bool, bool]:
        """(published value, suppressed, perturbed) for a non-null exact ``value``."""
        return value, False, False


METHODS: dict[str, Method] = {}


def register(method: Method) -> Method:
    """Make ``method`` available to contracts by its name."""
    if method.name in METHODS and type(METHODS[method.name]) is not type(method):
        raise ValueError(f"a disclosure method named {method.name!r} is already registered")
    METHODS[method.name] = method
    return method


def method(name: str) -> Method:
    return METHODS[name]


class Exact(Method):
    name = NONE
    summary = "none: exact for everyone who may read it"
    controls = False


register(Exact())
