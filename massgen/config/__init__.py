"""Config schema, loading and name resolution."""
