"""`tether bind`, `tether unbind`, `tether bindings list|resolve`: bindings by hand."""

from __future__ import annotations

import click

from bindings.errors import TetherError
from bindings.model import ConversationRef, SessionBindingRecord
from bindings.service import SessionBindingService
from workers.output import echo_json, fmt_ms, print_table, to_builtins

_redis_option = click.option("--redis-url", envvar="TETHER_REDIS_URL", help="Redis URL (default: configuration).")
_json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")


def _service(redis_url: str | None) -> SessionBindingService:
    return SessionBindingService.from_url(redis_url)


def _conversation(channel: str, account: str, conversation: str | None, parent: str | None) -> ConversationRef:
    return ConversationRef(channel=channel, account_id=account, conversation_id=conversation,
                           parent_conversation_id=parent)


def _show(records: list[SessionBindingRecord], as_json: bool, title: str) -> None:
    if as_json:
        echo_json([to_builtins(r) for r in records])
        return
    rows = [
        (r.binding_id, r.target_session_key, r.target_kind, r.conversation.channel, r.conversation.account_id,
         r.conversation.conversation_id, r.conversation.parent_conversation_id, r.status, fmt_ms(r.expires_at),
         r.end_reason)
        for r in records
    ]
    cols = ["binding", "session", "kind", "channel", "account", "conversation", "parent", "status", "expires", "ended"]
    print_table(title, cols, rows, empty="none")


def _fail(exc: TetherError) -> None:
    raise click.ClickException(str(exc)) from None


@click.command()
@click.option("--session", "session_key", required=True, help="Target session key (agent:main:subagent:…).")
@click.option("--kind", "target_kind", type=click.Choice(["subagent", "session"]), default="subagent",
              show_default=True)
@click.option("--channel", required=True, help="Channel (platform), e.g. discord.")
@click.option("--account", default="default", show_default=True, help="Account id on that channel.")
@click.option("--conversation", help="Conversation (thread) id to bind (placement current).")
@click.option("--parent", help="Parent conversation id: with --child, the channel the new thread goes under.")
@click.option("--child", is_flag=True, help="Create a new thread under --parent and bind it (placement child).")
@click.option("--label", help="Thread name for --child; shown in listings.")
@click.option("--idle-hours", type=float, help="Idle timeout in hours (0: none; default: configuration).")
@click.option("--max-age-hours", type=float, help="Maximum age in hours (0: none; default: configuration).")
@click.option("--meta", multiple=True, metavar="KEY=VALUE", help="Metadata entry (repeatable).")
@_json_option
@_redis_option
def bind(session_key: str, target_kind: str, channel: str, account: str, conversation: str | None,
         parent: str | None, child: bool, label: str | None, idle_hours: float | None, max_age_hours: float | None,
         meta: tuple[str, ...], as_json: bool, redis_url: str | None) -> None:
    """Bind a session to a conversation. Rebinding a bound conversation replaces (ends) its old binding."""
    metadata: dict[str, str] = {}
    for item in meta:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="--meta")
        metadata[key] = value
    try:
        record = _service(redis_url).bind(
            target_session_key=session_key,
            target_kind=target_kind,
            conversation=_conversation(channel, account, None if child else conversation, parent),
            metadata=metadata or None,
            ttl_ms=None if idle_hours is None else int(idle_hours * 3_600_000),
            max_age_ms=None if max_age_hours is None else int(max_age_hours * 3_600_000),
            placement="child" if child else "current",
            label=label,
        )
    except TetherError as exc:
        _fail(exc)
        return
    _show([record], as_json, "bound")


@click.command()
@click.option("--id", "binding_id", help="Binding id to end.")
@click.option("--session", "session_key", help="End every binding of this session.")
@click.option("--reason", default="manual", show_default=True, help="Reason recorded with the unbind.")
@_json_option
@_redis_option
def unbind(binding_id: str | None, session_key: str | None, reason: str, as_json: bool, redis_url: str | None) -> None:
    """End a binding (by --id) or all bindings of a session (by --session)."""
    if bool(binding_id) == bool(session_key):
        raise click.UsageError("give exactly one of --id or --session")
    try:
        ended = _service(redis_url).unbind(binding_id=binding_id, target_session_key=session_key, reason=reason)
    except TetherError as exc:
        _fail(exc)
        return
    if not as_json and not ended:
        click.echo("nothing to unbind: no active binding matched")
        return
    _show(ended, as_json, "ended")


@click.group()
def bindings() -> None:
    """List and resolve bindings."""


@bindings.command("list")
@click.option("--session", "session_key", required=True, help="Target session key.")
@_json_option
@_redis_option
def list_(session_key: str, as_json: bool, redis_url: str | None) -> None:
    """Active bindings of a session."""
    _show(_service(redis_url).list_by_session(session_key), as_json, f"bindings of {session_key}")


@bindings.command("resolve")
@click.option("--channel", required=True)
@click.option("--account", default="default", show_default=True)
@click.option("--conversation", required=True)
@_json_option
@_redis_option
def resolve(channel: str, account: str, conversation: str, as_json: bool, redis_url: str | None) -> None:
    """The active binding of a conversation, if any (exit 1 when none)."""
    try:
        record = _service(redis_url).resolve_by_conversation(_conversation(channel, account, conversation, None))
    except TetherError as exc:
        _fail(exc)
        return
    if record is None:
        if as_json:
            echo_json(None)
        else:
            click.echo("no active binding for that conversation")
        raise SystemExit(1)
    _show([record], as_json, "binding")
