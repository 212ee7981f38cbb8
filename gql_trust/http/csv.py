"""CSV answers on `/graphql`: one dataset field's cells, a column per selected leaf.

A request whose ``Accept`` prefers ``text/csv`` runs exactly like a JSON one (the same
policy, disclosure control, budget and ledger entry); only the body changes. Which
operations can be CSV is decided from the document before it runs (:func:`csv_shape`),
so a request that cannot be answered as CSV is refused (406) without releasing data.
The columns are the selected leaf fields in selection order, named by their response
keys (aliases) joined by ``.``: ``period,area.code,claimants``. A null is an empty
field; a nested object that is null leaves its columns empty.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLSyntaxError,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    is_leaf_type,
    parse,
    value_from_ast_untyped,
)
from starlette.responses import Response

from ..ledger.gate import RECEIPT_HEADER

CSV = "text/csv"
CSV_CONTENT_TYPE = "text/csv; charset=utf-8; header=present"
NOT_ACCEPTABLE = "NOT_ACCEPTABLE"
MAX_COLUMNS = 200  # a wider selection is not a table anyone reads


@dataclass(frozen=True)
class CsvShape:
    """The one dataset field a CSV request selects: its response key and leaf paths."""

    key: str
    columns: tuple[tuple[str, ...], ...]

    @property
    def header(self) -> list[str]:
        return [".".join(path) for path in self.columns]


class NotCsv(Exception):
    """Why an operation cannot be answered as CSV (the 406's message)."""


def csv_shape(
    schema: GraphQLSchema,
    query: str | None,
    operation_name: str | None,
    variables: Mapping[str, Any] | None,
    dataset_fields: Iterable[str],
) -> CsvShape | None:
    """The CSV columns of an operation, or :class:`NotCsv` saying why there are none.
    A document that does not parse is left to normal execution (None: its own error)."""
    if not query:
        raise NotCsv("CSV needs a query that selects one dataset field")
    try:
        document = parse(query)
    except GraphQLSyntaxError:
        return None
    operation = _operation(document, operation_name)
    if operation.operation is not OperationType.QUERY:
        raise NotCsv("only a query can be answered as CSV")
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    collector = _Collector(schema, fragments, variables or {})
    root = schema.query_type
    assert root is not None
    fields = collector.fields(root, [operation.selection_set])
    fields.pop("__typename", None)
    if any(nodes[0].name.value not in root.fields for nodes in fields.values()):
        return None  # validation names the unknown field
    names = set(dataset_fields)
    if len(fields) != 1 or next(iter(fields.values()))[0].name.value not in names:
        raise NotCsv(
            "CSV is offered for an operation that selects exactly one dataset field ("
            + ", ".join(sorted(names))
            + "); ask for application/json otherwise"
        )
    key, nodes = next(iter(fields.items()))
    field = root.fields[nodes[0].name.value]
    cell = _unwrap(field.type)
    if not isinstance(cell, GraphQLObjectType):
        raise NotCsv(f"{key} has no cells to tabulate")
    try:
        columns = collector.leaves(cell, nodes, ())
    except _Unknown:
        return None
    if not columns:
        raise NotCsv(f"select at least one field of {key}")
    return CsvShape(key, tuple(columns))


def _operation(document: DocumentNode, name: str | None) -> OperationDefinitionNode:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if name is None:
        if len(operations) != 1:
            raise NotCsv("the document has several operations: name one with operationName")
        return operations[0]
    for operation in operations:
        if operation.name is not None and operation.name.value == name:
            return operation
    raise NotCsv(f'no operation named "{name[:100]}" in the document')


def _unwrap(kind: Any) -> Any:
    while isinstance(kind, GraphQLNonNull | GraphQLList):
        kind = kind.of_type
    return kind


def _is_list(kind: Any) -> bool:
    while isinstance(kind, GraphQLNonNull):
        kind = kind.of_type
    return isinstance(kind, GraphQLList)


class _Unknown(Exception):
    """A field the schema does not have: validation reports it when the query runs."""


class _Collector:
    """GraphQL's field collection (fragments expanded, @skip/@include honoured, fields
    merged by response key), enough to know the columns before the query runs."""

    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: dict[str, FragmentDefinitionNode],
        variables: Mapping[str, Any],
    ) -> None:
        self.schema, self.fragments, self.variables = schema, fragments, variables

    def fields(
        self, owner: GraphQLObjectType, selection_sets: list[SelectionSetNode]
    ) -> dict[str, list[FieldNode]]:
        found: dict[str, list[FieldNode]] = {}
        for selection_set in selection_sets:
            self._collect(owner, selection_set, found, set())
        return found

    def _collect(
        self,
        owner: GraphQLObjectType,
        selection_set: SelectionSetNode,
        found: dict[str, list[FieldNode]],
        visited: set[str],
    ) -> None:
        for selection in selection_set.selections:
            if not self._included(selection):
                continue
            if isinstance(selection, FieldNode):
                key = selection.alias.value if selection.alias else selection.name.value
                found.setdefault(key, []).append(selection)
            elif isinstance(selection, InlineFragmentNode):
                if self._applies(owner, selection.type_condition):
                    self._collect(owner, selection.selection_set, found, visited)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.fragments.get(name)
                if name in visited or fragment is None:
                    continue  # validation reports it when the query runs
                visited.add(name)
                if self._applies(owner, fragment.type_condition):
                    self._collect(owner, fragment.selection_set, found, visited)

    def _applies(self, owner: GraphQLObjectType, condition: Any) -> bool:
        return condition is None or condition.name.value == owner.name

    def _included(self, selection: Any) -> bool:
        for directive in selection.directives or ():
            name = directive.name.value
            if name not in ("skip", "include"):
                continue
            value = next((a.value for a in directive.arguments if a.name.value == "if"), None)
            flag = bool(value_from_ast_untyped(value, dict(self.variables))) if value else False
            if (name == "skip") == flag:
                return False
        return True

    def leaves(
        self, owner: GraphQLObjectType, nodes: list[FieldNode], prefix: tuple[str, ...]
    ) -> list[tuple[str, ...]]:
        sets = [n.selection_set for n in nodes if n.selection_set is not None]
        columns: list[tuple[str, ...]] = []
        for key, children in self.fields(owner, sets).items():
            path = (*prefix, key)
            name = children[0].name.value
            if name == "__typename":
                columns.append(path)
                continue
            field = owner.fields.get(name)
            if field is None:
                raise _Unknown(name)
            kind = _unwrap(field.type)
            if _is_list(field.type) or not (
                is_leaf_type(kind) or isinstance(kind, GraphQLObjectType)
            ):
                raise NotCsv(f"{'.'.join(path)} is a list: a CSV cell holds one value")
            if isinstance(kind, GraphQLObjectType):
                columns.extend(self.leaves(kind, children, path))
            else:
                columns.append(path)
            if len(columns) > MAX_COLUMNS:
                raise NotCsv(f"CSV has at most {MAX_COLUMNS} columns")
        return columns


