"""The GraphQL model, generated from the dataset contracts."""

from .schema import build_schema

__all__ = ["build_schema"]
