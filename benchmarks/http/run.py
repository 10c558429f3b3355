"""Drizzle's HTTP benchmark workload against four Python services, in one run.

    python benchmarks/http/run.py                         # all four, PostgreSQL on 127.0.0.1
    python benchmarks/http/run.py --only deesse,asyncpg --duration 10 --rounds 5
    python benchmarks/http/run.py --profile               # + a py-spy profile of deesse
    python benchmarks/http/run.py --profile deesse,asyncpg --per-endpoint 5

Seeds Drizzle's "micro" dataset into a schema of its own (once; kept between runs with
--keep-schema), writes the request mix of Drizzle's generator (fixed seed), checks that
every service answers a sample of it identically, then loads each service with wrk on
loopback (--connections, --duration after --warmup), each in its own uvicorn process
(one worker) started and stopped here, the services interleaved over --rounds rounds.
Writes results/results.md (median req/s, ratio to hand-written asyncpg, p50/p99
latency), results/results.json and results/chart.png. See README.md beside this file.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import importlib.util
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(HERE))
if (REPO / "src" / "deesse_async").is_dir():  # measure this checkout, not an installed copy
    sys.path.insert(0, str(REPO / "src"))

import workload  # noqa: E402

LABELS = {
    "deesse": "deesse_async (prepared)",
    "asyncpg": "asyncpg, hand-written",
    "sqlalchemy": "SQLAlchemy 2 async ORM",
    "tortoise": "Tortoise ORM",
}
ORDER = ["deesse", "asyncpg", "sqlalchemy", "tortoise"]
BASE = "asyncpg"


# -- processes ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Service:
    """One service in its own uvicorn process; stopped by its own PID only."""

    def __init__(self, name: str, args: argparse.Namespace, log_dir: Path) -> None:
        self.name = name
        self.url = args.url
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ)
        paths = [str(REPO / "src")] if (REPO / "src" / "deesse_async").is_dir() else []
        env["PYTHONPATH"] = os.pathsep.join([*paths, env.get("PYTHONPATH", "")]).strip(os.pathsep)
        env.pop("DEESSE_ENV", None)  # no development sync engine in a benchmark
        self.log = open(log_dir / f"{name}.log", "ab")
        cmd = [sys.executable, str(HERE / "serve.py"), name, "--port", str(self.port),
               "--url", args.url, "--schema", args.schema, "--http", args.http,
               "--loop", args.loop]  # fmt: skip
        self.proc = subprocess.Popen(cmd, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        self._wait_ready()

    def _wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}; see its log")
            try:
                with urllib.request.urlopen(f"{self.base}/customer-by-id?id=1", timeout=5) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} not ready after {timeout:.0f} s")

    def backends(self) -> list[int]:
        """PIDs of the PostgreSQL backends serving this process's pool (by client port)."""
        try:
            out = subprocess.run(["ss", "-tnpH", "state", "established"], capture_output=True,
                                 text=True, check=True).stdout  # fmt: skip
        except (OSError, subprocess.CalledProcessError):
            return []
        server = f":{urllib.parse.urlsplit(self.url).port or 5432}"
        mine = [line.split() for line in out.splitlines() if f"pid={self.proc.pid}," in line]
        ports = [int(cols[2].rsplit(":", 1)[1]) for cols in mine if cols[3].endswith(server)]
        return asyncio.run(backend_pids(self.url, ports)) if ports else []

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(self.base + path, timeout=30) as r:
            return json.loads(r.read())

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


async def backend_pids(url: str, ports: list[int]) -> list[int]:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE client_port = ANY($1::int[])", ports
        )
        return [r["pid"] for r in rows]
    finally:
        await conn.close()


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of these processes so far (Linux /proc)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
    return total / os.sysconf("SC_CLK_TCK")


