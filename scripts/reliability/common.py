"""Shared pieces of the reliability tool: a raw-socket HTTP/1.1 client, the
harness that starts the fake upstream and cliproxy, /proc readings, and the
four client dialects (a valid request each, and a check that a 200 answer is
a correct one in that dialect)."""
import asyncio
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))


# ---------------------------------------------------------------- HTTP client

class Closed(Exception):
    """The server closed the connection without (a complete) answer."""


class Response:
    __slots__ = ("status", "headers", "body", "elapsed")

    def __init__(self, status, headers, body, elapsed=0.0):
        self.status, self.headers, self.body, self.elapsed = status, headers, body, elapsed

    @property
    def content_type(self):
        return self.headers.get("content-type", "")


def build_request(method, path, port, body=b"", headers=None, content_length=None):
    """Raw request bytes. `content_length` overrides the header (to lie)."""
    h = {"Host": "127.0.0.1:%d" % port}
    if method == "POST" or body:
        h["Content-Type"] = "application/json"
        h["Content-Length"] = str(len(body) if content_length is None else content_length)
    for k, v in (headers or {}).items():
        if v is None:
            h.pop(k, None)
        else:
            h[k] = v
    head = "%s %s HTTP/1.1\r\n" % (method, path) + "".join("%s: %s\r\n" % kv for kv in h.items()) + "\r\n"
    return head.encode("latin-1", "replace") + body


async def read_response(reader, method="POST"):
    line = await reader.readline()
    if not line:
        raise Closed("closed before the status line")
    parts = line.split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/"):
        raise Closed("bad status line %r" % line[:100])
    status = int(parts[1])
    headers = {}
    while True:
        h = await reader.readline()
        if h in (b"\r\n", b"\n"):
            break
        if not h:
            raise Closed("closed in the headers")
        k, _, v = h.decode("latin-1").partition(":")
        headers[k.strip().lower()] = v.strip()
    if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
        return Response(status, headers, b"")
    try:
        if "chunked" in headers.get("transfer-encoding", "").lower():
            chunks = []
            while True:
                sl = await reader.readline()
                if not sl:
                    raise Closed("closed in a chunked body")
                size = int(sl.split(b";")[0].strip(), 16)
                if size == 0:
                    while True:
                        t = await reader.readline()
                        if t in (b"\r\n", b"\n", b""):
                            break
                    break
                chunks.append(await reader.readexactly(size))
                await reader.readexactly(2)
            body = b"".join(chunks)
        elif "content-length" in headers:
            body = await reader.readexactly(int(headers["content-length"]))
        else:
            body = await reader.read()
    except asyncio.IncompleteReadError as e:
        raise Closed("body cut short after %d bytes" % len(e.partial))
    return Response(status, headers, body)


class Conn:
    """One keep-alive connection; reconnects when the server closed it."""

    def __init__(self, port):
        self.port = port
        self.reader = self.writer = None

    async def request(self, raw, method="POST", timeout=30.0):
        t0 = time.monotonic()
        for attempt in (0, 1):
            fresh = self.writer is None
            if fresh:
                self.reader, self.writer = await asyncio.wait_for(
                    asyncio.open_connection("127.0.0.1", self.port, limit=1 << 22), timeout)
            try:
                self.writer.write(raw)
                await self.writer.drain()
                resp = await asyncio.wait_for(read_response(self.reader, method), timeout)
            except (Closed, ConnectionResetError, BrokenPipeError) as e:
                self.close()
                if fresh or attempt == 1:
                    raise Closed(str(e))
                continue  # a stale keep-alive connection: once more on a new one
            except BaseException:
                self.close()
                raise
            if resp.headers.get("connection", "").lower() == "close":
                self.close()
            resp.elapsed = time.monotonic() - t0
            return resp

    def close(self):
        if self.writer is not None:
            try:
                self.writer.transport.abort()
            except Exception:
                pass
        self.reader = self.writer = None


