"""ltload.py — the pieces the crash, fault and soak scripts share.

Design note
-----------
Black-box tests of laotie start the real binary (`laotie serve`) on a
random loopback port with a temp data directory and talk HTTP to it, as
Redis's `start_server` does. This module holds what those scripts need and
nothing more, using only the Python 3 standard library (Debian's python3):

  Server       starts `laotie serve --listen 127.0.0.1:0`, learns the port
               from the banner line ("laotie serving DIR on
               http://127.0.0.1:PORT ..."), waits for /healthz, and stops it
               (SIGTERM, or SIGKILL for crash tests). Every Server a script
               makes is registered and killed at interpreter exit, so no
               server outlives its test even when the test fails.
  Client       one keep-alive HTTP/1.1 connection (http.client) with the
               write key; reconnects after a broken connection.
  read_log()   parses the event log's segment files (format in
               src/log/log.c and src/state/record.h) just far enough to list
               every event record's id and user. Used after recovery (the
               server cut any torn tail), so frames are trusted to be whole;
               checksums are not verified (XXH3 is not in the stdlib).

Every loop here is bounded by a count or a deadline.
"""

import atexit
import http.client
import json
import os
import signal
import struct
import subprocess
import time

LOOPBACK = "127.0.0.1"
_live = []  # servers started and not yet stopped


def _kill_all():
    for s in list(_live):
        s.kill()


atexit.register(_kill_all)


class ServerError(Exception):
    pass


class Server:
    """One `laotie serve` process on 127.0.0.1 with a random port."""

    def __init__(self, binary, data, key, extra=(), log_path=None, env=None):
        self.binary, self.data, self.key = binary, data, key
        self.extra = list(extra)
        self.log_path = log_path or os.path.join(os.path.dirname(data.rstrip("/")) or ".",
                                                 "serve.log")
        self.env = env
        self.proc = None
        self.port = None
        self.started_at = None
        self.ready_s = None

    def start(self, timeout=120.0):
        """Starts the server; returns seconds until /healthz answered 200."""
        out = open(self.log_path, "ab")
        out.write(b"---- start\n")
        out.flush()
        argv = [self.binary, "serve", "--data", self.data, "--listen", LOOPBACK + ":0",
                "--api-key", self.key] + self.extra
        self.started_at = time.monotonic()
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=out,
                                     stdin=subprocess.DEVNULL, env=self.env)
        out.close()
        _live.append(self)
        deadline = self.started_at + timeout
        line = b""
        # The banner is the first stdout line; the rest of stdout is a few
        # fixed lines, read and discarded below so the pipe never fills.
        os.set_blocking(self.proc.stdout.fileno(), False)
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServerError("laotie serve exited with %d before listening (see %s)"
                                  % (self.proc.returncode, self.log_path))
            try:
                chunk = self.proc.stdout.read()
            except BlockingIOError:
                chunk = None
            if chunk:
                line += chunk
                if b"laotie serving" in line and b"\n" in line.split(b"laotie serving", 1)[1]:
                    break
            time.sleep(0.005)
        else:
            self.kill()
            raise ServerError("laotie serve did not print its banner within %.0f s" % timeout)
        banner = line.split(b"laotie serving", 1)[1].split(b"\n", 1)[0].decode()
        try:
            self.port = int(banner.split("http://" + LOOPBACK + ":", 1)[1].split()[0])
        except (IndexError, ValueError):
            self.kill()
            raise ServerError("cannot parse the banner: laotie serving" + banner)
        while time.monotonic() < deadline:
            try:
                st, _ = request(self.port, "GET", "/healthz", timeout=2)
                if st == 200:
                    self.ready_s = time.monotonic() - self.started_at
                    self._drain()
                    return self.ready_s
            except OSError:
                pass
            time.sleep(0.005)
        self.kill()
        raise ServerError("/healthz did not answer 200 within %.0f s" % timeout)

    def _drain(self):
        try:
            self.proc.stdout.read()
        except (BlockingIOError, ValueError):
            pass

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self):
        """SIGKILL (a crash); waits for the process to be gone."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)
        self._close()

    def stop(self, timeout=60.0):
        """SIGTERM (graceful); returns the exit code (SIGKILL after timeout)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)
            rc = None
        self._close()
        return rc

    def _close(self):
        if self.proc and self.proc.stdout:
            self.proc.stdout.close()
        if self in _live:
            _live.remove(self)
        self.proc = None

    def rss_kib(self):
        """Resident set of the server process (VmRSS, KiB), or None."""
        if not self.alive():
            return None
        try:
            with open("/proc/%d/status" % self.proc.pid) as f:
                for ln in f:
                    if ln.startswith("VmRSS:"):
                        return int(ln.split()[1])
        except OSError:
            return None
        return None


