"""The console channel: deliveries printed on the worker's stdout (and optionally JSON lines), for demos and tests."""
