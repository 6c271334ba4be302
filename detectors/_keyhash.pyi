"""Type stub of the C person-key hasher (detectors/_keyhash.c)."""

from collections.abc import Sequence
from typing import Any

Buffer = Any  # a C-contiguous numpy fixed-width bytes array (the buffer protocol)

class Hasher:
    def __init__(self, secret: bytes) -> None: ...
    def many(self, prefix: bytes, values: Sequence[bytes], size: int) -> list[str]: ...
    def digests(self, prefix: bytes, values: Buffer, width: int, size: int) -> bytes: ...
