"""Benchmarks: plain modules run as `python -m tests.perf.<name>`, each printing one JSON object."""
