"""Sans-IO application-protocol parsers.

Each parser takes bytes (``feed``), missing-byte notices (``gap``) and end of stream (``close``) and
returns events; none does I/O or keeps global state, so each is tested by feeding bytes directly.
"""
