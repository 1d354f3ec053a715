"""Processes: settings, RQ wiring, the `tether` CLI, entry points and metrics."""
