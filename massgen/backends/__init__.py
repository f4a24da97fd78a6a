"""Backends: one module per wire protocol, built by :mod:`massgen.backends.registry`."""
