#!/usr/bin/env python3
"""Open many idle HTTP/1.1 keep-alive connections to a server and hold them.

    conns.py --port P [--host 127.0.0.1] [--count 10000] --status-file F
             [--inflight 256] [--timeout 60] [--hold 180]

Each connection sends one `GET / HTTP/1.1` and reads the whole answer, then
stays open and idle. When every connection has been answered (or --timeout
has passed) the script writes `READY opened=N failed=M seconds=S` to the
status file. Afterwards:
  SIGUSR1  counts the connections the server has not closed and appends
           `OPEN n closed=m` to the status file;
  SIGTERM / SIGINT, or --hold seconds after READY: close everything and exit.
Uses non-blocking sockets and `selectors`; at most --inflight connections are
being set up at once. Raises its own RLIMIT_NOFILE as far as the hard limit.
"""

import argparse
import errno
import os
import resource
import select
import selectors
import signal
import socket
import sys
import time


def raise_nofile(need: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else max(need, soft)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        print(f"conns: RLIMIT_NOFILE is {soft}, fewer than the {need} needed", file=sys.stderr)


def write_status(path: str, line: str, append: bool = False) -> None:
    if append:
        with open(path, "a") as f:
            f.write(line + "\n")
        return
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(line + "\n")
    os.replace(tmp, path)


def response_complete(buf: bytes) -> bool:
    head, sep, body = buf.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            return len(body) >= int(v)
    return True  # no length (not expected for these servers): the head will do


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--count", type=int, default=10000)
    ap.add_argument("--inflight", type=int, default=256)
    ap.add_argument("--timeout", type=float, default=60.0)
    ap.add_argument("--hold", type=float, default=180.0)
    ap.add_argument("--status-file", required=True)
    a = ap.parse_args()
    raise_nofile(a.count + 64)

    request = f"GET / HTTP/1.1\r\nHost: {a.host}:{a.port}\r\n\r\n".encode()
    sel = selectors.DefaultSelector()
    idle: list[socket.socket] = []
    pending = 0
    to_start = a.count
    failed = 0
    retry: list[int] = []  # attempt numbers of connections to open again
    start = time.monotonic()
    deadline = start + a.timeout

    def open_one(attempt: int = 0) -> None:
        nonlocal pending, failed
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        err = s.connect_ex((a.host, a.port))
        if err not in (0, errno.EINPROGRESS):
            s.close()
            failed += 1
            return
        sel.register(s, selectors.EVENT_WRITE, [b"", attempt])
        pending += 1

    while (to_start or retry or pending) and time.monotonic() < deadline:
        while (to_start or retry) and pending < a.inflight:
            if retry:
                open_one(retry.pop())
            else:
                to_start -= 1
                open_one()
        for key, ev in sel.select(timeout=0.5):
            s: socket.socket = key.fileobj  # type: ignore[assignment]
            state = key.data
            done = ok = False
            try:
                if ev & selectors.EVENT_WRITE and not state[0]:
                    err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if err:
                        raise OSError(err, os.strerror(err))
                    s.sendall(request)
                    state[0] = b"\0"  # marker: request sent
                    sel.modify(s, selectors.EVENT_READ, state)
                    continue
                chunk = s.recv(65536)
                if not chunk:
                    raise OSError(errno.ECONNRESET, "closed before answering")
                state[0] += chunk
                if response_complete(state[0][1:]):
                    done = ok = True
            except OSError:
                done = True
            if done:
                sel.unregister(s)
                pending -= 1
                if ok:
                    idle.append(s)
                else:
                    s.close()
                    if state[1] < 3:
                        retry.append(state[1] + 1)
                    else:
                        failed += 1
    # Anything still in flight at the deadline has failed.
    for key in list(sel.get_map().values()):
        sel.unregister(key.fileobj)
        key.fileobj.close()
        failed += 1
    failed += to_start + len(retry)
    write_status(
        a.status_file,
        f"READY opened={len(idle)} failed={failed} seconds={time.monotonic() - start:.2f}",
    )

    flags = {"check": False, "stop": False}
    signal.signal(signal.SIGUSR1, lambda *_: flags.__setitem__("check", True))
    signal.signal(signal.SIGTERM, lambda *_: flags.__setitem__("stop", True))
    signal.signal(signal.SIGINT, lambda *_: flags.__setitem__("stop", True))
    hold_until = time.monotonic() + a.hold
    while not flags["stop"] and time.monotonic() < hold_until:
        if flags["check"]:
            flags["check"] = False
            by_fd = {s.fileno(): s for s in idle}
            poller = select.poll()
            for fd in by_fd:
                poller.register(fd, select.POLLIN)
            closed = 0
            for fd, ev in poller.poll(0):
                if ev & (select.POLLHUP | select.POLLERR):
                    closed += 1
                    continue
                try:
                    if by_fd[fd].recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b"":
                        closed += 1
                except BlockingIOError:
                    pass
                except OSError:
                    closed += 1
            write_status(a.status_file, f"OPEN {len(idle) - closed} closed={closed}", append=True)
        time.sleep(0.05)
    for s in idle:
        s.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
