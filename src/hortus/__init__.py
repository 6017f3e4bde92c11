"""Hortus: a self-hostable plant-intelligence server."""

__version__ = "0.1.0"