def request(port, method, path, body=None, key=None, ctype="application/json", timeout=10):
    """One request on a fresh connection: (status, parsed JSON or text)."""
    c = http.client.HTTPConnection(LOOPBACK, port, timeout=timeout)
    try:
        return _do(c, method, path, body, key, ctype)
    finally:
        c.close()


def _do(c, method, path, body, key, ctype):
    headers = {}
    if key:
        headers["Authorization"] = "Bearer " + key
    if body is not None:
        headers["Content-Type"] = ctype
        if not isinstance(body, (bytes, bytearray)):
            body = body.encode()
    c.request(method, path, body=body, headers=headers)
    r = c.getresponse()
    data = r.read()
    try:
        parsed = json.loads(data) if data else None
    except ValueError:
        parsed = data.decode("utf-8", "replace")
    return r.status, parsed


class Client:
    """A keep-alive connection with the write key."""

    def __init__(self, port, key, timeout=10):
        self.port, self.key, self.timeout = port, key, timeout
        self.c = None

    def call(self, method, path, body=None, ctype="application/json", auth=True):
        """(status, body). Raises OSError / http.client errors when the
        connection breaks (the caller decides what an unknown outcome means)."""
        if self.c is None:
            self.c = http.client.HTTPConnection(LOOPBACK, self.port, timeout=self.timeout)
        try:
            return _do(self.c, method, path, body, self.key if auth else None, ctype)
        except Exception:
            self.close()
            raise

    def close(self):
        if self.c is not None:
            self.c.close()
            self.c = None


def stats_cli(binary, data):
    """`laotie stats --data DIR --json` (read-only; works beside a server)."""
    p = subprocess.run([binary, "stats", "--data", data, "--json"], capture_output=True,
                       timeout=600)
    if p.returncode != 0:
        raise ServerError("laotie stats failed (%d): %s" % (p.returncode, p.stderr.decode()))
    return json.loads(p.stdout)


# ---- the event log, read directly ---------------------------------------

SEG_HDR = 32
FRAME_HDR = 8
REC_EVENT = 1


def _uvar(b, i):
    v, shift = 0, 0
    while shift < 70:
        c = b[i]
        i += 1
        v |= (c & 0x7F) << shift
        if not c & 0x80:
            return v, i
        shift += 7
    raise ValueError("bad varint")


def _str(b, i):
    n, i = _uvar(b, i)
    if i + n > len(b):
        raise ValueError("string past the record")
    return b[i:i + n], i + n


def read_log(logdir):
    """Returns (records, events): the number of frames and a list of
    (event id bytes, user bytes) for every event record, in log order."""
    names = sorted(n for n in os.listdir(logdir) if n.endswith(".log") and len(n) == 24)
    frames, events = 0, []
    for name in names:
        with open(os.path.join(logdir, name), "rb") as f:
            data = f.read()
        if data[:8] != b"LAOTIELG":
            raise ValueError("%s: bad segment magic" % name)
        pos = SEG_HDR
        while pos + FRAME_HDR <= len(data):
            ln, _crc = struct.unpack_from("<II", data, pos)
            if ln == 0 or pos + FRAME_HDR + ln > len(data):
                break  # end of the written frames
            p = data[pos + FRAME_HDR:pos + FRAME_HDR + ln]
            frames += 1
            if p[0] == REC_EVENT:
                eid, i = _str(p, 2)
                user, i = _str(p, i)
                events.append((eid, user))
            pos += FRAME_HDR + ln
    return frames, events
