#!/usr/bin/env python3
"""gitserver.py: a smart-HTTP git server over TLS on 127.0.0.1, for bench.py's review suite (item 3).

Every request goes to the real `git http-backend` as a CGI program (RFC 3875): GIT_PROJECT_ROOT is the
served directory, GIT_HTTP_EXPORT_ALL is set, the request body is streamed to the backend (de-chunked
if the client sent it chunked), and the backend's output is streamed back: its Status header becomes
the status line, and a body without Content-Length goes out with chunked transfer encoding, so
connections stay open (HTTP/1.1 keep-alive), as with a real forge. Threaded (one thread per connection).

  gitserver.py --root DIR --cert PEM --key PEM --ready FILE [--log FILE]

Listens on 127.0.0.1 only, on a port the kernel picks, and writes that port to FILE once it accepts
connections. Runs until SIGTERM or SIGINT. Standard library only.
"""

import argparse
import http.server
import os
import signal
import ssl
import subprocess
import sys
import threading
import time

BACKEND = "/usr/lib/git-core/git-http-backend"
BACKEND_TIMEOUT_S = 120
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "upgrade", "expect", "status",
              "content-length", "content-type", "authorization", "proxy-authorization"}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "arbench-git/1"
    disable_nagle_algorithm = True

    def log_message(self, fmt, *args):
        log = self.server.log
        if log:
            with self.server.log_lock:
                log.write(f"{time.time():.6f} {self.address_string()} {fmt % args}\n")
                log.flush()

    def do_GET(self):
        self.cgi()

    def do_POST(self):
        self.cgi()

    def cgi(self):
        path, _, query = self.path.partition("?")
        if "\0" in path or ".." in path.split("/"):
            self.send_error(404)
            return
        env = {
            "PATH": "/usr/bin:/bin",
            "GIT_PROJECT_ROOT": self.server.root,
            "GIT_HTTP_EXPORT_ALL": "1",
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": "/dev/null",
            "HOME": self.server.root,
            "GATEWAY_INTERFACE": "CGI/1.1",
            "SERVER_PROTOCOL": self.request_version,
            "SERVER_SOFTWARE": self.server_version,
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": str(self.server.server_address[1]),
            "REQUEST_METHOD": self.command,
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "REMOTE_ADDR": self.client_address[0],
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
        }
        for name, value in self.headers.items():
            if name.lower() not in HOP_BY_HOP:
                env["HTTP_" + name.upper().replace("-", "_")] = value
        chunked = "chunked" in self.headers.get("Transfer-Encoding", "").lower()
        length = self.headers.get("Content-Length")
        if length is not None and not chunked:
            env["CONTENT_LENGTH"] = length
        proc = subprocess.Popen([BACKEND], env=env, cwd=self.server.root, stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        timer = threading.Timer(BACKEND_TIMEOUT_S, proc.kill)
        timer.start()
        errs = []
        t_err = threading.Thread(target=lambda: errs.append(proc.stderr.read()), daemon=True)
        t_err.start()
        # The body is written from its own thread: http-backend may start answering before it has read all of it.
        t_in = threading.Thread(target=self.feed, args=(proc.stdin, chunked, int(length or 0)), daemon=True)
        t_in.start()
        try:
            out = proc.stdout
            status, headers = "200 OK", []
            while True:
                ln = out.readline(65536)
                if not ln or ln in (b"\r\n", b"\n"):
                    break
                k, _, v = ln.decode("latin-1").rstrip("\r\n").partition(":")
                if k.strip().lower() == "status":
                    status = v.strip()
                else:
                    headers.append((k.strip(), v.strip()))
            code, _, reason = status.partition(" ")
            self.send_response(int(code), reason or None)
            has_length = False
            for k, v in headers:
                if k.lower() in ("connection", "keep-alive", "transfer-encoding"):
                    continue
                has_length |= k.lower() == "content-length"
                self.send_header(k, v)
            if not has_length:
                self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            while True:
                b = out.read1(65536)
                if not b:
                    break
                if has_length:
                    self.wfile.write(b)
                else:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(b), b))
            if not has_length:
                self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        finally:
            t_in.join(BACKEND_TIMEOUT_S)
            rc = proc.wait()
            timer.cancel()
            t_err.join(5)
            if rc != 0 or (errs and errs[0]):
                self.log_message("http-backend exit %d: %s", rc, (errs[0] if errs else b"").decode(errors="replace")[-500:])
                self.close_connection = True

    def copy_exactly(self, pipe, remaining):
        """Copies `remaining` request-body bytes to the backend; False if the client left first."""
        while remaining:
            b = self.rfile.read(min(remaining, 65536))
            if not b:
                return False
            pipe.write(b)
            remaining -= len(b)
        return True

    def feed(self, pipe, chunked, length):
        try:
            if chunked:
                while True:
                    size = int(self.rfile.readline(1024).split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                            pass  # trailers
                        break
                    if not self.copy_exactly(pipe, size):
                        return
                    self.rfile.readline(1024)  # the CRLF after the chunk
            else:
                self.copy_exactly(pipe, length)
        except (BrokenPipeError, ConnectionError, ValueError):
            pass
        finally:
            try:
                pipe.close()
            except OSError:
                pass


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    tls = None

    def finish_request(self, request, client_address):
        # The TLS handshake runs here, in the connection's own thread, not in the accept loop.
        request.settimeout(BACKEND_TIMEOUT_S)
        try:
            conn = self.tls.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        try:
            super().finish_request(conn, client_address)
        finally:
            try:
                conn.close()
            except OSError:
                pass


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--ready", required=True, help="file to write the port to once listening")
    ap.add_argument("--log")
    a = ap.parse_args()
    srv = Server(("127.0.0.1", 0), Handler)
    srv.root = os.path.abspath(a.root)
    srv.log = open(a.log, "a") if a.log else None
    srv.log_lock = threading.Lock()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(a.cert, a.key)
    ctx.set_alpn_protocols(["http/1.1"])
    srv.tls = ctx

    def stop(*_):
        threading.Thread(target=srv.shutdown, daemon=True).start()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    tmp = a.ready + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(srv.server_address[1]))
    os.replace(tmp, a.ready)
    srv.serve_forever(poll_interval=0.2)
    srv.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
