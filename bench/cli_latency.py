"""Wall time of `cxsla complaint show` against two baselines: an empty interpreter (`python -c pass`) and the
least any Python Temporal client can do (import `temporalio.client`, connect, describe the workflow).

    cxsla up &                                      # or any server with a worker
    python -m bench.cli_latency --address 127.0.0.1:7233 --runs 15

The three commands run interleaved, round after round, so a machine whose load changes during the bench skews
them alike; min and median are printed. Then the slowest imports of one `show` (`python -X importtime`, cumulative)
say where what is left goes. The complaint (`--id`, default `bench-latency`) is opened on the `demo` contract when
it does not exist (run it where `cxsla up` runs, or with CXSLA_TOKEN). `--compare-tree DIR` adds the same `show`
run from another checkout (e.g. `git worktree add /tmp/before main`), imported ahead of this one.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

BIN = Path(sys.executable).parent
BARE = """
import asyncio, os, sys
from temporalio.client import Client
async def main():
    client = await Client.connect(sys.argv[1])
    await client.get_workflow_handle(sys.argv[2]).describe()
asyncio.run(main())
os._exit(0)
"""


def timed(command: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def slowest_imports(command: list[str], env: dict[str, str], count: int) -> list[tuple[int, str]]:
    done = subprocess.run([sys.executable, "-X", "importtime", *command], env=env, capture_output=True, text=True)
    rows = []
    for line in done.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            _, cumulative, name = line.split("|")
            if cumulative.strip().isdigit():
                rows.append((int(cumulative), name.rstrip()))
    return sorted(rows, reverse=True)[:count]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--address", default=os.environ.get("TEMPORAL_ADDRESS", "127.0.0.1:7233"))
    parser.add_argument("--id", default="bench-latency")
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--imports", type=int, default=15, help="how many of the slowest imports to print")
    parser.add_argument("--compare-tree", help="a checkout whose `cxsla complaint show` runs alongside")
    args = parser.parse_args()
    env = {**os.environ, "TEMPORAL_ADDRESS": args.address}
    cxsla = str(BIN / "cxsla")
    show = [cxsla, "complaint", "show", args.id]
    if subprocess.run(show, env=env, capture_output=True).returncode != 0:
        subprocess.run([cxsla, "complaint", "open", "--id", args.id, "--contract", "demo", "--severity", "low"],
                       env=env, check=True, stdout=subprocess.DEVNULL)
    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "temporalio.client connect+describe": [sys.executable, "-c", BARE, args.address, f"complaint-{args.id}"],
        "cxsla complaint show": show,
    }
    envs = {name: env for name in commands}
    if args.compare_tree:
        name = f"show from {args.compare_tree}"
        # -P: the checkout on PYTHONPATH, not this one from the current directory
        commands[name] = [sys.executable, "-P", "-c", "from starter.cli import main; main()", *show[1:]]
        envs[name] = {**env, "PYTHONPATH": str(Path(args.compare_tree).resolve())}
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(args.runs):
        for name, command in commands.items():
            times[name].append(timed(command, envs[name]))
    width = max(map(len, commands))
    print(f"{'':{width}} {'min':>7} {'median':>7}   ({args.runs} runs, {os.cpu_count()} cores, "
          f"load {os.getloadavg()[0]:.2f})")
    for name, values in times.items():
        print(f"{name:{width}} {min(values):7.3f} {statistics.median(values):7.3f}")
    print("\nslowest imports of `cxsla complaint show` (cumulative, one run):")
    for micros, name in slowest_imports([str(BIN / "cxsla"), *show[1:]], env, args.imports):
        print(f"  {micros / 1000:7.1f} ms  {name.strip()}")


if __name__ == "__main__":
    main()
