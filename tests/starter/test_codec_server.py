"""Who the codec server decodes for: supervisor tokens as a bearer header (the `temporal` CLI) or as the sign-in
cookie the Temporal UI sends with TEMPORAL_CODEC_INCLUDE_CREDENTIALS (from the UI's origin only); without a token
only a local user's UI under `cxsla up` (loopback client, loopback host, the UI's origin or none). An agent decodes
nothing and is answered at once: 403, or, to the `temporal` CLI that would retry a 403 for 10 s, each payload
replaced by the reason."""

from __future__ import annotations

import base64
import json

import httpx
import pytest
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads

from starter.service.codec import EncryptionCodec, Keyring, new_key_line
from starter.service.codec_server import SESSION_COOKIE, create_codec_app
from starter.service.settings import Settings
from starter.service.tokens import Role, TokenStore, config_line

SUPERVISOR, AGENT = "cxsla_" + "s" * 40, "cxsla_" + "a" * 40
UI = "http://127.0.0.1:8233"
CODEC = EncryptionCodec(Keyring.parse(new_key_line("k1")))
SECRET = b'{"customer_name": "Zhao Lei"}'


def tokens() -> TokenStore:
    return TokenStore.parse("\n".join([config_line("sam", Role.SUPERVISOR, SUPERVISOR),
                                       config_line("amy", Role.AGENT, AGENT)]))


def client(*, open_on_loopback: bool = False, peer: str = "127.0.0.1", host: str = "127.0.0.1:8081"):
    settings = Settings(codec_cors_origins=f"{UI},http://localhost:8233", codec_server_host="127.0.0.1")
    app = create_codec_app(settings, codec=CODEC, tokens=tokens(), open_on_loopback=open_on_loopback)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(peer, 50000)), base_url=f"http://{host}")


def encrypted() -> dict:
    payload = CODEC.encrypt(Payload(metadata={"encoding": b"json/plain"}, data=SECRET))
    return json_format.MessageToDict(Payloads(payloads=[payload, payload]))


def datas(response: httpx.Response) -> list[bytes]:
    return [base64.b64decode(p["data"]) for p in response.json()["payloads"]]


async def test_a_supervisor_decodes_and_an_agent_is_refused_at_once():
    async with client() as http:
        decoded = await http.post("/decode", json=encrypted(), headers={"Authorization": f"Bearer {SUPERVISOR}"})
        assert decoded.status_code == 200 and datas(decoded) == [SECRET, SECRET]
        refused = await http.post("/decode", json=encrypted(), headers={"Authorization": f"Bearer {AGENT}"})
        assert refused.status_code == 403 and "amy has role agent" in refused.json()["detail"]
        assert (await http.post("/decode", json=encrypted())).status_code == 401  # not open: no token, no decode


async def test_the_temporal_cli_is_told_why_instead_of_retrying_a_refusal():
    go = {"User-Agent": "Go-http-client/1.1"}
    async with client() as http:
        refused = await http.post("/decode", json=encrypted(), headers={**go, "Authorization": f"Bearer {AGENT}"})
        assert refused.status_code == 200
        assert [json.loads(d) for d in datas(refused)] == [
            {"refused": "amy has role agent; this needs supervisor or higher"}] * 2
        assert SECRET not in refused.content
        # encoding is never answered that way: a refusal must not become someone's input
        assert (await http.post("/encode", json={"payloads": []}, headers=go)).status_code == 401


async def test_under_cxsla_up_a_local_users_ui_decodes_without_a_token():
    async with client(open_on_loopback=True) as http:
        assert datas(await http.post("/decode", json=encrypted())) == [SECRET, SECRET]  # the CLI: no Origin
        from_ui = await http.post("/decode", json=encrypted(), headers={"Origin": UI})
        assert from_ui.status_code == 200 and datas(from_ui) == [SECRET, SECRET]
        assert from_ui.headers["access-control-allow-origin"] == UI
        other_site = await http.post("/decode", json=encrypted(), headers={"Origin": "https://evil.example"})
        assert other_site.status_code == 401 and SECRET not in other_site.content
        # an agent's token is still an agent's
        agent = await http.post("/decode", json=encrypted(), headers={"Authorization": f"Bearer {AGENT}"})
        assert agent.status_code == 403
    async with client(open_on_loopback=True, peer="10.1.2.3") as http:  # another machine
        assert (await http.post("/decode", json=encrypted())).status_code == 401
    async with client(open_on_loopback=True, host="cxsla.example:8081") as http:  # a name rebound to loopback
        assert (await http.post("/decode", json=encrypted())).status_code == 401


def test_open_decoding_is_refused_off_loopback():
    settings = Settings(codec_server_host="0.0.0.0")
    with pytest.raises(ValueError, match="only for a codec server bound to loopback"):
        create_codec_app(settings, codec=CODEC, tokens=tokens(), open_on_loopback=True)


async def test_the_ui_decodes_with_the_sign_in_cookie_from_its_own_origin_only():
    async with client(host="codec.example:8081") as http:
        page = await http.get("/session")
        assert page.status_code == 200 and '<label for="token">' in page.text and "<script" not in page.text
        agent = await http.post("/session", content=f"token={AGENT}",
                                headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert agent.status_code == 403 and SESSION_COOKIE not in agent.headers.get("set-cookie", "")
        signed = await http.post("/session", content=f"token={SUPERVISOR}",
                                 headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert signed.status_code == 200 and "Signed in as sam (supervisor)" in signed.text
        cookie = signed.headers["set-cookie"].lower()
        assert "httponly" in cookie and "secure" in cookie and "samesite=none" in cookie
        jar = {"Cookie": f"{SESSION_COOKIE}={SUPERVISOR}"}
        from_ui = await http.post("/decode", json=encrypted(), headers={"Origin": UI, **jar})
        assert from_ui.status_code == 200 and datas(from_ui) == [SECRET, SECRET]
        assert from_ui.headers["access-control-allow-credentials"] == "true"
        elsewhere = await http.post("/decode", json=encrypted(), headers={"Origin": "https://evil.example", **jar})
        assert elsewhere.status_code == 403 and SECRET not in elsewhere.content
        preflight = await http.options("/decode", headers={"Origin": UI, "Access-Control-Request-Method": "POST",
                                                           "Access-Control-Request-Headers": "content-type"})
        assert preflight.headers["access-control-allow-origin"] == UI
