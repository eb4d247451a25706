"""Mutation testing of ArGen's core modules with mutmut (``make mutation``; docs/testing.md)."""