# -- wrk ---------------------------------------------------------------------------------


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    print("wrk not found: apt-get install -y wrk", flush=True)
    subprocess.run(["apt-get", "update"], check=True, stdout=subprocess.DEVNULL)
    subprocess.run(["apt-get", "install", "-y", "wrk"], check=True, stdout=subprocess.DEVNULL)
    found = shutil.which("wrk")
    if not found:
        raise RuntimeError("wrk still missing after apt-get install")
    return found


def run_wrk(wrk: str, service: Service, args: argparse.Namespace, requests_file: Path,
            duration: int, offset: int) -> dict[str, Any]:  # fmt: skip
    cmd = [wrk, "-t", str(args.threads), "-c", str(args.connections), "-d", f"{duration}s",
           "--timeout", "10s", "-s", str(HERE / "mix.lua"), service.base, "--",
           str(requests_file), str(offset), str(args.threads)]  # fmt: skip
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    line = next(x for x in out.splitlines() if x.startswith("WRK_JSON "))
    result = json.loads(line.removeprefix("WRK_JSON "))
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    errors = sum(result[k] for k in ("connect_errors", "read_errors", "write_errors",
                                     "status_errors", "timeouts"))  # fmt: skip
    result["errors"] = errors
    return result


# -- verification ------------------------------------------------------------------------


def verify(names: list[str], args: argparse.Namespace, sample: list[str], log_dir: Path) -> bool:
    """Fetch the sample from every service in turn; compare each with the reference."""
    answers: dict[str, list[Any]] = {}
    for name in names:
        service = Service(name, args, log_dir)
        try:
            answers[name] = [workload.normalise(service.get(p)) for p in sample]
        finally:
            service.stop()
    ref = BASE if BASE in answers else names[0]
    ok = True
    for name in names:
        bad = [p for p, a, b in zip(sample, answers[name], answers[ref], strict=True) if a != b]
        if bad:
            ok = False
            print(f"  {name}: {len(bad)} of {len(sample)} responses differ from {ref}, e.g. "
                  f"{bad[0]}", flush=True)  # fmt: skip
            i = sample.index(bad[0])
            print(f"    {name}: {json.dumps(answers[name][i])[:600]}")
            print(f"    {ref}: {json.dumps(answers[ref][i])[:600]}")
        else:
            print(f"  {name}: {len(sample)} responses identical to {ref}'s", flush=True)
    return ok


# -- profile -----------------------------------------------------------------------------


