"""Outputs: alert records (JSON lines) and their human-readable rendering."""
