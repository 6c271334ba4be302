"""Content handling between the protocol parsers and detection, independent of any protocol.

- ``encoding``: Content-Encoding (gzip, x-gzip, deflate, br, zstd, stacked) undone incrementally
  with bounded output and decompression-bomb limits.
- ``multipart``: a streaming multipart parser (form uploads, byte ranges).
- ``forms``: text views of url-encoded forms and JSON for detection.
- ``sniff``: the type of an object from its magic bytes, and whether it is encrypted.

Everything here is Sans-IO or a pure function: bytes in, bytes or events out, no flows, no I/O.
"""
