"""The Docker guard's server: a Unix socket that speaks the Docker API, asks mindpulse_guard.policy about
every request, forwards what it allows to the engine's socket and answers the rest with HTTP 403.

Requests are parsed with h11 (a well-kept HTTP/1.1 parser: it rejects the ambiguous framing that request
smuggling relies on), and what reaches the engine is the request as parsed and checked, written out again
with its whole body and `Connection: close`: one inspected request per engine connection, so nothing can
ride behind an allowed request. Only an attach upgrades to a raw stream, in both directions.

Nothing listens on a network: the guard's socket is in a volume mounted only by the Airflow component
that runs tasks, and the engine's socket only here (docs/security.md).

    python -m mindpulse_guard            # serve
    python -m mindpulse_guard --check    # exit 0 when the guard answers a ping through to the engine

Settings, from the environment: what may run (policy.Settings.from_environ: MINDPULSE_IMAGE_TAG, MINDPULSE_REGISTRY,
MINDPULSE_*_VOLUME, and the image lock of that tag mounted at /etc/mindpulse/image-lock.json), and
- MINDPULSE_GUARD_SOCKET         the socket the guard serves (default /run/mindpulse-guard/docker.sock)
- MINDPULSE_GUARD_ENGINE         the engine's socket (default /var/run/docker.sock)
- MINDPULSE_GUARD_REGISTRY_AUTH  a file with the X-Registry-Auth value the guard adds to the pulls it allows
                                 (the cluster's registry credential; clients never hold it)
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import stat
import sys
from collections.abc import Mapping
from urllib.parse import quote

import h11

from mindpulse import catalog, image_lock
from mindpulse_guard.policy import (
    MAX_BODY_BYTES,
    Refused,
    Request,
    Settings,
    check_container,
    check_image,
    decide,
)

log = logging.getLogger("mindpulse-guard")

LISTEN = "/run/mindpulse-guard/docker.sock"
ENGINE = "/var/run/docker.sock"
# Hop-by-hop headers and framing the guard sets itself, and the registry credential, which only the guard adds.
_DROPPED = {
    b"connection",
    b"keep-alive",
    b"transfer-encoding",
    b"content-length",
    b"proxy-connection",
    b"te",
    b"x-registry-auth",
}
_CHUNK = 65536
_FULL_ID = re.compile(r"^[0-9a-f]{64}$")
_KNOWN_MAX = 4096


class Guard:
    def __init__(self, settings: Settings, engine: str, registry_auth: str | None = None) -> None:
        self.settings = settings
        self.engine = engine
        # A file holding the X-Registry-Auth value for the cluster's registry (secrets-init writes it).
        self.registry_auth = registry_auth
        # Full container id -> its labels (see labels), oldest first.
        self.known: dict[str, Mapping[str, str]] = {}

    def credential(self) -> list[tuple[bytes, bytes]]:
        if not self.registry_auth:
            return []
        with open(self.registry_auth, "rb") as file:
            return [(b"x-registry-auth", file.read().strip())]

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await self.serve_one(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client went away
        finally:
            writer.close()

    async def serve_one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            parsed = await _read_request(reader)
        except (h11.RemoteProtocolError, _TooLarge) as error:
            log.warning("refused a malformed request: %s", error)
            await _answer(writer, 400, {"message": f"mindpulse-guard: malformed request: {error}"})
            return
        if parsed is None:
            return
        event, body, trailing = parsed
        request = Request(event.method.decode(), event.target.decode(), body)
        try:
            decision = decide(request, self.settings)
            if decision.container is not None:
                check_container(decision.container, await self.labels(decision.container))
            if decision.image is not None:
                check_image(decision.image, await self.image_id(decision.image), self.settings)
        except Refused as refusal:
            line = f"refused {request.method} {request.path}: {refusal}"
            log.warning("%s", line)
            await _answer(writer, 403, {"message": f"mindpulse-guard: {line}"})
            return
        await self.forward(event, body, trailing, reader, writer, self.credential() if decision.pull else [])

    async def labels(self, container: str) -> Mapping[str, str] | None:
        """The labels of `container` as the engine knows them; None when it has no such container.

        A container's labels never change and its full id is never reused, so the labels of a container named by
        its full id are remembered: a task's start, attach, wait, logs and remove then cost one question to the
        engine, not five. A name is asked about every time (a name can pass to another container)."""
        remembered = self.known.get(container)
        if remembered is not None:
            return remembered
        status, body = await _engine_get(self.engine, f"/containers/{quote(container)}/json")
        if status == 404:
            return None
        if status != 200:
            raise Refused(f"the engine could not say what container {container} is (HTTP {status})")
        labels = (json.loads(body).get("Config") or {}).get("Labels") or {}
        if _FULL_ID.match(container):
            if len(self.known) >= _KNOWN_MAX:
                self.known.pop(next(iter(self.known)))
            self.known[container] = labels
        return labels

    async def image_id(self, reference: str) -> str | None:
        """The ID of the image the engine holds under `reference`; None when it holds none. Asked at every create: a
        name can be given to another image at any time."""
        status, body = await _engine_get(self.engine, f"/images/{quote(reference, safe='')}/json")
        if status == 404:
            return None
        if status != 200:
            raise Refused(f"the engine could not say what image {reference} is (HTTP {status})")
        return json.loads(body).get("Id")

    async def forward(
        self,
        event: h11.Request,
        body: bytes,
        trailing: bytes,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        extra: list[tuple[bytes, bytes]],
    ) -> None:
        engine_reader, engine_writer = await asyncio.open_unix_connection(self.engine)
        upgrade = any(name == b"upgrade" for name, _ in event.headers)
        headers = [(name, value) for name, value in event.headers if name not in _DROPPED] + extra
        headers.append((b"connection", b"Upgrade" if upgrade else b"close"))
        if body or event.method in (b"POST", b"PUT"):
            headers.append((b"content-length", str(len(body)).encode()))
        head = b"%s %s HTTP/1.1\r\n" % (event.method, event.target)
        head += b"".join(b"%s: %s\r\n" % pair for pair in headers) + b"\r\n"
        engine_writer.write(head + body)
        await engine_writer.drain()
        pipes = [asyncio.create_task(_pipe(engine_reader, writer))]
        if upgrade:
            # A hijacked attach: what the client sends now is the container's stdin, not another request.
            if trailing:
                engine_writer.write(trailing)
            pipes.append(asyncio.create_task(_pipe(reader, engine_writer)))
        await pipes[0]
        for pipe in pipes[1:]:
            pipe.cancel()
        engine_writer.close()


class _TooLarge(Exception):
    pass


async def _read_request(reader: asyncio.StreamReader) -> tuple[h11.Request, bytes, bytes] | None:
    """One whole request (head and body, however framed), and any bytes the client sent after it."""
    connection = h11.Connection(h11.SERVER, max_incomplete_event_size=64 * 1024)
    request: h11.Request | None = None
    body = bytearray()
    while True:
        event = connection.next_event()
        if event is h11.NEED_DATA:
            connection.receive_data(await reader.read(_CHUNK))
        elif isinstance(event, h11.Request):
            request = event
        elif isinstance(event, h11.Data):
            body += event.data
            if len(body) > MAX_BODY_BYTES:
                raise _TooLarge(f"a body over {MAX_BODY_BYTES} bytes")
        elif isinstance(event, h11.EndOfMessage):
            assert request is not None
            trailing, _closed = connection.trailing_data
            return request, bytes(body), trailing
        else:  # ConnectionClosed before a whole request
            return None


async def _answer(writer: asyncio.StreamWriter, status: int, payload: Mapping[str, str]) -> None:
    body = json.dumps(payload).encode()
    connection = h11.Connection(h11.SERVER)
    connection.receive_data(b"GET / HTTP/1.1\r\nhost: guard\r\n\r\n")  # h11 answers only after a request
    connection.next_event()
    headers = [("content-type", "application/json"), ("content-length", str(len(body))), ("connection", "close")]
    writer.write(connection.send(h11.Response(status_code=status, headers=headers)) or b"")
    writer.write(connection.send(h11.Data(data=body)) or b"")
    writer.write(connection.send(h11.EndOfMessage()) or b"")
    await writer.drain()


async def _engine_get(engine: str, target: str) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_unix_connection(engine)
    try:
        connection = h11.Connection(h11.CLIENT)
        request = h11.Request(method="GET", target=target, headers=[("host", "docker"), ("connection", "close")])
        writer.write((connection.send(request) or b"") + (connection.send(h11.EndOfMessage()) or b""))
        await writer.drain()
        status, body = 0, bytearray()
        while True:
            event = connection.next_event()
            if event is h11.NEED_DATA:
                connection.receive_data(await reader.read(_CHUNK))
            elif isinstance(event, h11.Response):
                status = event.status_code
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                return status, bytes(body)
    finally:
        writer.close()


async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    try:
        while data := await source.read(_CHUNK):
            sink.write(data)
            await sink.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass


async def serve(settings: Settings, listen: str, engine: str, registry_auth: str | None) -> None:
    guard = Guard(settings, engine, registry_auth)
    if os.path.exists(listen):
        os.unlink(listen)  # a socket left by the guard's last life
    server = await asyncio.start_unix_server(guard.handle, path=listen)
    # The group is the guard's own (0, the Airflow components' group): only they may connect.
    os.chmod(listen, stat.S_IRUSR | stat.S_IWUSR | stat.S_IRGRP | stat.S_IWGRP)
    log.info(
        "serving %s -> %s: %s like %s, volumes %s",
        listen,
        engine,
        image_lock.describe(settings.image_ids),
        settings.image(catalog.STEPS[0]),
        ", ".join(settings.volumes.values()),
    )
    async with server:
        await server.serve_forever()


async def check(listen: str) -> int:
    status, _ = await _engine_get(listen, "/_ping")
    return 0 if status == 200 else 1


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, format="mindpulse-guard: %(message)s", stream=sys.stderr)
    listen = os.environ.get("MINDPULSE_GUARD_SOCKET", LISTEN)
    if argv[1:] == ["--check"]:
        return asyncio.run(check(listen))
    try:
        settings = Settings.from_environ()
    except ValueError as error:
        print(f"ERROR: {error}", file=sys.stderr)
        return 1
    engine = os.environ.get("MINDPULSE_GUARD_ENGINE", ENGINE)
    asyncio.run(serve(settings, listen, engine, os.environ.get("MINDPULSE_GUARD_REGISTRY_AUTH") or None))
    return 0