def render_csv(shape: CsvShape, rows: list[Any] | None) -> str:
    """The cells as RFC 4180 CSV (CRLF line ends), header first."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(shape.header)
    for row in rows or ():
        writer.writerow([_cell(_at(row, path)) for path in shape.columns])
    return out.getvalue()


def _at(row: Any, path: tuple[str, ...]) -> Any:
    value = row
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)  # the shortest text that reads back as the same number
    return str(value)


def not_acceptable_error(reason: str) -> GraphQLError:
    return GraphQLError(
        f"not acceptable as text/csv: {reason}", extensions={"code": NOT_ACCEPTABLE}
    )


# A CSV client (curl, pandas, R) reads the status, not a JSON body: errors get one.
_STATUS = {
    NOT_ACCEPTABLE: 406,
    "BAD_USER_INPUT": 400,
    "UNAUTHENTICATED": 401,
    "FORBIDDEN": 403,
    "NOT_FOUND": 404,
    "EXTRACTION_BUDGET_EXCEEDED": 429,
    "PRIVACY_BUDGET_EXCEEDED": 429,
    "PERSISTED_QUERY_NOT_FOUND": 404,
    "SOURCE_UNAVAILABLE": 503,
    "LEDGER_UNAVAILABLE": 503,
    "SOURCE_TIMEOUT": 504,
}


def error_status(body: Any) -> int:
    """The status of a JSON error body answered to a CSV request."""
    errors = body.get("errors") if isinstance(body, dict) else None
    if not errors:
        return 406  # a batch, or anything else that is not one result
    codes = [(e.get("extensions") or {}).get("code") for e in errors if isinstance(e, dict)]
    for code in codes:
        if code in _STATUS:
            return _STATUS[code]
    if not any(isinstance(e, dict) and "path" in e for e in errors):
        return 400  # a request error: the document did not parse or validate
    return 500


def as_csv(shape: CsvShape | None, response: Response) -> Response:
    """The `/graphql` JSON response turned into the CSV answer, or into a JSON error
    with a status that says what went wrong; the receipt header stays."""
    if response.status_code != 200 or not response.headers.get("content-type", "").startswith(
        "application/json"
    ):
        return response  # refused before it ran (401, 405, 413, 503): JSON already
    body = orjson.loads(bytes(response.body))
    data = body.get("data") if isinstance(body, dict) else None
    if shape is None or not isinstance(data, dict) or body.get("errors"):
        return _json_error(response, body)
    headers = {k: v for k, v in response.headers.items() if k.lower() == RECEIPT_HEADER.lower()}
    return Response(
        render_csv(shape, data.get(shape.key)), media_type=CSV_CONTENT_TYPE, headers=headers
    )


def _json_error(response: Response, body: Any) -> Response:
    response.status_code = error_status(body)
    return response
