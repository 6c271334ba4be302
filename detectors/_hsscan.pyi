"""Type stub of the C match collector (detectors/_hsscan.c)."""

class Database:
    def scan(self, data: bytes) -> bytes: ...
    def scan_runs(
        self,
        data: bytes,
        table: bytes,
        required: bytes,
        shortest: int,
        longest: int,
        anchored: bool,
        base: int,
        openers: bytes,
    ) -> bytes: ...
    def serialize(self) -> bytes: ...

def compile(expressions: list[bytes], flags: list[int]) -> Database: ...
def load(serialized: bytes) -> Database: ...
def version() -> str: ...
