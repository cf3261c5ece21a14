"""A worker process on its own, for measuring worker memory per open workflow (started by bench.lifecycle).

    python -m bench.memory_worker --address HOST:PORT --namespace NS --task-queue Q --max-cached N

It runs CxSlaPlugin (plus the benchmark's baseline workflow) on one task queue and answers one-line commands on
stdin with one JSON line each:

    rss   -> {"rss": bytes, "hwm": bytes}   after gc.collect(), VmRSS / VmHWM from /proc/self/status
    stop  -> {"stopped": true}              then the worker shuts down and the process exits

The first line it prints is {"ready": true, "rss": ...} once the worker polls. The protocol gets its own copy
of stdout; file descriptor 1 itself is sent to /dev/null so that any log line (structlog prints to stdout by
default) cannot interleave with the answers.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import sys


def _protocol_stream():
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the process
    return proto


PROTO = _protocol_stream()

from temporalio.client import Client  # noqa: E402 - after stdout is taken over
from temporalio.worker import Worker  # noqa: E402

from bench.baseline import BaselineWorkflow  # noqa: E402
from bench.sinks import NullSink  # noqa: E402
from plugin import CxSlaPlugin  # noqa: E402


def proc_status(pid: int | str = "self") -> dict[str, int]:
    """VmRSS and VmHWM of a process in bytes, from /proc/<pid>/status."""
    values = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0]) * 1024  # kB
    return {"rss": values["VmRSS"], "hwm": values["VmHWM"]}


def say(message: dict) -> None:
    PROTO.write(json.dumps(message) + "\n")
    PROTO.flush()


async def serve(args: argparse.Namespace) -> None:
    client = await Client.connect(args.address, namespace=args.namespace, plugins=[CxSlaPlugin(sink=NullSink())])
    worker = Worker(
        client, task_queue=args.task_queue, workflows=[BaselineWorkflow],
        max_cached_workflows=args.max_cached,
    )
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    async with worker:
        gc.collect()
        say({"ready": True, **proc_status()})
        while line := await reader.readline():
            command = line.decode().strip()
            if command == "rss":
                gc.collect()
                say(proc_status())
            elif command == "stop":
                break
            else:
                say({"error": f"unknown command {command!r}"})
    say({"stopped": True})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--address", required=True)
    parser.add_argument("--namespace", default="default")
    parser.add_argument("--task-queue", required=True)
    parser.add_argument("--max-cached", type=int, required=True)
    asyncio.run(serve(parser.parse_args()))


if __name__ == "__main__":
    main()
