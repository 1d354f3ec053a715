"""The chaos suite (issue 6): many completion events through real router, Discord and sweeper processes against the
local Discord API in its own process, while the API fails on purpose, workers are SIGKILLed and Redis crashes.

    python -m tests.chaos [--events 10000]       (make chaos)
    pytest tests/chaos                           (the reduced 1,000-event run, part of make test)

Modules: `scenario` (the world: channels, threads, bindings, events, what each event must become), `processes`
(starting, killing and restarting OS processes), `run` (the run itself), `verify` (comparing the fake's message log
and the ledger with the scenario).
"""
