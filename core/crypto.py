"""Encryption at rest of connection secrets (Fernet, key derived from the secret key)."""

from __future__ import annotations

import base64
import hashlib
import json
from functools import cached_property
from typing import TYPE_CHECKING

from core import errors

if TYPE_CHECKING:
    from cryptography.fernet import Fernet


class Cipher:
    """Encrypts and decrypts small JSON documents with the product's secret key."""

    def __init__(self, secret_key: str) -> None:
        self._key = base64.urlsafe_b64encode(hashlib.sha256(secret_key.encode()).digest())

    @cached_property
    def _fernet(self) -> Fernet:
        # Imported on first use: a process whose connections have no secrets never needs
        # the 8 MB the library takes.
        from cryptography.fernet import Fernet

        return Fernet(self._key)

    def encrypt(self, values: dict[str, str]) -> str:
        if not values:
            return ""
        return self._fernet.encrypt(json.dumps(values).encode()).decode()

    def decrypt(self, token: str) -> dict[str, str]:
        if not token:
            return {}
        from cryptography.fernet import InvalidToken

        try:
            data: dict[str, str] = json.loads(self._fernet.decrypt(token.encode()))
        except InvalidToken:
            raise errors.Conflict(
                "connection secrets cannot be decrypted: EXTRACTS_SECRET_KEY (or var/secret.key) "
                "is not the key they were saved with"
            ) from None
        return data
