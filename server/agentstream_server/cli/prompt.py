"""`agentstream prompt`: run a prompt on a server and stream it as it happens."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import grpc
from agentstream import ClientTool, Run, RunFailed
from agentstream.v1 import agent_pb2 as pb

from . import conversation
from .errors import Exit, connection_problem, fail
from .options import Connection, connection_options, json_option
from .run_view import JsonView, ReadableView
from .shell_tools import client_tools
from .terminal import ERROR, NOTE, Terminal

_INTERRUPT_REASON = "interrupted at the terminal (Ctrl-C)"


@dataclass
class PromptJob:
    connection: Connection
    prompt: str
    agent: str
    history: list[Any]
    tools: list[ClientTool]
    save: Path | None
    as_json: bool
    run_id: str = ""
    max_turns: int | None = None
    extra_params: dict[str, Any] = field(default_factory=dict)
    overrides: dict[str, Any] = field(default_factory=dict)
    hooks_options: pb.HooksOptions | None = None


@click.command(short_help="Run a prompt and stream the run.")
@click.argument("text", required=False, default="", metavar="[PROMPT]")
@connection_options
@click.option(
    "-a",
    "--agent",
    envvar="AGENTSTREAM_AGENT",
    show_envvar=True,
    help="Agent to run (default: the server's default agent, or the saved one).",
)
@click.option("--max-turns", type=click.IntRange(1), help="Model calls allowed in this run.")
@click.option("-m", "--model", help="Model to use instead of the agent's.")
@click.option("--system", help="Preamble (system prompt) instead of the agent's.")
@click.option("--temperature", type=click.FloatRange(0, 2))
@click.option("--max-tokens", type=click.IntRange(1))
@click.option(
    "--extra-params", metavar="JSON", help="Provider-specific request fields (a JSON object)."
)
@click.option(
    "--tool",
    "tools",
    multiple=True,
    metavar="NAME=COMMAND",
    help="A client tool run as a shell command: arguments as JSON on stdin, "
    "stdout is the result. Repeatable.",
)
@click.option(
    "--tool-schema",
    "tool_schemas",
    multiple=True,
    metavar="NAME=JSON",
    help="JSON schema of a --tool's arguments (default: any object).",
)
@click.option(
    "-c",
    "--continue",
    "continue_file",
    metavar="FILE",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Continue the conversation saved in FILE (by --save).",
)
@click.option(
    "--save",
    metavar="FILE",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Save the conversation to FILE when the run ends (also when it fails or "
    "is interrupted), for --continue.",
)
@click.option(
    "--run-id", default="", help="Run id to use (default: a new one), e.g. to attach first."
)
@click.option(
    "--wait-attach",
    type=click.FloatRange(0, 3600, min_open=True),
    metavar="SECONDS",
    help="Wait up to SECONDS for `agentstream attach RUN_ID` before the first model call.",
)
@json_option("one event per line, in proto JSON, instead of readable output")
def prompt(
    text: str,
    connection: Connection,
    agent: str | None,
    max_turns: int | None,
    model: str | None,
    system: str | None,
    temperature: float | None,
    max_tokens: int | None,
    extra_params: str | None,
    tools: tuple[str, ...],
    tool_schemas: tuple[str, ...],
    continue_file: Path | None,
    save: Path | None,
    run_id: str,
    wait_attach: float | None,
    as_json: bool,
) -> None:
    """Run PROMPT on an agent and stream the run: the answer's text on stdout as it comes,
    reasoning (dimmed), tool calls and results with timing, and a summary line on stderr.
    PROMPT `-` reads it from stdin.

    Ctrl-C cancels the run on the server (with --save, the history so far is saved). Exit
    status: 0 done, 1 the run failed, 2 usage error, 3 server unreachable, 130 interrupted.

    \b
      agentstream prompt "What is 6 * 7?"
      agentstream prompt --save chat.json "My name is Ada."
      agentstream prompt --continue chat.json --save chat.json "What is my name?"
      git diff | agentstream prompt --agent reviewer -
      agentstream prompt --tool 'disk_usage=df -h .' "How full is my disk?"
    """
    if text == "-":
        text = sys.stdin.read().rstrip("\n")
    saved = conversation.load(continue_file) if continue_file else conversation.Conversation()
    if not text.strip() and not saved.history:
        raise click.UsageError("give a PROMPT (`-` reads it from stdin) or --continue FILE")
    if wait_attach and tools:
        raise click.UsageError(
            "--wait-attach: a run with --tool is served by this command's own hooks"
        )
    overrides: dict[str, Any] = {
        key: value
        for key, value in (
            ("model", model),
            ("preamble", system),
            ("temperature", temperature),
            ("max_tokens", max_tokens),
        )
        if value is not None
    }
    hooks_options = None
    if wait_attach:
        hooks_options = pb.HooksOptions(
            wait_for_client=True, attach_timeout_ms=round(wait_attach * 1000)
        )
    job = PromptJob(
        connection=connection,
        prompt=text,
        agent=agent or saved.agent,
        history=saved.history,
        tools=client_tools(tools, tool_schemas),
        save=save,
        as_json=as_json,
        run_id=run_id,
        max_turns=max_turns,
        extra_params=_json_object(extra_params, "--extra-params") if extra_params else {},
        overrides=overrides,
        hooks_options=hooks_options,
    )
    raise click.exceptions.Exit(int(asyncio.run(run_prompt(job))))


async def run_prompt(job: PromptJob) -> Exit:
    terminal = Terminal()
    view = JsonView() if job.as_json else ReadableView(terminal)
    async with job.connection.client() as client:
        run = client.run(
            job.prompt,
            agent=job.agent,
            history=job.history,
            tools=job.tools,
            run_id=job.run_id,
            max_turns=job.max_turns,
            extra_params=job.extra_params,
            hooks_options=job.hooks_options,
            **job.overrides,
        )
        agent = job.agent
        with Interrupter(run, terminal) as interrupter:
            try:
                async for event in run:
                    if event.WhichOneof("event") == "run_started":
                        agent = event.run_started.agent
                    view.show(event)
            except RunFailed:
                pass  # a failed run's iteration ends with its error; result() answers it again
            except asyncio.CancelledError:  # a second Ctrl-C: stop waiting for the server
                terminal.line("interrupted; the run may still be ending on the server", ERROR)
                return Exit.INTERRUPTED
        try:
            final = await run.result()
        except RunFailed as failed:
            return _failed(job, failed, agent, run.run_id, interrupter.requested, terminal)
    if job.save:
        conversation.save(job.save, agent, run.run_id, final.history)
    return Exit.OK


def _failed(
    job: PromptJob,
    failed: RunFailed,
    agent: str,
    run_id: str,
    interrupted: bool,
    terminal: Terminal,
) -> Exit:
    if failed.error is None:
        problem = connection_problem(failed.code, failed.details, job.connection.server)
        if problem is not None and not interrupted:
            fail(problem, Exit.UNREACHABLE)
        if not job.as_json:  # no error event was shown: say what ended the call
            terminal.line(f"error {failed.code.name}: {failed.details}", ERROR)
    if job.save and failed.history:
        conversation.save(job.save, agent, run_id, failed.history)
        what = "partial history" if interrupted else "history so far"
        terminal.line(f"{what} saved to {job.save}", NOTE)
    return Exit.INTERRUPTED if interrupted else Exit.RUN_FAILED


class Interrupter:
    """Ctrl-C cancels the run on the server, which then ends it with CANCELLED and its
    history; a second Ctrl-C stops waiting for that."""

    def __init__(self, run: Run, terminal: Terminal) -> None:
        self._run = run
        self._terminal = terminal
        self._main: asyncio.Task[Any] | None = None
        self._cancelling: asyncio.Task[None] | None = None
        self.requested = False

    def __enter__(self) -> Interrupter:
        self._main = asyncio.current_task()
        asyncio.get_running_loop().add_signal_handler(signal.SIGINT, self._on_sigint)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.get_running_loop().remove_signal_handler(signal.SIGINT)
        if self._cancelling is not None:
            self._cancelling.cancel()

    def _on_sigint(self) -> None:
        if self.requested:
            if self._main is not None:
                self._main.cancel()
            return
        self.requested = True
        self._terminal.line("cancelling the run on the server (Ctrl-C again to stop waiting)", NOTE)
        self._cancelling = asyncio.create_task(self._cancel())

    async def _cancel(self) -> None:
        # CancelRun (the run ends with CANCELLED and its history); for a run the server
        # does not know yet, the helper drops the call, which stops the run all the same.
        with contextlib.suppress(grpc.aio.AioRpcError):
            await self._run.cancel(_INTERRUPT_REASON)


def _json_object(text: str, option: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError as e:
        raise click.BadParameter(f"not JSON: {e}", param_hint=option) from None
    if not isinstance(value, dict):
        raise click.BadParameter("expected a JSON object", param_hint=option)
    return value
