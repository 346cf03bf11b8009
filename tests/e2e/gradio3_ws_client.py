#!/usr/bin/env python3
"""A Gradio 3.x queue client (Gradio 3.41's WebSocket protocol) for end-to-end scripts.

    gradio3_ws_client.py --port P [--host 127.0.0.1] [--path /queue/join] --data '[512,16,4]'
                         [--fn-index 0] [--session S] [--timeout 60] [--leave-after MSG]

Opens a WebSocket (RFC 6455: masked client frames, Sec-WebSocket-Accept checked) to the queue and
speaks for one event: answers {"msg":"send_hash"} with {"fn_index","session_hash"} and
{"msg":"send_data"} with {"data","event_data":null,"fn_index","session_hash"}; answers pings.

stdout: every message received, one JSON line each, with "t_ms" (milliseconds since the
connection was opened) added; then {"closed": true, "t_ms": …, "close_code": N} when the server
closes (N: the close frame's code, 1005 when it has none, 1006 when the connection ended without
one), or {"left": true, "after": MSG, "t_ms": …} when --leave-after closed the socket itself.

--leave-after MSG: close the socket (no close frame) right after receiving the message MSG
("send_hash", "estimation", "send_data", …): a client that leaves.

Exit status: 0 when a process_completed with "success": true came (or the client left as asked
before any process_completed), 1 when it came with "success": false, 2 on a protocol or
connection error (a refused upgrade, a bad accept key, the server closing before
process_completed; one line on stderr), 3 when --timeout seconds passed first. Standard library
only.
"""

import argparse
import base64
import hashlib
import json
import os
import socket
import struct
import sys
import time

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
MAX_MESSAGE = 64 << 20


class ProtocolError(Exception):
    pass


class TimedOut(Exception):
    pass


class Connection:
    def __init__(self, sock, deadline, early=b""):
        self.sock = sock
        self.deadline = deadline
        self.buffer = bytearray(early)

    def _fill(self, n):
        while len(self.buffer) < n:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise TimedOut()
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                raise TimedOut() from None
            if not chunk:
                return False
            self.buffer += chunk
        return True

    def _take(self, n):
        if not self._fill(n):
            raise EOFError()
        data = bytes(self.buffer[:n])
        del self.buffer[:n]
        return data

    def read_frame(self):
        b0, b1 = self._take(2)
        fin, opcode = bool(b0 & 0x80), b0 & 0x0F
        if b0 & 0x70:
            raise ProtocolError("a frame with reserved bits set (no extension was negotiated)")
        if b1 & 0x80:
            raise ProtocolError("the server sent a masked frame")
        length = b1 & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", self._take(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", self._take(8))
        if length > MAX_MESSAGE:
            raise ProtocolError(f"a frame of {length} bytes")
        return fin, opcode, self._take(length)

    def send_frame(self, opcode, payload):
        header = bytes([0x80 | opcode])
        n = len(payload)
        if n < 126:
            header += bytes([0x80 | n])
        elif n < 1 << 16:
            header += bytes([0x80 | 126]) + struct.pack("!H", n)
        else:
            header += bytes([0x80 | 127]) + struct.pack("!Q", n)
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(header + mask + masked)


def handshake(sock, host, port, path, deadline):
    key = base64.b64encode(os.urandom(16)).decode()
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        f"Origin: http://{host}:{port}\r\n\r\n"
    )
    sock.sendall(request.encode())
    conn = Connection(sock, deadline)
    while b"\r\n\r\n" not in conn.buffer:
        if len(conn.buffer) > 64 * 1024:
            raise ProtocolError("the answer's head is larger than 64 KiB")
        if not conn._fill(len(conn.buffer) + 1):
            raise ProtocolError("the server closed the connection during the handshake")
    end = conn.buffer.index(b"\r\n\r\n")
    head = bytes(conn.buffer[:end]).decode("latin-1")
    rest = bytes(conn.buffer[end + 4 :])
    lines = head.split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or parts[1] != "101":
        body = rest.decode("utf-8", "replace").strip().replace("\n", " ")[:200]
        raise ProtocolError(f"upgrade refused: {lines[0]}" + (f": {body}" if body else ""))
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    expected = base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()
    if headers.get("sec-websocket-accept") != expected:
        raise ProtocolError(
            f"bad Sec-WebSocket-Accept {headers.get('sec-websocket-accept')!r} "
            f"(expected {expected!r})"
        )
    if "upgrade" not in headers.get("connection", "").lower():
        raise ProtocolError("the 101 answer has no Connection: Upgrade")
    return Connection(sock, deadline, rest)


