"""Secret sealing at rest and the key file."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from gateway.auth.crypto import (
    KEY_FILE_NAME,
    SecretBox,
    SecretKeyError,
    load_or_create_key,
    parse_key,
)


def test_seal_open_round_trip_and_no_plaintext() -> None:
    box = SecretBox(bytes(range(32)))
    sealed = box.seal("s3cr3t-value", "AKIAEXAMPLE")
    assert b"s3cr3t-value" not in sealed
    assert box.open(sealed, "AKIAEXAMPLE") == "s3cr3t-value"
    # Random nonce: sealing twice gives different records.
    assert box.seal("s3cr3t-value", "AKIAEXAMPLE") != sealed


def test_record_is_bound_to_its_key_id_and_key() -> None:
    box = SecretBox(bytes(range(32)))
    sealed = box.seal("secret", "AKIAONE")
    with pytest.raises(SecretKeyError):
        box.open(sealed, "AKIATWO")
    with pytest.raises(SecretKeyError):
        SecretBox(bytes(32)).open(sealed, "AKIAONE")
    tampered = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(SecretKeyError):
        box.open(tampered, "AKIAONE")
    with pytest.raises(SecretKeyError):
        box.open(b"\x07garbage", "AKIAONE")


def test_key_must_be_32_bytes() -> None:
    with pytest.raises(SecretKeyError):
        SecretBox(b"short")


def test_parse_key_hex_and_base64() -> None:
    raw = bytes(range(32))
    assert parse_key(raw.hex()) == raw
    import base64

    assert parse_key(base64.b64encode(raw).decode()) == raw
    with pytest.raises(SecretKeyError):
        parse_key("not a key")
    with pytest.raises(SecretKeyError):
        parse_key(base64.b64encode(b"x" * 16).decode())


def test_key_file_created_private_once(tmp_path: Path) -> None:
    key = load_or_create_key(tmp_path / "data")
    path = tmp_path / "data" / KEY_FILE_NAME
    assert len(key) == 32
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert load_or_create_key(tmp_path / "data") == key  # stable across restarts
    assert [p.name for p in (tmp_path / "data").iterdir()] == [KEY_FILE_NAME]


def test_corrupt_key_file_is_an_error(tmp_path: Path) -> None:
    (tmp_path / KEY_FILE_NAME).write_text("nope\n")
    with pytest.raises(SecretKeyError):
        load_or_create_key(tmp_path)
