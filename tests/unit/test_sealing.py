"""Token sealing: scrypt-derived Fernet keys, a per-database salt, old values still open."""

from __future__ import annotations

import base64
import hashlib

import pytest
import structlog
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from syncd.errors import ConfigError
from syncd.store.sealing import TokenSealer

PASSPHRASE = "correct horse battery staple"


def _parts(sealed: str) -> tuple[str, bytes, str]:
    prefix, salt, token = sealed.split(":", 2)
    return prefix, base64.urlsafe_b64decode(salt + "=" * (-len(salt) % 4)), token


def test_sealed_values_open_with_the_documented_scrypt_key() -> None:
    sealed = TokenSealer(PASSPHRASE).seal("access-secret")
    assert sealed is not None
    prefix, salt, token = _parts(sealed)
    assert prefix == "scrypt1"
    assert len(salt) == 16
    assert "access-secret" not in sealed
    # derive the key independently, exactly as the module docstring documents it
    key = Scrypt(salt=salt, length=32, n=2**15, r=8, p=1).derive(PASSPHRASE.encode())
    assert Fernet(base64.urlsafe_b64encode(key)).decrypt(token.encode()) == b"access-secret"


def test_a_database_keeps_one_salt_and_each_salt_is_derived_once() -> None:
    writer = TokenSealer(PASSPHRASE)
    with structlog.testing.capture_logs() as events:
        first = writer.seal("access-1")
        second = writer.seal("refresh-1")
        assert first is not None and second is not None
        assert writer.open(first) == "access-1"
        assert writer.open(second) == "refresh-1"
    assert _parts(first)[1] == _parts(second)[1]
    assert [e["event"] for e in events].count("token_key_derived") == 1

    # another process opens the stored values: it derives once and re-seals with their salt
    reader = TokenSealer(PASSPHRASE)
    with structlog.testing.capture_logs() as events:
        assert reader.open(first) == "access-1"
        resealed = reader.seal("access-2")
        assert resealed is not None
        assert reader.open(resealed) == "access-2"
    assert _parts(resealed)[1] == _parts(first)[1]
    assert [e["event"] for e in events].count("token_key_derived") == 1


def test_two_databases_get_different_salts() -> None:
    one = TokenSealer(PASSPHRASE).seal("x")
    two = TokenSealer(PASSPHRASE).seal("x")
    assert one is not None and two is not None
    assert _parts(one)[1] != _parts(two)[1]


def test_values_sealed_the_old_way_still_open_and_are_resealed_with_scrypt() -> None:
    legacy_key = base64.urlsafe_b64encode(hashlib.sha256(PASSPHRASE.encode()).digest())
    legacy = "fernet:" + Fernet(legacy_key).encrypt(b"old-refresh").decode()
    sealer = TokenSealer(PASSPHRASE)
    assert sealer.open(legacy) == "old-refresh"
    resealed = sealer.seal("old-refresh")
    assert resealed is not None and resealed.startswith("scrypt1:")
    assert sealer.open(resealed) == "old-refresh"
    with pytest.raises(ConfigError, match="wrong key"):
        TokenSealer("another passphrase").open(legacy)


def test_plain_values_pass_through_and_no_key_seals_nothing() -> None:
    assert TokenSealer(PASSPHRASE).open("plain-token") == "plain-token"
    assert TokenSealer(None).seal("plain-token") == "plain-token"
    assert TokenSealer(PASSPHRASE).seal(None) is None
    assert TokenSealer(PASSPHRASE).open(None) is None


def test_a_wrong_or_missing_key_or_a_damaged_value_is_a_config_error() -> None:
    sealed = TokenSealer(PASSPHRASE).seal("secret")
    assert sealed is not None
    with pytest.raises(ConfigError, match="wrong key"):
        TokenSealer("not the passphrase").open(sealed)
    with pytest.raises(ConfigError, match=r"set database\.token_key"):
        TokenSealer(None).open(sealed)
    _, _, token = sealed.split(":", 2)
    with pytest.raises(ConfigError, match="damaged"):
        TokenSealer(PASSPHRASE).open(f"scrypt1:short:{token}")
    with pytest.raises(ConfigError, match="damaged"):
        TokenSealer(PASSPHRASE).open("scrypt1:no-separator")
