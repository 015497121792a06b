"""Helpers shared by the gitc serve tests and scripts: start and stop a
server, plain HTTP requests (http.client), the wire formats of the
HuggingFace Inference API and OpenAI chat clients, SSE reading, RSS.
Standard library only."""
import base64
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import time


class Server:
    """A `gitc serve --port 0` process; .port is the port it printed."""

    def __init__(self, gitc, args=(), env=None):
        self.proc = subprocess.Popen([gitc, "serve", "--port", "0", *args], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=env, text=True)
        line = self.proc.stdout.readline()
        m = re.search(r"listening on http://([^:]+):(\d+)/", line)
        if not m:
            self.proc.kill()
            raise RuntimeError("gitc serve did not start: %r %s" % (line, self.proc.stderr.read()))
        self.host, self.port = m.group(1), int(m.group(2))
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                if request(self.port, "GET", "/health")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("gitc serve never became healthy")

    def rss_kb(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def stop(self, timeout=60):
        """SIGTERM; returns the exit status and stderr."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return -9, self.proc.stderr.read()
        return self.proc.returncode, self.proc.stderr.read()


def request(port, method, path, body=None, headers=None, timeout=120):
    """One request; returns (status, headers dict (lower-case names), body bytes)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        data = r.read()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, data
    finally:
        conn.close()


def post_json(port, path, obj, headers=None):
    h = {"Content-Type": "application/json"}
    h.update(headers or {})
    st, hd, body = request(port, "POST", path, json.dumps(obj).encode(), h)
    try:
        return st, json.loads(body)
    except ValueError:
        return st, body


def data_url(path):
    ext = os.path.splitext(path)[1].lower().lstrip(".")
    mime = {"jpg": "jpeg"}.get(ext, ext)
    with open(path, "rb") as f:
        return "data:image/%s;base64,%s" % (mime, base64.b64encode(f.read()).decode())


def hf_image_to_text(port, path, parameters=None):
    """What huggingface_hub.InferenceClient(URL).image_to_text sends: raw bytes,
    or {"inputs": base64, "parameters": {...}} when there are parameters."""
    with open(path, "rb") as f:
        data = f.read()
    if not parameters:
        return request(port, "POST", "/", data)
    return post_json(port, "/v1/image-to-text",
                     {"inputs": base64.b64encode(data).decode(), "parameters": parameters})


def chat_body(path, question=None, **params):
    content = [{"type": "image_url", "image_url": {"url": data_url(path)}}]
    if question:
        content.append({"type": "text", "text": question})
    body = {"model": "git", "messages": [{"role": "user", "content": content}]}
    body.update(params)
    return body


def chat_stream(port, body, close_after=None):
    """POSTs a streaming chat request; returns (status, list of chunk objects, saw [DONE]).
    close_after=N closes the connection after N chunks."""
    body = dict(body, stream=True)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    conn.request("POST", "/v1/chat/completions", json.dumps(body).encode(), {"Content-Type": "application/json"})
    r = conn.getresponse()
    chunks, done = [], False
    if r.status != 200:
        r.read()
        conn.close()
        return r.status, chunks, done
    buf = b""
    while True:
        piece = r.read1(65536) if hasattr(r, "read1") else r.read(1)
        if not piece:
            break
        buf += piece
        while b"\n\n" in buf:
            event, buf = buf.split(b"\n\n", 1)
            line = event.decode().strip()
            if not line.startswith("data:"):
                continue
            data = line[5:].strip()
            if data == "[DONE]":
                done = True
                continue
            chunks.append(json.loads(data))
            if close_after is not None and len(chunks) >= close_after:
                conn.sock.shutdown(socket.SHUT_RDWR)
                conn.close()
                return r.status, chunks, done
    conn.close()
    return r.status, chunks, done


def multipart(fields, files):
    """Encodes a multipart/form-data body: fields {name: str|bytes}, files [(field, filename, bytes, type)]."""
    boundary = "gitcboundary%d" % int(time.time() * 1e6)
    out = []
    for name, value in fields.items():
        if isinstance(value, str):
            value = value.encode()
        out.append(b"--%s\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\n%s\r\n" %
                   (boundary.encode(), name.encode(), value))
    for field, filename, data, ctype in files:
        out.append(b"--%s\r\nContent-Disposition: form-data; name=\"%s\"; filename=\"%s\"\r\n"
                   b"Content-Type: %s\r\n\r\n%s\r\n" % (boundary.encode(), field.encode(), filename.encode(),
                                                      ctype.encode(), data))
    out.append(b"--%s--\r\n" % boundary.encode())
    return b"".join(out), "multipart/form-data; boundary=" + boundary


def metrics(port):
    """The /metrics samples as {name{labels}: value}."""
    st, _, body = request(port, "GET", "/metrics")
    out = {}
    for line in body.decode().splitlines():
        if line and not line.startswith("#"):
            k, v = line.rsplit(" ", 1)
            out[k] = float(v)
    return out
