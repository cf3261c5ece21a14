"""The customer's survey link (000 §3.2a: the survey reaches the customer by an e-mail or SMS link): a signed token
naming the complaint and the resolution it asks about, valid until a stated instant.

The token is the only credential of the survey page: no cookie and no session, so there is nothing a third site
could ride on (the page needs no CSRF token), and nothing but the token's own claims is trusted. It holds no
personal data, only ids: a forwarded link shows nobody the customer's name or address. It is one-time because the
complaint takes one answer per resolution (the answer closes it) and the page checks the resolution is still the
one the link was made for.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import datetime, timezone

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sla.commands import COMPLAINT_ID_PATTERN


class LinkError(ValueError):
    """A link that is not ours, was altered, or has expired (the message is one sentence for the customer)."""


class SurveyClaims(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    complaint_id: str = Field(min_length=1, max_length=200, pattern=COMPLAINT_ID_PATTERN)
    instance: int = Field(ge=1)  # the survey clock instance: the resolution the answer is about
    expires: datetime


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: bytes, payload: str) -> str:
    return _b64(hmac.new(secret, b"cxsla-survey." + payload.encode("ascii"), hashlib.sha256).digest())


def sign_link(secret: bytes, claims: SurveyClaims) -> str:
    """`<payload>.<signature>`, both base64url: safe in a URL path without escaping."""
    body = {"c": claims.complaint_id, "i": claims.instance, "e": int(claims.expires.timestamp())}
    payload = _b64(json.dumps(body, separators=(",", ":"), sort_keys=True).encode())
    return f"{payload}.{_mac(secret, payload)}"


def read_link(secret: bytes, token: str, now: datetime) -> SurveyClaims:
    """The claims of a genuine, unexpired token; LinkError otherwise (compared in constant time)."""
    payload, _, signature = token.partition(".")
    if not payload or not signature or len(token) > 1000 or not hmac.compare_digest(_mac(secret, payload), signature):
        raise LinkError("this survey link is not valid; please use the link from the e-mail as it was sent")
    try:
        body = json.loads(_unb64(payload))
        claims = SurveyClaims(complaint_id=body["c"], instance=body["i"],
                              expires=datetime.fromtimestamp(body["e"], timezone.utc))
    except (ValueError, KeyError, TypeError, ValidationError, OverflowError):
        raise LinkError("this survey link is not valid; please use the link from the e-mail as it was sent") from None
    if now >= claims.expires:
        raise LinkError("this survey link has expired")
    return claims
