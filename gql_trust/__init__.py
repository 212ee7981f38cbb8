"""gql-trust: a GraphQL server for a Labour Market Data Trust."""

__version__ = "0.1.0"
