"""SMB (1, 2 and 3) over TCP, Sans-IO, split the way Suricata splits its SMB parser:

- ``records``: pure decoders over ``memoryview`` slices (NetBIOS framing, SMB2/3 header and the
  NEGOTIATE, SESSION_SETUP, TREE_CONNECT, CREATE, READ, WRITE and CLOSE bodies, the SMB3
  transform header, SMB1 NT_CREATE_ANDX, WRITE_ANDX, READ_ANDX and CLOSE);
- ``framing``: NetBIOS session framing of one direction, gaps as holes, resynchronisation;
- ``session``: one connection's state (message id -> request, tree id -> share, file id ->
  name), compounds and AndX chains; emits file events and anomalies;
- ``files``: file content rebuilt by offset, bounded, into one ``TransferObject`` per file and
  direction;
- ``transfers``: the glue the application-layer dispatcher talks to.

See docs/protocols-smb.md for what is parsed, the limits and the anomaly names.
"""

from sensor.protocols.smb.files import SmbFiles, SmbLimits
from sensor.protocols.smb.records import looks_like_smb
from sensor.protocols.smb.session import SmbSession
from sensor.protocols.smb.transfers import SmbTransfers

__all__ = ["SmbFiles", "SmbLimits", "SmbSession", "SmbTransfers", "looks_like_smb"]
