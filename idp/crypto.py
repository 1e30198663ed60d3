"""Field encryption (AES-256-GCM with key ids), keyed hashes and random secrets."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM


class DecryptError(RuntimeError):
    """Ciphertext could not be decrypted (unknown key id or tampering)."""


class Crypto:
    """Keys from the settings, held once per application.

    Ciphertexts are ``kid`` + ``.`` + base64url(nonce || ciphertext||tag); the key id stored beside the
    ciphertext lets operators add a new key first in ``IDP_DATA_KEYS`` and re-encrypt later
    (``idp keys reencrypt``) without downtime.
    """

    def __init__(self, data_keys: dict[str, bytes], active_kid: str, hash_key: bytes) -> None:
        self._aead = {kid: AESGCM(key) for kid, key in data_keys.items()}
        self.active_kid = active_kid
        self._hash_key = hash_key
        # One-way tags that tell two key sets apart (backups, ``idp import``) without revealing a key.
        self.fingerprints = {kid: hmac.new(key, b"idp data key fingerprint", hashlib.sha256).hexdigest()[:32]
                             for kid, key in data_keys.items()}

    # --- encryption at rest ---
    def encrypt(self, plaintext: str, context: str) -> str:
        """Encrypt ``plaintext``; ``context`` (the column's purpose) is bound as associated data."""
        nonce = os.urandom(12)
        sealed = self._aead[self.active_kid].encrypt(nonce, plaintext.encode(), context.encode())
        return f"{self.active_kid}.{base64.urlsafe_b64encode(nonce + sealed).decode()}"

    def decrypt(self, token: str, context: str) -> str:
        kid, _, body = token.partition(".")
        aead = self._aead.get(kid)
        if aead is None:
            raise DecryptError(f"unknown data key id {kid!r}")
        raw = base64.urlsafe_b64decode(body)
        try:
            return aead.decrypt(raw[:12], raw[12:], context.encode()).decode()
        except InvalidTag:
            raise DecryptError("ciphertext does not authenticate") from None

    def key_id_of(self, token: str) -> str:
        return token.partition(".")[0]

    # --- keyed hashes ---
    def keyed_hash(self, purpose: str, value: str) -> str:
        """HMAC-SHA256 of ``value`` for ``purpose`` (hex); used for lookups and high-entropy secrets.

        Client secrets and registration tokens are 256-bit random values, so a fast keyed hash is as
        strong as a password hash for them and keeps the token endpoint fast (issue 8).
        """
        mac = hmac.new(self._hash_key, f"{purpose}\x00{value}".encode(), hashlib.sha256)
        return mac.hexdigest()

    def check_keyed_hash(self, purpose: str, value: str, expected: str | None) -> bool:
        if not expected:
            return False
        return hmac.compare_digest(self.keyed_hash(purpose, value), expected)


def random_token(nbytes: int = 32) -> str:
    """A URL-safe random secret."""
    return secrets.token_urlsafe(nbytes)


def sha256_b64(value: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(value.encode()).digest()).rstrip(b"=").decode()
