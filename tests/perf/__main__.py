"""`python -m tests.perf` (`make bench`): run every benchmark module of tests/perf, one after the other, each in its
own process, and print one JSON object with all their results and the machine they ran on.

    python -m tests.perf [--quick] [--only NAME ...] [--timeout-s S]

A benchmark module is any `tests/perf/<name>.py` not starting with `_`; it prints one JSON object on stdout (its
last line that parses as a JSON object is taken). `--quick` runs small sizes: modules that accept `--quick` get it,
the others the small arguments listed in `QUICK_ARGS`. A module that fails or prints no JSON is reported under
`failed` with the end of its stderr, and the exit status is 1; the others still run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

PERF_DIR = Path(__file__).resolve().parent
REPO = PERF_DIR.parents[1]

# Small sizes for modules without a `--quick` flag of their own.
QUICK_ARGS: dict[str, list[str]] = {
    "bindings_store": ["--n", "20000", "--lookups", "2000"],
    "routing": ["--n", "500", "--latency-n", "100", "--rounds", "1"],
    "discord_ratelimit": ["--messages", "600"],  # at least two whole 5-second windows
}
# The order they run in (the others follow, by name): fast and self-contained first.
ORDER = ["bindings_store", "routing", "api", "end_to_end", "discord_ratelimit", "discord_429", "telegram_ratelimit",
         "recovery", "webhook_throughput"]


def discover() -> list[str]:
    names = [p.stem for p in PERF_DIR.glob("*.py") if not p.stem.startswith("_")]
    return sorted(names, key=lambda n: (ORDER.index(n) if n in ORDER else len(ORDER), n))


def quick_args(name: str) -> list[str]:
    source = (PERF_DIR / f"{name}.py").read_text()
    if re.search(r"""add_argument\(\s*["']--quick["']""", source):
        return ["--quick"]
    return QUICK_ARGS.get(name, [])


def last_json_object(stdout: str) -> dict[str, Any] | None:
    for line in reversed(stdout.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                value = json.loads(line)
            except ValueError:
                continue
            if isinstance(value, dict):
                return value
    try:
        value = json.loads(stdout)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def run_one(name: str, args: list[str], timeout_s: float) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """(the module's JSON or None, how the run went)."""
    argv = [sys.executable, "-m", f"tests.perf.{name}", *args]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    t0 = time.monotonic()
    try:
        done = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout_s,
                              check=False)
    except subprocess.TimeoutExpired as exc:
        stderr = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else (exc.stderr or "")
        return None, {"args": args, "seconds": round(time.monotonic() - t0, 1), "error": f"timed out after "
                      f"{timeout_s:.0f}s", "stderrTail": stderr[-2000:]}
    run = {"args": args, "seconds": round(time.monotonic() - t0, 1), "returncode": done.returncode}
    result = last_json_object(done.stdout) if done.returncode == 0 else None
    if result is None:
        run["error"] = f"exited with status {done.returncode}" if done.returncode else "printed no JSON object"
        run["stderrTail"] = done.stderr[-2000:]
    return result, run


def redis_version() -> str | None:
    binary = shutil.which("redis-server")
    if binary is None:
        return None
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, check=False).stdout
    found = re.search(r"v=(\S+)", out)
    return found.group(1) if found else out.strip() or None


def cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except (OSError, ValueError):
        pass
    return None


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "cpuModel": cpu_model(),
        "memoryGiB": memory_gib(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "redisServer": redis_version(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.perf", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run of every benchmark")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run these modules only")
    parser.add_argument("--timeout-s", type=float, default=None,
                        help="per module (default 1800, with --quick 300)")
    parser.add_argument("--list", action="store_true", help="print the module names and exit")
    opts = parser.parse_args(argv)
    names = discover()
    if opts.list:
        print("\n".join(names))
        return 0
    if opts.only:
        unknown = sorted(set(opts.only) - set(names))
        if unknown:
            parser.error(f"no benchmark module {', '.join(unknown)}; there are: {', '.join(names)}")
        names = [n for n in names if n in opts.only]
    timeout_s = opts.timeout_s or (300.0 if opts.quick else 1800.0)

    started = time.time()
    results: dict[str, Any] = {}
    runs: dict[str, Any] = {}
    for name in names:
        args = quick_args(name) if opts.quick else []
        print(f"[bench] {name} {' '.join(args)}".rstrip(), file=sys.stderr, flush=True)
        result, run = run_one(name, args, timeout_s)
        runs[name] = run
        if result is not None:
            results[name] = result
        print(f"[bench] {name}: {'ok' if result is not None else run.get('error')} in {run['seconds']} s",
              file=sys.stderr, flush=True)
    combined = {
        "machine": machine(),
        "quick": opts.quick,
        "startedAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "seconds": round(time.time() - started, 1),
        "benchmarks": results,
        "runs": runs,
        "failed": sorted(n for n in names if n not in results),
    }
    print(json.dumps(combined, indent=2))
    return 1 if combined["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
