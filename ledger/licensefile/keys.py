"""The vendor's Ed25519 signing keys for offline license files, kept in the data directory.

Products pin public keys, so keys outlive processes: the first start generates one and every
later start loads it. Rotation adds a new active key and keeps the old ones, whose public keys
stay published, so files signed before the rotation still verify until they expire.

On disk: `license-keys.json` names the keys and the active one; each private key is a PKCS#8
PEM file, `license-key-<key_id>.pem`, mode 0600. A key file is made durable before the index
names it, and changes hold a file lock, so concurrent starts agree on one active key and the
index never names a key that is not on disk.
"""

import base64
import binascii
import fcntl
import hashlib
import json
import os
import re
import secrets
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.licensefile.verify import ALGORITHM

INDEX_FILE = "license-keys.json"
LOCK_FILE = "license-keys.lock"
_KEY_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class KeyRingError(Exception):
    """The key directory or a configured key cannot be used as it is."""


@dataclass(frozen=True)
class SigningKey:
    """One Ed25519 private key and the id that files signed with it name."""

    key_id: str
    private_key: Ed25519PrivateKey

    @classmethod
    def generate(cls, now: datetime | None = None) -> Self:
        """A new key with an id like `k-2026-03-5f0c2a`: the month made, plus a random suffix."""
        made = now or datetime.now(UTC)
        return cls(f"k-{made:%Y-%m}-{secrets.token_hex(3)}", Ed25519PrivateKey.generate())

    def sign(self, data: bytes) -> bytes:
        return self.private_key.sign(data)

    def public_key_base64(self) -> str:
        raw = self.private_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        return base64.b64encode(raw).decode("ascii")

    def private_key_base64(self) -> str:
        """The raw 32-byte private key in base64, the form `KeyRing.from_private_key` takes."""
        raw = self.private_key.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        return base64.b64encode(raw).decode("ascii")

    def published(self) -> dict[str, str]:
        return {
            "key_id": self.key_id,
            "algorithm": ALGORITHM,
            "public_key": self.public_key_base64(),
        }


class KeyRing:
    """The signing keys of one deployment: one active key signs, all keys are published."""

    def __init__(
        self, keys: Sequence[SigningKey], active_key_id: str, directory: Path | None = None
    ) -> None:
        by_id = {key.key_id: key for key in keys}
        if active_key_id not in by_id:
            raise KeyRingError(f"the active key {active_key_id} is not among the keys")
        self._keys = by_id
        self._active_key_id = active_key_id
        self._directory = directory

    @classmethod
    def load_or_create(cls, directory: Path) -> Self:
        """Load the keys kept in `directory`, generating the first one if there are none."""
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        with _locked(directory):
            index = _read_index(directory)
            if index is None:
                key = SigningKey.generate()
                _write_key(directory, key)
                index = {"active_key_id": key.key_id, "keys": [_index_entry(key)]}
                _write_index(directory, index)
            return cls._from_index(directory, index)

    @classmethod
    def from_private_key(cls, private_key_base64: str, key_id: str | None = None) -> Self:
        """A ring of one key given in settings (base64 of the raw 32-byte Ed25519 private key).

        Without `key_id` the id is derived from the public key, so it is the same every start.
        """
        try:
            raw = base64.b64decode(private_key_base64.strip(), validate=True)
        except binascii.Error:
            raw = b""
        if len(raw) != 32:
            raise KeyRingError("a license signing key is the base64 of a 32-byte Ed25519 key")
        private_key = Ed25519PrivateKey.from_private_bytes(raw)
        if key_id is None:
            public = private_key.public_key().public_bytes(
                serialization.Encoding.Raw, serialization.PublicFormat.Raw
            )
            key_id = "k-" + hashlib.sha256(public).hexdigest()[:12]
        _check_key_id(key_id)
        return cls([SigningKey(key_id, private_key)], key_id)

    @property
    def active(self) -> SigningKey:
        return self._keys[self._active_key_id]

    @property
    def directory(self) -> Path | None:
        """Where the keys are kept (None for a key given in settings): the compliance check
        reads their ages there (`key_ages`)."""
        return self._directory

    def rotate(self) -> SigningKey:
        """Make a new key the active one; the old keys stay, so earlier files still verify."""
        key = SigningKey.generate()
        if self._directory is None:
            self._keys = {**self._keys, key.key_id: key}
            self._active_key_id = key.key_id
            return key
        with _locked(self._directory):
            # Re-read: another process may have rotated since this ring was loaded.
            index = _read_index(self._directory) or {"keys": []}
            _write_key(self._directory, key)
            index = {"active_key_id": key.key_id, "keys": [*index["keys"], _index_entry(key)]}
            _write_index(self._directory, index)
            reloaded = self._from_index(self._directory, index)
        self._keys, self._active_key_id = reloaded._keys, reloaded._active_key_id
        return key

    def public_keys(self) -> list[dict[str, str]]:
        """Every key's public half, as `GET /v1/license-files/keys` lists them."""
        return [key.published() for key in self._keys.values()]

    def public_key_map(self) -> dict[str, str]:
        """key_id -> base64 public key, the form `verify_license_file` takes."""
        return {key.key_id: key.public_key_base64() for key in self._keys.values()}

    @classmethod
    def _from_index(cls, directory: Path, index: dict[str, Any]) -> Self:
        keys = [_read_key(directory, entry["key_id"]) for entry in index["keys"]]
        return cls(keys, index["active_key_id"], directory)


