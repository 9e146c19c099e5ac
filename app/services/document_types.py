"""A document's media type, recognised from its first bytes, never from what the client
says (issue 19).

``filetype`` reads magic numbers (PDF, JPEG, PNG, TIFF, and the ZIP containers of XLSX and
ODS). Two allowed types have no magic number, and are recognised here explicitly:

- **P7M** (CAdES, a CMS ``SignedData``): DER starts with a SEQUENCE (0x30) whose first
  element is the OID 1.2.840.113549.1.7.2 (signedData); a P7M saved in base64 (as some
  signing tools do) is decoded first and checked the same way.
- **CSV** has no signature at all: a file is taken as CSV only when its name ends in
  ``.csv``, ``filetype`` recognises nothing, and its head is text (valid UTF-8, no NUL or
  other control characters than tab, CR and LF). A binary file renamed ``.csv`` is refused.
"""

from __future__ import annotations

import base64
import binascii
import re

import filetype

HEAD_BYTES = 8192  # filetype reads at most this much

PDF = "application/pdf"
P7M = "application/pkcs7-mime"
CSV = "text/csv"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ODS = "application/vnd.oasis.opendocument.spreadsheet"

# The file name extensions each recognised type may carry.
EXTENSIONS: dict[str, tuple[str, ...]] = {
    PDF: (".pdf",),
    P7M: (".p7m",),
    "image/jpeg": (".jpg", ".jpeg"),
    "image/png": (".png",),
    "image/tiff": (".tif", ".tiff"),
    XLSX: (".xlsx",),
    ODS: (".ods",),
    CSV: (".csv",),
}

# DER of OBJECT IDENTIFIER 1.2.840.113549.1.7.2 (pkcs7-signedData).
_SIGNED_DATA_OID = bytes.fromhex("06092a864886f70d010702")
_BASE64_HEAD = re.compile(rb"^[A-Za-z0-9+/=]+$")
_TEXT_CONTROLS = set(range(0x20)) - {0x09, 0x0A, 0x0D}


def extension_of(file_name: str) -> str:
    """The last extension, lower case (``atto.pdf.p7m`` is a ``.p7m``); '' when none."""
    base = file_name.rsplit("/", 1)[-1].rsplit("\\", 1)[-1]
    if "." not in base.strip("."):
        return ""
    return "." + base.rsplit(".", 1)[1].lower()


def _is_signed_data(der: bytes) -> bool:
    # SEQUENCE, a length (short, long or indefinite), then the contentType OID.
    return len(der) > 16 and der[0] == 0x30 and _SIGNED_DATA_OID in der[:16]


def _is_p7m(head: bytes) -> bool:
    if _is_signed_data(head):
        return True
    start = head.lstrip()[:512]
    if start.startswith(b"-----BEGIN"):
        start = start.partition(b"\n")[2]
    compact = b"".join(start.split())
    compact = compact[: len(compact) - len(compact) % 4]
    if not compact or not _BASE64_HEAD.match(compact):
        return False
    try:
        return _is_signed_data(base64.b64decode(compact))
    except (binascii.Error, ValueError):
        return False


def _is_text(head: bytes) -> bool:
    if not head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as error:
        # The head may cut a multi-byte character at its end; anything else is not text.
        if error.start < len(head) - 3:
            return False
    return not any(byte in _TEXT_CONTROLS for byte in head)


def detect(head: bytes, file_name: str) -> str | None:
    """The media type of a file from its first bytes (and, for CSV only, its name), or
    None when it is none of the recognised types."""
    if _is_p7m(head):
        return P7M
    kind = filetype.guess(head)
    if kind is not None:
        return str(kind.mime)
    if extension_of(file_name) == ".csv" and _is_text(head):
        return CSV
    return None
