"""Tests of the benchmark and attack tools."""
