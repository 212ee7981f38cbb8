"""The registry of disclosure methods: one file per method, registered by name.

A method says what it needs of a contract (``check``), which extra columns it needs
from the source (``needs_cell_key``) or secrets from the trust (``needs_secret``),
whether the sparse-area rule reads its counts, and how it publishes one cell. A
contract names its method in `disclosure:`; adding one is a new file that calls
``register`` and its tests, nothing else.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from ..contracts.model import Contract, Measure

NONE = "none"  # no control: exact for everyone who may read the field


class Cell:
    """The row being published, as a method sees it. One is made per table and moved
    from row to row (``at``), so publishing a large table builds no per-row objects."""

    __slots__ = ("_identity", "_key_at", "_position", "row", "secret", "values")

    def __init__(
        self,
        position: dict[str, int],
        key_at: int | None,
        identity: Callable[[tuple[Any, ...]], bytes] | None,
        secret: bytes,
    ) -> None:
        self._position, self._key_at, self._identity = position, key_at, identity
        self.secret = secret  # the trust's disclosure key
        self.row: tuple[Any, ...] = ()
        self.values: list[Any] = []

    def at(self, row: tuple[Any, ...], values: list[Any]) -> Cell:
        self.row, self.values = row, values
        return self

    def exact(self, measure: str) -> Any:
        """A measure's value from the source."""
        return self.row[self._position[measure]]

    def published(self, measure: str) -> Any:
        """A measure's value as published so far (leaders are published first)."""
        return self.values[self._position[measure]]

    @property
    def cell_key(self) -> int:
        """The sum of the contributors' record keys (0 when not computed)."""
        at = self._key_at
        return (self.row[at] or 0) if at is not None and at < len(self.row) else 0

    def identity(self) -> bytes:
        """The standard cell's identity, for keyed noise."""
        return self._identity(self.row) if self._identity is not None else b""


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
