"""A canned OpenAI-compatible upstream on 127.0.0.1, for the reliability tool.

POST .../chat/completions answers a chat.completion (JSON) or, with
"stream": true, a paced SSE stream of chat.completion.chunk events. The reply
text names the model the upstream received ("served-by:<model>"), so a
caller can see which config version routed it.

The model name picks a fault (for the soak run):
  fault-429       429 with Retry-After: 1
  fault-500       500
  fault-reset     the connection is reset before any byte of the answer
  fault-midreset  the head and part of the body, then a reset
Anything else is answered normally.

Runs in a process of its own (`reliability.py upstream`), so a load run's
Python client and this server do not share one interpreter.
"""
import asyncio
import json
import socket
import struct
import sys
import time


class Upstream:
    def __init__(self, chunks=5, interval=0.0):
        self.chunks = max(2, chunks)
        self.interval = interval
        self.served = 0

    async def handle(self, reader, writer):
        try:
            while True:
                req = await read_request(reader)
                if req is None:
                    break
                method, path, headers, body = req
                keep = await self.answer(method, path, headers, body, writer)
                if not keep:
                    break
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            try:
                writer.close()
            except Exception:
                pass

    async def answer(self, method, path, headers, body, writer):
        self.served += 1
        if method == "GET" and path.rstrip("/").endswith("/models"):
            return await send_json(writer, 200, {"object": "list", "data": [{"id": "m", "object": "model", "created": 0, "owned_by": "fake"}]})
        if not path.split("?")[0].endswith("/chat/completions"):
            return await send_json(writer, 404, {"error": {"message": "no route " + path, "type": "invalid_request_error"}})
        try:
            req = json.loads(body)
            model = str(req.get("model", ""))
            stream = req.get("stream") is True
        except Exception:
            return await send_json(writer, 400, {"error": {"message": "body is not JSON", "type": "invalid_request_error"}})
        if "fault-429" in model:
            return await send_json(writer, 429, {"error": {"message": "rate limited (fake)", "type": "rate_limit_error"}}, {"Retry-After": "1"})
        if "fault-500" in model:
            return await send_json(writer, 500, {"error": {"message": "internal error (fake)", "type": "server_error"}})
        if "fault-reset" in model:
            reset(writer)
            return False
        text = "served-by:" + model
        cid = "chatcmpl-fake%d" % self.served
        if not stream:
            answer = {"id": cid, "object": "chat.completion", "created": 1782321921, "model": model,
                      "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                      "usage": {"prompt_tokens": 12, "completion_tokens": 9, "total_tokens": 21}}
            if "fault-midreset" in model:
                data = json.dumps(answer).encode()
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(data) + data[: len(data) // 2])
                await writer.drain()
                reset(writer)
                return False
            return await send_json(writer, 200, answer)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n\r\n")
        base = {"id": cid, "object": "chat.completion.chunk", "created": 1782321921, "model": model}

        def chunk(delta, finish=None, usage=None, choices=True):
            c = dict(base)
            c["choices"] = [{"index": 0, "delta": delta, "finish_reason": finish}] if choices else []
            if usage is not None:
                c["usage"] = usage
            return c

        events = [chunk({"role": "assistant", "content": ""}), chunk({"content": text})]
        events += [chunk({"content": " tok%d" % i}) for i in range(self.chunks - 2)]
        events.append(chunk({}, "stop"))
        events.append(chunk(None, usage={"prompt_tokens": 12, "completion_tokens": self.chunks, "total_tokens": 12 + self.chunks}, choices=False))
        for i, ev in enumerate(events):
            if self.interval and i > 0:
                await asyncio.sleep(self.interval)
            write_chunk(writer, b"data: " + json.dumps(ev, separators=(",", ":")).encode() + b"\n\n")
            await writer.drain()
            if "fault-midreset" in model and i == 2:
                reset(writer)
                return False
        write_chunk(writer, b"data: [DONE]\n\n")
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        return True


def write_chunk(writer, data):
    writer.write(b"%x\r\n" % len(data) + data + b"\r\n")


def reset(writer):
    """Closes with SO_LINGER 0: the peer sees a TCP reset."""
    sock = writer.get_extra_info("socket")
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except Exception:
        pass
    writer.transport.abort()


async def send_json(writer, status, obj, extra=None):
    data = json.dumps(obj).encode()
    reason = {200: "OK", 400: "Bad Request", 404: "Not Found", 429: "Too Many Requests", 500: "Internal Server Error"}.get(status, "X")
    head = "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n" % (status, reason, len(data))
    for k, v in (extra or {}).items():
        head += "%s: %s\r\n" % (k, v)
    writer.write(head.encode() + b"\r\n" + data)
    await writer.drain()
    return True


async def read_request(reader):
    line = await reader.readline()
    if not line:
        return None
    parts = line.decode("latin-1").split()
    if len(parts) < 2:
        raise ValueError("bad request line")
    method, path = parts[0], parts[1]
    headers = {}
    while True:
        h = await reader.readline()
        if h in (b"\r\n", b"\n", b""):
            break
        k, _, v = h.decode("latin-1").partition(":")
        headers[k.strip().lower()] = v.strip()
    body = b""
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    elif "chunked" in headers.get("transfer-encoding", "").lower():
        parts = []
        while True:
            size = int((await reader.readline()).split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                    pass
                break
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)
        body = b"".join(parts)
    return method, path, headers, body


async def serve(port, chunks, interval):
    up = Upstream(chunks, interval)
    server = await asyncio.start_server(up.handle, "127.0.0.1", port, backlog=4096, limit=1 << 20)
    print("PORT %d" % server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


def main(args):
    try:
        asyncio.run(serve(args.port, args.chunks, args.interval_ms / 1000.0))
    except KeyboardInterrupt:
        pass
