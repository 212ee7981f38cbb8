"""Settings: one TOML file (``gql-trust.toml``), paths relative to it."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from .errors import ConfigError
from .identity import AuthConfig, auth_from_dict
from .ledger.config import LedgerConfig, ledger_from_dict

FileFormat = Literal["parquet", "csv"]

CONFIG_ENV = "GQL_TRUST_CONFIG"


@dataclass(frozen=True)
class FileRelation:
    """A relation read in place from files (a glob for Parquet, one path for CSV)."""

    name: str
    format: FileFormat
    path: str


@dataclass(frozen=True)
class SourceConfig:
    name: str
    kind: str  # a registered source kind (gql_trust/sources/registry.py)
    database: Path | None = None  # DuckDB database file, opened read-only
    dsn: str | None = None  # PostgreSQL
    schema: str | None = None  # qualifies relation names in PostgreSQL
    relations: tuple[FileRelation, ...] = ()
    pool_size: int = 8
    statement_timeout_s: float = 30.0


@dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8000
    default_limit: int = 1_000
    max_limit: int = 100_000
    cors_origins: tuple[str, ...] = ()
    # Proxies (addresses or CIDR networks) whose X-Forwarded-For and gateway header count.
    trusted_proxies: tuple[str, ...] = ()


@dataclass(frozen=True)
class LimitsConfig:
    """Operation limits (docs/limits.md explains each default)."""

    max_depth: int = 8
    max_aliases: int = 15
    max_tokens: int = 2_000
    max_root_fields: int = 10
    max_directives_per_field: int = 5
    max_cells: int = 1_000_000  # estimated cells a whole query may return
    max_periods: int = 240  # assumed period cardinality for the cell estimate
    max_in_values: int = 10_000
    max_table_cells: int = 250_000  # standard cells of one disclosure-controlled table
    max_body_bytes: int = 1_000_000
    max_batch: int = 0  # batched operations per request; 0 = batching off
    introspection: Literal["all", "authenticated", "none"] = "all"
    parser_cache: int = 1_024
    validation_cache: int = 1_024
    request_timeout_s: float = 30.0


PROFILES: dict[str, dict[str, Any]] = {
    "demo": {},
    "production": {"introspection": "authenticated"},
}

# Federation `@link` versions Strawberry can declare; gateways may accept fewer
# (@theguild/federation-composition 0.27 composes up to 2.9).
FEDERATION_VERSIONS = tuple(f"2.{minor}" for minor in range(12))


@dataclass(frozen=True)
class FederationConfig:
    """[federation]: the subgraph's declared Federation version and entity limits."""

    version: str = "2.9"
    max_representations: int = 1_000  # per `_entities` call


@dataclass(frozen=True)
class DisclosureConfig:
    """[disclosure]: the secret that keys magnitude perturbation (perturbed means)."""

    key_file: Path | None = None

    def key(self) -> bytes | None:
        if self.key_file is None:
            return None
        try:
            key = self.key_file.read_bytes()
        except OSError as exc:
            raise ConfigError(
                f"cannot read the disclosure key {self.key_file}: {exc.strerror}"
            ) from exc
        if len(key) < 32:
            raise ConfigError(f"the disclosure key {self.key_file} must hold at least 32 bytes")
        return key


@dataclass(frozen=True)
class MetricsConfig:
    """[metrics]: `/metrics` needs a token with role operator or auditor unless public."""

    public: bool = False


