"""Workflows: pure state machines (no I/O, no imports from the rest of the project)."""
