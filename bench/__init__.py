"""Benchmarks: gql-trust end to end over HTTP against its physical limit and peers."""
