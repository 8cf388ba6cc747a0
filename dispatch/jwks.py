"""An identity provider's signing keys, fetched off the request path: at start and every few minutes in the
background. A token whose ``kid`` is not among them is refused at once; it never makes a request wait on the
provider (a stream of made-up ``kid``s must not turn into a stream of fetches that stall the event loop)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Final

import jwt

from dispatch.errors import AuthError

log = logging.getLogger("prealert.jwks")
REFRESH_S: Final = 300.0


class JwksKeys:
    def __init__(self, url: str) -> None:
        self._client = jwt.PyJWKClient(url, cache_jwk_set=False, timeout=5)
        self._keys: dict[str, Any] = {}

    def key_for(self, token: str) -> Any:
        kid = jwt.get_unverified_header(token).get("kid")
        key = self._keys.get(kid) if isinstance(kid, str) else None
        if key is None:
            raise AuthError(f"invalid token: no signing key {kid!r} from the identity provider")
        return key

    def fetch(self) -> None:
        """Blocking: call in a thread."""
        keys = self._client.get_signing_keys(refresh=True)
        self._keys = {k.key_id: k.key for k in keys if k.key_id}

    async def run(self) -> None:
        while True:
            await asyncio.sleep(REFRESH_S)
            try:
                await asyncio.to_thread(self.fetch)
            except jwt.PyJWKClientError as exc:  # keep the keys we have; try again later
                log.warning("identity provider keys not refreshed", extra={"error": str(exc)})
