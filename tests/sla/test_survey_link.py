"""The customer's survey link: signed, tamper-evident, expiring, and free of personal data."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta, timezone

import pytest

from sla.survey_link import LinkError, SurveyClaims, read_link, sign_link

SECRET = b"survey-secret-for-tests"
NOW = datetime(2026, 11, 2, 9, tzinfo=timezone.utc)
CLAIMS = SurveyClaims(complaint_id="T-1001", instance=1, expires=NOW + timedelta(days=14))


def test_a_signed_link_reads_back_until_it_expires():
    token = sign_link(SECRET, CLAIMS)
    assert read_link(SECRET, token, NOW) == CLAIMS
    assert read_link(SECRET, token, CLAIMS.expires - timedelta(seconds=1)) == CLAIMS
    with pytest.raises(LinkError, match="^this survey link has expired$"):
        read_link(SECRET, token, CLAIMS.expires)
    assert all(c.isalnum() or c in "-_." for c in token)  # a URL path segment as it is


@pytest.mark.parametrize("mangle", [
    lambda t: t[:-2] + ("A" if t[-2] != "A" else "B") + t[-1],  # signature changed
    lambda t: t.split(".")[0],  # signature dropped
    lambda t: "",
    lambda t: "x" * 2000,
])
def test_an_altered_link_is_refused(mangle):
    with pytest.raises(LinkError, match="not valid"):
        read_link(SECRET, mangle(sign_link(SECRET, CLAIMS)), NOW)


def test_another_complaint_or_resolution_cannot_be_put_in_a_link():
    token = sign_link(SECRET, CLAIMS)
    payload, signature = token.split(".")
    body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert body == {"c": "T-1001", "i": 1, "e": int(CLAIMS.expires.timestamp())}  # ids only, no personal data
    for change in ({"c": "T-1002"}, {"i": 2}, {"e": body["e"] + 86_400}):
        forged = base64.urlsafe_b64encode(json.dumps({**body, **change}).encode()).rstrip(b"=").decode()
        with pytest.raises(LinkError, match="not valid"):
            read_link(SECRET, f"{forged}.{signature}", NOW)
    with pytest.raises(LinkError, match="not valid"):
        read_link(b"another secret", token, NOW)
