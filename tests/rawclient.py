"""A raw client of the daemon's socket, for attack tests: frames written by hand, no RemoteSource.

It speaks the wire format (`u32 header length | u32 blob length | JSON header | blob`) directly,
so a test can send what a hostile local user would: any hello, any arguments, oversized frames.
Run as a script (`python -m tests.rawclient SOCKET SCRIPT.json`, e.g. as another Unix user) it
plays a list of steps and prints one JSON line per answer.
"""

from __future__ import annotations

import json
import socket
import struct
import sys
from pathlib import Path
from typing import Any

PREFIX = struct.Struct(">II")


def frame(header: dict[str, Any], blob: bytes = b"") -> bytes:
    body = json.dumps(header).encode()
    return PREFIX.pack(len(body), len(blob)) + body + blob


class RawClient:
    """One connection; `call()` returns the final header and the blobs of every frame."""

    def __init__(self, path: Path | str, timeout: float = 60.0) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(str(path))
        self.ids = 0

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> RawClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _exactly(self, n: int) -> bytes:
        parts = []
        while n:
            got = self.sock.recv(min(n, 1 << 20))
            if not got:
                raise ConnectionError("closed by the daemon")
            parts.append(got)
            n -= len(got)
        return b"".join(parts)

    def recv(self) -> tuple[dict[str, Any], bytes]:
        size, blob = PREFIX.unpack(self._exactly(PREFIX.size))
        header = json.loads(self._exactly(size))
        return header, self._exactly(blob)

    def hello(self, installer: str | None = None, version: int | None = None) -> dict[str, Any]:
        from console.daemon.wire import VERSION

        args: dict[str, Any] = {"v": VERSION if version is None else version}
        if installer is not None:
            args["installer"] = installer
        self.send(frame({"t": "hello", "a": args}))
        return self.recv()[0]

    def call(self, method: str, **args: Any) -> tuple[dict[str, Any], list[bytes]]:
        self.ids += 1
        self.send(frame({"t": "call", "id": self.ids, "m": method, "a": args}))
        chunks = []
        while True:
            header, blob = self.recv()
            if header.get("id") != self.ids:
                continue
            chunks.append(blob)
            if header.get("t") != "chunk":
                return header, chunks


def arrow_rows(blobs: list[bytes]) -> int:
    """Rows in the Arrow IPC streams of an SQL answer (one stream per chunk)."""
    import pyarrow as pa

    return sum(pa.ipc.open_stream(b).read_all().num_rows for b in blobs if b)


def play(path: str, steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Run steps like {"hello": "acme"} or {"call": "sql", "args": {...}}; one answer per step."""
    answers: list[dict[str, Any]] = []
    try:
        client = RawClient(path)
    except OSError as exc:
        return [{"t": "connect_error", "msg": str(exc)}]
    with client:
        for step in steps:
            try:
                if "hello" in step:
                    answers.append(client.hello(step["hello"]))
                    continue
                header, blob = client.call(step["call"], **step.get("args", {}))
                if step["call"] == "sql" and header.get("t") == "result":
                    header["rows"] = arrow_rows(blob)
                answers.append(header)
            except (OSError, ConnectionError) as exc:
                answers.append({"t": "closed", "msg": str(exc)})
                break
    return answers


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    for answer in play(sys.argv[1], json.loads(sys.argv[2])):
        print(json.dumps(answer))