def profile_service(name: str, wrk: str, args: argparse.Namespace, requests_file: Path,
                    out: Path, log_dir: Path) -> str:  # fmt: skip
    """py-spy record (folded stacks) of one service under the same load; a text summary
    back. The stacks stay in results/<name>-profile.txt (flamegraph.pl input)."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).exists():
        return "py-spy not installed (pip install py-spy): no profile\n"
    raw = out / f"{name}-profile.txt"
    service = Service(name, args, log_dir)
    try:
        run_wrk(wrk, service, args, requests_file, args.warmup, 0)
        spy_proc = subprocess.Popen(
            [spy, "record", "-p", str(service.proc.pid), "-d", str(args.duration), "-r", "250",
             "--nonblocking", "-f", "raw", "-o", str(raw)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        time.sleep(0.5)
        load = run_wrk(wrk, service, args, requests_file, args.duration, 50_000)
        spy_proc.wait(timeout=args.duration + 60)
    finally:
        service.stop()
    if not raw.exists():
        return "py-spy wrote nothing\n"
    # py-spy starts 0.5 s before wrk and samples for as long as wrk loads
    return summarise_profile(raw, load["rps"], load["rps"] * (args.duration - 0.5))


def summarise_profile(raw: Path, rps: float, requests: float) -> str:
    """Where the process spends its samples (py-spy leaves out idle waits): by package on
    the stack (inclusive), by innermost package (own), and deesse_async's functions."""
    packages = {
        "deesse_async": "deesse_async/", "asyncpg": "asyncpg/", "starlette": "starlette/",
        "uvicorn": "uvicorn/", "benchmark app (routing glue, orjson)": "services/common.py",
        "socket writes (asyncio transport.write)": "_SelectorSocketTransport.write",
        "event loop select()": "EpollSelector.select",
    }  # fmt: skip
    total = 0
    inclusive: dict[str, int] = dict.fromkeys(packages, 0)
    innermost: dict[str, int] = {}
    ours: dict[str, int] = {}
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        n = int(count)
        total += n
        frames = stack.split(";")
        for name, marker in packages.items():
            if any(marker in f for f in frames):
                inclusive[name] += n
        layer = next((name for f in reversed(frames) for name, marker in packages.items()
                      if marker in f), "other")  # fmt: skip
        innermost[layer] = innermost.get(layer, 0) + n
        for fn in {f.split(" (")[0] + " (" + f.split("(")[-1].split(":")[0] + ")"
                   for f in frames if "deesse_async/" in f}:  # fmt: skip
            ours[fn] = ours.get(fn, 0) + n
    if not total:
        return "py-spy took no samples\n"
    pct = lambda n: f"{n / total:.1%}"  # noqa: E731
    lines = [
        f"py-spy, {total} samples at 250 Hz while serving {rps:,.0f} req/s (idle waits "
        f"left out): {total * 4000 / requests:.0f} µs of the service's CPU per request",
        "",
        "| on the stack | share (inclusive) | innermost (own) |",
        "|---|---:|---:|",
    ]
    lines += [f"| {name} | {pct(inclusive[name])} | {pct(innermost.get(name, 0))} |"
              for name in sorted(packages, key=lambda k: -inclusive[k])]  # fmt: skip
    lines.append(f"| other | | {pct(innermost.get('other', 0))} |")
    lines += ["", "| deesse_async function (inclusive) | share |", "|---|---:|"]
    for fn, n in sorted(ours.items(), key=lambda kv: -kv[1])[:15]:
        lines.append(f"| `{fn}` | {pct(n)} |")
    return "\n".join(lines) + "\n"


