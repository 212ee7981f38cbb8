"""Dataset fields resolved by graphql-core directly, their arguments converted once.

On every call, Strawberry's field wrapper converts the arguments (GraphQL values) into
the field's input classes, walking their type annotations: about a tenth of the CPU of
a light request (py-spy, bench/results/profiles/spy-W1.json). Clients send the same
arguments again and again, so the dataset fields here call their resolver directly and
convert with Strawberry's own converter once per distinct argument value, then reuse
the result: resolvers only read their arguments. Only fields with nothing else in
Strawberry's wrapper (no field extensions, no permission classes) are rerouted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from graphql import GraphQLObjectType, GraphQLResolveInfo
from strawberry.types.arguments import convert_arguments
from strawberry.types.field import StrawberryField

from .frozen import Uncacheable, frozen

CACHE_SIZE = 512  # distinct argument values remembered per field


class FastPathRefused(Exception):
    """A dataset field carries something the compiled path would bypass."""


def install(schema: Any, fields: Iterable[tuple[GraphQLObjectType, str]]) -> None:
    """Reroute these fields of ``schema`` (a built Strawberry schema). A field with field
    extensions or permission classes is refused loudly: rerouted, they would be skipped;
    left alone, the fast path would silently be off for it."""
    for owner, name in fields:
        graphql_field = owner.fields[name]
        field: StrawberryField = graphql_field.extensions["strawberry-definition"]
        if field.extensions or field.permission_classes or field.base_resolver is None:
            raise FastPathRefused(
                f"{owner.name}.{name} has field extensions or permission classes, which the "
                "compiled path would bypass: enforce them in the plan (policy, limits) or "
                "build the schema with fast_paths=False"
            )
        graphql_field.resolve = _direct(field, schema)


def _direct(field: StrawberryField, schema: Any) -> Callable[..., Any]:
    resolver = field.base_resolver
    assert resolver is not None and resolver.is_async
    function: Any = resolver.wrapped_func
    takes_source = resolver.self_parameter is not None
    info_class = schema.config.info_class
    arguments, registry, config = (
        field.arguments,
        schema.schema_converter.scalar_registry,
        schema.config,
    )
    cache: dict[Any, dict[str, Any]] = {}

    def convert(raw: dict[str, Any]) -> dict[str, Any]:
        try:
            key: Any = frozen(raw)
        except Uncacheable:  # big `in` lists are converted each time
            return convert_arguments(raw, arguments, scalar_registry=registry, config=config)
        converted = cache.get(key)
        if converted is None:
            converted = convert_arguments(raw, arguments, scalar_registry=registry, config=config)
            if len(cache) >= CACHE_SIZE:
                del cache[next(iter(cache))]  # the oldest
            cache[key] = converted
        return converted

    async def resolve(source: Any, info: GraphQLResolveInfo[Any], **raw: Any) -> Any:
        kwargs = convert(raw)
        strawberry_info = info_class(_raw_info=info, _field=field)
        if takes_source:
            return await function(source, info=strawberry_info, **kwargs)
        return await function(info=strawberry_info, **kwargs)

    return resolve
