"""How CLI commands print: rich tables for people, JSON (`--json`) for programs. Secrets never reach either."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import click
import msgspec
from rich.console import Console
from rich.table import Table

_encoder = msgspec.json.Encoder()


def echo_json(obj: Any) -> None:
    click.echo(_encoder.encode(obj).decode())


def to_builtins(obj: Any) -> Any:
    return msgspec.to_builtins(obj)


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], *, empty: str = "nothing") -> None:
    console = Console()
    if not rows:
        console.print(f"{title}: {empty}")
        return
    table = Table(title=title, title_justify="left")
    for col in columns:
        table.add_column(col, overflow="fold")
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    console.print(table)


def fmt_ms(at_ms: int | None) -> str:
    if at_ms is None:
        return "-"
    import datetime as dt

    return dt.datetime.fromtimestamp(at_ms / 1000, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")
