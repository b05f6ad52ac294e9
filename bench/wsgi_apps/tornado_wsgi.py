#!/usr/bin/env python3
"""Serve a WSGI app the way django-hurricane does: Tornado 6 on one asyncio loop, one thread.

    tornado_wsgi.py --app MODULE:CALLABLE [--pythonpath DIR] --port P [--probe-port Q] [--bind 127.0.0.1]

The app is wrapped in tornado.wsgi.WSGIContainer behind tornado.web.Application +
FallbackHandler, hurricane's layering (hurricane/server/__init__.py builds the
same route list: probe routes first, then a catch-all FallbackHandler to the
container). A `/ready` route answers 200 "ready" from a plain RequestHandler on
the same loop:

- without --probe-port (or with Q == P) it is a route of the app's Application on
  the app port: hurricane's "integrated" probes (`--probe-port` equal to `--port`);
- with another Q it is a second Application listening on Q, on the same loop and
  thread: hurricane's default (probe port = port + 1).

Hurricane's own readiness handler also runs Django's tagged checks and counts the
queue; this one does nothing, so its latency is a lower bound for hurricane's.
On Debian's Tornado 6.2 the container calls the app on the loop thread (no
executor argument before Tornado 6.3), which is what hurricane gets there.
Access logging is off, as for every server in bench/wsgi.sh. SIGTERM/SIGINT stop it.
"""

import argparse
import asyncio
import importlib
import logging
import signal
import sys

import tornado.httpserver
import tornado.web
import tornado.wsgi


class ReadyHandler(tornado.web.RequestHandler):
    def get(self) -> None:
        self.set_header("Content-Type", "text/plain")
        self.write("ready")


def load(spec: str):
    module, _, attr = spec.partition(":")
    return getattr(importlib.import_module(module), attr or "application")


async def serve(a: argparse.Namespace) -> None:
    container = tornado.wsgi.WSGIContainer(load(a.app))
    fallback = (r".*", tornado.web.FallbackHandler, {"fallback": container})
    integrated = not a.probe_port or a.probe_port == a.port
    routes = ([(r"/ready", ReadyHandler)] if integrated else []) + [fallback]
    servers = [tornado.httpserver.HTTPServer(tornado.web.Application(routes))]
    servers[0].listen(a.port, address=a.bind)
    if not integrated:
        servers.append(tornado.httpserver.HTTPServer(tornado.web.Application([(r"/ready", ReadyHandler)])))
        servers[1].listen(a.probe_port, address=a.bind)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    where = "integrated" if integrated else f"probe port {a.probe_port}"
    print(f"serving {a.app} on http://{a.bind}:{a.port}/ (/ready {where})", flush=True)
    await stop.wait()
    for s in servers:
        s.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--app", required=True, help="MODULE:CALLABLE")
    ap.add_argument("--pythonpath", action="append", default=[])
    ap.add_argument("--bind", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--probe-port", type=int, default=0)
    a = ap.parse_args()
    for d in reversed(a.pythonpath):
        sys.path.insert(0, d)
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("tornado.access").disabled = True
    asyncio.run(serve(a))


if __name__ == "__main__":
    main()
