"""Encryption at rest for access-key secrets.

Secrets must be recoverable (SigV4 needs the plaintext secret to recompute a signature), so they
are encrypted, not hashed: AES-256-GCM with a random 96-bit nonce per record, and the access key
id as associated data so a ciphertext copied onto another key's record fails to decrypt.

The 32-byte key comes from configuration or from ``<data_dir>/secret.key``, created with mode
0600 on first start. Losing that file makes every stored secret unreadable (users must be given
new keys); it is deliberately kept apart from the metadata store so that a copy of the store
alone does not reveal secrets.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32
NONCE_BYTES = 12
#: First byte of every sealed record: the format, so that a later scheme can coexist.
FORMAT_V1 = b"\x01"
KEY_FILE_NAME = "secret.key"


class SecretKeyError(Exception):
    """The encryption key is malformed, or a record does not decrypt under it."""


class SecretBox:
    """Seal and open secrets with one AES-256-GCM key.

    Thread-safe: AESGCM objects hold no mutable state between calls.
    """

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise SecretKeyError(f"the secret key must be {KEY_BYTES} bytes, got {len(key)}")
        self._aead = AESGCM(key)

    def seal(self, plaintext: str, context: str) -> bytes:
        """Encrypt ``plaintext``, binding it to ``context`` (the access key id)."""
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, plaintext.encode(), context.encode())
        return FORMAT_V1 + nonce + sealed

    def open(self, record: bytes, context: str) -> str:
        """Decrypt a record made by ``seal`` with the same ``context``.

        Raises:
            SecretKeyError: wrong key, wrong context, or tampered record.
        """
        if record[:1] != FORMAT_V1 or len(record) < 1 + NONCE_BYTES + 16:
            raise SecretKeyError("unknown secret record format")
        nonce = record[1 : 1 + NONCE_BYTES]
        try:
            plain = self._aead.decrypt(nonce, record[1 + NONCE_BYTES :], context.encode())
        except InvalidTag as exc:
            raise SecretKeyError("secret record does not decrypt with this key") from exc
        return plain.decode()


def parse_key(text: str) -> bytes:
    """A key given in configuration: 64 hex digits or base64 of 32 bytes."""
    text = text.strip()
    try:
        raw = (
            bytes.fromhex(text)
            if len(text) == 2 * KEY_BYTES
            else base64.b64decode(text, validate=True)
        )
    except (ValueError, binascii.Error) as exc:
        raise SecretKeyError("secret key must be 64 hex digits or base64 of 32 bytes") from exc
    if len(raw) != KEY_BYTES:
        raise SecretKeyError(f"the secret key must be {KEY_BYTES} bytes, got {len(raw)}")
    return raw


def load_or_create_key(data_dir: str | os.PathLike[str]) -> bytes:
    """Read ``<data_dir>/secret.key``, creating it (mode 0600, hex) if it does not exist.

    Creation is atomic and race-free: the key is written to a private temporary file and linked
    into place with ``os.link``, which fails if another process won the race; the loser then
    reads the winner's key. The file never exists partially written.

    Raises:
        SecretKeyError: the existing file does not hold a valid key.
    """
    directory = Path(data_dir)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / KEY_FILE_NAME
    if not path.exists():
        tmp = directory / f".{KEY_FILE_NAME}.{secrets.token_hex(8)}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_bytes(KEY_BYTES).hex() + "\n")
                fh.flush()
                os.fsync(fh.fileno())
            # Another process may have created it first: then use theirs.
            with contextlib.suppress(FileExistsError):
                os.link(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
    return parse_key(path.read_text())
