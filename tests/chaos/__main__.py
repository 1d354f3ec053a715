"""`python -m tests.chaos [--events N] [--platform discord|telegram|all]` (`make chaos`): the full chaos runs (Discord;
Telegram without and with lost answers, `tests/chaos/telegram.py`); prints one JSON summary per run on stdout,
progress on stderr; exits 1 if any event was lost, duplicated (beyond what Telegram's `resend` allows after lost
answers), misplaced or wrongly dead-lettered."""

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
    p.add_argument("--platform", choices=("discord", "telegram", "all"), default="all",
                   help="discord: the run above; telegram: its two runs (without, then with lost answers); all: both")
    args = p.parse_args(argv)
    ok = True
    if args.platform in ("telegram", "all"):
        from tests.chaos.telegram import TelegramChaosSettings, run_telegram_chaos

        for lost in (False, True):
            tg = TelegramChaosSettings(events=min(args.events, TelegramChaosSettings().events), lost_answers=lost,
                                       progress=not args.quiet)
            tg_summary = run_telegram_chaos(tg)
            print(json.dumps(tg_summary, indent=2))
            ok = ok and bool(tg_summary.get("ok"))
        if args.platform == "telegram":
            return 0 if ok else 1
    settings = ChaosSettings(events=args.events, seed=args.seed, rate_per_s=args.rate,
                             kill_interval_s=args.kill_interval_s, settle_timeout_s=args.settle_timeout_s,
                             work_dir=args.work_dir, keep_work_dir=args.work_dir is not None,
                             progress=not args.quiet)
    summary = run_chaos(settings)
    print(json.dumps(summary, indent=2))
    return 0 if summary.get("ok") and ok else 1


if __name__ == "__main__":
    sys.exit(main())
