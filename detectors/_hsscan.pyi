"""Type stub of the C match collector (detectors/_hsscan.c)."""

class Offsets:
    """int64 match offsets (a read-only buffer: ``np.frombuffer(memoryview(offsets), np.int64)``)."""

    def __buffer__(self, flags: int, /) -> memoryview: ...

Columns = list[tuple[int, Offsets, Offsets]]  # (expression id, froms, tos), ids ascending

class Database:
    def scan(self, data: bytes) -> Columns: ...
    def serialize(self) -> bytes: ...

def compile(expressions: list[bytes], flags: list[int]) -> Database: ...
def scan_runs(
    database: Database | None,
    data: bytes,
    table: bytes,
    required: bytes,
    shortest: int,
    longest: int,
    anchored: bool,
    openers: bytes,
    linear: list[tuple[int, int, int, int, int, bytes]],
) -> Columns: ...
def load(serialized: bytes) -> Database: ...
def version() -> str: ...
