"""Trusted documents: the operations an agreement has approved, by id.

An agreement names a manifest in the Apollo persisted query manifest format
(``{"format": "apollo-persisted-query-manifest", "version": 1, "operations": [{"id",
"name", "type", "body"}]}``, ``id`` the SHA-256 hex of ``body``) and may set
``require_trusted_documents: true``. Clients send ``{"documentId": "sha256:<hex>"}`` or
Apollo's ``extensions.persistedQuery.sha256Hash``, by POST or (queries) by GET. Every
manifest is read, its ids checked against its bodies, and each body parsed and
validated against the schema when the policy set loads: a manifest that fails is a
policy set that fails, and the old set stays in force.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from graphql import DocumentNode, GraphQLError, GraphQLSchema, OperationDefinitionNode, parse
from graphql import validate as validate_document

from .errors import ConfigError

FORMAT = "apollo-persisted-query-manifest"
PREFIX = "sha256:"
DOCUMENT_ID = "documentId"  # carried in the request's extensions once parsed


@dataclass(frozen=True)
class Operation:
    id: str
    name: str | None
    type: str
    body: str
    document: DocumentNode  # parsed and validated when the manifest loaded


@dataclass
class TrustedDocuments:
    operations: dict[str, Operation] = field(default_factory=dict)  # id -> operation
    by_agreement: dict[str, frozenset[str]] = field(default_factory=dict)

    def find(self, document_id: str) -> Operation | None:
        return self.operations.get(document_id)

    def approved(self, agreement: str, query: str) -> bool:
        return body_id(query) in self.by_agreement.get(agreement, frozenset())


def body_id(body: str) -> str:
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def read_manifest(path: Path) -> list[dict[str, Any]]:
    """The operations of a manifest, its shape checked (ConfigError otherwise)."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"trusted documents manifest {path} does not exist") from exc
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: not a readable JSON manifest: {exc}") from exc
    if not isinstance(raw, dict) or raw.get("format") != FORMAT or raw.get("version") != 1:
        raise ConfigError(f'{path}: expected {{"format": "{FORMAT}", "version": 1, ...}}')
    operations = raw.get("operations")
    if not isinstance(operations, list) or not all(isinstance(o, dict) for o in operations):
        raise ConfigError(f"{path}: `operations` must be a list of operations")
    return operations


def load_documents(agreements: dict[str, Any], schema: GraphQLSchema) -> TrustedDocuments:
    documents = TrustedDocuments()
    for agreement in agreements.values():
        path = agreement.trusted_documents
        if path is None:
            continue
        ids = []
        for index, item in enumerate(read_manifest(path)):
            operation = _operation(item, f"{path}: operations[{index}]", schema)
            documents.operations[operation.id] = operation
            ids.append(operation.id)
        documents.by_agreement[agreement.id] = frozenset(ids)
    return documents


def _operation(item: dict[str, Any], where: str, schema: GraphQLSchema) -> Operation:
    body, given = item.get("body"), item.get("id")
    if not isinstance(body, str) or not isinstance(given, str):
        raise ConfigError(f"{where}: `id` and `body` must be strings")
    if given != body_id(body):
        raise ConfigError(
            f"{where}: id {given[:16]}... is not the SHA-256 of its body ({body_id(body)})"
        )
    try:
        document = parse(body)
    except GraphQLError as exc:
        raise ConfigError(f"{where}: the body does not parse: {exc.message}") from exc
    errors = validate_document(schema, document)
    if errors:
        raise ConfigError(f"{where}: the body is not valid here: {errors[0].message}")
    kinds = [
        d.operation.value for d in document.definitions if isinstance(d, OperationDefinitionNode)
    ]
    return Operation(given, item.get("name"), str(item.get("type") or kinds[0]), body, document)


def carry_document_id(data: Any) -> Any:
    """Moves a request's top-level ``documentId`` into its extensions (where the GraphQL
    view keeps it), so one place resolves both ways of naming a document."""
    for item in data if isinstance(data, list) else [data]:
        if isinstance(item, dict) and DOCUMENT_ID in item:
            extensions = item.get("extensions")
            if extensions is None:
                extensions = item["extensions"] = {}
            if isinstance(extensions, dict):
                extensions[DOCUMENT_ID] = item.pop(DOCUMENT_ID)
    return data


