"""Type stub of the C person-key hasher (detectors/_keyhash.c)."""

from collections.abc import Sequence

class Hasher:
    def __init__(self, secret: bytes) -> None: ...
    def many(self, prefix: bytes, values: Sequence[bytes], size: int) -> list[str]: ...
