"""DingTalk Stream mode: robot messages and events over an outbound websocket, for hosts with no public URL.

`salesbot dingtalk-stream` opens a connection (POST {openapi_base}v1.0/gateway/connections/open with the
app key and secret, answered with {endpoint, ticket}), then receives CALLBACK frames for
/v1.0/im/bot/messages/get and EVENT frames, turns each into the same InboundMessage or neutral event as
the HTTP views (bot/dingtalk.py), stores it with `state.accept` and ACKs it. Replies still leave
through the outbox (sessionWebhook / OpenAPI).

The dingtalk-stream package (0.24) gives the frames, handlers and ACK format. Its open_connection
posts to a host fixed at import time with no timeout, and its start() loops forever with fixed
sleeps; both are replaced here so the host follows `[dingtalk] openapi_base` and the loop can stop.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import quote_plus

import requests
import websockets
from dingtalk_stream import (  # type: ignore[import-untyped]
    AckMessage,
    CallbackHandler,
    CallbackMessage,
    ChatbotMessage,
    Credential,
    DingTalkStreamClient,
    EventHandler,
    EventMessage,
    SystemMessage,
)
from dingtalk_stream.version import VERSION_STRING  # type: ignore[import-untyped]

from bot.app import AppState
from bot.channels import attach_channels
from bot.cli_common import settings_of, start_worker
from bot.config import DingTalkConfig
from bot.dingtalk import robot_message, stream_event
from bot.dingtalk_sign import MalformedRequest
from bot.inbound_limits import oversized_field
from bot.runtime import open_runtime, sync_directory
from handlers.event_model import Event
from handlers.model import InboundMessage

log = logging.getLogger(__name__)

Accept = Callable[[InboundMessage | Event], bool]
OPEN_CONNECTION_PATH = "v1.0/gateway/connections/open"
MAX_RECONNECT_DELAY = 60.0


class RobotMessageHandler(CallbackHandler):  # type: ignore[misc]
    """CALLBACK frames on the robot topic: the same JSON as an HTTP robot callback."""

    def __init__(self, accept: Accept, clock: Callable[[], datetime]) -> None:
        super().__init__()
        self.logger = log
        self._accept, self._clock = accept, clock

    async def process(self, message: CallbackMessage) -> tuple[int, str]:
        try:
            msg = robot_message(message.data if isinstance(message.data, dict) else {}, self._clock())
        except MalformedRequest as exc:
            log.warning("dingtalk stream: malformed robot message %s: %s", message.headers.message_id, exc)
            return AckMessage.STATUS_BAD_REQUEST, str(exc)
        if (too_long := oversized_field(msg)) is not None:  # would fail the handler on PostgreSQL
            log.warning("dingtalk stream: robot message refused: %s", too_long)
            return AckMessage.STATUS_BAD_REQUEST, too_long
        return await _store(self._accept, msg)


class OrgEventHandler(EventHandler):  # type: ignore[misc]
    """EVENT frames (every subscribed event): stored like the HTTP event callbacks."""

    def __init__(self, accept: Accept, clock: Callable[[], datetime]) -> None:
        super().__init__()
        self.logger = log
        self._accept, self._clock = accept, clock

    async def process(self, event: EventMessage) -> tuple[int, str]:
        headers = event.headers
        if not headers.event_type or not headers.event_id:
            return AckMessage.STATUS_BAD_REQUEST, "event without eventType or eventId"
        data = event.data if isinstance(event.data, dict) else {}
        item = stream_event(headers.event_type, headers.event_id, headers.event_born_time, data, self._clock())
        if item is None:  # not an event the bot acts on: acknowledged, not stored
            return AckMessage.STATUS_OK, "OK"
        return await _store(self._accept, item)


async def _store(accept: Accept, item: InboundMessage | Event) -> tuple[int, str]:
    try:
        await asyncio.to_thread(accept, item)  # a database write: keep it off the event loop
    except Exception:
        log.exception("dingtalk stream: could not store %s; DingTalk will deliver it again", item.dedupe_key)
        return AckMessage.STATUS_SYSTEM_EXCEPTION, "not stored"
    return AckMessage.STATUS_OK, "OK"


class SalesbotStreamClient(DingTalkStreamClient):  # type: ignore[misc]
    """The Stream client with the gateway host from config, timeouts, and a loop that can stop."""

    def __init__(self, config: DingTalkConfig, accept: Accept, clock: Callable[[], datetime]) -> None:
        super().__init__(Credential(config.app_key, config.app_secret), logger=log)
        self.config = config
        self.reconnect_delay = 1.0  # first wait after a lost connection; doubles up to MAX_RECONNECT_DELAY
        self.register_callback_handler(ChatbotMessage.TOPIC, RobotMessageHandler(accept, clock))
        self.register_all_event_handler(OrgEventHandler(accept, clock))

    def open_connection(self) -> dict[str, Any] | None:
        """Ask the gateway for a websocket endpoint and ticket; None when it refuses or is unreachable."""
        topics = [{"type": "CALLBACK", "topic": topic} for topic in self.callback_handler_map]
        if self._is_event_required:
            topics.insert(0, {"type": "EVENT", "topic": "*"})
        body = {"clientId": self.credential.client_id, "clientSecret": self.credential.client_secret,
                "subscriptions": topics, "ua": f"salesbot dingtalk-sdk-python/v{VERSION_STRING}", "localIp": ""}
        url = self.config.openapi_base + OPEN_CONNECTION_PATH
        try:
            response = requests.post(url, json=body, timeout=self.config.timeout_seconds)
            response.raise_for_status()
            connection = response.json()
        except (requests.RequestException, ValueError) as exc:
            log.error("dingtalk stream: opening a connection at %s failed: %s", url, exc)
            return None
        if not isinstance(connection, dict) or not connection.get("endpoint") or not connection.get("ticket"):
            log.error("dingtalk stream: the gateway answered without endpoint and ticket")
            return None
        return connection

    async def run(self, stop: asyncio.Event) -> None:
        """Connect, serve frames, reconnect with growing delays, until `stop` is set."""
        self.pre_start()
        delay = self.reconnect_delay
        while not stop.is_set():
            connection = await asyncio.to_thread(self.open_connection)
            if connection is not None:
                try:
                    await self._serve(connection, stop)
                    delay = self.reconnect_delay
                except (OSError, TimeoutError, websockets.exceptions.WebSocketException) as exc:
                    log.warning("dingtalk stream: connection lost: %r", exc)
            if stop.is_set():
                break
            log.info("dingtalk stream: reconnecting in %.1f s", delay)
            await _wait(stop, delay)
            delay = min(delay * 2, MAX_RECONNECT_DELAY)

    async def _serve(self, connection: dict[str, Any], stop: asyncio.Event) -> None:
        uri = f"{connection['endpoint']}?ticket={quote_plus(str(connection['ticket']))}"
        async with websockets.connect(uri, open_timeout=self.config.timeout_seconds) as ws:
            self.websocket = ws
            log.info("dingtalk stream: connected to %s", connection["endpoint"])
            closer = asyncio.create_task(_close_when(stop, ws))
            try:
                async for raw in ws:
                    if await self._frame(raw) == self.TAG_DISCONNECT:
                        log.info("dingtalk stream: the gateway asked to reconnect")
                        break
            finally:
                closer.cancel()

    async def _frame(self, raw: str | bytes) -> str:
        try:
            frame = json.loads(raw)
        except ValueError:
            log.warning("dingtalk stream: ignored a frame that is not JSON")
            return ""
        headers = frame.get("headers") or {}
        if frame.get("type") == SystemMessage.TYPE and headers.get("topic") == "ping":
            # answered here: the SDK would log every ping as an unknown topic
            ack = await self.system_handler.raw_process(SystemMessage.from_dict(frame))
            await self.websocket.send(json.dumps(ack.to_dict()))
            return ""
        return str(await self.route_message(frame))


async def _close_when(stop: asyncio.Event, ws: Any) -> None:
    await stop.wait()
    await ws.close()


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except TimeoutError:
        pass


class StreamRunner:
    """Runs a SalesbotStreamClient on its own event loop; `stop()` may be called from any thread."""

    def __init__(self, client: SalesbotStreamClient) -> None:
        self.client = client
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None

    def run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        self._ready.set()
        await self.client.run(self._stop)

    def stop(self, timeout: float = 10.0) -> None:
        if self._ready.wait(timeout) and self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)


# ---------------------------------------------------------------------------------------------- CLI


def add_commands(sub: argparse._SubParsersAction, make_sub: Callable[..., argparse.ArgumentParser]) -> None:
    p = make_sub(sub, "dingtalk-stream", "receive DingTalk robot messages and events over Stream mode "
                 "(no public URL needed); also handles and sends unless --no-worker", cmd_stream)
    p.add_argument("--no-worker", action="store_true",
                   help="only receive and store; a separate `salesbot worker` handles and sends")


def cmd_stream(args: argparse.Namespace) -> int:
    from scheduler.runner import wake

    settings = settings_of(args)
    if not settings.dingtalk.enabled:
        print(f"{settings.source}: dingtalk: app_key and app_secret are needed for Stream mode")
        return 2
    runtime = attach_channels(open_runtime(settings))
    sync_directory(runtime)
    sched: Any = None
    if not args.no_worker:
        _worker, sched = start_worker(runtime)
    state = AppState(runtime, (lambda: wake(sched)) if sched is not None else (lambda: None))
    runner = StreamRunner(SalesbotStreamClient(settings.dingtalk, state.accept, state.clock))

    def on_signal(signum: int, _frame: object) -> None:
        log.info("signal %s: stopping", signum)
        runner.stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    log.info("salesbot dingtalk-stream running (config: %s, gateway: %s)", settings.source,
             settings.dingtalk.openapi_base)
    try:
        runner.run()
    finally:
        if sched is not None:
            sched.shutdown(wait=True)
        runtime.close()
    return 0