async def one_shot(port, raw, method="POST", timeout=30.0, half_close=False):
    """A request on a connection of its own. `half_close` shuts our write side
    after sending (a body shorter than its Content-Length then ends)."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port, limit=1 << 22), timeout)
    t0 = time.monotonic()
    try:
        writer.write(raw)
        await writer.drain()
        if half_close:
            writer.write_eof()
        resp = await asyncio.wait_for(read_response(reader, method), timeout)
        resp.elapsed = time.monotonic() - t0
        return resp
    except (ConnectionResetError, BrokenPipeError) as e:
        raise Closed(str(e) or type(e).__name__)
    finally:
        writer.transport.abort()


# ------------------------------------------------------------------ /proc

def rss_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return 0
    return 0


def fd_count(pid):
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return 0


def fd_kinds(pid, upstream_port=None, own_port=None):
    """Open fds of a process by kind: 'upstream' (TCP to the fake upstream:
    the transport's connection pool), 'client' (accepted connections),
    'listen', 'socket' (other), 'file', 'other'."""
    inodes = {}
    for name in ("/proc/%d/net/tcp" % pid, "/proc/%d/net/tcp6" % pid):
        try:
            with open(name) as f:
                next(f)
                for line in f:
                    p = line.split()
                    lport, rport, state, inode = int(p[1].rsplit(":", 1)[1], 16), int(p[2].rsplit(":", 1)[1], 16), p[3], p[9]
                    inodes[inode] = (lport, rport, state)
        except OSError:
            pass
    out = {}
    try:
        fds = os.listdir("/proc/%d/fd" % pid)
    except OSError:
        return out
    for fd in fds:
        try:
            link = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        if link.startswith("socket:["):
            t = inodes.get(link[8:-1])
            if t is None:
                k = "socket"
            elif t[2] == "0A":
                k = "listen"
            elif upstream_port and t[1] == upstream_port:
                k = "upstream"
            elif own_port and t[0] == own_port:
                k = "client"
            else:
                k = "socket"
        elif link.startswith("/"):
            k = "file"
        else:
            k = "other"
        out[k] = out.get(k, 0) + 1
    return out


def raise_fd_limit(want=65536):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    new = hard if hard != resource.RLIM_INFINITY else want
    new = max(soft, min(new, max(want, soft)) if hard == resource.RLIM_INFINITY else hard)
    if new != soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


class Sampler:
    """Samples the RSS of a process every `every` seconds; keeps the peak."""

    def __init__(self, pid, every=0.1):
        self.pid, self.every, self.peak, self.task = pid, every, 0, None

    async def _run(self):
        while True:
            self.peak = max(self.peak, rss_kb(self.pid))
            await asyncio.sleep(self.every)

    def start(self):
        self.peak = rss_kb(self.pid)
        self.task = asyncio.get_running_loop().create_task(self._run())
        return self

    async def stop(self):
        if self.task:
            self.task.cancel()
            try:
                await self.task
            except asyncio.CancelledError:
                pass
        self.peak = max(self.peak, rss_kb(self.pid))
        return self.peak


# ----------------------------------------------------------------- harness

FAULT_MODELS = ["fault-429", "fault-500", "fault-reset", "fault-midreset"]


def default_binary():
    return os.environ.get("CLIPROXY") or os.path.join(ROOT, ".build/debug/cliproxy")


def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def config_text(port, upstream_port, workdir, model_name="up-model", extra=""):
    models = ['{name: "%s", alias: "m"}' % model_name]
    models += ['{name: "%s", alias: "%s"}' % (f, f) for f in FAULT_MODELS]
    return ("port: %d\n"
            "auth-dir: \"%s/auth\"\n"
            "request-retry: 1\n"
            "stream-idle-timeout: 20\n"
            "openai-compatibility:\n"
            "  - name: \"fake\"\n"
            "    base-url: \"http://127.0.0.1:%d/v1\"\n"
            "    api-keys: [\"sk-fake\"]\n"
            "    models: [%s]\n" % (port, workdir, upstream_port, ", ".join(models))) + extra


class Harness:
    """The fake upstream (own process) and cliproxy, in a temp folder;
    `stop()` (also at exit and on SIGTERM/SIGINT) ends both."""

    def __init__(self, binary=None, chunks=5, interval_ms=0, rules=None, keep=False, workdir=None):
        self.binary = os.path.abspath(binary or default_binary())
        if not os.path.exists(self.binary):
            sys.exit("no cliproxy binary at %s (swift build --product cliproxy, or --binary / CLIPROXY=)" % self.binary)
        self.chunks, self.interval_ms = chunks, interval_ms
        self.workdir = workdir or tempfile.mkdtemp(prefix="cliproxy-rel-")
        os.makedirs(self.workdir + "/auth", exist_ok=True)
        self.rules = rules or os.path.join(ROOT, "Rules")
        self.keep = keep
        self.upstream = self.proxy = None
        self.port = self.upstream_port = None
        self.config_path = os.path.join(self.workdir, "config.yaml")
        self.log_path = os.path.join(self.workdir, "cliproxy.log")
        self.restarts = 0
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_signal)
        import atexit
        atexit.register(self.stop)

    def _on_signal(self, signum, frame):
        self.stop()
        sys.exit(128 + signum)

    def start_upstream(self):
        self.upstream = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "reliability.py"), "upstream", "--port", "0",
             "--chunks", str(self.chunks), "--interval-ms", str(self.interval_ms)],
            stdout=subprocess.PIPE, stderr=open(os.path.join(self.workdir, "upstream.log"), "ab"))
        line = self.upstream.stdout.readline().decode()
        if not line.startswith("PORT "):
            sys.exit("fake upstream did not start: %r" % line)
        self.upstream_port = int(line.split()[1])

    def write_config(self, text=None):
        if text is None:
            text = config_text(self.port, self.upstream_port, self.workdir)
        with open(self.config_path, "w") as f:
            f.write(text)

    def start(self):
        if self.upstream is None:
            self.start_upstream()
        if self.port is None:
            self.port = free_port()
            self.write_config()
        self.start_proxy()
        return self

    def start_proxy(self):
        log = open(self.log_path, "ab")
        self.proxy = subprocess.Popen([self.binary, "--config", self.config_path, "--rules", self.rules],
                                      stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir)
        # A proxy under valgrind compiles its rules for minutes: CLIPROXY_START_S waits longer.
        wait = float(os.environ.get("CLIPROXY_START_S", "60"))
        deadline = time.time() + wait
        while time.time() < deadline:
            if self.proxy.poll() is not None:
                sys.exit("cliproxy exited at start-up (status %s); log: %s" % (self.proxy.returncode, self.log_path))
            if self.healthy_sync(0.5):
                return
            time.sleep(0.05)
        sys.exit("cliproxy did not answer /healthz within %.0f s; log: %s" % (wait, self.log_path))

    def restart_proxy(self):
        if self.proxy and self.proxy.poll() is None:
            self.proxy.kill()
            self.proxy.wait()
        self.restarts += 1
        self.start_proxy()

    def healthy_sync(self, timeout=2.0):
        import socket
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as s:
                s.settimeout(timeout)
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                data = s.recv(64)
                return data.startswith(b"HTTP/1.1 200")
        except OSError:
            return False

    async def healthy(self, timeout=5.0):
        try:
            r = await one_shot(self.port, build_request("GET", "/healthz", self.port), "GET", timeout)
            return r.status == 200
        except Exception:
            return False

    @property
    def pid(self):
        return self.proxy.pid

    def alive(self):
        return self.proxy is not None and self.proxy.poll() is None

    def stop(self):
        for p in (self.proxy, self.upstream):
            if p is not None and p.poll() is None:
                p.terminate()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        self.proxy = self.upstream = None
        if not self.keep and self.workdir and os.path.isdir(self.workdir):
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None


# ---------------------------------------------------------------- dialects

def dialect_request(dialect, port, model="m", stream=False, text="Say hi.", alt_sse=True):
    """(method, path, raw bytes) of a valid request in one client dialect."""
    msgs = [{"role": "user", "content": text}]
    headers = {}
    if dialect == "chat":
        path, body = "/v1/chat/completions", {"model": model, "messages": msgs, "stream": stream}
    elif dialect == "responses":
        path, body = "/v1/responses", {"model": model, "input": text, "stream": stream}
    elif dialect == "claude":
        path, body = "/v1/messages", {"model": model, "max_tokens": 64, "messages": msgs, "stream": stream}
        headers["anthropic-version"] = "2023-06-01"
    elif dialect == "gemini":
        verb = "streamGenerateContent" + ("?alt=sse" if alt_sse else "") if stream else "generateContent"
        path, body = "/v1beta/models/%s:%s" % (model, verb), {"contents": [{"role": "user", "parts": [{"text": text}]}]}
    elif dialect == "claude-count":
        path, body = "/v1/messages/count_tokens", {"model": model, "messages": msgs}
    elif dialect == "gemini-count":
        path, body = "/v1beta/models/%s:countTokens" % model, {"contents": [{"role": "user", "parts": [{"text": text}]}]}
    elif dialect == "responses-count":
        path, body = "/v1/responses/input_tokens", {"model": model, "input": text}
    elif dialect == "models":
        return "GET", "/v1/models", build_request("GET", "/v1/models", port)
    else:
        raise ValueError(dialect)
    return "POST", path, build_request("POST", path, port, json.dumps(body).encode(), headers)


def sse_events(body):
    """[(event, data)] of an SSE body (LF or CRLF)."""
    out = []
    text = body.decode("utf-8", "strict").replace("\r\n", "\n")
    for block in text.split("\n\n"):
        if not block.strip():
            continue
        ev, data = None, []
        for line in block.split("\n"):
            if line.startswith("event:"):
                ev = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].lstrip(" ") if line.startswith("data: ") or line.startswith("data:") else line)
            elif line.startswith(":") or not line:
                continue
        out.append((ev, "\n".join(data)))
    return out


def _json_events(body):
    evs = sse_events(body)
    if not evs:
        raise ValueError("empty stream")
    return evs


def check_answer(kind, resp):
    """None when a 200 is a correct answer of endpoint `kind`, else why not.
    kind: chat, responses, claude, claude-count, responses-count, gemini,
    gemini-stream, gemini-count, models."""
    ct = resp.content_type
    try:
        if "text/event-stream" in ct:
            evs = _json_events(resp.body)
            if kind == "chat":
                if evs[-1][1] != "[DONE]":
                    last = json.loads(evs[-1][1])
                    if "error" not in last:
                        return "chat stream does not end with [DONE]"
                for _, d in evs[:-1]:
                    o = json.loads(d)
                    if o.get("object") != "chat.completion.chunk" and "error" not in o:
                        return "chat stream event is not a chunk: %s" % d[:200]
                return None
            if kind == "responses":
                names = [e for e, _ in evs]
                for e, d in evs:
                    o = json.loads(d)
                    if o.get("type") != e:
                        return "responses event %s with data type %s" % (e, o.get("type"))
                if names[-1] not in ("response.completed", "response.incomplete", "response.failed", "error"):
                    return "responses stream ends with %s" % names[-1]
                return None
            if kind == "claude":
                names = [e for e, _ in evs]
                for e, d in evs:
                    o = json.loads(d)
                    if o.get("type") != e:
                        return "claude event %s with data type %s" % (e, o.get("type"))
                if names[0] not in ("message_start", "error") or names[-1] not in ("message_stop", "error"):
                    return "claude stream %s … %s" % (names[0], names[-1])
                return None
            if kind == "gemini-stream":
                for _, d in evs:
                    o = json.loads(d)
                    if not isinstance(o, dict) or not ("candidates" in o or "error" in o or "usageMetadata" in o):
                        return "gemini stream event: %s" % d[:200]
                return None
            return "a stream from a %s endpoint" % kind
        if "json" not in ct:
            return "content-type %r" % ct
        o = json.loads(resp.body)
        if kind == "gemini-stream":
            if not isinstance(o, list) or not all(isinstance(x, dict) and ("candidates" in x or "error" in x) for x in o):
                return "gemini stream without alt=sse is not a JSON array of responses"
            return None
        if not isinstance(o, dict):
            return "answer is not a JSON object"
        ok = {
            "chat": lambda: o.get("object") == "chat.completion" and isinstance(o.get("choices"), list),
            "responses": lambda: o.get("object") == "response" and isinstance(o.get("output"), list),
            "claude": lambda: o.get("type") == "message" and isinstance(o.get("content"), list),
            "claude-count": lambda: isinstance(o.get("input_tokens"), int),
            "responses-count": lambda: isinstance(o.get("input_tokens"), int),
            "gemini": lambda: isinstance(o.get("candidates"), list),
            "gemini-count": lambda: isinstance(o.get("totalTokens"), int),
            "models": lambda: isinstance(o.get("data"), list) or isinstance(o.get("models"), list),
        }[kind]()
        return None if ok else "not a %s answer: %s" % (kind, resp.body[:200])
    except (ValueError, UnicodeDecodeError) as e:
        return "unparseable %s answer (%s): %r" % (kind, e, resp.body[:200])


def answer_text(resp):
    """The body as text, for finding markers (served-by:…, x_reload)."""
    return resp.body.decode("utf-8", "replace")


def percentile(values, p):
    if not values:
        return 0.0
    v = sorted(values)
    k = min(len(v) - 1, max(0, int(round(p / 100.0 * (len(v) - 1)))))
    return v[k]


async def process_figures(port):
    """cliproxy's own figures from /metrics, in bytes and counts: malloc's
    in-use and free bytes (glibc mallinfo2), resident memory, open fds.
    RSS growth with flat in-use bytes is malloc keeping freed memory; growth
    of the in-use bytes is memory still referenced (a leak or a cache)."""
    import re
    names = {"cliproxy_malloc_in_use_bytes": "in_use", "cliproxy_malloc_free_bytes": "free",
             "process_resident_memory_bytes": "rss", "process_open_fds": "fds"}
    try:
        r = await one_shot(port, build_request("GET", "/metrics", port), "GET", 10)
    except Exception:
        return {}
    out = {}
    for m in re.finditer(rb"^([a-z_]+) ([0-9.e+]+)$", r.body, re.M):
        key = names.get(m.group(1).decode())
        if key:
            out[key] = float(m.group(2))
    return out
