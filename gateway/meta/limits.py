"""Key limits shared by every metadata store, so that all backends accept the same keys."""

from __future__ import annotations

from gateway.core.errors import InvalidArgument

#: The longest key any store accepts. The engine's longest key is a path-log key (table prefix,
#: repository name, a 1024-byte object path, a commit id: about 1.2 KB); 4 KiB leaves headroom.
#: LMDB itself compares at most 511 bytes; ``LmdbKVStore`` stores longer keys transparently.
MAX_KEY_BYTES = 4096


def check_key(key: bytes) -> None:
    """Reject keys no store may hold: empty, longer than ``MAX_KEY_BYTES``, or not ``bytes``.

    Raises:
        InvalidArgument: the key is unacceptable.
    """
    if type(key) is not bytes:
        raise InvalidArgument(f"metadata keys are bytes, not {type(key).__name__}")
    if not key:
        raise InvalidArgument("empty metadata key")
    if len(key) > MAX_KEY_BYTES:
        raise InvalidArgument(f"metadata key is {len(key)} bytes; the limit is {MAX_KEY_BYTES}")


def check_value(value: bytes) -> None:
    """Reject values that are not ``bytes``.

    Raises:
        InvalidArgument: the value is not ``bytes``.
    """
    if type(value) is not bytes:
        raise InvalidArgument(f"metadata values are bytes, not {type(value).__name__}")


def check_bound(bound: bytes) -> None:
    """Reject scan bounds that are not ``bytes`` (any length is fine, including empty).

    Raises:
        InvalidArgument: the bound is not ``bytes``.
    """
    if type(bound) is not bytes:
        raise InvalidArgument(f"scan bounds are bytes, not {type(bound).__name__}")


#: The longest cache-invalidation topic name (UTF-8 bytes) any store accepts.
MAX_TOPIC_BYTES = 200


def check_topic(topic: str) -> bytes:
    """Validate a cache-invalidation topic (``KVWriter.touch``, ``KVStore.generation``) and
    return its UTF-8 bytes.

    Raises:
        InvalidArgument: the topic is not a non-empty ``str`` of at most ``MAX_TOPIC_BYTES``.
    """
    if type(topic) is not str:
        raise InvalidArgument(f"topics are str, not {type(topic).__name__}")
    raw = topic.encode()
    if not raw or len(raw) > MAX_TOPIC_BYTES:
        raise InvalidArgument(f"a topic is 1-{MAX_TOPIC_BYTES} bytes of UTF-8")
    return raw