def _index_entry(key: SigningKey) -> dict[str, str]:
    return {"key_id": key.key_id, "created_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}


def _check_key_id(key_id: str) -> str:
    # Key ids become file names: refuse anything that could leave the directory.
    if not _KEY_ID.match(key_id):
        raise KeyRingError(f"{key_id!r} is not a usable key id")
    return key_id


def _key_path(directory: Path, key_id: str) -> Path:
    return directory / f"license-key-{_check_key_id(key_id)}.pem"


def _read_index(directory: Path) -> dict[str, Any] | None:
    path = directory / INDEX_FILE
    if not path.exists():
        return None
    try:
        index = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(index["active_key_id"], str) or not isinstance(index["keys"], list):
            raise TypeError
    except (ValueError, KeyError, TypeError):
        raise KeyRingError(f"{path} is not a license key index") from None
    return dict(index)


def _read_key(directory: Path, key_id: str) -> SigningKey:
    path = _key_path(directory, key_id)
    try:
        private_key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except FileNotFoundError:
        raise KeyRingError(f"the key {key_id} is in the index but {path} is missing") from None
    if not isinstance(private_key, Ed25519PrivateKey):
        raise KeyRingError(f"{path} is not an Ed25519 private key")
    return SigningKey(key_id, private_key)


def _write_key(directory: Path, key: SigningKey) -> None:
    pem = key.private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    # O_EXCL with mode 0600: the key is never readable by others, not even for a moment.
    fd = os.open(_key_path(directory, key.key_id), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as file:
        os.fchmod(file.fileno(), 0o600)
        file.write(pem)
        file.flush()
        os.fsync(file.fileno())


def _write_index(directory: Path, index: dict[str, Any]) -> None:
    temporary = directory / f"{INDEX_FILE}.{secrets.token_hex(4)}.tmp"
    with temporary.open("w", encoding="utf-8") as file:
        json.dump(index, file, indent=2, sort_keys=True)
        file.write("\n")
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, directory / INDEX_FILE)


@contextmanager
def _locked(directory: Path) -> Iterator[None]:
    fd = os.open(directory / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def key_ages(directory: Path) -> list[tuple[str, datetime]]:
    """(key_id, when made) of the keys kept in `directory`, for the compliance check of their
    age; [] if none are kept there (a key given in settings has no recorded age)."""
    index = _read_index(directory) or {"keys": []}
    return [(e["key_id"], datetime.strptime(e["created_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC))
            for e in index["keys"] if "created_at" in e]
