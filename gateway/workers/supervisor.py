"""The supervisor process of ``weir serve``: N workers on one port, kept alive, drained on stop.

Model (docs/decisions/0018-worker-processes.md):

* The supervisor binds one listening socket per worker *slot*, all on the same address with
  ``SO_REUSEPORT``: the kernel spreads new connections evenly over the slots (a shared socket
  lets whichever worker wakes first accept a whole burst). The supervisor keeps every socket
  open for its whole life, so a connection queued on the slot of a worker that died waits for the
  replacement instead of being refused.
* Workers are fresh interpreters (``python -m gateway.workers.worker``), not forks: no inherited
  threads, LMDB environments or event loops. Each gets its slot's socket and a status pipe (it
  writes ``ready`` once serving), the resolved settings on stdin, and dies with the supervisor
  (``PR_SET_PDEATHSIG``): a supervisor killed outright takes its workers with it, like a
  one-process server.
* The one-time start-up work (finish interrupted purges, create the bootstrap admin and print
  its generated secret once) runs here, before any worker serves.
* A worker that exits is logged and restarted; one that dies again within ``QUICK_DEATH``
  seconds of starting is restarted after a growing delay (at most ``MAX_BACKOFF``). A worker
  that fails before its first ``ready`` at start-up stops the whole server (a configuration
  problem, not a crash to retry).
* SIGTERM or SIGINT: close the listening sockets (new connections are refused), send SIGTERM to
  every worker, each finishes its in-flight requests within ``server.shutdown_timeout``; workers
  still running ``KILL_GRACE`` seconds after that are killed. A second signal kills at once.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from gateway.config import Settings, settings_to_dict

QUICK_DEATH = 10.0  # a worker that dies sooner than this after starting is restarted with delay
MAX_BACKOFF = 5.0
KILL_GRACE = 5.0  # beyond shutdown_timeout, before stragglers are killed
_PR_SET_PDEATHSIG = 1


def _log(message: str) -> None:
    print(f"weir: {message}", file=sys.stderr, flush=True)


_PRCTL: Callable[[int, int], int] | None
try:
    _PRCTL = ctypes.CDLL(None, use_errno=True).prctl  # Linux; loaded before any fork
except (OSError, AttributeError):
    _PRCTL = None


def _die_with_parent() -> None:
    """Runs in the child between fork and exec: SIGKILL it when the supervisor dies."""
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, signal.SIGKILL)


def describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"signal {-code} ({signal.Signals(-code).name})"
        except ValueError:
            return f"signal {-code}"
    return f"status {code}"


def bind_sockets(host: str, port: int, count: int) -> list[socket.socket]:
    """``count`` listening sockets on one address, joined in one ``SO_REUSEPORT`` group.

    Port 0 picks a free port for all of them. Raises OSError when the address is in use (checked
    first with a plain bind: ``SO_REUSEPORT`` alone would silently share the port with another
    server of the same user).
    """
    family, kind, proto, _, addr = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    probe = socket.socket(family, kind, proto)
    try:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(addr)
        port = probe.getsockname()[1]
    finally:
        probe.close()
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((*addr[:1], port, *addr[2:]))
            sock.listen(1024)
            sock.set_inheritable(True)
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets


@dataclass
class Slot:
    """One worker position: its listening socket outlives the processes that serve it."""

    index: int
    sock: socket.socket
    proc: subprocess.Popen[bytes] | None = None
    status: int | None = None  # read end of the current worker's status pipe
    starts: int = 0
    started: float = 0.0
    ready: bool = False
    quick_deaths: int = 0
    restart_at: float | None = None
    buffer: bytes = field(default=b"", repr=False)


class Supervisor:
    """Runs ``settings.server.worker_count`` workers until SIGTERM/SIGINT (see module doc)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.count = settings.server.worker_count
        self._stopping = False
        self._kill_now = False
        self._slots: list[Slot] = []
        self._selector = selectors.DefaultSelector()
        self._run_dir = Path(tempfile.mkdtemp(prefix="weir-run-"))
        self._config = json.dumps(settings_to_dict(settings)).encode()

    # -- lifecycle ----------------------------------------------------------------------------

    def run(self) -> int:
        """Serve until stopped; return the process exit status."""
        host, port = self.settings.host_port
        wake_r, wake_w = os.pipe()
        os.set_blocking(wake_r, False)
        os.set_blocking(wake_w, False)
        previous = signal.set_wakeup_fd(wake_w)
        handlers = {
            sig: signal.signal(sig, self._on_signal)
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD)
        }
        try:
            sockets = bind_sockets(host, port, self.count)
            self._slots = [Slot(i, s) for i, s in enumerate(sockets)]
            self._selector.register(wake_r, selectors.EVENT_READ, None)
            port = sockets[0].getsockname()[1]
            for slot in self._slots:
                self._spawn(slot)
            status = self._wait_ready(host, port)
            if status == 0:
                self._serve(wake_r)
            self._shutdown()
            return status
        finally:
            signal.set_wakeup_fd(previous)
            for sig, handler in handlers.items():
                signal.signal(sig, handler)
            self._selector.close()
            os.close(wake_r)
            os.close(wake_w)
            for slot in self._slots:
                slot.sock.close()
            shutil.rmtree(self._run_dir, ignore_errors=True)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if signum == signal.SIGCHLD:
            return  # the wake-up fd did its job: the loop reaps
        if self._stopping:
            self._kill_now = True  # a second stop signal: do not wait for the drain
        self._stopping = True

    def _wait_ready(self, host: str, port: int) -> int:
        """Wait until every worker is ready; 0, or 1 when one failed before serving."""
        while not all(s.ready for s in self._slots):
            self._poll(None)
            for slot in self._slots:
                if slot.proc is None or slot.ready:
                    continue
                code = slot.proc.poll()
                if code is not None:
                    _log(f"worker {slot.index} failed to start ({describe_exit(code)})")
                    self._reap_status(slot)
                    return 1
            if self._stopping:
                return 0
        from gateway import __version__

        data = self.settings.data_path.resolve()
        m = self.settings.meta
        meta = f", metadata: postgres schema {m.schema}" if m.backend == "postgres" else ""
        print(
            f"Weir {__version__} listening on http://{host}:{port} "
            f"(data: {data}{meta}, workers: {self.count})",
            file=sys.stderr,
            flush=True,
        )
        return 0

    def _serve(self, wake_r: int) -> None:
        while not self._stopping:
            due = [s.restart_at for s in self._slots if s.restart_at is not None]
            self._poll(max(0.0, min(due) - time.monotonic()) if due else None)
            self._reap()
            now = time.monotonic()
            for slot in self._slots:
                if slot.restart_at is not None and slot.restart_at <= now and not self._stopping:
                    self._spawn(slot)

    def _shutdown(self) -> None:
        """Stop accepting, SIGTERM every worker, wait for the drain, kill stragglers."""
        for slot in self._slots:
            slot.sock.close()  # no new connections: the group is gone once workers close too
        live = [s.proc for s in self._slots if s.proc is not None and s.proc.poll() is None]
        for proc in live:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.settings.server.shutdown_timeout + KILL_GRACE
        for proc in live:
            while proc.poll() is None and not self._kill_now:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._poll(min(left, 0.5))
            if proc.poll() is None:
                _log(f"worker pid {proc.pid} did not drain in time: killed")
                proc.kill()
            proc.wait()
        for slot in self._slots:
            self._reap_status(slot)

    # -- workers ------------------------------------------------------------------------------

    def _spawn(self, slot: Slot) -> None:
        slot.restart_at = None
        slot.starts += 1
        slot.ready = False
        slot.started = time.monotonic()
        status_r, status_w = os.pipe()
        fd = slot.sock.fileno()
        argv = [
            sys.executable,
            "-m",
            "gateway.workers.worker",
            f"--slot={slot.index}",
            f"--workers={self.count}",
            f"--starts={slot.starts}",
            f"--listen-fd={fd}",
            f"--status-fd={status_w}",
            f"--run-dir={self._run_dir}",
        ]
        try:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE,
                pass_fds=(fd, status_w),
                preexec_fn=_die_with_parent,  # the supervisor runs no threads: safe
            )
        finally:
            os.close(status_w)
        assert proc.stdin is not None
        try:
            proc.stdin.write(self._config)  # small: fits the pipe buffer, never blocks long
            proc.stdin.close()
        except BrokenPipeError:
            pass  # it died already; reaped like any other exit
        slot.proc = proc
        slot.status = status_r
        self._selector.register(status_r, selectors.EVENT_READ, slot)
        if slot.starts > 1:
            _log(f"worker {slot.index} restarted as pid {proc.pid}")

    def _poll(self, timeout: float | None) -> None:
        """Wait for a signal or a worker status line; read what is there."""
        for key, _ in self._selector.select(timeout):
            slot = key.data
            if slot is None:  # the signal wake-up pipe
                with contextlib.suppress(BlockingIOError):
                    while os.read(key.fd, 512):
                        pass
                continue
            assert isinstance(slot, Slot)
            try:
                chunk = os.read(key.fd, 512)
            except OSError:
                chunk = b""
            if not chunk:
                self._reap_status(slot)
                continue
            slot.buffer += chunk
            if b"ready\n" in slot.buffer:
                slot.ready = True
                slot.buffer = b""

    def _reap_status(self, slot: Slot) -> None:
        if slot.status is not None:
            self._selector.unregister(slot.status)
            os.close(slot.status)
            slot.status = None

    def _reap(self) -> None:
        for slot in self._slots:
            proc = slot.proc
            if proc is None or proc.poll() is None:
                continue
            code = proc.returncode
            self._reap_status(slot)
            slot.proc = None
            lived = time.monotonic() - slot.started
            slot.quick_deaths = slot.quick_deaths + 1 if lived < QUICK_DEATH else 0
            delay = min(MAX_BACKOFF, 0.1 * 2 ** (slot.quick_deaths - 1)) if slot.quick_deaths else 0
            slot.restart_at = time.monotonic() + delay
            _log(
                f"worker {slot.index} (pid {proc.pid}) exited with {describe_exit(code)} "
                f"after {lived:.1f} s; restarting in {delay:.1f} s"
            )
