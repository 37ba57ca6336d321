"""Servers written without this project's code, for tests that verify them (see hosting.py)."""
