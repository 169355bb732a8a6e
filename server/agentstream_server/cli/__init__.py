"""`agentstream`: serve agents, prompt them, list them, and watch or steer their runs."""

from __future__ import annotations

import click

from .agents import agents
from .prompt import prompt
from .runs import attach, watch
from .serve import serve
from .settings import cli_config_path, default_map

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(context_settings=CONTEXT)
@click.version_option(package_name="agentstream-server", message="%(prog)s %(version)s")
def cli() -> None:
    """Run LLM agents as a gRPC service, and talk to them from the terminal.

    Settings come from flags, then AGENTSTREAM_* environment variables, then the CLI config
    file ($AGENTSTREAM_CLI_CONFIG, default ~/.config/agentstream/cli.yaml; keys are option
    names, at the top for every command or under a command's name).

    \b
      agentstream serve                       # terminal 1: the built-in offline agents
      agentstream prompt "What is 6 * 7?"     # terminal 2
      agentstream agents
    """


for command in (serve, prompt, agents, watch, attach):
    cli.add_command(command)


def main(args: list[str] | None = None, prog_name: str = "agentstream") -> None:
    try:
        defaults = default_map(cli, cli_config_path())
    except click.UsageError as e:
        e.show()
        raise SystemExit(e.exit_code) from None
    cli.main(args=args, prog_name=prog_name, default_map=defaults)
