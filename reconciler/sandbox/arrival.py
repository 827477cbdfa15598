"""When a request reached the sandbox, as the kernel saw it: the clock of the call limit.

TOP's gateway meters an app's calls as they arrive (faults.Faults.call_limit). The sandbox is one
Python process whose threads take turns on the interpreter lock: a thread that reads a request may
run tens of milliseconds after its bytes arrived on a busy machine, and several at once when the
process was not scheduled for a while. Stamped by the thread, evenly paced calls then looked
bunched: on the fleet benchmark (issue 20.6, 2 cores shared with other work) between the client's
send and the thread's stamp 0.6 ms at the median but 44 to 160 ms at the 99.9th percentile, a
judge of its own load rather than of the calls. So the sandbox asks the kernel (Linux
SO_TIMESTAMPNS: each read of the socket carries the receive time of the data it returns) and
falls back on the thread's clock where that is not offered.
"""

from __future__ import annotations

import io
import socket
import struct
import sys
import threading
import time

# Python's socket module does not name them: Linux's SO_TIMESTAMPNS (= SCM_TIMESTAMPNS, 35 on
# every architecture but a few exotic ones, see asm-generic/socket.h) and its struct timespec of
# two native longs.
_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35 if sys.platform == "linux" else None)
_TIMESPEC = struct.Struct("@ll")


class StampedReader(io.RawIOBase):
    """The socket's bytes, remembering when the first read after `expect()` arrived (monotonic)."""

    def __init__(self, sock: socket.socket) -> None:
        super().__init__()
        self._sock = sock
        self.arrived: float | None = None

    @staticmethod
    def enable(sock: socket.socket) -> bool:
        """Ask the kernel to stamp the socket's data; False where it cannot."""
        if _TIMESTAMPNS is None or not _keep_stamping():
            return False
        try:
            sock.setsockopt(socket.SOL_SOCKET, _TIMESTAMPNS, 1)
        except OSError:
            return False
        return True

    def expect(self) -> None:
        """A new request is awaited: the next read stamps it."""
        self.arrived = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]  # any writable buffer
        size, ancillary, _, _ = self._sock.recvmsg_into([buffer], socket.CMSG_SPACE(_TIMESPEC.size))
        if self.arrived is None and size:
            self.arrived = _monotonic_of(ancillary)
        return size


def _monotonic_of(ancillary: list[tuple[int, int, bytes]]) -> float:
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == _TIMESTAMPNS and len(data) >= _TIMESPEC.size:
            offset = _kernel_clock_offset()
            if offset is not None:
                seconds, nanoseconds = (int(part) for part in _TIMESPEC.unpack_from(data))
                return seconds + nanoseconds / 1e9 - offset
    return time.monotonic()


_offset: tuple[float, float | None] = (-1e9, None)  # (measured at, on the monotonic clock; offset)
_offset_lock = threading.Lock()
_stamping: socket.socket | None = None


def _keep_stamping() -> bool:
    """Keep the kernel stamping received data for as long as this process lives. Linux stamps
    packets only while some socket asks for it, through a switch it turns on and off lazily (a
    deferred static key in net/core/dev.c) as the first such socket opens and the last closes: the
    first requests after a sandbox started, or after every stamped socket had closed, arrived
    without a stamp (seen in the suite: a sandbox test, then this module's probe got none). One
    socket that asks and is never closed keeps the switch on."""
    global _stamping
    with _offset_lock:
        if _stamping is None:
            try:
                keeper = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                keeper.setsockopt(socket.SOL_SOCKET, _TIMESTAMPNS or 0, 1)
            except OSError:
                return False
            _stamping = keeper
        return True


def _kernel_clock_offset() -> float | None:
    """The kernel's receive stamps (its wall clock) minus time.monotonic(), measured with a probe
    over loopback every 10 s: Python's wall clock cannot serve, it may be moved in the process
    (the suite's time-machine, libfaketime) while the kernel's is not. None: no stamp offered."""
    global _offset
    with _offset_lock:
        measured_at, offset = _offset
        now = time.monotonic()
        if now - measured_at < 10.0:
            return offset
        offset = None
        try:
            with socket.create_server(("127.0.0.1", 0)) as server, \
                    socket.create_connection(server.getsockname(), timeout=1.0) as probe:
                received, _ = server.accept()
                with received:
                    received.settimeout(1.0)
                    received.setsockopt(socket.SOL_SOCKET, _TIMESTAMPNS or 0, 1)
                    before = time.monotonic()
                    probe.sendall(b"x")
                    after = time.monotonic()
                    _, ancillary, _, _ = received.recvmsg(1, socket.CMSG_SPACE(_TIMESPEC.size))
            for level, kind, data in ancillary:
                if level == socket.SOL_SOCKET and kind == _TIMESTAMPNS and len(data) >= _TIMESPEC.size:
                    seconds, nanoseconds = (int(part) for part in _TIMESPEC.unpack_from(data))
                    offset = seconds + nanoseconds / 1e9 - (before + after) / 2
        except OSError:
            offset = None
        if offset is None:
            # A probe that failed or got no stamp (a timeout on a loaded machine, the kernel's
            # switch not on yet) says little: this request falls back on the thread's clock and
            # one a second from now measures again, rather than ten seconds of requests judged by
            # the clock this module is here to avoid.
            _offset = (now - 9.0, None)
            return None
        _offset = (now, offset)
        return offset
