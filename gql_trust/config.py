"""Settings: one TOML file (``gql-trust.toml``), paths relative to it."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from .errors import ConfigError
from .identity import AuthConfig, auth_from_dict

SourceKind = Literal["duckdb", "postgres"]
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
    kind: SourceKind
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
    )
    contracts = raw.get("contracts") or {}
    return Settings(
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
    )


def _source(name: str, body: dict[str, Any], resolve: Any, where: str) -> SourceConfig:
    kind = body.get("kind")
    if kind == "postgres":
        dsn = body.get("dsn")
        if not dsn:
            raise ConfigError(f"{where}: [sources.{name}] of kind 'postgres' needs a 'dsn'")
        return SourceConfig(
            name=name,
            kind="postgres",
            dsn=str(dsn),
            schema=body.get("schema"),
            pool_size=int(body.get("pool_size", 8)),
            statement_timeout_s=float(body.get("statement_timeout_s", 30.0)),
        )
    if kind == "duckdb":
        relations = []
        for rel_name, rel in (body.get("relations") or {}).items():
            formats = [f for f in ("parquet", "csv") if f in rel]
            if len(formats) != 1:
                raise ConfigError(
                    f"{where}: [sources.{name}.relations.{rel_name}] needs exactly one of "
                    "'parquet' or 'csv' (a file path or glob)"
                )
            fmt = formats[0]
            relations.append(FileRelation(rel_name, fmt, str(resolve(rel[fmt]))))
        database = body.get("database")
        return SourceConfig(
            name=name,
            kind="duckdb",
            database=resolve(database) if database else None,
            relations=tuple(relations),
            statement_timeout_s=float(body.get("statement_timeout_s", 30.0)),
        )
    raise ConfigError(f"{where}: [sources.{name}] has kind {kind!r}; use 'duckdb' or 'postgres'")