def per_endpoint(wrk: str, args: argparse.Namespace, mix: list[str], tmp: Path,
                 log_dir: Path) -> str:  # fmt: skip
    """req/s of each service on one endpoint at a time (its requests from the mix)."""
    files: dict[str, Path] = {}
    for path in mix:
        files.setdefault(workload.endpoint(path), tmp / f"{len(files)}.txt")
    for ep, f in files.items():
        f.write_text("\n".join(p for p in mix if workload.endpoint(p) == ep) + "\n")
    rps: dict[str, dict[str, float]] = {}
    services = [Service(name, args, log_dir) for name in args.names]  # all up: interleaved
    try:
        for i, (ep, f) in enumerate(files.items()):
            for service in services[i % len(services) :] + services[: i % len(services)]:
                run_wrk(wrk, service, args, f, 1, 0)
                r = run_wrk(wrk, service, args, f, args.per_endpoint, 5_000)
                rps.setdefault(ep, {})[service.name] = r["rps"]
            print(f"  {ep}: " + ", ".join(f"{n} {v:,.0f}" for n, v in rps[ep].items()), flush=True)
    finally:
        for service in services:
            service.stop()
    base = BASE if BASE in args.names else args.names[0]
    head = " | ".join(LABELS[n] for n in args.names)
    lines = [
        f"req/s on one endpoint at a time ({args.per_endpoint} s each after 1 s, the services "
        f"interleaved, one round; ratios to {LABELS[base]} in brackets)",
        "",
        f"| endpoint | share of mix | {head} |",
        "|---|---:|" + "---:|" * len(args.names),
    ]
    for ep in sorted(files, key=lambda e: -sum(workload.endpoint(p) == e for p in mix)):
        share = sum(workload.endpoint(p) == ep for p in mix) / len(mix)
        cells = [f"{rps[ep][n]:,.0f} ({rps[ep][n] / rps[ep][base]:.2f})" for n in args.names]
        lines.append(f"| `{ep}` | {share:.1%} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


# -- report ------------------------------------------------------------------------------


def summarise(runs: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    out = {}
    for name, rs in runs.items():
        out[name] = {
            "rps": statistics.median(r["rps"] for r in rs),
            "rps_min": min(r["rps"] for r in rs),
            "rps_max": max(r["rps"] for r in rs),
            "p50_ms": statistics.median(r["p50_us"] for r in rs) / 1000,
            "p99_ms": statistics.median(r["p99_us"] for r in rs) / 1000,
            "service_cpu_us": statistics.median(r["service_cpu_us"] for r in rs),
            "pg_cpu_us": statistics.median(r["pg_cpu_us"] for r in rs),
            "errors": sum(r["errors"] for r in rs),
            "rounds": len(rs),
        }
    # The ratio is the median of per-round ratios: a service and the baseline measured
    # minutes apart in the same round share the machine's load better than medians do.
    base = runs.get(BASE)
    for name, s in out.items():
        s["ratio"] = (
            statistics.median(r["rps"] / b["rps"] for r, b in zip(runs[name], base, strict=True))
            if base
            else None
        )
    return out


def versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    parts = [f"Python {platform.python_version()}"]
    for pkg in ("deesse-async", "asyncpg", "sqlalchemy", "tortoise-orm", "starlette", "uvicorn",
                "httptools", "orjson"):  # fmt: skip
        try:
            parts.append(f"{pkg} {version(pkg)}")
        except PackageNotFoundError:
            pass
    return ", ".join(parts)


async def server_version(url: str) -> str:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        return str(await conn.fetchval("SHOW server_version")).split(" ")[0]
    finally:
        await conn.close()


def markdown(summary: dict[str, dict[str, Any]], args: argparse.Namespace, mix: list[str],
             meta: dict[str, str]) -> str:  # fmt: skip
    counts: dict[str, int] = {}
    for p in mix:
        counts[workload.endpoint(p)] = counts.get(workload.endpoint(p), 0) + 1
    mix_text = ", ".join(f"`{e}` {n / len(mix):.1%}" for e, n in
                         sorted(counts.items(), key=lambda kv: -kv[1]))  # fmt: skip
    lines = [
        f"Drizzle's HTTP benchmark workload ({len(mix):,}-request mix, "
        f"{'with' if args.include_search else 'without'} the search endpoints as its k6 script), "
        f"PostgreSQL {meta['postgres']} on loopback; Starlette + uvicorn, one worker "
        f"(http={args.http}, loop={args.loop}); wrk {args.connections} connections, "
        f"{args.threads} thread(s), {args.duration} s after a {args.warmup} s warm-up, "
        f"medians of {args.rounds} interleaved rounds; {meta['when']}.",
        "",
        "| service | req/s (median) | min-max over rounds | ratio to asyncpg (median of rounds) "
        "| p50 latency | p99 latency | service CPU per request | PostgreSQL CPU per request |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name in sorted(summary, key=lambda n: -summary[n]["rps"]):
        s = summary[name]
        ratio = f"{s['ratio']:.2f}" if s["ratio"] is not None else "-"
        lines.append(
            f"| {LABELS[name]} | {s['rps']:,.0f} | {s['rps_min']:,.0f}-{s['rps_max']:,.0f} | "
            f"{ratio} | {s['p50_ms']:.1f} ms | {s['p99_ms']:.1f} ms | "
            f"{s['service_cpu_us']:.0f} µs | {s['pg_cpu_us']:.0f} µs |"
        )
    errors = {n: s["errors"] for n, s in summary.items() if s["errors"]}
    lines += [
        "",
        "CPU per request: user + system time of the service process and of the PostgreSQL "
        "backends of its pool during the measured seconds, over the requests served "
        "(medians over rounds). The machine's other load does not count in them.",
        "",
        f"Errors (non-2xx, timeouts, socket errors): {errors or 'none'}.",
        "",
        f"Mix: {mix_text}.",
        "",
        f"Versions: {meta['versions']}. Machine: {meta['machine']}.",
        "",
        f"Command: `{meta['command']}`",
    ]
    return "\n".join(lines) + "\n"


def chart(summary: dict[str, dict[str, Any]], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = sorted(summary, key=lambda n: -summary[n]["rps"])
    rps = [summary[n]["rps"] for n in names]
    err = [[summary[n]["rps"] - summary[n]["rps_min"] for n in names],
           [summary[n]["rps_max"] - summary[n]["rps"] for n in names]]  # fmt: skip
    colours = ["#2b7bba" if n == "deesse" else "#7f7f7f" if n == BASE else "#c0c0c0"
               for n in names]  # fmt: skip
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2), gridspec_kw={"width_ratios": [3, 2]})
    bars = ax1.barh([LABELS[n] for n in names], rps, xerr=err, color=colours, capsize=3)
    ax1.invert_yaxis()
    ax1.set_xlabel("requests per second (median; bars: min-max over rounds)")
    for bar, n in zip(bars, names, strict=True):
        ratio = summary[n]["ratio"]
        label = f" {summary[n]['rps']:,.0f}" + (f"  ({ratio:.2f}x)" if ratio is not None else "")
        ax1.text(summary[n]["rps_max"], bar.get_y() + bar.get_height() / 2, label, va="center",
                 fontsize=9)  # fmt: skip
    ax1.set_xlim(0, max(summary[n]["rps_max"] for n in names) * 1.45)
    y = range(len(names))
    ax2.barh([i - 0.2 for i in y], [summary[n]["p50_ms"] for n in names], height=0.4,
             label="p50", color="#6baed6")  # fmt: skip
    ax2.barh([i + 0.2 for i in y], [summary[n]["p99_ms"] for n in names], height=0.4,
             label="p99", color="#08519c")  # fmt: skip
    ax2.set_yticks(list(y), [LABELS[n] for n in names])
    ax2.invert_yaxis()
    ax2.set_xlabel("latency, ms")
    ax2.legend(loc="upper right", fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# -- main --------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--schema", default="deesse_bench_http", help="schema of its own")
    parser.add_argument("--only", default=",".join(ORDER), help="e.g. deesse,asyncpg")
    parser.add_argument("--duration", type=int, default=15, help="seconds measured per run")
    parser.add_argument("--warmup", type=int, default=5, help="seconds of load before each run")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (median)")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--size", choices=sorted(workload.SIZES), default="micro")
    parser.add_argument("--include-search", action="store_true",
                        help="keep /search-* in the mix (Drizzle's k6 drops them)")  # fmt: skip
    parser.add_argument("--http", default="httptools" if importlib.util.find_spec("httptools")
                        else "h11", help="uvicorn --http")  # fmt: skip
    parser.add_argument("--loop", default="asyncio", help="uvicorn --loop (asyncio, uvloop)")
    parser.add_argument("--keep-schema", action="store_true",
                        help="keep the seeded schema for the next run (else dropped)")  # fmt: skip
    parser.add_argument("--allow-mismatch", action="store_true",
                        help="load even if the services answer differently")  # fmt: skip
    parser.add_argument("--profile", nargs="?", const="deesse", default="",
                        help="also py-spy these services under load (default: deesse)")  # fmt: skip
    parser.add_argument("--per-endpoint", type=int, default=0, metavar="SECONDS",
                        help="also load each endpoint alone for SECONDS (a breakdown)")  # fmt: skip
    parser.add_argument("--out", default=str(HERE / "results"))
    args = parser.parse_args()
    args.names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = set(args.names) - set(ORDER)
    if unknown:
        parser.error(f"unknown services {sorted(unknown)}; choose from {ORDER}")
    return args


def main() -> int:
    args = parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    wrk = ensure_wrk()
    seeded = asyncio.run(workload.ensure_seeded(args.url, args.schema, args.size))
    print(f"schema {args.schema!r}: {'seeded' if seeded else 'already seeded, reused'}", flush=True)
    mix = workload.request_mix(args.size, args.include_search)
    tmp = Path(tempfile.mkdtemp(prefix="deesse-http-"))
    try:
        requests_file = tmp / "requests.txt"
        requests_file.write_text("\n".join(mix) + "\n")
        log_dir = out / "logs"
        log_dir.mkdir(exist_ok=True)
        for name in args.names:
            (log_dir / f"{name}.log").write_bytes(b"")
        sample = workload.verification_sample(mix)
        print(f"verifying {len(sample)} requests against every service...", flush=True)
        if not verify(args.names, args, sample, log_dir) and not args.allow_mismatch:
            print("responses differ: not loading (--allow-mismatch to load anyway)")
            return 1
        runs: dict[str, list[dict[str, Any]]] = {n: [] for n in args.names}
        for rnd in range(args.rounds):
            order = args.names[rnd % len(args.names) :] + args.names[: rnd % len(args.names)]
            offset = rnd * 100_003
            for name in order:
                service = Service(name, args, log_dir)
                try:
                    run_wrk(wrk, service, args, requests_file, args.warmup, offset)
                    backends = service.backends()
                    cpu = (cpu_seconds([service.proc.pid]), cpu_seconds(backends))
                    r = run_wrk(wrk, service, args, requests_file, args.duration, offset + 50_000)
                    r["service_cpu_us"] = (
                        (cpu_seconds([service.proc.pid]) - cpu[0]) * 1e6 / r["requests"]
                    )
                    r["pg_cpu_us"] = (cpu_seconds(backends) - cpu[1]) * 1e6 / r["requests"]
                    r["pg_backends"] = len(backends)
                finally:
                    service.stop()
                runs[name].append(r)
                print(f"  round {rnd + 1}/{args.rounds} {name:<11} {r['rps']:8,.0f} req/s  "
                      f"p50 {r['p50_us'] / 1000:6.1f} ms  p99 {r['p99_us'] / 1000:6.1f} ms  "
                      f"CPU/req: service {r['service_cpu_us']:4.0f} µs, PostgreSQL "
                      f"{r['pg_cpu_us']:4.0f} µs ({r['pg_backends']} backends)"
                      + (f"  ERRORS {r['errors']}" if r["errors"] else ""), flush=True)  # fmt: skip
        summary = summarise(runs)
        meta = {
            "postgres": asyncio.run(server_version(args.url)),
            "versions": versions(),
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.system()}",
            "when": dt.date.today().isoformat(),
            "command": "python benchmarks/http/run.py " + " ".join(sys.argv[1:]),
        }
        text = markdown(summary, args, mix, meta)
        if args.per_endpoint:
            print("loading one endpoint at a time...", flush=True)
            text += "\n### Per endpoint\n\n" + per_endpoint(wrk, args, mix, tmp, log_dir)
        for name in [n for n in args.profile.split(",") if n]:
            print(f"profiling {name} under load with py-spy...", flush=True)
            text += f"\n### Where the {name} service spends its time\n\n"
            text += profile_service(name, wrk, args, requests_file, out, log_dir)
        (out / "results.md").write_text(text)
        (out / "results.json").write_text(json.dumps(
            {"summary": summary, "runs": runs, "meta": meta, "args": {
                k: v for k, v in vars(args).items() if k != "names"}}, indent=2))  # fmt: skip
        chart(summary, out / "chart.png",
              f"Drizzle's HTTP workload, wrk {args.connections} connections, one uvicorn worker, "
              f"PostgreSQL {meta['postgres']}")  # fmt: skip
        print("\n" + text)
        print(f"wrote {out / 'results.md'}, {out / 'results.json'}, {out / 'chart.png'}")
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if not args.keep_schema:
            asyncio.run(workload.drop_schema(args.url, args.schema))


if __name__ == "__main__":
    sys.exit(main())
