"""A compiled path for lists of plain objects, such as 10,000 result cells.

graphql-core completes every field of every list item through the general
machinery (resolve info, middleware, awaitable checks): most of the time of a
large response. For a list whose items only select plain attributes (no
resolvers, arguments or lists below them), this execution context compiles the
selection once per list field into a function from item to result dict, with the
same response keys in the same order, `__typename`, aliases, fragments and
@skip/@include (collected by graphql-core itself) and the same leaf coercion.
Dataset cells arrive as the source's rows (`Cells`): their function reads each
row by position, so the cell objects are never built.
Anything else, or any surprise (a null in a non-null field), falls back to the
normal completion, which then reports errors exactly as usual.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from functools import cached_property
from math import isfinite
from operator import attrgetter, itemgetter
from typing import Any
from weakref import WeakKeyDictionary

from graphql import (
    GraphQLBoolean,
    GraphQLFloat,
    GraphQLID,
    GraphQLInt,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLString,
    is_leaf_type,
    is_non_null_type,
    is_object_type,
)
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from ..cells import CellLayout, Cells
from .frozen import Uncacheable, frozen

Mapper = Callable[[Any], dict[str, Any]]
Getter = Callable[[Any], Any]
Reader = Callable[[str], Getter]  # attribute name -> how to get it from an item


class _Fallback(Exception):
    """The compiled path cannot produce exactly what normal execution would."""


# Compiled mappers per schema, shared by operations: clients repeat their queries, and
# compiling one costs more than completing a small list.
SHARED_MAPPERS = 1_024
_mappers: WeakKeyDictionary[GraphQLSchema, OrderedDict[Any, tuple[Any, Mapper | None]]] = (
    WeakKeyDictionary()
)


class FastListExecutionContext(StrawberryGraphQLCoreExecutionContext):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._mappers = _mappers.setdefault(self.schema, OrderedDict())

    @cached_property
    def _variables(self) -> Any:
        """The variables as part of a mapper's key (@skip/@include may depend on them);
        frozen only when an operation completes a list."""
        try:
            return frozen(self.variable_values.coerced)
        except Uncacheable:
            return object()  # this operation only

    def complete_list_value(
        self,
        return_type: Any,
        field_details_list: Any,
        info: Any,
        path: Any,
        result: Any,
        position_context: Any,
    ) -> Any:
        item_type = return_type.of_type
        non_null = is_non_null_type(item_type)
        inner = item_type.of_type if non_null else item_type
        rows = isinstance(result, Cells)
        if (rows or isinstance(result, list)) and is_object_type(inner):
            layout = result.layout if rows else None
            mapper = self._mapper(inner, field_details_list, layout)
            if mapper is not None and self.get_stream_usage(field_details_list, path) is None:
                try:
                    items = result.rows if rows else result
                    return [_item(mapper, value, non_null) for value in items]
                except _Fallback:
                    pass
        if rows:
            result = list(result)  # the cell objects, for normal completion
        return super().complete_list_value(
            return_type, field_details_list, info, path, result, position_context
        )

    def _mapper(
        self, object_type: GraphQLObjectType, field_details_list: Any, layout: CellLayout | None
    ) -> Mapper | None:
        nodes = tuple(d.node for d in field_details_list)
        variables = self._variables
        if any(d.fragment_variable_values is not None for d in field_details_list):
            variables = object()  # fragment arguments: this operation only
        key = (id(object_type), tuple(map(id, nodes)), layout, variables)
        cached = self._mappers.get(key)
        if cached is None:
            read = attrgetter if layout is None else _row_reader(layout)
            # The entry holds what the ids name, so that no id can be reused while it lives.
            pinned = (object_type, nodes)
            cached = (pinned, self._compile(object_type, field_details_list, read))
            self._mappers[key] = cached
            if len(self._mappers) > SHARED_MAPPERS:
                self._mappers.popitem(last=False)
        return cached[1]

    def _compile(
        self, object_type: GraphQLObjectType, field_details_list: Any, read: Reader
    ) -> Mapper | None:
        collected = self.collect_subfields(object_type, field_details_list)
        steps: list[tuple[str, Callable[[Any], Any]]] = []
        for response_key, details in collected.grouped_field_set.items():
            node = details[0].node
            name = node.name.value
            if name == "__typename":
                steps.append((response_key, _constant(object_type.name)))
                continue
            field = object_type.fields.get(name)
            definition = field.extensions.get("strawberry-definition") if field else None
            if definition is None or definition.base_resolver is not None or field.args:
                return None  # resolvers and arguments go through normal execution
            non_null = is_non_null_type(field.type)
            inner = field.type.of_type if non_null else field.type
            get = read(definition.python_name)
            if is_leaf_type(inner):
                steps.append((response_key, self._leaf(get, inner, non_null)))
            elif is_object_type(inner):
                nested = self._compile(inner, details, attrgetter)  # plain objects below
                if nested is None:
                    return None
                steps.append((response_key, _nested(get, nested, non_null)))
            else:
                return None
        return _record(steps)

    def _leaf(self, get: Getter, leaf_type: Any, non_null: bool) -> Getter:
        complete = self.complete_leaf_value

        def serialise(raw: Any) -> Any:
            if raw is None:
                if non_null:
                    raise _Fallback
                return None
            try:
                return complete(leaf_type, raw)
            except Exception as exc:  # normal completion reports it at the leaf's path
                raise _Fallback from exc

        # The common case, a built-in scalar already of its output type, is returned as
        # it is; anything else (an int for a Float, an out-of-range Int) is serialised.
        if leaf_type is GraphQLInt:
            return lambda item: (
                raw if type(raw := get(item)) is int and raw in _INT_RANGE else serialise(raw)
            )
        if leaf_type is GraphQLFloat:
            return lambda item: (
                raw if type(raw := get(item)) is float and isfinite(raw) else serialise(raw)
            )
        kind = _OUTPUT_TYPES.get(leaf_type)
        if kind is None:
            return lambda item: serialise(get(item))
        return lambda item: raw if type(raw := get(item)) is kind else serialise(raw)


def _record(steps: list[tuple[str, Callable[[Any], Any]]]) -> Mapper:
    """``item -> {key: step(item), ...}`` as one dict display, which runs about a third
    faster per item than a comprehension over the steps. Only the names ``k0, s0, ...``
    appear in the generated source: the keys and steps are bound as values."""
    names: dict[str, Any] = {}
    entries = []
    for i, (key, step) in enumerate(steps):
        names[f"k{i}"], names[f"s{i}"] = key, step
        entries.append(f"k{i}: s{i}(item)")
    mapper: Callable[[Any], dict[str, Any]] = eval(f"lambda item: {{{', '.join(entries)}}}", names)
    return mapper


def _row_reader(layout: CellLayout) -> Reader:
    """Fields of a cell read from its row, converted as the cell object would have them."""

    def read(attribute: str) -> Getter:
        reader = layout.readers.get(attribute)
        if reader is None:
            return _constant(None)  # not a column of this shape: the cell's default
        position, convert = reader
        if convert is None:
            return itemgetter(position)
        return lambda row: None if (v := row[position]) is None else convert(v)

    return read


_INT_RANGE = range(-(2**31), 2**31)
_OUTPUT_TYPES: dict[Any, type] = {GraphQLString: str, GraphQLID: str, GraphQLBoolean: bool}


def _item(mapper: Mapper, value: Any, non_null: bool) -> Any:
    if value is None:
        if non_null:
            raise _Fallback
        return None
    return mapper(value)


def _constant(value: Any) -> Callable[[Any], Any]:
    return lambda item: value


def _nested(get: Getter, mapper: Mapper, non_null: bool) -> Callable[[Any], Any]:
    return lambda item: _item(mapper, get(item), non_null)
