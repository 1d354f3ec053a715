"""The `tether` command. Subcommands live in their own modules and are imported only when used."""

from __future__ import annotations

import importlib
import importlib.util
import os

import click

from bindings.config import load_config
from bindings.errors import ConfigError
from workers.logs import setup_logging

# command name -> "module:attribute" of a click command; each module owns its commands.
COMMANDS: dict[str, str] = {
    "run": "workers.cli_run:run",
    "worker": "workers.cli_worker:worker",
    "sweeper": "workers.cli_worker:sweeper",
    "bind": "workers.cli_bindings:bind",
    "unbind": "workers.cli_bindings:unbind",
    "bindings": "workers.cli_bindings:bindings",
    "enqueue": "workers.cli_router:enqueue",
    "explain": "workers.cli_router:explain",
    "dlq": "workers.cli_dlq:dlq",
    "status": "workers.cli_status:status",
    "api": "workers.cli_api:api",
}

HELP = """Route completion messages of agent sub-sessions to the right chat conversation, exactly once.

Redis comes from TETHER_REDIS_URL, REDIS_URL or `redis.url` in the config file (TETHER_CONFIG, else
./tether.toml); `tether run` without any starts a private one. Every listing takes --json.
"""


class LazyGroup(click.Group):
    def invoke(self, ctx: click.Context) -> object:
        """A configuration error ends any command the same way: one line naming the key, exit status 1."""
        try:
            return super().invoke(ctx)
        except ConfigError as exc:
            raise click.ClickException(str(exc)) from None

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name in COMMANDS if self._available(name)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, _, attr = target.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                return None  # not built yet
            raise
        command: click.Command = getattr(module, attr)
        return command

    @staticmethod
    def _available(name: str) -> bool:
        module_name = COMMANDS[name].partition(":")[0]
        return importlib.util.find_spec(module_name) is not None


@click.group(cls=LazyGroup, help=HELP, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--log-level", default=lambda: os.environ.get("TETHER_LOG_LEVEL", "INFO"), show_default="INFO",
              help="Log level of the JSON logs on stderr (env TETHER_LOG_LEVEL).")
@click.version_option(package_name="tether")
def main(log_level: str) -> None:
    setup_logging(log_level)
    # Every command checks the configuration file, whether or not it needs it: a literal secret in it (or any other
    # error) stops `tether status` as it stops a worker, with the same one-line message.
    try:
        load_config()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
