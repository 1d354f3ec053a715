"""The Matrix adapter: completions into Matrix rooms and threads, exactly once by transaction id.

client.py (one request loop), errors.py (one classifier), settings.py (configuration), events.py (message content,
transaction ids, chunking by encoded size), rooms.py (room state: membership, tombstones, thread roots, upgrades),
adapter.py (the Adapter), provision.py (child threads), check.py (the sweeper's conversation check), keys.py.
"""
