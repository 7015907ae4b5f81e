#!/usr/bin/env python3
"""A small, complete Python client of provisioning.

It needs `requests` only: the WebSocket is read with a minimal RFC 6455
client built on the standard library (enough to receive the event frames).

As a library:

    c = ProvisioningClient("http://localhost:9090", "http://localhost:9080")
    c.login("admin", "password")            # mfa_code="123456" when enrolled
    task_id = c.create_servers("production", settings="config.ncl")
    for event in c.events(task_id=task_id):  # over the WebSocket
        print(event["event_type"], event["data"])

As a command (exit 0 on success, 1 when a watched task did not complete,
2 on bad usage, 3 on API errors):

    PROVISIONING_USERNAME=admin PROVISIONING_PASSWORD=... \
        python3 provisioning_client.py submit --infra production
    python3 provisioning_client.py watch TASK_ID
    python3 provisioning_client.py verify SECRET < body.json  (headers in env)
"""

import argparse
import base64
import hashlib
import hmac
import json
import os
import socket
import ssl
import struct
import sys
import time
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit

import requests

MEDIA_TYPE = "application/vnd.provisioning.v1+json"


class APIError(Exception):
    """An answer that is not a success: the HTTP status and the server's message."""

    def __init__(self, status, message, fields=None):
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message
        self.fields = fields or []


class ProvisioningClient:
    def __init__(self, orchestrator="http://localhost:9090", control="http://localhost:9080", token=None, timeout=30):
        self.orchestrator = orchestrator.rstrip("/")
        self.control = control.rstrip("/")
        self.token = token
        self.expires_at = None
        self.timeout = timeout
        self.session = requests.Session()
        self.session.headers["Accept"] = MEDIA_TYPE

    # --- plumbing -------------------------------------------------------

    def _call(self, method, base, path, body=None, params=None, headers=None, page=False):
        self._refresh_if_due(path)
        h = dict(headers or {})
        if self.token:
            h["Authorization"] = f"Bearer {self.token}"
        res = self.session.request(method, base + path, json=body, params=params, headers=h, timeout=self.timeout)
        try:
            envelope = res.json()
        except ValueError:
            raise APIError(res.status_code, f"not a provisioning answer: {res.text[:200]!r}")
        if res.status_code >= 300 or not envelope.get("success"):
            raise APIError(res.status_code, envelope.get("error", res.reason), envelope.get("fields"))
        if page:
            return envelope["data"], res
        return envelope["data"]

    def _refresh_if_due(self, path):
        """Refresh the token in its last five minutes (not when logging in or refreshing)."""
        if not self.token or not self.expires_at or path.startswith("/auth/"):
            return
        left = self.expires_at - time.time()
        if 0 < left < 300:
            self.refresh()

    def _pages(self, base, path, params=None, limit=100):
        """Yield every item of a list, following the Link rel="next" header."""
        params = dict(params or {}, limit=limit)
        while True:
            items, res = self._call("GET", base, path, params=params, page=True)
            yield from items
            nxt = res.links.get("next", {}).get("url")
            if not nxt or not items:
                return
            split = urlsplit(urljoin(base, nxt))
            path, params = split.path, dict(parse_qsl(split.query))

    # --- control center -------------------------------------------------

    def login(self, username, password, mfa_code=None):
        body = {"username": username, "password": password}
        if mfa_code:
            body["mfa_code"] = mfa_code
        self.token = None
        data = self._call("POST", self.control, "/auth/login", body)
        self._keep(data)
        return data

    def refresh(self):
        data = self._call("POST", self.control, "/auth/refresh", {"token": self.token})
        self._keep(data)
        return data

    def logout(self):
        try:
            return self._call("POST", self.control, "/auth/logout")
        finally:
            self.token = None

    def _keep(self, data):
        self.token = data["token"]
        exp = data.get("expires_at")
        self.expires_at = _parse_time(exp) if exp else None

    # --- orchestrator ---------------------------------------------------

    def create_servers(self, infra, settings=None, check_mode=False, wait=True, idempotency_key=None):
        body = {"infra": infra, "check_mode": check_mode, "wait": wait}
        if settings:
            body["settings"] = settings
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        return self._call("POST", self.orchestrator, "/workflows/servers/create", body, headers=headers)

    def create_taskserv(self, taskserv, infra, settings=None, check_mode=False, wait=True):
        body = {"operation": "create", "taskserv": taskserv, "infra": infra, "check_mode": check_mode, "wait": wait}
        if settings:
            body["settings"] = settings
        return self._call("POST", self.orchestrator, "/workflows/taskserv/create", body)

    def execute_batch(self, batch, idempotency_key=None):
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        return self._call("POST", self.orchestrator, "/batch/execute", batch, headers=headers)

    def task(self, task_id):
        return self._call("GET", self.orchestrator, f"/tasks/{task_id}")

    def tasks(self, status=None):
        return self._pages(self.orchestrator, "/tasks", {"status": status} if status else None)

    def subscribe(self, task_id=None, batch_id=None, types=None, since=None):
        """Open the WebSocket now; iterate the answer for its frames
        ({event_type, timestamp, data, metadata, seq}); close() ends it."""
        params = {}
        if task_id:
            params["task_id"] = task_id
        if batch_id:
            params["batch_id"] = batch_id
        if types:
            params["events"] = ",".join(types)
        if since:
            params["since"] = str(since)
        url = self.orchestrator.replace("http", "ws", 1) + "/ws"
        if params:
            url += "?" + urlencode(params)
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return _Subscription(_WebSocket(url, headers, self.timeout))

    def events(self, **filters):
        """Yield the frames of a new subscription until the server closes it."""
        sub = self.subscribe(**filters)
        try:
            yield from sub
        finally:
            sub.close()

    def watch(self, task_id, on_event=print):
        """Follow a task until it ends; return its final status as the REST
        API spells it (Completed, Failed, Cancelled): events spell statuses
        in lower case, so the end seen live is read back from the task."""
        sub = self.subscribe(task_id=task_id)  # subscribe first, then read the state: no event is missed
        try:
            status = self.task(task_id)["status"]
            if _terminal(status):
                return status
            for event in sub:
                on_event(event)
                data = event.get("data") or {}
                if event.get("event_type") == "TaskStatusChanged" and data.get("task_id") == task_id and _terminal(data.get("status", "")):
                    return self.task(task_id)["status"]
            return self.task(task_id)["status"]
        finally:
            sub.close()


