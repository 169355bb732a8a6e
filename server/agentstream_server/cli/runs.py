"""`agentstream watch RUN_ID` (the run's events, through WatchRun) and `agentstream attach
RUN_ID` (its hook events, answering tool calls at the terminal)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Iterator
from typing import Any

import click
import grpc
from agentstream.v1 import agent_pb2 as pb
from rich.text import Text

from .errors import Exit, call_failed
from .hook_view import ReadableHookView
from .hooks import AttachFailed, HooksStream
from .hooks import attach as attach_stream
from .options import Connection, connection_options, json_option
from .run_view import JsonView, ReadableView
from .terminal import NOTE, QUESTION, Terminal

_QUESTION = "run it? [y]es / [n]o, cancel the run / [s]kip it, the model reads why: "


# How often `watch` asks again for a run that has not started.
_WAIT_FOR_RUN_S = 0.5


@click.command(short_help="Show a run's events, live (observe only).")
@click.argument("run_id")
@connection_options
@json_option("one event per line, in proto JSON, as `prompt --json` does")
def watch(run_id: str, connection: Connection, as_json: bool) -> None:
    """Print RUN_ID's events from its start, then live, as `prompt` shows them (observe
    only: the run never waits for this; any number may watch). Waits for the run to start,
    and shows a run that has ended while the server retains it. Exit status: 0 when the run
    completed, 1 when it failed or was cancelled, 3 server unreachable, 130 on Ctrl-C."""
    view = JsonView() if as_json else ReadableView(Terminal())
    raise click.exceptions.Exit(int(asyncio.run(_watch(connection, run_id, view))))


async def _watch(connection: Connection, run_id: str, view: JsonView | ReadableView) -> Exit:
    with _interruptible():
        async with connection.client() as client:
            try:
                return await _watch_events(client.stub, connection.server, run_id, view)
            except asyncio.CancelledError:
                return Exit.INTERRUPTED


async def _watch_events(stub: Any, server: str, run_id: str, view: JsonView | ReadableView) -> Exit:
    waiting = False
    # A person reads text, so a replay may come as joined deltas (faster to catch up);
    # --json stays event for event, as `prompt --json` printed the run.
    request = pb.WatchRunRequest(run_id=run_id, coalesce=isinstance(view, ReadableView))
    while True:
        ended: str | None = None
        try:
            async for event in stub.WatchRun(request):
                view.show(event)
                if event.WhichOneof("event") in ("final_response", "error"):
                    ended = event.WhichOneof("event")
            return Exit.OK if ended == "final_response" else Exit.RUN_FAILED
        except grpc.aio.AioRpcError as e:
            if ended is not None:  # the run failed: its error event has been shown
                return Exit.RUN_FAILED
            if e.code() != grpc.StatusCode.NOT_FOUND:
                call_failed(e.code(), e.details() or "", server)
        if not waiting:
            Terminal().line(f"waiting for run {run_id} to start…", NOTE)
            waiting = True
        # WatchRun does not wait for a run that has not started; a person may start it later.
        await asyncio.sleep(_WAIT_FOR_RUN_S)


@click.command(short_help="Watch a run and approve or deny its tool calls.")
@click.argument("run_id")
@connection_options
def attach(run_id: str, connection: Connection) -> None:
    """Watch RUN_ID and approve each tool call before it runs: y runs it, n cancels the
    run, s skips the call (the model reads your reason instead of a result).

    Attach before the run starts (give the run an id with `agentstream prompt --run-id`)
    to see every call. Leaving (Ctrl-C) while the run needs an answer fails the run.
    """
    approver = Approver(Terminal())
    raise click.exceptions.Exit(int(asyncio.run(_attach_and_answer(connection, run_id, approver))))


async def _attach_and_answer(connection: Connection, run_id: str, approver: Approver) -> Exit:
    view = ReadableHookView(approver.terminal)
    with _interruptible():
        async with connection.client() as client:
            try:
                stream = await _attach(
                    client.stub, connection.server, run_id, [pb.HOOK_EVENT_KIND_TOOL_CALL]
                )
                try:
                    return await _relay(stream, view, approver)
                finally:
                    stream.close()
            except asyncio.CancelledError:
                return Exit.INTERRUPTED
            finally:
                approver.close()


@contextlib.contextmanager
def _interruptible() -> Iterator[None]:
    """Ctrl-C cancels the current task, which then ends the command with exit status 130."""
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGINT, task.cancel)
    try:
        yield
    finally:
        loop.remove_signal_handler(signal.SIGINT)


async def _attach(stub: Any, server: str, run_id: str, blocking: list[Any]) -> HooksStream:
    """Attaches, waiting for the run to start: the server answers NOT_FOUND after its
    attach timeout, so a person may attach first and start the run whenever they like."""
    waiting = False
    while True:
        try:
            return await attach_stream(stub, run_id, blocking=blocking)
        except AttachFailed as e:
            if e.code != grpc.StatusCode.NOT_FOUND:
                call_failed(e.code, e.details, server)
            if not waiting:
                Terminal().line(f"waiting for run {run_id} to start…", NOTE)
                waiting = True


async def _relay(stream: HooksStream, view: ReadableHookView, approver: Approver) -> Exit:
    cancelled = False  # once the run is cancelled, its other pending calls need no answer
    async for response in stream:
        view.show(response)
        kind = response.WhichOneof("response")
        if kind == "run_ended":
            completed = response.run_ended.outcome == pb.RUN_OUTCOME_COMPLETED
            return Exit.OK if completed else Exit.RUN_FAILED
        if kind == "event" and response.event.reply_expected and not cancelled:
            event = response.event
            if event.WhichOneof("event") == "tool_call":
                answer = await approver.ask()
                cancelled = "cancel" in answer
                await stream.reply(event.event_id, **answer)
            else:
                await stream.reply(event.event_id, proceed=pb.HookProceed())
    return Exit.RUN_FAILED  # the stream ended without run_ended: the server went away


class Approver:
    """Asks at the terminal whether a tool call may run."""

    def __init__(self, terminal: Terminal) -> None:
        self.terminal = terminal
        self._lines: asyncio.StreamReader | None = None
        self._blocking_fd: int | None = None

    async def ask(self) -> dict[str, Any]:
        """The reply to a tool call the view has just shown."""
        while True:
            answer = await self._input(_QUESTION)
            if answer is None:  # nobody can answer (stdin closed): the tool does not run
                return {"skip": pb.HookSkip(reason="no one answered at the terminal")}
            choice = answer.strip().lower()[:1]
            if choice == "y":
                return {"proceed": pb.HookProceed()}
            if choice in ("n", "s"):
                reason = (await self._input("reason (optional): ") or "").strip()
                if choice == "n":
                    return {"cancel": pb.HookCancel(reason=reason or "denied at the terminal")}
                return {"skip": pb.HookSkip(reason=reason or "the user skipped this call")}

    async def _input(self, question: str) -> str | None:
        self.terminal.end_line()
        self.terminal.err.print(Text(question, style=QUESTION), end="")
        reader = await self._reader()
        line = await reader.readline()
        return line.decode(errors="replace") if line else None

    async def _reader(self) -> asyncio.StreamReader:
        if self._lines is None:
            reader = asyncio.StreamReader()
            loop = asyncio.get_running_loop()
            fd = sys.stdin.fileno()
            was_blocking = os.get_blocking(fd)
            await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
            # The pipe transport makes stdin non-blocking, and the shell shares it: undo on close.
            self._blocking_fd = fd if was_blocking else None
            self._lines = reader
        return self._lines

    def close(self) -> None:
        if self._blocking_fd is not None:
            with contextlib.suppress(OSError):
                os.set_blocking(self._blocking_fd, True)
