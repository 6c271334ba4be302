"""Address -> name cache: which name a destination address was reached by.

Fed by DNS answers (A/AAAA, and the CNAME chain that led to them), TLS server names, HTTP Host
headers and mail recipient domains; read when an alert or object record wants to name its
destination. Bounded (least recently written entries dropped past ``max_entries``). A name from a
stronger source is not replaced by a weaker one (DNS > TLS, HTTP > SMTP: a mail server is named
by a recipient domain only when nothing better is known); otherwise the last name seen wins.
"""

from __future__ import annotations

import ipaddress
from collections import OrderedDict
from dataclasses import dataclass

MAX_NAMES = 100_000  # addresses remembered; a busy sensor sees far fewer distinct destinations
_PRIORITY = {"dns": 2, "tls": 1, "http": 1, "smtp": 0}


@dataclass(frozen=True, slots=True)
class NameEntry:
    name: str
    source: str  # "dns", "tls", "http"


class NameCache:
    def __init__(self, max_entries: int = MAX_NAMES) -> None:
        self._max = max_entries
        self._names: OrderedDict[str, NameEntry] = OrderedDict()

    def __len__(self) -> int:
        return len(self._names)

    def observe(self, address: str, name: str, source: str) -> None:
        """``address`` was reached as ``name``; an IP literal as name is ignored."""
        name = name.strip().rstrip(".").lower()
        if not name or is_address(name):
            return
        old = self._names.get(address)
        if old is not None and _PRIORITY.get(old.source, 0) > _PRIORITY.get(source, 0):
            return
        self._names[address] = NameEntry(name, source)
        self._names.move_to_end(address)
        while len(self._names) > self._max:
            self._names.popitem(last=False)

    def lookup(self, address: str) -> NameEntry | None:
        return self._names.get(address)


def is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