class _Subscription:
    def __init__(self, ws):
        self.ws = ws

    def __iter__(self):
        for text in self.ws.messages():
            yield json.loads(text)

    def close(self):
        self.ws.close()


def _terminal(status):
    return status.lower() in ("completed", "failed", "cancelled", "skipped", "rolledback")


def _parse_time(value):
    from datetime import datetime

    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


# --- webhooks -------------------------------------------------------------


def verify_webhook(secret, headers, body, tolerance=300, now=None):
    """Check a delivery's signature; raise ValueError when it is not genuine.

    headers: the request's headers (any case); body: the raw bytes, exactly
    as received. The Standard Webhooks headers (webhook-id, webhook-timestamp,
    webhook-signature) are checked when present, else X-Provisioning-Signature.
    """
    h = {k.lower(): v for k, v in headers.items()}
    key = secret.encode()
    if "webhook-signature" in h:
        msg_id, ts = h.get("webhook-id", ""), h.get("webhook-timestamp", "")
        if not msg_id or not ts.isdigit():
            raise ValueError("webhook-id or webhook-timestamp missing")
        if abs((now or time.time()) - int(ts)) > tolerance:
            raise ValueError("webhook-timestamp too far from now (replay?)")
        mac = hmac.new(key, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()
        expected = base64.b64encode(mac).decode()
        for sig in h["webhook-signature"].split():
            version, _, value = sig.partition(",")
            if version == "v1" and hmac.compare_digest(value, expected):
                return
        raise ValueError("no webhook-signature matches")
    sig = h.get("x-provisioning-signature", "")
    expected = "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()
    if not sig or not hmac.compare_digest(sig, expected):
        raise ValueError("X-Provisioning-Signature does not match")


# --- a minimal WebSocket client (RFC 6455, receiving side) ----------------


class _WebSocket:
    def __init__(self, url, headers, timeout):
        u = urlsplit(url)
        port = u.port or (443 if u.scheme == "wss" else 80)
        sock = socket.create_connection((u.hostname, port), timeout=timeout)
        if u.scheme == "wss":
            sock = ssl.create_default_context().wrap_socket(sock, server_hostname=u.hostname)
        sock.settimeout(None)
        self.sock = sock
        key = base64.b64encode(os.urandom(16)).decode()
        target = u.path + ("?" + u.query if u.query else "")
        lines = [f"GET {target} HTTP/1.1", f"Host: {u.netloc}", "Upgrade: websocket", "Connection: Upgrade",
                 f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = sock.recv(4096)
            if not chunk:
                raise APIError(0, "connection closed during the WebSocket handshake")
            head += chunk
        head, self.buf = head.split(b"\r\n\r\n", 1)
        status = int(head.split(b" ", 2)[1])
        if status != 101:
            body = self.buf.decode(errors="replace")
            try:
                message = json.loads(body)["error"]
            except (ValueError, KeyError):
                message = body.strip() or "handshake refused"
            sock.close()
            raise APIError(status, message)
        accept = base64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest())
        if accept not in head:
            raise APIError(status, "bad Sec-WebSocket-Accept")

    def close(self):
        if self.sock is None:
            return
        try:
            self._send(0x8, struct.pack("!H", 1000))
        except OSError:
            pass
        self.sock.close()
        self.sock = None

    def _read(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def _send(self, opcode, payload=b""):
        mask = os.urandom(4)  # clients must mask what they send
        head = bytes([0x80 | opcode])
        if len(payload) < 126:
            head += bytes([0x80 | len(payload)])
        else:
            head += bytes([0x80 | 126]) + struct.pack("!H", len(payload))
        self.sock.sendall(head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    def messages(self):
        """Yield text messages until the server closes."""
        parts = []
        while True:
            try:
                b0, b1 = self._read(2)
            except EOFError:
                return
            opcode, n = b0 & 0x0F, b1 & 0x7F
            if n == 126:
                n = struct.unpack("!H", self._read(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", self._read(8))[0]
            mask = self._read(4) if b1 & 0x80 else None
            payload = self._read(n)
            if mask:
                payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
            if opcode == 0x8:
                return
            if opcode == 0x9:
                self._send(0xA, payload)
            elif opcode in (0x1, 0x0):
                parts.append(payload)
                if b0 & 0x80:
                    yield b"".join(parts).decode()
                    parts = []


# --- command line ---------------------------------------------------------


def _client():
    c = ProvisioningClient(os.environ.get("PROVISIONING_SERVER", "http://localhost:9090"),
                           os.environ.get("PROVISIONING_CONTROL_SERVER", "http://localhost:9080"),
                           token=os.environ.get("PROVISIONING_TOKEN"))
    if not c.token:
        c.login(os.environ.get("PROVISIONING_USERNAME", "admin"), os.environ["PROVISIONING_PASSWORD"],
                os.environ.get("PROVISIONING_MFA_CODE"))
    return c


def main(argv):
    p = argparse.ArgumentParser(description="provisioning example client")
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("submit", help="submit a server workflow, print the task id")
    s.add_argument("--infra", required=True)
    s.add_argument("--settings")
    sub.add_parser("tasks", help="list every task (all pages)")
    w = sub.add_parser("watch", help="follow a task over the WebSocket; exit 0 when it completed")
    w.add_argument("task_id")
    v = sub.add_parser("verify", help="verify a webhook body on stdin; headers from WEBHOOK_* variables")
    v.add_argument("secret")
    args = p.parse_args(argv)
    try:
        if args.cmd == "verify":
            headers = {name: os.environ[var] for name, var in (
                ("webhook-id", "WEBHOOK_ID"), ("webhook-timestamp", "WEBHOOK_TIMESTAMP"),
                ("webhook-signature", "WEBHOOK_SIGNATURE"), ("X-Provisioning-Signature", "X_PROVISIONING_SIGNATURE"))
                if var in os.environ}
            try:
                verify_webhook(args.secret, headers, sys.stdin.buffer.read())
            except ValueError as e:
                print(f"invalid: {e}", file=sys.stderr)
                return 1
            print("valid")
            return 0
        c = _client()
        if args.cmd == "submit":
            print(c.create_servers(args.infra, settings=args.settings))
        elif args.cmd == "tasks":
            for t in c.tasks():
                print(t["id"], t["name"], t["status"])
        elif args.cmd == "watch":
            status = c.watch(args.task_id, on_event=lambda e: print(e["seq"], e["event_type"], json.dumps(e["data"])))
            print(status)
            return 0 if status.lower() == "completed" else 1
        return 0
    except APIError as e:
        print(f"error: {e.message} (HTTP {e.status})", file=sys.stderr)
        for f in e.fields:
            print(f"  {f['field']}: {f['message']}", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
