"""Encryption at rest of connection secrets (Fernet, key derived from the secret key)."""

from __future__ import annotations

import base64
import hashlib
import json

from cryptography.fernet import Fernet, InvalidToken

from core import errors


class Cipher:
    """Encrypts and decrypts small JSON documents with the product's secret key."""

    def __init__(self, secret_key: str) -> None:
        digest = hashlib.sha256(secret_key.encode()).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(digest))

    def encrypt(self, values: dict[str, str]) -> str:
        if not values:
            return ""
        return self._fernet.encrypt(json.dumps(values).encode()).decode()

    def decrypt(self, token: str) -> dict[str, str]:
        if not token:
            return {}
        try:
            data: dict[str, str] = json.loads(self._fernet.decrypt(token.encode()))
        except InvalidToken:
            raise errors.Conflict(
                "connection secrets cannot be decrypted: EXTRACTS_SECRET_KEY (or var/secret.key) "
                "is not the key they were saved with"
            ) from None
        return data
