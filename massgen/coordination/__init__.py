"""The coordination engine."""
