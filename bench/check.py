"""`make bench-check`: the check at scale, measured with wrk (Debian's `wrk`, a Lua script for
the POST body and the key) beside the framework's ceiling (`bench.ceiling`) in the same run,
A/B alternated, medians; then the cache's hit rate for checked customers while 1,000 usage
events/s for other customers flow through Kafka (`bench.hitrate`, the checks paced at
`--check-rate`). Loopback only; every run is bounded.

Usage: python -m bench.check [--seconds S] [--rounds N] [--no-kafka] [--check-rate N]
       [--paced-rate N] [--workers] [--no-throughput] [--baseline DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.http import free_port, start

SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {key}"
local customers = {{{customers}}}
local n = 0
request = function()
  n = n + 1
  local body = '{{"customer_id":"' .. customers[n % #customers + 1] .. '","feature":"{feature}"}}'
  return wrk.format(nil, nil, nil, body)
end
"""
PACED = """
delay = function()
  return math.random(0, 2 * {pause})
end
"""


def lua(key: str, customers: list[str], feature: str, pause_ms: int = 0) -> str:
    """The wrk script: the POST body (customers in turn) and the key; with `pause_ms`, each
    connection waits that long on average between its requests (a paced load, not a flood;
    drawn at random so that the connections do not send in step, bursts of 16 at once)."""
    path = Path(tempfile.mkdtemp(prefix="bench-wrk-")) / "check.lua"
    path.write_text(SCRIPT.format(key=key, feature=feature,
                                  customers=", ".join(f'"{c}"' for c in customers))
                    + (PACED.format(pause=pause_ms) if pause_ms else ""))
    return str(path)


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of a process and its children so far, from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for p in [pid, *_children(pid)]:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def machine_ticks() -> tuple[int, int]:
    """(all, stolen) CPU ticks of the machine so far: a virtual machine's host taking its
    cores shows as steal; it makes a flood's tail longer whatever the server does."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(fields[:8]), fields[7]


def wrk(url: str, script: str, connections: int, seconds: float,
        pid: int | None = None) -> dict[str, float]:
    """Requests/s and latency percentiles (ms) of one bounded wrk run; refuses non-2xx. With
    `pid`, also the server's CPU per answered request (us) and the machine's steal share (%)
    during the run: the figures a noisy shared machine moves least and most."""
    before, ticks = (cpu_seconds(pid) if pid else 0.0), machine_ticks()
    out = subprocess.run(["wrk", f"-t{min(connections, 2)}", f"-c{connections}",
                          f"-d{max(1, round(seconds))}s", "--latency", "-s", script, f"{url}/v1/check"],
                         capture_output=True, text=True, timeout=seconds + 60, check=True).stdout
    if "Non-2xx" in out:
        raise RuntimeError(f"wrk saw errors:\n{out}")
    found = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))}  # type: ignore[union-attr]
    for pct in ("50", "99"):
        value, unit = re.search(rf"\s{pct}%\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
        found[f"p{pct}"] = float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    answered = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    if pid:
        found["cpu_us"] = (cpu_seconds(pid) - before) * 1e6 / max(1, answered)
    after = machine_ticks()
    found["steal"] = 100 * (after[1] - ticks[1]) / max(1, after[0] - ticks[0])
    return found


def serve_ceiling() -> tuple[subprocess.Popen[str], str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "bench.ceiling", str(port)], text=True,
                            stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    _wait(base, lambda: httpx.post(f"{base}/v1/check", timeout=1).status_code == 200)
    return proc, base


def _wait(base: str, ready: object, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if ready():  # type: ignore[operator]
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{base} did not come up")


def baseline_env(source: str | None) -> dict[str, str] | None:
    """The environment that runs the `ledger` of another checkout (e.g. `git archive` of main)."""
    return None if source is None else {**os.environ, "PYTHONPATH": source}


def throughput(seconds: float, rounds: int, baseline: str | None,
               paced_rate: int = 0) -> list[tuple[str, ...]]:
    """POST /v1/check on `ledger up` (a cache hit: the demo customer) beside the ceiling and,
    with `baseline`, the same on the baseline's `ledger up`: A/B(/C) alternated, medians.
    Flooded at 1, 16 and 64 connections (each connection sends its next request when the
    last is answered: the latencies of a saturated server, mostly queueing); with
    `paced_rate`, also 16 connections paced to about that many requests/s in all, the load at
    which a latency objective is judged (the server is not saturated)."""
    servers = {"check": start()}
    if baseline is not None:
        servers["baseline"] = start(baseline_env(baseline))
    ceiling, ceiling_base = serve_ceiling()
    bases = {name: base for name, (_, base, _) in servers.items()} | {"ceiling": ceiling_base}
    pids = {name: proc.pid for name, (proc, _, _) in servers.items()} | {"ceiling": ceiling.pid}
    keys = {name: key for name, (_, _, key) in servers.items()} | {"ceiling": servers["check"][2]}
    cells = [(f"{c} connection{'s' if c > 1 else ''}", c, 0) for c in (1, 16, 64)]
    if paced_rate:
        cells.append((f"16 connections paced to {paced_rate:,}/s", 16,
                      max(1, round(16 * 1000 / paced_rate))))
    rows = []
    try:
        for label, connections, pause in cells:
            scripts = {name: lua(key, ["cust-acme"], "api_calls", pause)
                       for name, key in keys.items()}
            runs: dict[str, list[dict[str, float]]] = {name: [] for name in bases}
            for _ in range(rounds):  # alternated so drift on a shared machine hits all alike
                for name, base in bases.items():
                    runs[name].append(wrk(base, scripts[name], connections, seconds,
                                          pids[name]))
            med = {name: {k: statistics.median(r[k] for r in rs)
                          for k in ("rps", "p50", "p99", "cpu_us", "steal")}
                   for name, rs in runs.items()}

            rows.append((label, *(_cell(med[name]) for name in bases),
                         f"{med['check']['rps'] / med['ceiling']['rps']:.2f}"))
    finally:
        for proc in [ceiling, *(p for p, _, _ in servers.values())]:
            proc.terminate()
            proc.wait(timeout=30)
    return rows


def workers(seconds: float, rounds: int, counts: tuple[int, ...] = (1, 2)) -> list[tuple[str, ...]]:
    """`ledger serve --workers N` (embedded, SQLite) at 16 and 64 connections, N alternated."""
    from ledger.api.remembered_keys import ApiKeys
    from ledger.bootstrap import bootstrap
    from ledger.settings import Settings
    from tests.builders import catalog_envelope, envelope

    directory = Path(tempfile.mkdtemp(prefix="bench-workers-"))
    url = f"sqlite:///{directory / 'ledger.db'}"
    wiring = bootstrap(Settings(database_url=url, _env_file=None))  # type: ignore[call-arg]
    wiring.ledger.ingest([catalog_envelope(), envelope("license.granted", "2026-02-01", "lic-1",
                                                       customer_id="c1", plan="pro")], "acme")
    wiring.close()
    key = ApiKeys.open(url).create("acme", "service").key
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
    env.update(LEDGER_DATABASE_URL=url, LEDGER_LOG_LEVEL="warning")
    servers = {}
    for n in counts:
        port = free_port()
        servers[n] = (subprocess.Popen([str(Path(sys.executable).parent / "ledger"), "serve",
                                        "--port", str(port), "--workers", str(n)], env=env,
                                       cwd=directory, stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL), f"http://127.0.0.1:{port}")
    script = lua(key, ["c1"], "sso")
    rows = []
    try:
        for _, base in servers.values():
            _wait(base, lambda base=base: httpx.get(f"{base}/healthz", timeout=1).status_code == 200)
        for connections in (16, 64):
            runs: dict[int, list[dict[str, float]]] = {n: [] for n in counts}
            for _ in range(rounds):
                for n, (_, base) in servers.items():
                    runs[n].append(wrk(base, script, connections, seconds))
            rows.append((f"{connections} connections", *(_cell(
                {k: statistics.median(r[k] for r in runs[n]) for k in ("rps", "p50", "p99")})
                for n in counts)))
    finally:
        for proc, _ in servers.values():
            proc.terminate()
            proc.wait(timeout=30)
    return rows


def _cell(m: dict[str, float]) -> str:
    cpu = f", server CPU {m['cpu_us']:.0f} us/req" if "cpu_us" in m else ""
    steal = f", steal {m['steal']:.1f} %" if "steal" in m else ""
    return f"{m['rps']:,.0f} req/s, p50 {m['p50']:.2f} ms, p99 {m['p99']:.2f} ms{cpu}{steal}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0, help="per wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="A/B rounds per connection count")
    parser.add_argument("--no-kafka", action="store_true", help="skip the hit-rate run")
    parser.add_argument("--check-rate", type=int, default=1000,
                        help="checks/s offered in the hit-rate run (0: as fast as they go)")
    parser.add_argument("--workers", action="store_true",
                        help="also compare `ledger serve --workers 1` and `--workers 2`")
    parser.add_argument("--throughput", action=argparse.BooleanOptionalAction, default=True,
                        help="the check beside the ceiling (default on)")
    parser.add_argument("--paced-rate", type=int, default=2000,
                        help="also 16 connections paced to this many checks/s in all (0: no)")
    parser.add_argument("--baseline", default=None, metavar="DIR",
                        help="a checkout to compare with, e.g. `git archive main | tar -x -C DIR`")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is missing: apt-get install wrk")
    print(f"machine: {platform.platform()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"wrk: {args.rounds} alternated rounds of {args.seconds:g} s per cell, medians\n")
    columns = ["ledger (cache hit)", *(["baseline"] if args.baseline else []),
               "constant-JSON FastAPI", "ratio to the ceiling"]
    print("| POST /v1/check | " + " | ".join(columns) + " |\n" + "|---" * (len(columns) + 1) + "|")
    rows = throughput(args.seconds, args.rounds, args.baseline, args.paced_rate) \
        if args.throughput else ()
    for row in rows:
        print("| " + " | ".join(row) + " |", flush=True)
    if args.workers:
        print("\n| ledger serve | --workers 1 | --workers 2 |\n|---|---|---|")
        for row in workers(args.seconds, args.rounds):
            print("| " + " | ".join(row) + " |", flush=True)
    if not args.no_kafka:
        from bench.hitrate import run as hit_rate

        print()
        print("ledger:", json.dumps(hit_rate(args.seconds * 3, check_rate=args.check_rate)),
              flush=True)
        if args.baseline:
            print("baseline:", json.dumps(hit_rate(args.seconds * 3, env=baseline_env(args.baseline),
                                                   check_rate=args.check_rate)))


if __name__ == "__main__":
    main()
