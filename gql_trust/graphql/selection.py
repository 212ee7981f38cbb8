"""Which fields a query selects under a field, through aliases, fragments and @skip/@include."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLIncludeDirective,
    GraphQLSkipDirective,
    InlineFragmentNode,
    SelectionSetNode,
)
from graphql.execution.values import VariableValues, get_directive_values


def selected_names(info: Any) -> set[str]:
    """Names (not aliases) of the fields selected under the resolved field."""
    raw = info._raw_info
    # Strawberry gives resolvers the coerced values; graphql-core's directive helper
    # takes them in its container (the sources are only for rewriting literals).
    variables = VariableValues(sources={}, coerced=raw.variable_values)
    names: set[str] = set()
    for node in raw.field_nodes:
        if node.selection_set is not None:
            _collect(node.selection_set, raw.fragments, variables, names, set())
    names.discard("__typename")
    return names


def _collect(
    selection_set: SelectionSetNode,
    fragments: dict[str, FragmentDefinitionNode],
    variables: VariableValues,
    names: set[str],
    visited: set[str],
) -> None:
    for selection in _included(selection_set.selections, variables):
        if isinstance(selection, FieldNode):
            names.add(selection.name.value)
        elif isinstance(selection, InlineFragmentNode):
            _collect(selection.selection_set, fragments, variables, names, visited)
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            if name in visited or name not in fragments:
                continue  # validation rejects cycles; never loop on one
            visited.add(name)
            _collect(fragments[name].selection_set, fragments, variables, names, visited)


def _included(selections: Iterable[Any], variables: VariableValues) -> Iterable[Any]:
    for selection in selections:
        skip = get_directive_values(GraphQLSkipDirective, selection, variables)
        if skip and skip.get("if") is True:
            continue
        include = get_directive_values(GraphQLIncludeDirective, selection, variables)
        if include and include.get("if") is False:
            continue
        yield selection