class DocumentError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def requested_id(extensions: dict[str, Any] | None) -> str | None:
    """The document id a request names, or None; DocumentError when it is malformed."""
    if not extensions:
        return None
    if DOCUMENT_ID in extensions:
        value = extensions[DOCUMENT_ID]
        if not isinstance(value, str) or not value.startswith(PREFIX):
            raise DocumentError(
                'documentId must be "sha256:" followed by the hex SHA-256 of the document'
            )
        return value[len(PREFIX) :].lower()
    persisted = extensions.get("persistedQuery")
    if persisted is None:
        return None
    value = persisted.get("sha256Hash") if isinstance(persisted, dict) else None
    if not isinstance(value, str):
        raise DocumentError("extensions.persistedQuery needs a sha256Hash string")
    return value.lower()


def add_document(manifest: Path, query_file: Path) -> str:
    """Append the operation in ``query_file`` to ``manifest`` (made if missing); its id."""
    body = query_file.read_text(encoding="utf-8")
    try:
        document = parse(body)
    except GraphQLError as exc:
        raise ConfigError(f"{query_file}: does not parse: {exc.message}") from exc
    definitions = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if len(definitions) != 1:
        raise ConfigError(f"{query_file}: a trusted document holds exactly one operation")
    operations = read_manifest(manifest) if manifest.exists() else []
    new = body_id(body)
    if all(o.get("id") != new for o in operations):
        name = definitions[0].name.value if definitions[0].name else None
        operations.append(
            {"id": new, "name": name, "type": definitions[0].operation.value, "body": body}
        )
    text = json.dumps({"format": FORMAT, "version": 1, "operations": operations}, indent=2)
    manifest.parent.mkdir(parents=True, exist_ok=True)
    manifest.write_text(text + "\n", encoding="utf-8")
    return new


def trusted_document(request_data: Any, context: Any, method: str) -> tuple[Any, Any]:
    """(the request with the named document's body as its query, a refusal or None).

    A refusal is an ExecutionResult: PERSISTED_QUERY_NOT_FOUND for an unknown id, and
    FORBIDDEN for any document the caller's agreement has not approved when it requires
    trusted documents."""
    from dataclasses import replace

    from cross_web import HTTPException
    from strawberry.types import ExecutionResult

    def refuse(message: str, code: str, **extra: Any) -> tuple[Any, Any]:
        error = GraphQLError(message, extensions={"code": code, **extra})
        return request_data, ExecutionResult(data=None, errors=[error])

    documents: TrustedDocuments = getattr(context.policy, "documents", None) or TrustedDocuments()
    try:
        wanted = requested_id(request_data.extensions)
    except DocumentError as exc:
        raise HTTPException(400, exc.message) from exc
    if wanted is not None:
        operation = documents.find(wanted)
        if operation is None:
            return refuse("PersistedQueryNotFound", "PERSISTED_QUERY_NOT_FOUND")
        if request_data.query is not None and body_id(request_data.query) != wanted:
            raise HTTPException(400, "the query sent is not the document its id names")
        request_data = replace(request_data, query=operation.body)
    elif method == "GET":
        raise HTTPException(
            400,
            "free-form queries are not allowed when using GET: GET /graphql runs trusted "
            "documents only (documentId); send other queries by POST",
        )
    principal = context.principal
    agreement = context.policy.agreements.get(principal.agreement or "")
    required = agreement is not None and agreement.require_trusted_documents
    if required and not documents.approved(agreement.id, request_data.query or ""):
        reason = (
            f"agreement {agreement.id} requires trusted documents: send the documentId "
            "of an operation in its manifest (gql-trust documents add)"
        )
        message = f"not a trusted document of agreement {agreement.id}"
        return refuse(message, "FORBIDDEN", reason=reason, agreement=agreement.id)
    return request_data, None
