"""A minimal keep-alive HTTP/1.1 client on asyncio streams: light enough that forty of them in one
process leave the two cores to the server (as bench/bench_trigger.py does). Not a general client:
it speaks to our gunicorn only (Content-Length bodies, no chunking)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from urllib.parse import urlencode


@dataclass
class Answer:
    status: int  # 0: the connection failed (refused, reset, closed before an answer)
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body)


class Connection:
    def __init__(self, port: int, *, timeout: float = 60):
        self.port = port
        self.timeout = timeout
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(
        self,
        method: str,
        path: str,
        *,
        json_body=None,
        form: dict | None = None,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        """One request; on a failed connection the answer has status 0 and the next call reconnects."""
        body = raw if raw is not None else b""
        head = {"Host": "127.0.0.1", **(headers or {})}
        if json_body is not None:
            body = json.dumps(json_body).encode()
            head["Content-Type"] = "application/json"
        elif form is not None:
            body = urlencode(form, doseq=True).encode()
            head["Content-Type"] = "application/x-www-form-urlencoded"
        head["Content-Length"] = str(len(body))
        message = f"{method} {path} HTTP/1.1\r\n".encode()
        message += "".join(f"{name}: {value}\r\n" for name, value in head.items()).encode() + b"\r\n" + body
        try:
            if self.writer is None:
                self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
            self.writer.write(message)
            answer = await asyncio.wait_for(self._read(), self.timeout)
        except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError, IndexError):
            self.close()
            return Answer(0, {}, b"")
        if answer.headers.get("connection", "").lower() == "close":
            self.close()
        return answer

    async def _read(self) -> Answer:
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {
            name.lower(): value.strip()
            for name, _, value in (line.partition(":") for line in lines[1:] if line)
        }
        body = await self.reader.readexactly(int(headers.get("content-length", "0")))
        return Answer(status, headers, body)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None
