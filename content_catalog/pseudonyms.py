"""Client ids as the store keeps them: a keyed hash when `KEPU_ID_PEPPER` is set, so the store never
holds a raw WeChat openid or museum account id (PIPL Art. 6 minimisation, Art. 51 de-identification).

HMAC-SHA256(pepper, id) in hex is deterministic, so the API and the CLI map the id a caller gives to the
same stored key (that is how an erasure or export request finds the user), yet without the pepper the
stored key cannot be turned back into the id or recomputed from a list of candidate ids.
"""

from __future__ import annotations

import hashlib
import hmac

from pydantic import SecretStr


class ClientIds:
    """Maps client ids to stored ids; without a pepper they are stored as given."""

    def __init__(self, pepper: SecretStr | str | None) -> None:
        raw = pepper.get_secret_value() if isinstance(pepper, SecretStr) else pepper
        self._key = raw.encode() if raw else None

    @property
    def hashed(self) -> bool:
        return self._key is not None

    def stored(self, client_id: str) -> str:
        """The id the store holds for `client_id` (64 hex characters when hashed)."""
        if self._key is None:
            return client_id
        return hmac.digest(self._key, client_id.encode(), hashlib.sha256).hex()  # one-shot C HMAC

    def stored_or_none(self, client_id: str | None) -> str | None:
        return None if client_id is None else self.stored(client_id)

    def stored_all(self, client_ids: list[str]) -> list[str]:
        return [self.stored(i) for i in client_ids]
