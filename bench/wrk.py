"""Single-request scenarios with ``wrk`` (C, event-driven: the cheapest load generator here).

``lua/report.lua`` counts every status and prints the latency percentiles as JSON, so a run
of 304s can be told from a run of 200s and nothing is taken on trust.
"""
import json
import os
import shutil
import subprocess
from pathlib import Path

LUA = Path(__file__).resolve().parent / "lua" / "report.lua"


def available():
    return shutil.which("wrk") is not None


def run(base, path, concurrency, seconds, etag=None, threads=1):
    """GET ``path`` from ``concurrency`` keep-alive connections for ``seconds``; return the numbers."""
    env = {**os.environ, "BENCH_PATH": path, "BENCH_ETAG": etag or ""}
    completed = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{concurrency}", f"-d{seconds}s", "--timeout", "10s", "-s", str(LUA), base],
        env=env, capture_output=True, text=True, timeout=seconds + 60, check=True,
    )
    line = next(line for line in completed.stdout.splitlines() if line.startswith("BENCH_JSON "))
    raw = json.loads(line[len("BENCH_JSON "):])
    seconds_run = raw["duration_us"] / 1e6
    return {
        "concurrency": concurrency,
        "wall_seconds": round(seconds_run, 3),
        "requests": raw["requests"],
        "requests_per_s": round(raw["requests"] / seconds_run, 1),
        "mib_per_s": round(raw["bytes"] / seconds_run / 2**20, 2),
        "p50_ms": round(raw["latency_us"]["p50"] / 1000, 2),
        "p95_ms": round(raw["latency_us"]["p95"] / 1000, 2),
        "p99_ms": round(raw["latency_us"]["p99"] / 1000, 2),
        "max_ms": round(raw["latency_us"]["max"] / 1000, 2),
        "statuses": {k: v for k, v in sorted(raw["statuses"].items())},
        "socket_errors": raw["errors"],
    }
