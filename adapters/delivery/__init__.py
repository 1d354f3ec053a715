"""The delivery engine: hand-off from the router, the RQ job that sends, retries, the lease reaper and replay.

Only `handoff.hand_off` is called from outside (by the router and the farewell sender); everything else runs inside
adapter workers or the `tether dlq` command.
"""
