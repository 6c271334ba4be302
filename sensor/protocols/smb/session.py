"""One SMB connection's state, Sans-IO: bytes and gaps in, file events out.

``SmbSession.feed(side, data)`` frames each direction (``framing.NbssFramer``: NetBIOS messages,
holes from gaps, resynchronisation), splits SMB2 compounds on NextCommand and walks SMB1 AndX
chains, and keeps what later messages need: the request waiting for each message id, the share
behind each tree id and the name behind each file id. It returns ``FileOpened``, ``FileData``
(bytes a WRITE request or READ response carried, with their file offset), ``FileGap`` (bytes of
one that were never captured), ``FileClosed`` and ``SmbAnomaly`` events;
``sensor.protocols.smb.files`` rebuilds files from them.

Encrypted sessions (SMB3 transform header) are marked ``encrypted`` and their messages only
counted. Anomaly names are listed in docs/protocols-smb.md.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from sensor.protocols.http.events import Side
from sensor.protocols.smb import records as r
from sensor.protocols.smb.framing import FramerOutput, NbssFramer

# Requests waiting for a response: clients keep a few hundred credits outstanding at most.
MAX_PENDING = 2048
# Open files and tree connects per connection: beyond these the oldest is forgotten.
MAX_OPEN_FILES = 4096
MAX_TREES = 1024
# A hole in a PDU's header or fixed-size body hides what it needs (SMB2 fixed bodies <= 88 bytes).
HEADER_ZONE = r.SMB2_HEADER + 88
MAX_COMPOUND = 128  # PDUs in one message; NextCommand >= 64 already bounds it by size
# Responses seen before their request (the client's stream was held back behind a hole, or the
# capture reordered the directions) wait this long for it; past either bound the oldest is
# dropped and counted as ``smb.response_without_request``.
MAX_PARKED_RESPONSES = 256
MAX_PARKED_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class FileData:
    side: Side  # CLIENT: a WRITE (upload); SERVER: a READ response (download)
    key: bytes
    name: str
    offset: int
    data: bytes | memoryview  # a view into the (immutable) message bytes: no copy per piece


@dataclass(frozen=True, slots=True)
class FileGap:
    """Bytes of a WRITE or READ that were never captured (a gap inside the message)."""

    side: Side
    key: bytes
    name: str
    offset: int
    length: int


@dataclass(frozen=True, slots=True)
class FileOpened:
    key: bytes
    name: str  # share path and file name, ``\\\\server\\share\\dir\\file``
    size: int | None  # end of file when opened; None for directories
    alias: bytes = b""  # key its data used before the CREATE response named it (compounds)


@dataclass(frozen=True, slots=True)
class FileClosed:
    key: bytes
    name: str
    size: int | None  # end of file as the server reported it when the file was opened


@dataclass(frozen=True, slots=True)
class SmbAnomaly:
    name: str
    detail: str = ""


SmbEvent = FileData | FileGap | FileOpened | FileClosed | SmbAnomaly


@dataclass(slots=True)
class _Open:
    key: bytes
    name: str
    size: int | None
    pipe: bool


@dataclass(slots=True)
class _Pending:
    command: int
    tree_id: int = 0
    name: str = ""
    key: bytes = b""
    offset: int = 0
    length: int = 0


def _overlaps(holes: list[tuple[int, int]], start: int, end: int) -> bool:
    return any(a < end and start < b for a, b in holes)


def _present(holes: list[tuple[int, int]], start: int, end: int) -> list[tuple[int, int]]:
    """The pieces of ``[start, end)`` not covered by a hole."""
    pieces, cursor = [], start
    for a, b in sorted(holes):
        if b <= cursor or a >= end:
            continue
        if a > cursor:
            pieces.append((cursor, a))
        cursor = max(cursor, b)
    if cursor < end:
        pieces.append((cursor, end))
    return pieces


class SmbSession:
    """SMB state of one TCP connection; see the module docstring."""

    def __init__(self) -> None:
        self._framers = {Side.CLIENT: NbssFramer(), Side.SERVER: NbssFramer()}
        self._pending: OrderedDict[tuple[int, ...], list[_Pending]] = OrderedDict()
        self._trees: OrderedDict[int, tuple[str, bool]] = OrderedDict()
        self._files: OrderedDict[bytes, _Open] = OrderedDict()
        self._events: list[SmbEvent] = []
        self._parked: OrderedDict[int, tuple[r.Smb2Header, memoryview, list[tuple[int, int]]]]
        self._parked = OrderedDict()
        self._parked_bytes = 0
        self.dialect = ""
        self.user = ""  # NTLMSSP user name, kept for the session only, never written out
        self.domain = ""
        self.encrypted = False
        self.encrypted_messages = 0
        self.messages = 0
        self.shares: list[str] = []

    # -- public Sans-IO interface --------------------------------------------------------------

    def feed(self, side: Side, data: bytes) -> list[SmbEvent]:
        self._frames(side, self._framers[side].feed(data))
        return self._take()

    def gap(self, side: Side, length: int) -> list[SmbEvent]:
        self._frames(side, self._framers[side].gap(length))
        return self._take()

    def close(self) -> list[SmbEvent]:
        """The connection ended: every file still open is closed."""
        for side, framer in self._framers.items():
            self._frames(side, framer.finish())
        for header, _, _ in self._parked.values():
            self._anomaly("smb.response_without_request", str(header.command))
        self._parked.clear()
        for key, info in list(self._files.items()):
            self._events.append(FileClosed(key, info.name, info.size))
        self._files.clear()
        return self._take()

    # -- messages ------------------------------------------------------------------------------

    def _take(self) -> list[SmbEvent]:
        events, self._events = self._events, []
        return events

    def _anomaly(self, name: str, detail: str = "") -> None:
        self._events.append(SmbAnomaly(name, detail))

    def _frames(self, side: Side, output: FramerOutput) -> None:
        for item in output:
            if isinstance(item, str):
                self._anomaly(item, side.name.lower())
            else:
                self._message(side, item.payload, item.holes)

    def _message(self, side: Side, msg: memoryview, holes: list[tuple[int, int]]) -> None:
        self.messages += 1
        if _overlaps(holes, 0, min(len(msg), 4)):
            self._anomaly("smb.header_in_gap")
            return
        magic = bytes(msg[:4])
        if magic == r.SMB2_MAGIC:
            self._smb2(side, msg, holes)
        elif magic == r.SMB1_MAGIC:
            self._smb1(side, msg, holes)
        elif magic == r.TRANSFORM_MAGIC:
            self.encrypted_messages += 1
            if not self.encrypted:
                self.encrypted = True
                self._anomaly("smb.encrypted_session")
        elif magic == r.COMPRESSED_MAGIC:
            self._anomaly("smb.compressed_message_unsupported")
        else:
            self._anomaly("smb.not_smb", magic.hex())

    # -- SMB2 ----------------------------------------------------------------------------------

    def _smb2(self, side: Side, msg: memoryview, holes: list[tuple[int, int]]) -> None:
        pos = 0
        create_mid: int | None = None  # the CREATE a related compound refers to
        for _ in range(MAX_COMPOUND):
            header = r.smb2_header(msg[pos:])
            if header is None:
                self._anomaly("smb.bad_smb2_header")
                return
            end = len(msg)
            if header.next_command:
                if header.next_command < r.SMB2_HEADER or pos + header.next_command > len(msg):
                    self._anomaly("smb.bad_next_command", str(header.next_command))
                else:
                    end = pos + header.next_command
            pdu = msg[pos:end]
            pdu_holes = [(a - pos, b - pos) for a, b in holes if a < end and b > pos]
            zone = r.SMB2_HEADER + 2
            if not _overlaps(pdu_holes, 0, zone):  # header and fixed body must be there
                zone += max(0, (r.smb2_body_size(pdu) & 0xFFFE) - 2)
            if _overlaps(pdu_holes, 0, min(len(pdu), zone, HEADER_ZONE)):
                self._anomaly("smb.header_in_gap", str(header.command))
            elif header.command > r.MAX_SMB2_COMMAND:
                self._anomaly("smb.unknown_command", str(header.command))
            elif header.response:
                self._smb2_response(header, pdu, pdu_holes)
            else:
                if header.command == r.CREATE:
                    create_mid = header.message_id
                self._smb2_request(header, pdu, pdu_holes, create_mid)
            if end == len(msg):
                return
            pos = end
        self._anomaly("smb.too_many_compounded")

    def _remember(self, key: tuple[int, ...], pending: _Pending) -> None:
        self._pending.setdefault(key, []).append(pending)
        if len(self._pending) > MAX_PENDING:
            self._pending.popitem(last=False)
            self._anomaly("smb.too_many_pending")
        if len(key) == 1 and key[0] in self._parked:  # its response came first
            header, pdu, holes = self._parked.pop(key[0])
            self._parked_bytes -= len(pdu)
            self._smb2_response(header, pdu, holes)

    def _park(self, header: r.Smb2Header, pdu: memoryview, holes: list[tuple[int, int]]) -> None:
        self._parked[header.message_id] = (header, pdu, holes)
        self._parked_bytes += len(pdu)
        while self._parked and (
            len(self._parked) > MAX_PARKED_RESPONSES or self._parked_bytes > MAX_PARKED_BYTES
        ):
            old, old_pdu, _ = self._parked.popitem(last=False)[1]
            self._parked_bytes -= len(old_pdu)
            self._anomaly("smb.response_without_request", str(old.command))

    def _file_key(self, header: r.Smb2Header, file_id: bytes, create_mid: int | None) -> bytes:
        if file_id == r.RELATED_FILE_ID and header.related and create_mid is not None:
            return b"create:%d" % create_mid  # rekeyed when the CREATE response names the file
        return file_id

    def _smb2_request(
        self,
        header: r.Smb2Header,
        pdu: memoryview,
        holes: list[tuple[int, int]],
        create_mid: int | None,
    ) -> None:
        command, mid = header.command, header.message_id
        if command == r.SESSION_SETUP:
            blob = r.session_setup_blob(pdu)
            found = r.ntlmssp_user(blob) if blob is not None else None
            if found is not None:
                self.domain, self.user = found
        elif command == r.TREE_CONNECT:
            path = r.tree_connect_path(pdu)
            if path is None:
                self._anomaly("smb.bad_tree_connect")
            else:
                self._remember((mid,), _Pending(command, name=path))
        elif command == r.CREATE:
            create = r.create_request(pdu)
            if create is None:
                self._anomaly("smb.bad_create")
            else:
                self._remember((mid,), _Pending(command, header.tree_id, create.name))
        elif command == r.WRITE:
            write = r.write_request(pdu)
            if write is None:
                self._anomaly("smb.bad_write")
                return
            self._credit_check(header, write.length)
            key = self._file_key(header, write.file_id, create_mid)
            self._data(Side.CLIENT, key, write.offset, pdu, write.data_offset, write.length, holes)
        elif command == r.READ:
            read = r.read_request(pdu)
            if read is None:
                self._anomaly("smb.bad_read")
                return
            self._credit_check(header, read.length)
            key = self._file_key(header, read.file_id, create_mid)
            self._remember(
                (mid,), _Pending(command, key=key, offset=read.offset, length=read.length)
            )
        elif command == r.CLOSE:
            file_id = r.close_file_id(pdu)
            if file_id is not None:
                key = self._file_key(header, file_id, create_mid)
                self._remember((mid,), _Pending(command, key=key))

    def _credit_check(self, header: r.Smb2Header, length: int) -> None:
        """Multi-credit: a payload over 64 KiB needs one credit per 64 KiB ([MS-SMB2] 3.1.5.2)."""
        if header.credit_charge and (length + 65535) // 65536 > header.credit_charge:
            self._anomaly("smb.credit_charge_too_small", f"{length} bytes, {header.credit_charge}")

    def _smb2_response(
        self, header: r.Smb2Header, pdu: memoryview, holes: list[tuple[int, int]]
    ) -> None:
        if header.status == r.STATUS_PENDING:
            return  # interim reply; the final one follows with the same message id
        requests = self._pending.pop((header.message_id,), [])
        command = header.command
        if command == r.NEGOTIATE:
            dialect = r.negotiate_dialect(pdu)
            if dialect is not None:
                self.dialect = r.DIALECTS.get(dialect, f"0x{dialect:04x}")
            return
        if not requests:
            if command in (r.TREE_CONNECT, r.CREATE, r.READ, r.CLOSE):
                self._park(header, pdu, holes)
            return
        request = requests[0]
        if request.command != command:
            self._anomaly("smb.response_command_mismatch", f"{request.command}/{command}")
            return
        if header.status != 0:
            if command == r.CLOSE:
                self._close(request.key)  # the handle is gone either way
            return
        if command == r.TREE_CONNECT:
            share_type = r.tree_connect_share_type(pdu)
            pipe = share_type == 2 or request.name.upper().endswith("\\IPC$")
            self._tree(header.tree_id, request.name, pipe)
        elif command == r.CREATE:
            created = r.create_response(pdu)
            if created is None:
                self._anomaly("smb.bad_create_response")
                return
            self._opened(
                created.file_id,
                request.tree_id or header.tree_id,
                request.name,
                None if created.directory else created.end_of_file,
                alias=b"create:%d" % header.message_id,
            )
        elif command == r.READ:
            found = r.read_response(pdu)
            if found is None:
                self._anomaly("smb.bad_read_response")
                return
            data_offset, length = found
            if length > request.length and request.length:
                self._anomaly("smb.read_longer_than_requested", f"{length} > {request.length}")
            self._data(Side.SERVER, request.key, request.offset, pdu, data_offset, length, holes)
        elif command == r.CLOSE:
            self._close(request.key)

    # -- shared bookkeeping --------------------------------------------------------------------

    def _tree(self, tree_id: int, path: str, pipe: bool) -> None:
        self._trees[tree_id] = (path, pipe)
        if path not in self.shares and len(self.shares) < MAX_TREES:
            self.shares.append(path)
        if len(self._trees) > MAX_TREES:
            self._trees.popitem(last=False)
            self._anomaly("smb.too_many_trees")

    def _opened(
        self, key: bytes, tree_id: int, name: str, size: int | None, alias: bytes = b""
    ) -> None:
        share, pipe = self._trees.get(tree_id, ("", False))
        full = f"{share}\\{name.lstrip(chr(92))}" if share else name
        self._files[key] = _Open(key, full, size, pipe)
        if not pipe:
            self._events.append(FileOpened(key, full, size, alias))
        if alias:
            self._files[alias] = self._files[key]  # related compound writes before the response
        while len(self._files) > MAX_OPEN_FILES:
            old, info = self._files.popitem(last=False)
            self._events.append(FileClosed(old, info.name, info.size))
            self._anomaly("smb.too_many_open_files")

    def _close(self, key: bytes) -> None:
        info = self._files.pop(key, None)
        for alias in [k for k, v in self._files.items() if v is info]:
            del self._files[alias]
        if info is not None:
            self._events.append(FileClosed(info.key, info.name, info.size))
        else:
            self._events.append(FileClosed(key, "", None))

    def _data(
        self,
        side: Side,
        key: bytes,
        offset: int,
        pdu: memoryview,
        data_offset: int,
        length: int,
        holes: list[tuple[int, int]],
    ) -> None:
        """File bytes at ``pdu[data_offset:+length]``; pieces lost in holes are left out."""
        if length == 0:
            return
        if not r.within(len(pdu), data_offset, length):
            self._anomaly("smb.data_outside_message", f"{data_offset}+{length} > {len(pdu)}")
            if not 0 < data_offset < len(pdu):
                return
            length = len(pdu) - data_offset  # keep what the message does carry
        info = self._files.get(key)
        if info is not None and info.pipe:
            return  # named pipe traffic (DCE/RPC), not a file
        name = info.name if info is not None else ""
        key = info.key if info is not None else key
        end, cursor = data_offset + length, data_offset
        for a, b in _present(holes, data_offset, end):
            if a > cursor:
                self._events.append(
                    FileGap(side, key, name, offset + cursor - data_offset, a - cursor)
                )
            self._events.append(FileData(side, key, name, offset + a - data_offset, pdu[a:b]))
            cursor = b
        if cursor < end:
            self._events.append(
                FileGap(side, key, name, offset + cursor - data_offset, end - cursor)
            )

    # -- SMB1 ----------------------------------------------------------------------------------

    def _smb1(self, side: Side, msg: memoryview, holes: list[tuple[int, int]]) -> None:
        header = r.smb1_header(msg)
        if header is None:
            self._anomaly("smb.bad_smb1_header")
            return
        if _overlaps(holes, 0, min(len(msg), r.SMB1_HEADER + 64)):
            self._anomaly("smb.header_in_gap", f"smb1 {header.command:#x}")
            return
        if not self.dialect:
            self.dialect = "NT LM 0.12"
        key_of = (header.process_id, header.multiplex_id, header.user_id)
        blocks = r.smb1_blocks(msg, header)
        if header.reply:
            pending = self._pending.pop(key_of, [])
            for block in blocks:
                request = next((p for p in pending if p.command == block.command), None)
                if request is not None:
                    pending.remove(request)
                self._smb1_reply(header, msg, block, request, holes)
            return
        for block in blocks:
            self._smb1_request(header, msg, block, key_of, holes)

    def _smb1_request(
        self,
        header: r.Smb1Header,
        msg: memoryview,
        block: r.Smb1Block,
        key_of: tuple[int, ...],
        holes: list[tuple[int, int]],
    ) -> None:
        command = block.command
        if command == r.SMB1_TREE_CONNECT_ANDX:
            path = r.smb1_tree_connect_path(msg, block, header.unicode)
            if path is not None:
                self._remember(key_of, _Pending(command, name=path))
        elif command == r.SMB1_NT_CREATE_ANDX:
            name = r.smb1_create_name(msg, block, header.unicode)
            if name is None:
                self._anomaly("smb.bad_create")
            else:
                self._remember(key_of, _Pending(command, header.tree_id, name))
        elif command == r.SMB1_WRITE_ANDX:
            write = r.smb1_write(block)
            if write is None:
                self._anomaly("smb.bad_write")
                return
            key = b"1:" + write.file_id
            self._data(Side.CLIENT, key, write.offset, msg, write.data_offset, write.length, holes)
        elif command == r.SMB1_READ_ANDX:
            read = r.smb1_read_request(block)
            if read is None:
                self._anomaly("smb.bad_read")
                return
            self._remember(key_of, _Pending(command, key=b"1:" + read.file_id, offset=read.offset))
        elif command == r.SMB1_CLOSE:
            fid = r.smb1_close_fid(block)
            if fid is not None:
                self._remember(key_of, _Pending(command, key=b"1:" + fid))

    def _smb1_reply(
        self,
        header: r.Smb1Header,
        msg: memoryview,
        block: r.Smb1Block,
        request: _Pending | None,
        holes: list[tuple[int, int]],
    ) -> None:
        if request is None:
            if block.command == r.SMB1_READ_ANDX and header.status == 0:
                self._anomaly("smb.response_without_request", "read_andx")
            return
        if header.status != 0:
            if block.command == r.SMB1_CLOSE:
                self._close(request.key)
            return
        command = block.command
        if command == r.SMB1_TREE_CONNECT_ANDX:
            self._tree(header.tree_id, request.name, request.name.upper().endswith("\\IPC$"))
        elif command == r.SMB1_NT_CREATE_ANDX:
            fid = r.smb1_create_fid(block)
            if fid is None:
                self._anomaly("smb.bad_create_response")
                return
            self._opened(b"1:" + fid.to_bytes(2, "little"), request.tree_id, request.name, None)
        elif command == r.SMB1_READ_ANDX:
            found = r.smb1_read_response(block)
            if found is None:
                self._anomaly("smb.bad_read_response")
                return
            data_offset, length = found
            self._data(Side.SERVER, request.key, request.offset, msg, data_offset, length, holes)
        elif command == r.SMB1_CLOSE:
            self._close(request.key)
