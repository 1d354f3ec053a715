"""`python -m workers …` is `tether …` (used by `tether run` to start its children with the same interpreter)."""

from workers.cli import main

main()
