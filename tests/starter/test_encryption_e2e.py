"""Customer data is unreadable in Temporal's own history (read with the `temporal` CLI), readable through the
codec server for an authorised person, and stays readable across a key rotation."""

from __future__ import annotations

import base64
import json
import subprocess
import uuid

import httpx
import pytest

from starter.service.binaries import temporal_cli
from starter.service.codec import new_key_line
from tests.helpers.service import Service, Tokens, service_settings

pytestmark = pytest.mark.e2e  # the real HTTP service and the temporal CLI


def history(address: str, workflow_id: str, *codec: str) -> dict:
    result = subprocess.run(
        [temporal_cli(), "workflow", "show", "--address", address, "-w", workflow_id, "--output", "json", *codec],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def readable(document: dict) -> str:
    """The history as text plus every payload's data decoded from base64: personal data hidden in plain
    payloads would show here even when the CLI prints payload data as base64."""
    texts = [json.dumps(document, ensure_ascii=False)]

    def walk(node) -> None:
        if isinstance(node, dict):
            data = node.get("data")
            if isinstance(data, str) and "metadata" in node:
                try:
                    texts.append(base64.b64decode(data).decode("utf-8", "replace"))
                except ValueError:
                    pass
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(document)
    return "\n".join(texts)


def key_ids(document: dict) -> set[str]:
    found: set[str] = set()

    def walk(node) -> None:
        if isinstance(node, dict):
            kid = node.get("metadata", {}).get("encryption-key-id") if isinstance(node.get("metadata"), dict) \
                else None
            if isinstance(kid, str):
                found.add(base64.b64decode(kid).decode())
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(document)
    return found


def person() -> dict[str, str]:
    tag = uuid.uuid4().hex[:8]
    return {"customer_name": f"Wang Fang {tag}", "customer_contact": f"+86 139 {tag}",
            "summary": f"billing dispute {tag}"}


async def open_with(service: Service, tokens: Tokens, complaint_id: str, pii: dict[str, str]) -> None:
    async with httpx.AsyncClient(base_url=service.url, timeout=30) as http:
        response = await http.post("/v1/complaints", headers=Tokens.header(tokens.agent),
                                   json={"id": complaint_id, "contract": "always-on", "severity": "major", **pii})
        assert response.status_code == 201, response.text
        response = await http.post(f"/v1/complaints/{complaint_id}/acknowledge", headers=Tokens.header(tokens.agent),
                                   json={"note": f"called {pii['customer_contact']}"})
        assert response.status_code == 200, response.text


async def test_history_is_encrypted_decodes_through_the_codec_server_and_survives_key_rotation(dev_env, tmp_path):
    address = dev_env.client.service_client.config.target_host
    tokens = Tokens()
    k1, k2 = new_key_line("k1"), new_key_line("k2")
    settings = service_settings(address, tmp_path, tokens, codec_keys=k1)
    old, new = f"enc-{uuid.uuid4().hex[:8]}", f"enc-{uuid.uuid4().hex[:8]}"
    old_pii, new_pii = person(), person()

    with Service(settings, codec_server=True) as service:
        await open_with(service, tokens, old, old_pii)
        raw = history(address, f"complaint-{old}")
        assert key_ids(raw) == {"k1"}
        assert not any(value in readable(raw) for value in old_pii.values())
        auth = f"Bearer {tokens.supervisor}"
        assert service.codec_url is not None
        decoded = readable(history(address, f"complaint-{old}", "--codec-endpoint", service.codec_url,
                                   "--codec-auth", auth))
        assert all(value in decoded for value in old_pii.values())

        async with httpx.AsyncClient(base_url=service.codec_url) as codec:
            body: dict[str, list] = {"payloads": []}
            assert (await codec.post("/decode", json=body)).status_code == 401
            assert (await codec.post("/decode", json=body, headers=Tokens.header(tokens.agent))).status_code == 403
            assert (await codec.post("/decode", json=body, headers=Tokens.header(tokens.supervisor))).json() == {}
            preflight = {"Access-Control-Request-Method": "POST",
                         "Access-Control-Request-Headers": "authorization,content-type"}
            allowed = await codec.options("/decode", headers={"Origin": "http://127.0.0.1:8233", **preflight})
            assert allowed.headers.get("access-control-allow-origin") == "http://127.0.0.1:8233"
            foreign = await codec.options("/decode", headers={"Origin": "https://evil.example", **preflight})
            assert "access-control-allow-origin" not in foreign.headers

    # Rotation: k2 becomes active (listed first), k1 stays for decryption; a fresh worker replays the old
    # complaint's k1 history and carries on.
    rotated = settings.model_copy(update={"codec_keys": f"{k2},{k1}"})
    with Service(rotated, codec_server=True) as service:
        async with httpx.AsyncClient(base_url=service.url, timeout=30) as http:
            response = await http.post(f"/v1/complaints/{old}/triage", headers=Tokens.header(tokens.agent))
            assert response.status_code == 200, response.text
            assert [e["type"] for e in response.json()["timeline"]] == ["received", "acknowledged", "triaged"]
        await open_with(service, tokens, new, new_pii)
        raw_old = history(address, f"complaint-{old}")
        assert key_ids(raw_old) == {"k1", "k2"}
        assert key_ids(history(address, f"complaint-{new}")) == {"k2"}
        assert not any(value in readable(raw_old) for value in old_pii.values())
        assert service.codec_url is not None
        flags = ("--codec-endpoint", service.codec_url, "--codec-auth", f"Bearer {tokens.admin}")
        assert all(value in readable(history(address, f"complaint-{old}", *flags)) for value in old_pii.values())
        assert all(value in readable(history(address, f"complaint-{new}", *flags)) for value in new_pii.values())

    # Once k1 is dropped, what it encrypted is unreadable: the codec server returns those payloads unchanged.
    without_k1 = settings.model_copy(update={"codec_keys": k2})
    with Service(without_k1, codec_server=True, worker=False) as service:
        assert service.codec_url is not None
        flags = ("--codec-endpoint", service.codec_url, "--codec-auth", f"Bearer {tokens.supervisor}")
        assert old_pii["customer_name"] not in readable(history(address, f"complaint-{old}", *flags))
        assert new_pii["customer_name"] in readable(history(address, f"complaint-{new}", *flags))
