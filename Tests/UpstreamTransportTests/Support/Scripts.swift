// Helper servers in other languages, written to a temp dir at test time
// (kept as strings so the test target has no unhandled resource files).
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes `text` to `path`; false on failure.
func writeFile(_ path: String, _ text: String) -> Bool {
    guard let f = fopen(path, "w") else { return false }
    defer { fclose(f) }
    let bytes = Array(text.utf8)
    return fwrite(bytes, 1, bytes.count, f) == bytes.count
}

/// HTTPS/1.1 server in python3 (stdlib only).
let tlsServerScript = #"""
"""HTTPS test server for UpstreamTransportTests (stdlib only).

Usage: tls_server.py CERT KEY
Listens on 127.0.0.1, prints the port, serves until stdin closes.
GET /hello -> 200 {"tls":true}; anything else -> 404.
"""
import http.server
import ssl
import sys
import threading


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        if self.path.startswith("/hello"):
            body = b'{"tls":true}'
            self.send_response(200)
        else:
            body = b""
            self.send_response(404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class Server(http.server.ThreadingHTTPServer):
    request_queue_size = 256
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # failed handshakes are part of the tests


def main():
    cert, key = sys.argv[1], sys.argv[2]
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    ctx.set_alpn_protocols(["http/1.1"])
    srv = Server(("127.0.0.1", 0), Handler)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    print(srv.server_address[1], flush=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    sys.stdin.read()


if __name__ == "__main__":
    main()
"""#

/// HTTP/2-over-TLS server in node (no packages).
let h2ServerScript = #"""
// HTTP/2-over-TLS test server for UpstreamTransportTests (node, no packages).
// Usage: node h2_server.js CERT KEY — listens on 127.0.0.1, prints the port,
// exits when stdin closes.
//   /sse?n=&delay=   n events, `delay` ms apart; header x-http-version
//   /endless?id=     events every 30 ms until the client resets the stream
//   /big?size=       `size` bytes, as fast as flow control allows
//   /stats?id=       {"sessions": h2 sessions so far, "closed": stream `id` was closed early}
'use strict';
const http2 = require('http2');
const fs = require('fs');
const [cert, key] = process.argv.slice(2);
let sessions = 0;
const closed = new Set();
const server = http2.createSecureServer({ cert: fs.readFileSync(cert), key: fs.readFileSync(key), allowHTTP1: true });
server.on('session', () => { sessions++; });
server.on('request', (req, res) => {
  const url = new URL(req.url, 'https://localhost');
  const q = url.searchParams;
  if (url.pathname === '/stats') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ sessions, closed: closed.has(q.get('id')) }));
  } else if (url.pathname === '/sse' || url.pathname === '/endless') {
    const endless = url.pathname === '/endless';
    const n = endless ? Infinity : Number(q.get('n') || 5);
    const delay = endless ? 30 : Number(q.get('delay') || 10);
    res.writeHead(200, { 'content-type': 'text/event-stream', 'x-http-version': req.httpVersion });
    let i = 0, done = false;
    res.on('close', () => { if (!done) closed.add(q.get('id')); clearTimeout(timer); });
    let timer;
    const tick = () => {
      if (i >= n) { done = true; res.end(); return; }
      res.write(`data: ${i}\n\n`);
      i++;
      timer = setTimeout(tick, delay);
    };
    tick();
  } else if (url.pathname === '/big') {
    const size = Number(q.get('size') || 1048576);
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    const block = Buffer.alloc(65536, 120);
    let sent = 0;
    const pump = () => {
      while (sent < size) {
        const n = Math.min(block.length, size - sent);
        sent += n;
        if (!res.write(n === block.length ? block : block.subarray(0, n))) { res.once('drain', pump); return; }
      }
      res.end();
    };
    pump();
  } else {
    res.writeHead(404);
    res.end();
  }
});
server.listen(0, '127.0.0.1', () => { console.log(String(server.address().port)); });
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
"""#

/// HTTPS CONNECT proxy in python3 (stdlib only): TLS to the client, Basic
/// auth, tunnels to 127.0.0.1 only. Usage: https_proxy.py CERT KEY USER PASS.
/// Prints its port, then one line per CONNECT: "tunnel HOST:PORT" or "rejected".
let httpsProxyScript = #"""
import base64, socket, ssl, sys, threading

cert, key, user, password = sys.argv[1:5]
expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
lock = threading.Lock()

def say(line):
    with lock:
        print(line, flush=True)

def pipe(a, b):
    try:
        while True:
            data = a.recv(65536)
            if not data:
                break
            b.sendall(data)
    except OSError:
        pass
    finally:
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

def handle(conn):
    try:
        head = b""
        while b"\r\n\r\n" not in head:
            data = conn.recv(4096)
            if not data:
                return
            head += data
        head, rest = head.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        headers = {l.split(":", 1)[0].strip().lower(): l.split(":", 1)[1].strip() for l in lines[1:] if ":" in l}
        if method != "CONNECT" or headers.get("proxy-authorization") != expected:
            say("rejected")
            conn.sendall(b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"t\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            return
        host, port = target.rsplit(":", 1)
        if host not in ("127.0.0.1", "localhost"):
            conn.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
            return
        up = socket.create_connection(("127.0.0.1", int(port)))
        say(f"tunnel {target}")
        conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        if rest:
            up.sendall(rest)
        t = threading.Thread(target=pipe, args=(up, conn), daemon=True)
        t.start()
        pipe(conn, up)
        t.join()
    except OSError:
        pass
    finally:
        conn.close()

def main():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(64)
    print(lsock.getsockname()[1], flush=True)

    def serve():
        while True:
            raw, _ = lsock.accept()
            def run(raw=raw):
                try:
                    conn = ctx.wrap_socket(raw, server_side=True)
                except (OSError, ssl.SSLError):
                    raw.close()
                    return
                handle(conn)
            threading.Thread(target=run, daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    sys.stdin.read()

main()
"""#
