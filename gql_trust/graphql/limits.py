"""Operation limits: what a single request may ask of the trust.

Strawberry's own limiters handle depth, aliases (through fragment spreads) and
tokens; the rules here add root fields, directives per field, a cost limit in
estimated result cells, and per-caller introspection.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationRule,
    VariableNode,
)
from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    SchemaExtension,
    ValidationCache,
)
from strawberry.types import ExecutionResult

from ..config import LimitsConfig
from ..contracts.model import Conformed, Contract
from ..reference import Level
from .common import FAN_OUT, STITCHED


def limit_extensions(limits: LimitsConfig, contracts: tuple[Contract, ...]) -> list[Any]:
    # The document-level rules are built once, so that validation (a few ms a request)
    # can be cached per document; checks that depend on the caller or the variables
    # (introspection, cell cost) run at execution, every time.
    rules = [
        *QueryDepthLimiter(max_depth=limits.max_depth).validation_rules,
        *MaxAliasesLimiter(max_alias_count=limits.max_aliases).validation_rules,
        _max_root_fields(limits.max_root_fields),
        _max_directives(limits.max_directives_per_field),
    ]
    by_name = {c.name: c for c in contracts}
    return [
        lambda: ParserCache(maxsize=limits.parser_cache),
        lambda: MaxTokensLimiter(max_token_count=limits.max_tokens),
        lambda: AddValidationRules(rules),
        lambda: ValidationCache(maxsize=limits.validation_cache),
        OperationNameRequired,
        lambda: IntrospectionGate(limits.introspection),
        lambda: CellBudget(limits, by_name),
    ]


def _max_root_fields(maximum: int) -> type[ValidationRule]:
    class MaxRootFields(ValidationRule):
        def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
            count = sum(1 for _ in _fields(node.selection_set, self.context.get_fragment, set()))
            if count > maximum:
                self.report_error(
                    GraphQLError(
                        f"'{node.name.value if node.name else 'anonymous'}' selects {count} "
                        f"root fields; at most {maximum} are allowed. Split the query.",
                        node,
                    )
                )

    return MaxRootFields


def _max_directives(maximum: int) -> type[ValidationRule]:
    class MaxDirectivesPerField(ValidationRule):
        def enter_field(self, node: FieldNode, *_: Any) -> None:
            directives = node.directives or ()
            if len(directives) > maximum:
                self.report_error(
                    GraphQLError(
                        f"field '{node.name.value}' has {len(directives)} directives; "
                        f"at most {maximum} are allowed",
                        node,
                    )
                )

    return MaxDirectivesPerField


def _fields(
    selection_set: SelectionSetNode | None, fragment: Any, seen: set[str]
) -> Iterator[FieldNode]:
    """Fields of a selection set, through fragments (each fragment followed once)."""
    for selection in selection_set.selections if selection_set else ():
        if isinstance(selection, FieldNode):
            yield selection
        elif isinstance(selection, InlineFragmentNode):
            yield from _fields(selection.selection_set, fragment, seen)
        elif isinstance(selection, FragmentSpreadNode) and selection.name.value not in seen:
            seen.add(selection.name.value)
            definition = fragment(selection.name.value)
            if definition is not None:
                yield from _fields(definition.selection_set, fragment, seen)


def _refuse(extension: SchemaExtension, message: str, code: str) -> None:
    extension.execution_context.result = ExecutionResult(
        data=None, errors=[GraphQLError(message, extensions={"code": code})]
    )


class OperationNameRequired(SchemaExtension):
    """A document with several operations must say which to run (GraphQL spec 6.1);
    Strawberry would otherwise run the first."""

    def on_execute(self) -> Iterator[None]:
        named = getattr(self.execution_context.context, "operation_named", True)
        document = self.execution_context.graphql_document
        if not named and document is not None:
            operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
            if len(operations) > 1:
                _refuse(
                    self,
                    "Must provide operation name if query contains multiple operations.",
                    "BAD_USER_INPUT",
                )
        yield


# `_service { sdl }` is the federation subgraph's schema: introspection by another name.
INTROSPECTION_FIELDS = frozenset({"__schema", "__type", "_service"})


class IntrospectionGate(SchemaExtension):
    """Introspection for all, for authenticated callers only, or for none."""

    def __init__(self, mode: str) -> None:
        self.mode = mode

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context.context
        principal = getattr(context, "principal", None)
        allowed = self.mode == "all" or (
            self.mode == "authenticated" and principal is not None and principal.authenticated
        )
        if not allowed and _introspects(self.execution_context):
            _refuse(self, "introspection is not available to this caller", "FORBIDDEN")
        yield


def _introspects(execution_context: Any) -> bool:
    document = execution_context.graphql_document
    if document is None:
        return False
    fragments = {d.name.value: d for d in document.definitions if d.kind == "fragment_definition"}

    def walk(selection_set: SelectionSetNode | None, seen: set[str]) -> bool:
        for field in _fields(selection_set, fragments.get, seen):
            if field.name.value in INTROSPECTION_FIELDS or walk(field.selection_set, seen):
                return True
        return False

    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    return any(walk(op.selection_set, set()) for op in operations)


class CellBudget(SchemaExtension):
    """Refuses a query that could return more cells than `max_cells`, before any SQL runs.

    A dataset field may return at most min(limit, product of its grouped dimensions'
    cardinalities) cells, and runs once per parent object: per area of `areas`, per
    sector of `sectors`, per cell of an enclosing dataset field.
    """

    def __init__(self, limits: LimitsConfig, contracts: dict[str, Contract]) -> None:
        self.limits, self.contracts = limits, contracts

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context.context
        trust = getattr(context, "trust", None)
        document = self.execution_context.graphql_document
        if trust is not None and document is not None and self.execution_context.result is None:
            self.reference = trust.reference
            self.default_limit = trust.settings.server.default_limit
            self.variables = self.execution_context.variables or {}
            self.fragments = {
                d.name.value: d
                for d in document.definitions
                if isinstance(d, FragmentDefinitionNode)
            }
            schema = self.execution_context.schema._schema
            operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
            cells = max(
                (self.estimate(op.selection_set, schema.query_type, 1.0) for op in operations),
                default=0.0,
            )
            if cells > self.limits.max_cells:
                _refuse(
                    self,
                    f"this query could return about {cells:,.0f} cells; at most "
                    f"{self.limits.max_cells:,} are allowed. Narrow it with `where`, a coarser "
                    "`geography`, fewer grouped fields or a smaller `limit`.",
                    "QUERY_TOO_COSTLY",
                )
        yield

    def estimate(self, selection_set: SelectionSetNode | None, parent: Any, times: float) -> float:
        total = 0.0
        for node in _fields(selection_set, self.fragments.get, set()):
            definition = getattr(parent, "fields", {}).get(node.name.value)
            if definition is None:
                continue
            child = _named(definition.type)
            name = node.name.value
            declared = _metadata(definition)
            if name in self.contracts:
                cells = times * self.cells(self.contracts[name], node)
                total += cells + self.estimate(node.selection_set, child, cells)
            elif STITCHED in declared:  # each source read up to period x area cells
                cells = times * self.stitched_cells(node)
                total += declared[STITCHED] * cells + self.estimate(
                    node.selection_set, child, cells
                )
            else:
                fan_out = self.fan_out(declared.get(FAN_OUT))
                total += self.estimate(node.selection_set, child, times * fan_out)
            if total > self.limits.max_cells:
                return total  # enough to refuse
        return total

    def fan_out(self, reference: str | None) -> float:
        if reference == "areas":
            return float(len(self.reference.areas))
        if reference == "sectors":
            return float(len(self.reference.sectors))
        return 1.0

    def cells(self, contract: Contract, node: FieldNode) -> float:
        limit = self.argument(node, "limit")
        try:
            limit = self.default_limit if limit is None else max(int(limit), 0)
            level = Level(self.argument(node, "geography") or Level.LOCAL_AUTHORITY.value)
        except (TypeError, ValueError, OverflowError):
            return 0.0  # invalid arguments are reported by validation or execution
        selected = {f.name.value for f in _fields(node.selection_set, self.fragments.get, set())}
        product = 1.0
        for dimension in contract.dimensions:
            if dimension.name in selected:
                product *= self.cardinality(dimension, level)
        return min(float(limit), product)

    def stitched_cells(self, node: FieldNode) -> float:
        try:
            level = Level(self.argument(node, "geography") or Level.LOCAL_AUTHORITY.value)
        except ValueError:
            return 0.0
        selected = {f.name.value for f in _fields(node.selection_set, self.fragments.get, set())}
        product = float(self.limits.max_periods) if "period" in selected else 1.0
        if "area" in selected:
            product *= len(self.reference.codes_at(level))
        return product

    def argument(self, node: FieldNode, name: str) -> Any:
        """An argument's raw value: a literal, or the variable it names."""
        for argument in node.arguments or ():
            if argument.name.value == name:
                if isinstance(argument.value, VariableNode):
                    return self.variables.get(argument.value.name.value)
                return getattr(argument.value, "value", None)
        return None

    def cardinality(self, dimension: Any, level: Level) -> float:
        if dimension.conformed is Conformed.PERIOD:
            return float(self.limits.max_periods)
        if dimension.conformed is Conformed.AREA:
            return float(len(self.reference.codes_at(level)))
        if dimension.conformed is Conformed.SECTOR:
            return float(len(self.reference.sectors))
        if dimension.type == "Boolean":
            return 2.0
        return float(len(dimension.values) or 100)


def _metadata(definition: Any) -> dict[str, Any]:
    """The cost a field declares beside itself (graphql/common.py: FAN_OUT, STITCHED)."""
    field = (definition.extensions or {}).get("strawberry-definition")
    return dict(getattr(field, "metadata", None) or {})


def _named(type_: Any) -> Any:
    while hasattr(type_, "of_type"):
        type_ = type_.of_type
    return type_


__all__ = ["limit_extensions"]
