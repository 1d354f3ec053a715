"""`python -m tests.chaos [--events N]` (`make chaos`): the full chaos run; prints one JSON summary on stdout,
progress on stderr; exits 1 if any event was lost, duplicated, misplaced or wrongly dead-lettered."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tests.chaos.run import ChaosSettings, run_chaos


def main(argv: list[str] | None = None) -> int:
    defaults = ChaosSettings()
    p = argparse.ArgumentParser(prog="python -m tests.chaos", description=__doc__.split("\n")[0] if __doc__ else None)
    p.add_argument("--events", type=int, default=defaults.events, help="completion events to send (default 10000)")
    p.add_argument("--seed", type=int, default=defaults.seed)
    p.add_argument("--rate", type=float, default=None, help="events enqueued per second (default: from --events)")
    p.add_argument("--kill-interval-s", type=float, default=defaults.kill_interval_s)
    p.add_argument("--settle-timeout-s", type=float, default=defaults.settle_timeout_s,
                   help="deadline for every delivery to become terminal once the chaos stops")
    p.add_argument("--work-dir", type=Path, default=None, help="keep state and logs here (default: a temp dir, "
                                                                 "removed after a passing run)")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    args = p.parse_args(argv)
    settings = ChaosSettings(events=args.events, seed=args.seed, rate_per_s=args.rate,
                             kill_interval_s=args.kill_interval_s, settle_timeout_s=args.settle_timeout_s,
                             work_dir=args.work_dir, keep_work_dir=args.work_dir is not None,
                             progress=not args.quiet)
    summary = run_chaos(settings)
    print(json.dumps(summary, indent=2))
    return 0 if summary.get("ok") else 1


if __name__ == "__main__":
    sys.exit(main())
