"""Real SMB 3.1.1 traffic on loopback: Samba's smbd and smbclient, confined to 127.0.0.1.

``SambaServer(root, port)`` writes a private ``smb.conf`` under ``root`` (every state, lock,
cache and password directory inside it; ``interfaces = 127.0.0.1``, ``bind interfaces only``,
NetBIOS disabled, one share ``DATA``), adds a user to a private tdbsam password file and runs
``smbd --foreground`` in its own session so ``stop()`` ends it, and the per-connection children
it forks, by process-group id. ``smbclient(...)`` runs one smbclient command line against it.
smbclient negotiates SMB 3.1.1 and writes a large file in multi-credit WRITEs (a 3 MB file in
one request); ``--client-protection=encrypt`` makes an encrypted (transform-header) session.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

from bench.traffic.smb_loopback import wait_listening

SHARE = "DATA"
USER, PASSWORD = "root", "egress-test-only"  # an entry in the private passdb, nothing else

_CONF = """[global]
  interfaces = 127.0.0.1
  bind interfaces only = yes
  smb ports = {port}
  disable netbios = yes
  server role = standalone server
  passdb backend = tdbsam:{root}/private/passdb.tdb
  private dir = {root}/private
  lock directory = {root}/lock
  state directory = {root}/state
  cache directory = {root}/cache
  pid directory = {root}/pid
  ncalrpc dir = {root}/ncalrpc
  log file = {root}/log.%m
  server min protocol = SMB2_02
  load printers = no
  printing = bsd
  printcap name = /dev/null
  disable spoolss = yes
  registry shares = no
[{share}]
  path = {root}/share
  read only = no
"""


class SambaServer:
    def __init__(self, root: Path, port: int) -> None:
        self.root, self.port = root, port
        self.share = root / "share"
        for sub in ("share", "private", "lock", "state", "cache", "pid", "ncalrpc"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        self.conf = root / "smb.conf"
        self.conf.write_text(_CONF.format(port=port, root=root, share=SHARE))
        subprocess.run(
            ["pdbedit", "-s", str(self.conf), "-a", "-u", USER, "-t"],
            input=f"{PASSWORD}\n{PASSWORD}\n",
            text=True,
            capture_output=True,
            check=True,
            timeout=60,
        )
        self.proc = subprocess.Popen(
            ["smbd", "--foreground", "--no-process-group", "-s", str(self.conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: stop() ends smbd and its children
        )
        if not wait_listening(port):
            self.stop()
            raise RuntimeError(f"smbd did not listen on 127.0.0.1:{port}; see {root}/log.smbd")

    @property
    def _client(self) -> list[str]:
        return [
            "smbclient",
            f"//127.0.0.1/{SHARE}",
            "-p",
            str(self.port),
            "-U",
            f"{USER}%{PASSWORD}",
        ]

    def smbclient(self, commands: str, *options: str, cwd: Path | None = None) -> str:
        result = subprocess.run(
            [*self._client, "-m", "SMB3", *options, "-c", commands],
            capture_output=True,
            text=True,
            cwd=cwd,
            timeout=120,
            check=True,
        )
        return result.stdout

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
