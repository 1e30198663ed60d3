"""A software WebAuthn authenticator for the HTTP tests: makes the answers a browser would post.

It *builds* CBOR with cbor2 (what an authenticator does); the provider parses it with py_webauthn.  The
knobs (``origin``, ``rp_id``, ``counter``, ``user_verified``) let a test play an attacker.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import struct
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SoftAuthenticator:
    """One ES256 discoverable credential."""

    def __init__(self, rp_id: str, origin: str) -> None:
        self.rp_id, self.origin = rp_id, origin
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.credential_id = os.urandom(16)
        self.counter = 0
        self.user_handle: bytes | None = None
        self.backup = 0  # 0x08 backup eligible, 0x10 backed up (WebAuthn 6.1 flags BE, BS)

    def _cose(self) -> bytes:
        numbers = self.key.public_key().public_numbers()
        return cbor2.dumps({1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"), -3: numbers.y.to_bytes(32, "big")})

    def _auth_data(self, rp_id: str, flags: int, counter: int, attested: bytes = b"") -> bytes:
        return hashlib.sha256(rp_id.encode()).digest() + bytes([flags]) + struct.pack(">I", counter) + attested

    def _client_data(self, kind: str, challenge: str, origin: str | None) -> bytes:
        return json.dumps({"type": kind, "challenge": challenge, "origin": origin or self.origin,
                           "crossOrigin": False}).encode()

    def create(self, options: dict[str, Any], *, origin: str | None = None, rp_id: str | None = None,
               user_verified: bool = True) -> str:
        """The answer to ``navigator.credentials.create`` (JSON text)."""
        self.user_handle = unb64url(options["user"]["id"])
        flags = 0x01 | (0x04 if user_verified else 0) | 0x40 | self.backup  # UP, UV, AT
        attested = bytes(16) + struct.pack(">H", len(self.credential_id)) + self.credential_id + self._cose()
        auth_data = self._auth_data(rp_id or self.rp_id, flags, self.counter, attested)
        client_data = self._client_data("webauthn.create", options["challenge"], origin)
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        return json.dumps({"id": b64url(self.credential_id), "rawId": b64url(self.credential_id), "type": "public-key",
                           "response": {"clientDataJSON": b64url(client_data),
                                        "attestationObject": b64url(attestation)},
                           "clientExtensionResults": {}})

    def get(self, options: dict[str, Any], *, origin: str | None = None, rp_id: str | None = None,
            user_verified: bool = True, counter: int | None = None, backup: int | None = None) -> str:
        """The answer to ``navigator.credentials.get`` (JSON text); the counter goes up unless given."""
        self.counter = self.counter + 1 if counter is None else counter
        flags = 0x01 | (0x04 if user_verified else 0) | (self.backup if backup is None else backup)
        auth_data = self._auth_data(rp_id or self.rp_id, flags, self.counter)
        client_data = self._client_data("webauthn.get", options["challenge"], origin)
        signature = self.key.sign(auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256()))
        return json.dumps({"id": b64url(self.credential_id), "rawId": b64url(self.credential_id), "type": "public-key",
                           "response": {"clientDataJSON": b64url(client_data), "authenticatorData": b64url(auth_data),
                                        "signature": b64url(signature),
                                        "userHandle": b64url(self.user_handle or b"")},
                           "clientExtensionResults": {}})
