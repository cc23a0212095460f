"""Encryption at rest for the OAuth tokens in the database (Fernet: AES-128-CBC + HMAC).

With ``[database] token_key`` set (best from a file or a systemd credential), the access
and refresh tokens are stored sealed, so a copy of the database alone does not hand out
API access. Without a key they are stored as they are and protected by the file mode
(0600) or the PostgreSQL grants only. A sealed value starts with ``fernet:``, so a key
can be introduced later: plain values are still read, and sealed on the next rotation.
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken

from syncd.errors import ConfigError

_PREFIX = "fernet:"
_SALT = b"syncd oauth token sealing v1"


class TokenSealer:
    def __init__(self, key: str | None) -> None:
        # any passphrase: its SHA-256 is the 32-byte Fernet key
        self._fernet = (
            Fernet(base64.urlsafe_b64encode(hashlib.sha256(key.encode()).digest())) if key else None
        )

    def seal(self, value: str | None) -> str | None:
        if value is None or self._fernet is None:
            return value
        return _PREFIX + self._fernet.encrypt(value.encode()).decode()

    def open(self, value: str | None) -> str | None:
        if value is None or not value.startswith(_PREFIX):
            return value
        if self._fernet is None:
            raise ConfigError(
                "the stored Intigriti token is encrypted: set database.token_key"
                " (or database.token_key_file) to the key it was sealed with"
            )
        try:
            return self._fernet.decrypt(value[len(_PREFIX) :].encode()).decode()
        except InvalidToken:
            raise ConfigError(
                "database.token_key does not open the stored Intigriti token"
                " (wrong key?); run `syncd auth login` to store a new one"
            ) from None
