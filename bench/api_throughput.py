"""Complaints opened per second through the HTTP API versus through the Python client directly.

    .venv/bin/python -m bench.api_throughput [--complaints N] [--concurrency C] [--rounds R]   (make bench)

One run, one dev server (started here from the venv's `temporal` binary, stopped at the end), one `cxsla worker`
process and one `cxsla api` process, both as deployed (payload encryption on, default logging). The load comes
from this process with C concurrent lanes:

- direct: `ComplaintClient.open` (start the workflow + query its status), the same keys and codec as the API;
- api: `POST /v1/complaints` with an agent token over keep-alive HTTP/1.1 (httpx), which does the same call
  inside the API process, plus authentication, validation and JSON.

The two alternate for R rounds of N opens each (after a warm-up of each), so drift in the server (SQLite
growing, caches warming) falls on both alike. complaints/s = opens / wall time; every open's latency is kept
for p50/p99. The ratio api/direct is what the HTTP layer costs (target >= 0.7). Figures are printed and written
to bench/results/api_throughput.json; nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import httpx
from temporalio.testing import WorkflowEnvironment

from bench.lifecycle import Latencies, log, percentile, run_lanes
from plugin import CxSlaPlugin
from sla.commands import OpenComplaint
from starter.client.complaints import ComplaintClient
from starter.service.binaries import temporal_cli
from starter.service.codec import new_key_line
from starter.service.settings import Settings
from starter.service.tokens import Role, config_line, new_token
from workflows import search_attributes as sa

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "api_throughput.json"
CXSLA = str(Path(sys.executable).parent / "cxsla")
CONTRACT = "always-on"  # no deadline falls inside the run


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _body(complaint_id: str) -> dict:
    return {"id": complaint_id, "contract": CONTRACT, "severity": "normal", "channel": "phone",
            "customer_name": "Bench Customer", "customer_contact": "+86 100 0000 0000", "summary": "bench"}


async def _wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient() as http:
        while True:
            try:
                if (await http.get(url)).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not become ready in {timeout:.0f}s")
            await asyncio.sleep(0.2)


def _summary(kind: str, latencies: list[float], opens: int, failures: list[str], seconds: float) -> dict:
    return {
        "kind": kind, "opens": opens, "failures": len(failures), "failure_samples": failures[:3],
        "seconds": round(seconds, 3), "per_second": round((opens - len(failures)) / seconds, 1) if seconds else None,
        "latency_ms": {"p50": _r(percentile(latencies, 50)), "p99": _r(percentile(latencies, 99)),
                       "mean": _r(sum(latencies) / len(latencies)) if latencies else None},
    }


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


async def run(*, complaints: int, concurrency: int, rounds: int, warmup: int, output: Path | None) -> dict:
    tag = uuid.uuid4().hex[:8]
    token = new_token()
    workdir = Path(tempfile.mkdtemp(prefix="cxsla-bench-api-"))
    log("starting dev server")
    env = await WorkflowEnvironment.start_local(dev_server_existing_path=temporal_cli(),
        plugins=[CxSlaPlugin()], search_attributes=list(sa.ALL),
        dev_server_log_level="error",
    )
    processes: list[subprocess.Popen] = []
    try:
        address = env.client.service_client.config.target_host
        api_port = _free_port()
        common = {
            **os.environ, "TEMPORAL_ADDRESS": address, "CXSLA_TASK_QUEUE": f"bench-api-{tag}",
            "CXSLA_CODEC_KEYS": new_key_line("bench"), "CXSLA_CODEC_KEY_FILE": str(workdir / "no-key-file"),
            "CXSLA_API_TOKENS": config_line("bench", Role.AGENT, token),
            "CXSLA_API_TOKENS_FILE": str(workdir / "no-tokens"),
        }
        common.pop("CXSLA_CODEC_ACTIVE_KEY", None)
        (workdir / "no-tokens").write_text("")
        for args, name in ((["worker", "--metrics-port", str(_free_port())], "worker"),
                           (["api", "--port", str(api_port)], "api")):
            with (workdir / f"{name}.log").open("wb") as sink:
                processes.append(subprocess.Popen([CXSLA, *args], env=common, stdout=sink, stderr=subprocess.STDOUT,
                                                  cwd=workdir))
        api_url = f"http://127.0.0.1:{api_port}"
        await _wait_http(f"{api_url}/readyz")
        settings = Settings(_env_file=None, temporal_address=address, task_queue=common["CXSLA_TASK_QUEUE"],
                            codec_keys=common["CXSLA_CODEC_KEYS"], codec_active_key=None,
                            codec_key_file=common["CXSLA_CODEC_KEY_FILE"])
        direct = await ComplaintClient.connect(settings=settings)
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        headers = {"Authorization": f"Bearer {token}"}

        async with httpx.AsyncClient(base_url=api_url, limits=limits, timeout=60, headers=headers) as http:
            async def via_api(complaint_id: str, latencies: Latencies) -> None:
                start = time.perf_counter()
                response = await http.post("/v1/complaints", json=_body(complaint_id))
                if response.status_code != 201:
                    raise RuntimeError(f"{response.status_code}: {response.text[:200]}")
                latencies["open"].append((time.perf_counter() - start) * 1000)

            async def via_client(complaint_id: str, latencies: Latencies) -> None:
                start = time.perf_counter()
                opened = await direct.open(OpenComplaint(**_body(complaint_id), by="bench"))
                if not opened.created:
                    raise RuntimeError(f"{complaint_id} existed")
                latencies["open"].append((time.perf_counter() - start) * 1000)

            paths = {"direct": via_client, "api": via_api}
            if warmup:
                log(f"warm-up: {warmup} opens each way")
                for kind, one in paths.items():
                    await run_lanes([f"warm-{kind}-{tag}-{n}" for n in range(warmup)], one, concurrency)
            totals: dict[str, dict] = {k: {"latencies": [], "failures": [], "seconds": 0.0, "opens": 0} for k in paths}
            per_round: list[dict] = []
            for number in range(rounds):
                for kind, one in paths.items():
                    ids = [f"{kind}-{tag}-{number}-{n}" for n in range(complaints)]
                    lat, failures, seconds = await run_lanes(ids, one, concurrency)
                    summary = _summary(kind, lat["open"], len(ids), failures, seconds)
                    per_round.append({"round": number + 1, **summary})
                    log(f"round {number + 1} {kind}: {summary['per_second']}/s, p50 {summary['latency_ms']['p50']} "
                        f"ms, p99 {summary['latency_ms']['p99']} ms, {len(failures)} failed")
                    total = totals[kind]
                    total["latencies"] += lat["open"]
                    total["failures"] += failures
                    total["seconds"] += seconds
                    total["opens"] += len(ids)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
        log("stopping dev server")
        await env.shutdown()

    overall = {k: _summary(k, t["latencies"], t["opens"], t["failures"], t["seconds"]) for k, t in totals.items()}
    ratio = overall["api"]["per_second"] / overall["direct"]["per_second"] if overall["direct"]["per_second"] else None
    results = {
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "parameters": {"complaints_per_round": complaints, "rounds": rounds, "concurrency": concurrency,
                       "warmup": warmup, "contract": CONTRACT, "encryption": True},
        "environment": {"python": platform.python_version(), "cpus": os.cpu_count(),
                        "temporalio": metadata.version("temporalio"), "fastapi": metadata.version("fastapi"),
                        "uvicorn": metadata.version("uvicorn")},
        "overall": overall, "rounds": per_round,
        "ratio_api_to_direct": _r(ratio), "target_ratio": 0.7,
    }
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(results, indent=2) + "\n")
    return results


def report(results: dict) -> str:
    p = results["parameters"]
    lines = [
        f"complaint opens: HTTP API vs Python client ({p['rounds']} rounds x {p['complaints_per_round']} each way, "
        f"concurrency {p['concurrency']}, encryption on, {results['environment']['cpus']} CPUs)",
        f"{'path':<8} {'opens/s':>9} {'p50 ms':>9} {'p99 ms':>9} {'failed':>7}",
    ]
    for kind in ("direct", "api"):
        o = results["overall"][kind]
        lines.append(f"{kind:<8} {o['per_second']:>9} {o['latency_ms']['p50']:>9} {o['latency_ms']['p99']:>9} "
                     f"{o['failures']:>7}")
    lines.append(f"ratio api/direct: {results['ratio_api_to_direct']} (target >= {results['target_ratio']})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.api_throughput", description=__doc__.splitlines()[0])
    parser.add_argument("--complaints", type=int, default=300, help="opens per path per round (default 300)")
    parser.add_argument("--concurrency", type=int, default=16, help="concurrent lanes (default 16)")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds (default 2)")
    parser.add_argument("--warmup", type=int, default=30, help="uncounted opens per path first (default 30)")
    parser.add_argument("--output", type=Path, default=RESULTS, help="JSON results file")
    args = parser.parse_args(argv)
    results = asyncio.run(run(complaints=args.complaints, concurrency=args.concurrency, rounds=args.rounds,
                              warmup=args.warmup, output=args.output))
    print(report(results))


if __name__ == "__main__":
    main()
