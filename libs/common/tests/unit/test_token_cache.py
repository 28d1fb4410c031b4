"""The verified-token cache of TokenVerifier: a token used again is not checked again, until it expires."""

import asyncio
import time
from typing import Any

import jwt
import pytest

from motcua_common import auth
from motcua_common.problems import ProblemError
from motcua_common.testing_auth import TestIssuer


def test_a_token_used_again_is_checked_once(monkeypatch):
    issuer = TestIssuer()
    verifier = issuer.verifier()
    token = issuer.citizen("001099000001")
    calls: list[int] = []
    decode = jwt.decode

    def counted(*args: Any, **kwargs: Any) -> dict[str, Any]:
        calls.append(1)
        return decode(*args, **kwargs)

    monkeypatch.setattr(auth.jwt, "decode", counted)

    async def go() -> None:
        first = await verifier.verify(token)
        again = await verifier.verify(token)
        assert first is again and again.personal_id == "001099000001"
        other = await verifier.verify(issuer.citizen("001099000002"))
        assert other.personal_id == "001099000002"

    asyncio.run(go())
    assert len(calls) == 2


def test_a_cached_token_is_refused_once_it_has_expired():
    issuer = TestIssuer()
    verifier = issuer.verifier()
    verifier.leeway = 0
    # exp is whole seconds after int(time.time()): ttl=1 left as little as a few ms to verify it while still valid,
    # which a loaded machine missed; ttl=3 leaves over two seconds, and the wait lasts until exp has passed.
    token = issuer.citizen("001099000001", ttl=3)
    expires = jwt.decode(token, options={"verify_signature": False})["exp"]

    async def go() -> None:
        await verifier.verify(token)
        while time.time() <= expires:  # noqa: ASYNC110 - waits for the wall clock, no event to await
            await asyncio.sleep(expires - time.time() + 0.05)
        with pytest.raises(ProblemError) as refused:
            await verifier.verify(token)
        assert refused.value.status == 401 and "expired" in str(refused.value.detail)

    asyncio.run(go())
