"""Load on the browser app: 20 simulated users reading the dashboard and saving visits.

Issue 10's target: p95 latency < 200 ms, 0 errors, 0 lost writes, for 20 concurrent
users on a SQLite study for 60 s. The app runs as `nmmstrial serve` in a subprocess on
a free loopback port (nothing leaves the machine); each simulated user is a thread with
its own session and its own patient, looping (bounded by time and by a count), with a
think time before each request (`--think`, default 0.5 s; 0 makes it a stress test), over:
the dashboard page, `GET /api/patients`, the patient's values, and a change of one MRC
grade (with the version it read and a reason). At the end every saved value must be
the stored one, at the version its saves imply, and `audit verify` must pass.

Run: .venv/bin/python benchmarks/web.py [--users 20] [--seconds 60]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

import httpx

PASSWORD = "demo"
MAX_LOOPS = 100_000  # per user: the loop is bounded by count as well as by time


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def nmmstrial(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "NMMSTRIAL_PASSWORD": PASSWORD}
    return subprocess.run(
        [sys.executable, "-m", "nmmstrial.cli", *args],
        env=env,
        check=True,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )


def user_loop(base, patient, seconds, think, timings, errors, saved, barrier) -> None:
    """One simulated assessor: read, read, read, change a value; until time is up."""
    with httpx.Client(base_url=base, timeout=30) as client:
        response = client.post("/api/login", json={"user": "assessor", "password": PASSWORD})
        response.raise_for_status()
        barrier.wait()
        end = time.monotonic() + seconds
        for loop in range(MAX_LOOPS):
            if time.monotonic() >= end:
                break
            for kind, method, url, kwargs in (
                ("dashboard", "GET", "/", {}),
                ("patients", "GET", "/api/patients", {}),
                (
                    "observations",
                    "GET",
                    "/api/observations",
                    {"params": {"patient": patient, "time": "T1"}},
                ),
            ):
                time.sleep(think)
                start = time.perf_counter()
                response = client.request(method, url, **kwargs)
                timings[kind].append(time.perf_counter() - start)
                if response.status_code != 200:
                    errors.append((kind, response.status_code, response.text[:200]))
                    continue
                if kind == "observations":
                    rows = {(r["measure"], r["side"]): r for r in response.json()}
            current = rows[("mrc_fcr", "left")]
            value = 2.0 if current["value"] != 2.0 else 3.0
            body = {
                "patient": patient,
                "time": "T1",
                "measure": "mrc_fcr",
                "side": "left",
                "value": value,
                "version": current["version"],
                "reason": f"benchmark change {loop}",
            }
            time.sleep(think)
            start = time.perf_counter()
            response = client.post("/api/observations", json=body)
            timings["save"].append(time.perf_counter() - start)
            if response.status_code != 201:
                errors.append(("save", response.status_code, response.text[:200]))
            else:
                saved[patient].append(response.json())


def percentile(values: list[float], q: float) -> float:
    return (
        statistics.quantiles(values, n=100, method="inclusive")[q - 1]
        if len(values) > 1
        else (values[0] if values else float("nan"))
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument(
        "--think",
        type=float,
        default=0.5,
        help="Seconds a user waits before each request (0: every user hammers the server).",
    )
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="nmmstrial-web-bench-"))
    study = folder / "study.db"
    nmmstrial("simulate", "--out", str(study), "--seed", "10", "--patients", str(args.users))
    patients = [f"P{i:02d}" for i in range(1, args.users + 1)]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, "-m", "nmmstrial.cli", "serve", str(study), "--port", str(port)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{base}/login", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        timings: dict[str, list[float]] = defaultdict(list)
        errors: list = []
        saved: dict[str, list[dict]] = defaultdict(list)
        barrier = threading.Barrier(args.users)
        threads = [
            threading.Thread(
                target=user_loop,
                args=(base, patient, args.seconds, args.think, timings, errors, saved, barrier),
            )
            for patient in patients
        ]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - started
        # Lost writes: the last save of each patient must be what is stored, at the
        # version its saves imply (1 for the simulated entry, +1 per save).
        lost = 0
        with httpx.Client(base_url=base, timeout=30) as client:
            client.post("/api/login", json={"user": "monitor", "password": PASSWORD})
            for patient, rows in saved.items():
                stored = client.get(
                    "/api/observations", params={"patient": patient, "time": "T1"}
                ).json()
                now = next(r for r in stored if (r["measure"], r["side"]) == ("mrc_fcr", "left"))
                if (now["value"], now["version"]) != (rows[-1]["value"], 1 + len(rows)):
                    lost += 1
    finally:
        server.terminate()
        server.wait(timeout=30)
    verify = subprocess.run(
        [sys.executable, "-m", "nmmstrial.cli", "audit", "verify", str(study), "--user", "monitor"],
        env={**os.environ, "NMMSTRIAL_PASSWORD": PASSWORD},
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    every = [t for values in timings.values() for t in values]
    print(
        f"{args.users} users, think {args.think:g} s, {elapsed:.1f} s, {len(every)} requests "
        f"({len(every) / elapsed:.0f}/s), {sum(len(r) for r in saved.values())} saves"
    )
    for kind, values in [*sorted(timings.items()), ("all", every)]:
        print(
            f"  {kind:13s} n={len(values):6d}  p50={1000 * percentile(values, 50):7.1f} ms"
            f"  p95={1000 * percentile(values, 95):7.1f} ms"
        )
    print(f"errors: {len(errors)}{' e.g. ' + str(errors[0]) if errors else ''}")
    print(f"lost writes: {lost}")
    print(
        f"audit verify: {'ok' if verify.returncode == 0 else 'FAILED'}: "
        f"{(verify.stdout or verify.stderr).strip()}"
    )
    target = percentile(every, 95) < 0.2 and not errors and not lost
    print(f"target (p95 < 200 ms, 0 errors, 0 lost writes): {'met' if target else 'NOT met'}")


if __name__ == "__main__":
    main()
