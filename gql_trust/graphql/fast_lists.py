"""A compiled path for lists of plain objects, such as 10,000 result cells.

graphql-core completes every field of every list item through the general
machinery (resolve info, middleware, awaitable checks): most of the time of a
large response. For a list whose items only select plain attributes (no
resolvers, arguments or lists below them), this execution context compiles the
selection once per list field into a function from item to result dict, with the
same response keys in the same order, `__typename`, aliases, fragments and
@skip/@include (collected by graphql-core itself) and the same leaf coercion.
Anything else, or any surprise (a null in a non-null field), falls back to the
normal completion, which then reports errors exactly as usual.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from graphql import (
    GraphQLObjectType,
    is_leaf_type,
    is_non_null_type,
    is_object_type,
)
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

Mapper = Callable[[Any], dict[str, Any]]


class _Fallback(Exception):
    """The compiled path cannot produce exactly what normal execution would."""


class FastListExecutionContext(StrawberryGraphQLCoreExecutionContext):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._mappers: dict[tuple[str, int], tuple[Any, Mapper | None]] = {}

    def complete_list_value(  # type: ignore[override]
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
        if isinstance(result, list) and is_object_type(inner):
            mapper = self._mapper(inner, field_details_list)
            if mapper is not None and self.get_stream_usage(field_details_list, path) is None:
                try:
                    return [_item(mapper, value, non_null) for value in result]
                except _Fallback:
                    pass
        return super().complete_list_value(
            return_type, field_details_list, info, path, result, position_context
        )

    def _mapper(self, object_type: GraphQLObjectType, field_details_list: Any) -> Mapper | None:
        key = (object_type.name, id(field_details_list))
        cached = self._mappers.get(key)
        if cached is None:
            # Keep the list alive with its mapper so that its id cannot be reused.
            cached = (field_details_list, self._compile(object_type, field_details_list))
            self._mappers[key] = cached
        return cached[1]

    def _compile(self, object_type: GraphQLObjectType, field_details_list: Any) -> Mapper | None:
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
            attribute = definition.python_name
            if is_leaf_type(inner):
                steps.append((response_key, self._leaf(attribute, inner, non_null)))
            elif is_object_type(inner):
                nested = self._compile(inner, details)
                if nested is None:
                    return None
                steps.append((response_key, _nested(attribute, nested, non_null)))
            else:
                return None
        return lambda item: {key: step(item) for key, step in steps}

    def _leaf(self, attribute: str, leaf_type: Any, non_null: bool) -> Callable[[Any], Any]:
        complete = self.complete_leaf_value

        def value(item: Any) -> Any:
            raw = getattr(item, attribute)
            if raw is None:
                if non_null:
                    raise _Fallback
                return None
            return complete(leaf_type, raw)

        return value


def _item(mapper: Mapper, value: Any, non_null: bool) -> Any:
    if value is None:
        if non_null:
            raise _Fallback
        return None
    return mapper(value)


def _constant(value: str) -> Callable[[Any], str]:
    return lambda item: value


def _nested(attribute: str, mapper: Mapper, non_null: bool) -> Callable[[Any], Any]:
    return lambda item: _item(mapper, getattr(item, attribute), non_null)
