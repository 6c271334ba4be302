"""Type stub of the C block walker and header parser (sensor/capture/_walk.c)."""

from typing_extensions import Buffer

def walk(
    buf: Buffer, limit: int, max_sane: int, big: bool
) -> tuple[bytes, int, int, list[tuple[int, int]]]: ...
def headers(
    block: Buffer, starts: Buffer, big: bool, ints: Buffer, flags: Buffer, addresses: Buffer
) -> None: ...
def gather(data: Buffer, starts: Buffer, sizes: Buffer, heads: Buffer) -> bytes: ...
