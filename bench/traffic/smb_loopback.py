"""Real SMB traffic on loopback: impacket's SMB server and client moving synthetic personal data.

``serve`` runs impacket's ``SimpleSMBServer`` (SMB2 support on, anonymous-friendly NTLM) on
127.0.0.1 and an unprivileged port, sharing one directory as ``DATA``; it is meant to run in its
own process (``python -m bench.traffic.smb_loopback serve DIR PORT``) so the caller can stop it by
PID. ``run_client`` logs in as a made-up user and, over one connection:

- writes each file in ``uploads`` in 60,000-byte pieces; ``SHUFFLED`` is first written in order
  with placeholder bytes, then again with its real bytes in a shuffled (seeded) order, so offsets
  arrive out of order and overlap earlier writes (impacket's server ignores a write that starts
  past the end of the file, as Vista did, so a file cannot simply be written back to front);
- reads each file back in 60,000-byte pieces;

with SMB 2.0.2 or, with ``smb1=True``, NT LM 0.12 (SMB1 NT_CREATE_ANDX / WRITE_ANDX / READ_ANDX).
``people_files`` builds the CSV/JSON files from ``bench.traffic.people``. Nothing here captures:
the tests run tcpdump around it. Loopback only.
"""

from __future__ import annotations

import json
import random
import socket
import sys
import time

from bench.traffic.people import SyntheticPeople

SHARE = "DATA"
PIECE = 60_000  # under impacket's 64 KiB maximum read/write size
SHUFFLED = "export.json"


def people_files(seed: int = 7, rows: int = 4000) -> dict[str, bytes]:
    """A few hundred KB of CSV and JSON about synthetic people (Chinese names, resident IDs)."""
    gen = SyntheticPeople(seed)
    people = gen.people(rows)
    csv = "name,resident_id,mobile,email\n" + "".join(
        f"{p.name},{p.resident_id},{p.mobile},{p.email}\n" for p in people
    )
    records = [{"name": p.name, "id_number": p.resident_id, "mobile": p.mobile} for p in people]
    return {
        "staff.csv": csv.encode(),
        "export.json": json.dumps(records, ensure_ascii=False).encode(),
        "small.txt": "张三 110105194912310021 13800138000\n".encode(),
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_listening(port: int, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            time.sleep(0.1)
    return False


def serve(directory: str, port: int) -> None:
    from impacket import smbserver  # type: ignore[import-untyped]

    server = smbserver.SimpleSMBServer(listenAddress="127.0.0.1", listenPort=port)
    server.addShare(SHARE, directory, "egress test share")
    server.setSMB2Support(True)
    server.setSMBChallenge("")
    server.setLogFile("/dev/null")
    server.start()


def run_client(port: int, uploads: dict[str, bytes], smb1: bool = False) -> dict[str, bytes]:
    """Write every file (pieces shuffled), read each back; returns what was read."""
    from impacket.smb import SMB_DIALECT  # type: ignore[import-untyped]
    from impacket.smbconnection import SMBConnection  # type: ignore[import-untyped]

    rng = random.Random(11)
    conn = SMBConnection(
        "*SMBSERVER", "127.0.0.1", sess_port=port, preferredDialect=SMB_DIALECT if smb1 else None
    )
    conn.login("zhang.san", "not-a-real-password", "EXAMPLE")
    tree = conn.connectTree(SHARE)
    back: dict[str, bytes] = {}
    for name, data in uploads.items():
        pieces = [(start, min(len(data), start + PIECE)) for start in range(0, len(data), PIECE)]
        fid = conn.createFile(tree, name)
        if name == SHUFFLED:
            for start, end in pieces:
                conn.writeFile(tree, fid, b"#" * (end - start), start)
            rng.shuffle(pieces)
        for start, end in pieces:
            conn.writeFile(tree, fid, data[start:end], start)
        conn.closeFile(tree, fid)
    for name, data in uploads.items():
        fid = conn.openFile(tree, name)
        got = bytearray()
        for start in range(0, len(data), PIECE):
            got += conn.readFile(tree, fid, start, min(PIECE, len(data) - start))
        conn.closeFile(tree, fid)
        back[name] = bytes(got)
    conn.disconnectTree(tree)
    conn.logoff()
    conn.close()
    return back


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "serve":
        serve(sys.argv[2], int(sys.argv[3]))
    else:
        sys.exit("usage: python -m bench.traffic.smb_loopback serve DIRECTORY PORT")
