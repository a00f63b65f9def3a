"""Users, access keys and grants: the Authenticator and Authorizer both APIs share.

``UserStore`` keeps users in the metadata KV store with secrets sealed by ``SecretBox``
(AES-GCM); ``load_or_create_key`` provides the key from ``<data_dir>/secret.key``.
"""

from gateway.auth.crypto import SecretBox, SecretKeyError, load_or_create_key, parse_key
from gateway.auth.grants import Grant, allows, parse_action, ref_base_name
from gateway.auth.users import (
    AccessKey,
    AccessKeyNotFound,
    GrantNotFound,
    NewCredentials,
    User,
    UserStore,
    generate_credentials,
)

__all__ = [
    "AccessKey",
    "AccessKeyNotFound",
    "Grant",
    "GrantNotFound",
    "NewCredentials",
    "SecretBox",
    "SecretKeyError",
    "User",
    "UserStore",
    "allows",
    "generate_credentials",
    "load_or_create_key",
    "parse_action",
    "parse_key",
    "ref_base_name",
]