def run(args, t0):
    deadline = t0 + args.timeout
    data = json.loads(args.data)
    session = args.session or os.urandom(6).hex()

    def ms():
        return int((time.monotonic() - t0) * 1000)

    def emit(obj):
        print(json.dumps(obj), flush=True)

    sock = socket.create_connection((args.host, args.port), timeout=max(args.timeout, 0.001))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        conn = handshake(sock, args.host, args.port, args.path, deadline)
        success = None  # the process_completed's "success", once it came
        fragments, fragment_op = bytearray(), None
        while True:
            try:
                fin, opcode, payload = conn.read_frame()
            except EOFError:
                emit({"closed": True, "t_ms": ms(), "close_code": 1006})
                if success is None:
                    raise ProtocolError("the connection ended before process_completed") from None
                return 0 if success else 1
            if opcode == OP_PING:
                conn.send_frame(OP_PONG, payload)
                continue
            if opcode == OP_PONG:
                continue
            if opcode == OP_CLOSE:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
                try:
                    conn.send_frame(OP_CLOSE, payload[:2])
                except OSError:
                    pass
                emit({"closed": True, "t_ms": ms(), "close_code": code})
                if success is None:
                    raise ProtocolError(f"the server closed ({code}) before process_completed")
                return 0 if success else 1
            if opcode in (OP_TEXT, OP_BINARY):
                if fragment_op is not None:
                    raise ProtocolError("a new message inside a fragmented one")
                fragment_op = opcode
            elif opcode != OP_CONT or fragment_op is None:
                raise ProtocolError(f"unexpected opcode {opcode}")
            fragments += payload
            if len(fragments) > MAX_MESSAGE:
                raise ProtocolError("a message larger than 64 MiB")
            if not fin:
                continue
            op, text = fragment_op, bytes(fragments)
            fragments, fragment_op = bytearray(), None
            if op != OP_TEXT:
                raise ProtocolError("a binary message (Gradio 3 sends text)")
            try:
                message = json.loads(text.decode("utf-8"))
            except (UnicodeDecodeError, ValueError):
                raise ProtocolError(f"a message that is not JSON: {text[:200]!r}") from None
            if not isinstance(message, dict):
                raise ProtocolError(f"a message that is not a JSON object: {text[:200]!r}")
            message["t_ms"] = ms()
            emit(message)
            kind = message.get("msg")
            if kind == "process_completed":
                success = message.get("success") is True
            if args.leave_after is not None and kind == args.leave_after:
                sock.close()
                emit({"left": True, "after": kind, "t_ms": ms()})
                return 0 if success is None or success else 1
            if kind == "send_hash":
                reply = {"fn_index": args.fn_index, "session_hash": session}
                conn.send_frame(OP_TEXT, json.dumps(reply).encode())
            elif kind == "send_data":
                reply = {
                    "data": data,
                    "event_data": None,
                    "fn_index": args.fn_index,
                    "session_hash": session,
                }
                conn.send_frame(OP_TEXT, json.dumps(reply).encode())
    finally:
        sock.close()


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--path", default="/queue/join")
    parser.add_argument("--data", required=True, help="the event's data, JSON: '[512,16,4]'")
    parser.add_argument("--fn-index", type=int, default=0)
    parser.add_argument("--session", default=None, help="session_hash (default: random)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds for everything")
    parser.add_argument(
        "--leave-after",
        default=None,
        metavar="MSG",
        help="close the socket right after receiving this message",
    )
    args = parser.parse_args()
    try:
        json.loads(args.data)
    except ValueError as e:
        parser.error(f"--data is not JSON: {e}")
    t0 = time.monotonic()
    try:
        return run(args, t0)
    except TimedOut:
        print(f"gradio3_ws_client: timed out after {args.timeout:g} s", file=sys.stderr)
        return 3
    except socket.timeout:
        print(f"gradio3_ws_client: timed out after {args.timeout:g} s (connecting)", file=sys.stderr)
        return 3
    except ProtocolError as e:
        print(f"gradio3_ws_client: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"gradio3_ws_client: {args.host}:{args.port}: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
