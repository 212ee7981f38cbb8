"""Federation v2: `Area` and `Sector` are entities keyed by `code`; `_entities` is strict.

The schema the server serves is the subgraph schema (`strawberry.federation`), so a
partner's gateway reaches exactly the fields a direct caller reaches, through the same
resolvers: dataset fields on an entity go through the same planner, policy, disclosure
control and ledger, batched by the same per-field DataLoader (one source query per
dataset per level for a whole `_entities` call).

Representations come from a gateway, which the trust does not trust: each one is checked
(an object, a known `__typename`, exactly the key field `code`, a string) and a bad one
gets a clear error at its own path, never a stack trace. Their number is capped
(``[federation] max_representations``).
"""

from __future__ import annotations

from typing import Any

import strawberry
from graphql import (
    GraphQLSchema,
    is_introspection_type,
    is_specified_directive,
    is_specified_scalar_type,
)
from graphql.utilities.print_schema import print_directive, print_type
from strawberry.federation.schema import FederationAny
from strawberry.types import Info

from ..errors import InvalidQuery, NotFound, TrustError
from .context import RequestContext

# Entity type name -> its key fields (`@key(fields: "code")`).
ENTITY_KEYS: dict[str, tuple[str, ...]] = {"Area": ("code",), "Sector": ("code",)}

_EXAMPLE = '{"__typename": "Area", "code": "E08000025"}'


def entity_type(cls: Any, description: str) -> Any:
    """A shareable entity keyed by `code`: partners may extend it and resolve `code` too."""
    return strawberry.federation.type(
        cls, keys=list(ENTITY_KEYS[cls.__name__]), shareable=True, description=description
    )


def reference_resolver(lookup: Any, what: str) -> Any:
    """`resolve_reference` for an entity: the same object the root field returns."""

    def resolve_reference(cls: Any, info: Info, code: str) -> Any:
        found = lookup(info.context, code)
        if found is None:
            raise NotFound(f"no {what} with code '{_short(code)}'", typename=cls.__name__)
        return found

    return classmethod(resolve_reference)


class FederatedSchema(strawberry.federation.Schema):
    """A subgraph schema whose `_entities` validates what a gateway sends."""

    def entities_resolver(
        self, info: Info, representations: list[FederationAny]
    ) -> list[FederationAny]:
        ctx: RequestContext = info.context
        most = ctx.trust.settings.federation.max_representations
        if len(representations) > most:
            raise InvalidQuery(
                f"_entities takes at most {most:,} representations per call; got "
                f"{len(representations):,}. Split the request."
            )
        types = {name: self.schema_converter.type_map[name] for name in ENTITY_KEYS}
        return [
            _resolve(types, info, index, representation)
            for index, representation in enumerate(representations)
        ]


def _resolve(types: dict[str, Any], info: Info, index: int, representation: Any) -> Any:
    """The entity, or the error to report at `_entities.<index>` (the item is null)."""
    where = f"representations[{index}]"
    if not isinstance(representation, dict):
        return InvalidQuery(f"{where} must be an object such as {_EXAMPLE}")
    entities = " and ".join(sorted(types))
    if "__typename" not in representation:
        return InvalidQuery(f"{where} has no __typename; this subgraph resolves {entities}")
    typename = representation["__typename"]
    if not isinstance(typename, str):
        return InvalidQuery(f"{where}: __typename must be a string, not {_json_type(typename)}")
    if typename not in types:
        return InvalidQuery(
            f"{where} has __typename {_short(typename)!r}; this subgraph resolves {entities}"
        )
    keys = ENTITY_KEYS[typename]
    unknown = sorted(_short(k) for k in representation if k != "__typename" and k not in keys)
    if unknown:
        shown = ", ".join(repr(k) for k in unknown[:5]) + (", ..." if len(unknown) > 5 else "")
        return InvalidQuery(
            f"{where} has unknown fields [{shown}]: {typename} is keyed by "
            + ", ".join(keys)
            + " only",
            typename=typename,
        )
    missing = [k for k in keys if k not in representation]
    if missing:
        return InvalidQuery(
            f"{where} has no '{missing[0]}': {typename} is resolved by "
            + ", ".join(keys)
            + f", e.g. {_EXAMPLE}",
            typename=typename,
        )
    values = {k: representation[k] for k in keys}
    wrong = [k for k, v in values.items() if not isinstance(v, str)]
    if wrong:
        return InvalidQuery(
            f"{where}: '{wrong[0]}' must be a string (an ID), not {_json_type(values[wrong[0]])}",
            typename=typename,
        )
    origin = types[typename].definition.origin
    try:
        return origin.resolve_reference(info=info, **values)
    except TrustError as exc:
        return exc


def complete_sdl(schema: GraphQLSchema) -> str:
    """The served schema as introspection shows it (federation fields and directive
    definitions included), types in name order, fields in declared order: valid SDL for
    any GraphQL tool. The subgraph SDL (`_service { sdl }`) instead *applies* @link and
    @key without defining them, which only federation-aware tools accept."""
    directives = [d for d in schema.directives if not is_specified_directive(d)]
    types = [
        t
        for t in schema.type_map.values()
        if not is_specified_scalar_type(t) and not is_introspection_type(t)
    ]
    parts = [print_directive(d) for d in sorted(directives, key=lambda d: d.name)]
    parts += [print_type(t) for t in sorted(types, key=lambda t: t.name)]
    return "\n\n".join(parts) + "\n"


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return "a list" if isinstance(value, list) else "an object"


def _short(text: str, most: int = 60) -> str:
    return text if len(text) <= most else text[:most] + "..."


__all__ = [
    "ENTITY_KEYS",
    "FederatedSchema",
    "complete_sdl",
    "entity_type",
    "reference_resolver",
]
