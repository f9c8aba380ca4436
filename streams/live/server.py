"""Serving the live view from the process that owns the store: uvicorn in a daemon thread, on a
socket bound here first (a port in use is a clear error at start, or, for the demo, another port).

The rules (docs/live.md): LEDGER_LIVE_ADDRESS `host:port` (`off`: no live view). A loopback host
(127.0.0.0/8, ::1, localhost) with LEDGER_LIVE_REQUIRE_TOKEN unset serves everyone who can reach
the port; any other host requires tokens: the gateway's token store must hold at least one active
facilitator, buyer or auditor token, or the server refuses to start.

For `ledger progress`, `sql` and `report` to find the process that locks an embedded store, the
server writes `<store path>.live.json` (its URL, pid and database) and removes it when it stops.
"""

from __future__ import annotations

import errno
import ipaddress
import json
import logging
import os
import socket
import threading
import time
from pathlib import Path

import uvicorn

from streams.settings import Settings
from streams.store import Store

log = logging.getLogger(__name__)

OFF = {"", "off", "none", "false", "0", "no"}


class LiveConfigError(Exception):
    """The live view cannot start as configured (the message says why and what to change)."""


def parse_address(text: str | None) -> tuple[str, int] | None:
    """`host:port` or `[v6]:port` -> (host, port); 'off' (or empty) -> None."""
    if text is None or text.strip().lower() in OFF:
        return None
    text = text.strip()
    if text.startswith("["):
        host, _, port = text[1:].partition("]:")
    else:
        host, sep, port = text.rpartition(":")
        if not sep or ":" in host:
            raise LiveConfigError(f"LEDGER_LIVE_ADDRESS={text!r}: host:port expected ([v6]:port for IPv6), or off")
    if not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise LiveConfigError(f"LEDGER_LIVE_ADDRESS={text!r}: host:port expected, or off")
    return host, int(port)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name: whatever it resolves to, it is not known to stay on this machine


def token_store(cfg: Settings, host: str):
    """None when the view is open (loopback, no token required); else the gateway's token store,
    checked to hold a token that may read (LiveConfigError if it holds none)."""
    if is_loopback(host) and not cfg.live_require_token:
        return None
    from streams.gateway.auth import TokenStore
    from streams.gateway.config import GatewaySettings
    from streams.live.app import READERS

    path = GatewaySettings().tokens
    why = ("LEDGER_LIVE_REQUIRE_TOKEN is set" if is_loopback(host)
           else f"{host} is not a loopback address: the live view would be reachable from other machines")
    if not path.exists():
        raise LiveConfigError(f"the live view needs a token ({why}), and there is no token store at {path}: issue "
                              "one with `ledger token issue --auditor NAME` (or --facilitator/--buyer), or bind "
                              "LEDGER_LIVE_ADDRESS to 127.0.0.1")
    tokens = TokenStore(path)
    readers = [t for t in tokens.list() if t["revoked_at"] is None and t["role"] in {r.value for r in READERS}]
    if not readers:
        raise LiveConfigError(f"the live view needs a token ({why}), and the token store {path} holds no active "
                              "facilitator, buyer or auditor token: issue one with `ledger token issue --auditor "
                              "NAME`, or bind LEDGER_LIVE_ADDRESS to 127.0.0.1")
    return tokens


def discovery_file(dsn: str) -> Path | None:
    """`<store path>.live.json` for an embedded store (`chdb://PATH`), None for a server."""
    if not dsn.startswith("chdb://"):
        return None
    from streams.store import _resolve

    path = Path("/" + _resolve(dsn)[len("chdb:///"):])
    return path.with_name(path.name + ".live.json")


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(False)
    return sock


class LiveServer:
    """The live view of `store`, in a thread of this process. `start()` returns its URL."""

    def __init__(self, cfg: Settings, store: Store, any_port_if_busy: bool = False):
        self.cfg, self.store = cfg, store
        self.any_port_if_busy = any_port_if_busy
        self.url: str | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._probe = None
        self._discovery: Path | None = None

    def start(self, timeout: float = 30) -> str | None:
        """Serve; None when LEDGER_LIVE_ADDRESS is off. Raises LiveConfigError (address in use, no token)."""
        address = parse_address(self.cfg.live_address)
        if address is None:
            return None
        host, port = address
        tokens = token_store(self.cfg, host)
        try:
            sock = _bind(host, port)
        except OSError as error:
            if error.errno == errno.EADDRINUSE and self.any_port_if_busy:
                sock = _bind(host, 0)
            else:
                raise LiveConfigError(f"the live view cannot listen on {host}:{port} ({error.strerror}): set "
                                      "LEDGER_LIVE_ADDRESS to another host:port, or off") from None
        from streams.live.app import create_app
        from streams.live.lag import LagProbe

        self._probe = LagProbe(self.cfg, every=max(1.0, self.cfg.live_refresh_seconds)).start()
        app = create_app(self.cfg, self.store, tokens, lag=lambda: self._probe.latest)
        bound = sock.getsockname()[1]
        shown = f"[{host}]" if ":" in host else host
        self._server = uvicorn.Server(uvicorn.Config(app, host=host, port=bound, log_level="warning",
                                                     lifespan="off", access_log=False))
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, name="ledger-live",
                                        daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                sock.close()
                raise LiveConfigError(f"the live view's server did not start on {shown}:{bound}")
            time.sleep(0.02)
        self.url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '') else shown}:{bound}"
        self._advertise()
        return self.url

    def _advertise(self) -> None:
        self._discovery = discovery_file(self.cfg.clickhouse_dsn)
        if self._discovery is None:
            return
        try:
            self._discovery.parent.mkdir(parents=True, exist_ok=True)
            tmp = self._discovery.with_name(self._discovery.name + f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps({"url": self.url, "pid": os.getpid(), "database": self.store.database}))
            os.replace(tmp, self._discovery)
        except OSError as error:
            log.warning("could not write %s (%s): clients need LEDGER_LIVE_URL=%s", self._discovery, error, self.url)
            self._discovery = None

    def stop(self, timeout: float = 10) -> None:
        if self._discovery is not None:
            try:
                current = json.loads(self._discovery.read_text())
                if current.get("pid") == os.getpid():
                    self._discovery.unlink()
            except (OSError, ValueError):
                pass
            self._discovery = None
        if self._server is not None:
            self._server.should_exit = True
            if self._thread is not None:
                self._thread.join(timeout)
            self._server = None
        if self._probe is not None:
            self._probe.stop()
            self._probe = None
