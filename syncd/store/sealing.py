"""Encryption at rest for the OAuth tokens in the database (Fernet: AES-128-CBC + HMAC).

With ``[database] token_key`` set (best from a file or a systemd credential), the access
and refresh tokens are stored sealed, so a copy of the database alone does not hand out
API access. Without a key they are stored as they are and protected by the file mode
(0600) or the PostgreSQL grants only.

The passphrase becomes the 32-byte Fernet key through scrypt (memory-hard), so a stolen
database does not make a weak passphrase cheap to guess. Formats of a stored value:

* ``scrypt1:<salt>:<fernet token>``: written by this version. ``<salt>`` is 16 random
  bytes, base64url without padding; the key is
  ``scrypt(passphrase, salt, n=2**15, r=8, p=1, length=32)``. The parameters belong to
  the ``scrypt1`` prefix; other parameters would get a new prefix. Measured on the
  development machine (2 cores): about 0.1 s and 32 MiB (``128 * n * r`` bytes) per
  derivation (``bench/scrypt_cost.py``, ``bench/RESULTS.md``).
* ``fernet:<fernet token>``: written by earlier versions, key = SHA-256 of the
  passphrase. Still opened; the next save or rotation writes ``scrypt1:`` instead.
* anything else: a plain value, stored before a key was set; sealed on the next save.

The salt is per database rather than per value: a sealer reuses the salt of the first
``scrypt1:`` value it opens, and otherwise draws one at its first seal, so the access and
refresh tokens share it and every rotation keeps it. Derived keys are cached per salt, so
a process derives at most once per salt (a rotation re-seals without deriving again).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import threading
import time

import structlog
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from syncd.errors import ConfigError

log = structlog.get_logger(__name__)

SCRYPT_PREFIX = "scrypt1:"
LEGACY_PREFIX = "fernet:"
#: scrypt parameters of the ``scrypt1:`` format (never change them: add a new prefix)
SCRYPT_N = 2**15
SCRYPT_R = 8
SCRYPT_P = 1
SALT_BYTES = 16

_WRONG_KEY = (
    "database.token_key does not open the stored Intigriti token"
    " (wrong key?); run `syncd auth login` to store a new one"
)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenSealer:
    def __init__(self, key: str | None) -> None:
        self._passphrase = key.encode() if key else None
        self._keys: dict[bytes, Fernet] = {}
        self._salt: bytes | None = None
        # two threads opening the same new salt at once derive it once, not twice
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self._passphrase is not None

    def seal(self, value: str | None) -> str | None:
        if value is None or self._passphrase is None:
            return value
        with self._lock:
            if self._salt is None:
                self._salt = os.urandom(SALT_BYTES)
            salt = self._salt
        token = self._fernet(salt).encrypt(value.encode()).decode()
        return f"{SCRYPT_PREFIX}{_b64(salt)}:{token}"

    def open(self, value: str | None) -> str | None:
        if value is None:
            return None
        if value.startswith(SCRYPT_PREFIX):
            salt_text, sep, token = value[len(SCRYPT_PREFIX) :].partition(":")
            try:
                salt = _unb64(salt_text)
            except (binascii.Error, ValueError):
                salt = b""
            if not sep or len(salt) != SALT_BYTES:
                raise ConfigError(
                    "the stored Intigriti token is damaged (unreadable salt);"
                    " run `syncd auth login` to store a new one"
                )
            fernet = self._fernet(salt)
            with self._lock:
                if self._salt is None:
                    self._salt = salt  # keep the database's salt for the next seal
            return self._decrypt(fernet, token)
        if value.startswith(LEGACY_PREFIX):
            passphrase = self._require_key()
            legacy = Fernet(base64.urlsafe_b64encode(hashlib.sha256(passphrase).digest()))
            return self._decrypt(legacy, value[len(LEGACY_PREFIX) :])
        return value

    def _require_key(self) -> bytes:
        if self._passphrase is None:
            raise ConfigError(
                "the stored Intigriti token is encrypted: set database.token_key"
                " (or database.token_key_file) to the key it was sealed with"
            )
        return self._passphrase

    def _fernet(self, salt: bytes) -> Fernet:
        passphrase = self._require_key()
        with self._lock:
            cached = self._keys.get(salt)
            if cached is not None:
                return cached
            started = time.perf_counter()
            derived = Scrypt(salt=salt, length=32, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P).derive(
                passphrase
            )
            fernet = Fernet(base64.urlsafe_b64encode(derived))
            self._keys[salt] = fernet
        log.debug(
            "token_key_derived",
            kdf="scrypt",
            n=SCRYPT_N,
            r=SCRYPT_R,
            p=SCRYPT_P,
            elapsed_ms=round((time.perf_counter() - started) * 1000, 1),
        )
        return fernet

    @staticmethod
    def _decrypt(fernet: Fernet, token: str) -> str:
        try:
            return fernet.decrypt(token.encode()).decode()
        except InvalidToken:
            raise ConfigError(_WRONG_KEY) from None