@dataclass(frozen=True)
class Settings:
    path: Path | None
    sources: dict[str, SourceConfig]
    areas_csv: Path
    sectors_csv: Path
    contracts_dir: Path
    policies_dir: Path
    server: ServerConfig = field(default_factory=ServerConfig)
    auth: AuthConfig | None = None  # [auth]: token issuer, audience and keys; None = public only
    ledger: LedgerConfig = field(default_factory=LedgerConfig)  # [ledger]: where entries go
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    federation: FederationConfig = field(default_factory=FederationConfig)
    disclosure: DisclosureConfig = field(default_factory=DisclosureConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    # [policies] poll_s: seconds between looks at policies/ (0: only on SIGHUP).
    policies_poll_s: float = 1.0


def bundled_dir(name: str) -> Path:
    """Default contracts (``schema``) and ``policies``: package data when installed,
    the repository's top-level folders in a source checkout."""
    package = Path(__file__).resolve().parent
    for candidate in (package / "_bundled" / name, package.parent / name):
        if candidate.is_dir():
            return candidate
    raise ConfigError(f"the bundled '{name}' folder is missing from this installation")


def load_settings(path: str | os.PathLike[str] | None = None) -> Settings:
    """Read the settings file given, or the one named by ``$GQL_TRUST_CONFIG``."""
    raw_path = path or os.environ.get(CONFIG_ENV)
    if not raw_path:
        raise ConfigError(
            "no settings file given: pass --config FILE (or set GQL_TRUST_CONFIG); "
            "`gql-trust demo-data --data-dir DIR` writes one to DIR/gql-trust.toml"
        )
    config_path = Path(raw_path).expanduser().resolve()
    if not config_path.is_file():
        raise ConfigError(f"settings file {config_path} does not exist")
    try:
        raw = tomllib.loads(config_path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{config_path} is not valid TOML: {exc}") from exc
    return settings_from_dict(raw, base_dir=config_path.parent, path=config_path)


def settings_from_dict(raw: dict[str, Any], base_dir: Path, path: Path | None = None) -> Settings:
    where = str(path or "settings")

    def resolve(value: str) -> Path:
        candidate = Path(value).expanduser()
        return candidate if candidate.is_absolute() else base_dir / candidate

    sources = {
        name: _source(name, body, resolve, where)
        for name, body in (raw.get("sources") or {}).items()
    }
    if not sources:
        raise ConfigError(f"{where}: no [sources.<name>] tables: the trust has nothing to serve")
    reference = raw.get("reference") or {}
    try:
        areas_csv = resolve(reference["areas"])
        sectors_csv = resolve(reference["sectors"])
    except KeyError as exc:
        raise ConfigError(f"{where}: [reference] needs '{exc.args[0]}' (a CSV path)") from exc
    server_raw = raw.get("server") or {}
    server = ServerConfig(
        host=str(server_raw.get("host", "127.0.0.1")),
        port=int(server_raw.get("port", 8000)),
        default_limit=int(server_raw.get("default_limit", 1_000)),
        max_limit=int(server_raw.get("max_limit", 100_000)),
        cors_origins=tuple(server_raw.get("cors_origins", ())),
        trusted_proxies=_proxies(server_raw.get("trusted_proxies", ()), where),
    )
    contracts = raw.get("contracts") or {}
    limits = _limits(raw, where)
    return Settings(
        limits=limits,
        path=path,
        sources=sources,
        areas_csv=areas_csv,
        sectors_csv=sectors_csv,
        contracts_dir=resolve(contracts["dir"]) if "dir" in contracts else bundled_dir("schema"),
        policies_dir=resolve(raw["policies"]["dir"])
        if "dir" in (raw.get("policies") or {})
        else bundled_dir("policies"),
        server=server,
        auth=auth_from_dict(raw.get("auth"), resolve, where),
        ledger=ledger_from_dict(raw.get("ledger"), resolve, where),
        federation=_federation(raw.get("federation") or {}, where),
        disclosure=_disclosure(raw.get("disclosure") or {}, resolve, where),
        metrics=_metrics(raw.get("metrics") or {}, where),
        policies_poll_s=_poll(raw.get("policies") or {}, where),
    )


def _poll(raw: dict[str, Any], where: str) -> float:
    unknown = sorted(set(raw) - {"dir", "poll_s"})
    if unknown:
        raise ConfigError(f"{where}: [policies] has unknown keys {unknown}; known: dir, poll_s")
    value = raw.get("poll_s", 1.0)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 5:
        raise ConfigError(
            f"{where}: [policies] poll_s must be a number of seconds from 0 to 5 "
            "(0: re-read only on SIGHUP)"
        )
    return float(value)


def _metrics(raw: dict[str, Any], where: str) -> MetricsConfig:
    unknown = sorted(set(raw) - {"public"})
    if unknown:
        raise ConfigError(f"{where}: [metrics] has unknown keys {unknown}; known: ['public']")
    public = raw.get("public", False)
    if not isinstance(public, bool):
        raise ConfigError(f"{where}: [metrics] public must be true or false")
    return MetricsConfig(public=public)


def _proxies(raw: Any, where: str) -> tuple[str, ...]:
    import ipaddress

    if not isinstance(raw, list | tuple) or not all(isinstance(p, str) for p in raw):
        raise ConfigError(f"{where}: [server] trusted_proxies must be a list of addresses")
    for proxy in raw:
        try:
            ipaddress.ip_network(proxy, strict=False)
        except ValueError as exc:
            raise ConfigError(
                f"{where}: [server] trusted_proxies: {proxy!r} is not an address or network"
            ) from exc
    return tuple(raw)


def _source(name: str, body: dict[str, Any], resolve: Any, where: str) -> SourceConfig:
    """A `[sources.<name>]` table, read by its kind (gql_trust/sources/registry.py)."""
    from .sources import source_kind  # the kinds import this module

    table = f"{where}: [sources.{name}]"
    return source_kind(body.get("kind"), table).settings(name, body, resolve, table)


def relations_from(body: dict[str, Any], resolve: Any, table: str) -> tuple[FileRelation, ...]:
    """`[...relations.<name>]` tables naming files read in place (`parquet` or `csv`)."""
    relations = []
    for rel_name, rel in (body.get("relations") or {}).items():
        formats = [f for f in ("parquet", "csv") if f in rel]
        if len(formats) != 1:
            raise ConfigError(
                f"{table[:-1]}.relations.{rel_name}] needs exactly one of "
                "'parquet' or 'csv' (a file path or glob)"
            )
        fmt: FileFormat = "parquet" if formats[0] == "parquet" else "csv"
        relations.append(FileRelation(rel_name, fmt, str(resolve(rel[fmt]))))
    return tuple(relations)


def _limits(raw: dict[str, Any], where: str) -> LimitsConfig:
    """[limits], on top of the defaults of [server] profile ("demo" or "production")."""
    profile = (raw.get("server") or {}).get("profile", "demo")
    if profile not in PROFILES:
        raise ConfigError(f"{where}: [server] profile {profile!r}; use one of {sorted(PROFILES)}")
    values = {**PROFILES[profile], **(raw.get("limits") or {})}
    known = {f.name: f for f in fields(LimitsConfig)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(f"{where}: [limits] has unknown keys {unknown}; known: {sorted(known)}")
    if values.get("introspection", "all") not in ("all", "authenticated", "none"):
        raise ConfigError(f"{where}: [limits] introspection must be all, authenticated or none")
    try:
        typed = {
            name: value if name == "introspection" else type(getattr(LimitsConfig, name))(value)
            for name, value in values.items()
        }
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: [limits] {exc}") from exc
    return LimitsConfig(**typed)


def _disclosure(raw: dict[str, Any], resolve: Any, where: str) -> DisclosureConfig:
    unknown = sorted(set(raw) - {"key_file"})
    if unknown:
        raise ConfigError(f"{where}: [disclosure] has unknown keys {unknown}; known: ['key_file']")
    key_file = raw.get("key_file")
    if key_file is not None and not isinstance(key_file, str):
        raise ConfigError(f"{where}: [disclosure] key_file must be a path")
    return DisclosureConfig(resolve(key_file) if key_file else None)


def _federation(raw: dict[str, Any], where: str) -> FederationConfig:
    unknown = sorted(set(raw) - {"version", "max_representations"})
    if unknown:
        raise ConfigError(
            f"{where}: [federation] has unknown keys {unknown}; known: "
            "['max_representations', 'version']"
        )
    version = raw.get("version", FederationConfig.version)
    if not isinstance(version, str):
        raise ConfigError(
            f'{where}: [federation] version must be a string such as "2.9" (quoted: '
            "as a TOML number 2.10 would read as 2.1)"
        )
    if version not in FEDERATION_VERSIONS:
        raise ConfigError(
            f"{where}: [federation] version {version!r} is not a Federation v2 version; use one "
            f"of {list(FEDERATION_VERSIONS)} (gateways built on federation-composition 0.27 "
            "accept up to 2.9)"
        )
    most = raw.get("max_representations", FederationConfig.max_representations)
    if not isinstance(most, int) or isinstance(most, bool) or most < 1:
        raise ConfigError(f"{where}: [federation] max_representations must be a positive integer")
    return FederationConfig(version=version, max_representations=most)
