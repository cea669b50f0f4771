"""uvicorn's httptools protocol, answering requests it cannot parse with a problem document.

A request whose bytes are not HTTP — a header name with a space or a control character, a
broken request line or chunk, an invalid Content-Length — never reaches the app: the
server's parser refuses it and uvicorn writes a fixed ``text/plain`` 400 and closes the
connection. This subclass writes the same 400 as ``application/problem+json``, like every
other error, so clients parse one error shape. (The connection is still closed: after a
parse error the stream has no reliable request boundary.)
"""

from __future__ import annotations

import msgspec
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from deepiri_kit.problems import PROBLEM_JSON, problem_body


class ProblemHttpToolsProtocol(HttpToolsProtocol):
    def send_400_response(self, msg: str) -> None:
        body = msgspec.json.encode(
            problem_body(
                400,
                title="Bad Request",
                detail=f"{msg} The request is not valid HTTP/1.1 (RFC 9112).",
                slug="bad-request",
            )
        )
        content = [STATUS_LINE[400]]
        for name, value in self.server_state.default_headers:
            content.extend([name, b": ", value, b"\r\n"])
        content.extend(
            [
                b"content-type: " + PROBLEM_JSON.encode() + b"\r\n",
                b"content-length: " + str(len(body)).encode("ascii") + b"\r\n",
                b"connection: close\r\n",
                b"\r\n",
                body,
            ]
        )
        self.transport.write(b"".join(content))
        self.transport.close()
