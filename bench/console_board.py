"""What one refresh of the console's board costs with many open complaints.

    .venv/bin/python -m bench.console_board [--complaints N] [--rounds R]

One dev server (the venv's `temporal` binary) with a worker in this process; N complaints opened on the
`always-on` contract (no deadline falls inside the run); the API app (with the console) served in-process over
ASGI, signed in with an agent token. Timed, R times each: the board's rows as its script fetches them every 3 s
(one visibility listing, sorted here), the same with a text search (which also reads each listed complaint's
status), and a complaint page (one status query, clock bars, timeline). Figures are printed and written to
bench/results/console_board.json; nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import re
import tempfile
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import httpx
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from bench.lifecycle import percentile
from plugin import CxSlaPlugin
from sla.commands import OpenComplaint
from starter.api import create_app
from starter.client.complaints import ComplaintClient
from starter.service.binaries import temporal_cli
from starter.service.settings import Settings
from starter.service.tokens import Role, config_line, new_token
from workflows import search_attributes as sa

RESULTS = Path(__file__).resolve().parent / "results" / "console_board.json"
CONTRACT = "always-on"


async def _timed(http: httpx.AsyncClient, url: str, rounds: int, **kwargs) -> list[float]:
    seconds = []
    for _ in range(rounds):
        started = time.perf_counter()
        response = await http.get(url, **kwargs)
        seconds.append(time.perf_counter() - started)
        assert response.status_code == 200, response.text[:300]
    return seconds


def _summary(seconds: list[float]) -> dict[str, float]:
    ordered = sorted(seconds)
    return {f"p{p}_ms": round((percentile(ordered, p) or 0.0) * 1000, 1) for p in (50, 90)}


async def main(complaints: int, rounds: int) -> dict:
    env = await WorkflowEnvironment.start_local(dev_server_existing_path=temporal_cli(), plugins=[CxSlaPlugin()],
                                                search_attributes=list(sa.ALL), dev_server_log_level="error")
    queue = f"bench-{uuid.uuid4().hex[:8]}"
    try:
        async with Worker(env.client, task_queue=queue):
            client = ComplaintClient(env.client, task_queue=queue)
            run = uuid.uuid4().hex[:6]
            lanes = asyncio.Semaphore(16)

            async def open_one(i: int) -> None:
                async with lanes:
                    await client.open(OpenComplaint(id=f"board-{run}-{i}", contract=CONTRACT, severity="normal",
                                                    customer_id=f"C-{i}", summary=f"bench complaint {i}"))

            await asyncio.gather(*(open_one(i) for i in range(complaints)))
            query = f"WorkflowId STARTS_WITH 'complaint-board-{run}-'"
            while (await env.client.count_workflows(query)).count < complaints:
                await asyncio.sleep(0.2)
            token = new_token()
            tokens = Path(tempfile.mkdtemp(prefix="cxsla-bench-")) / "api-tokens"
            tokens.write_text(config_line("amy", Role.AGENT, token) + "\n", encoding="utf-8")
            settings = Settings(_env_file=None, temporal_address="127.0.0.1:1", api_tokens=None,
                                api_tokens_file=str(tokens), codec_keys=None, require_encryption=False)
            app = create_app(settings, complaints_client=client)
            app.state.complaints = client
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench",
                                         timeout=120) as http:
                form = await http.get("/ui/signin")
                csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)  # type: ignore[union-attr]
                await http.post("/ui/signin", data={"csrf": csrf, "token": token})
                board = _summary(await _timed(http, "/ui/board/rows", rounds, params={"contract": CONTRACT}))
                search = _summary(await _timed(http, "/ui/board/rows", max(1, rounds // 4),
                                               params={"contract": CONTRACT, "q": "C-7"}))
                page = _summary(await _timed(http, f"/ui/complaints/board-{run}-0", rounds))
    finally:
        await env.shutdown()
    return {"complaints": complaints, "rounds": rounds, "board_rows": board, "board_rows_with_search": search,
            "complaint_page": page, "machine": platform.platform(),
            "when": datetime.now(timezone.utc).isoformat(timespec="seconds")}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--complaints", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    figures = asyncio.run(main(args.complaints, args.rounds))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(figures, indent=2))
