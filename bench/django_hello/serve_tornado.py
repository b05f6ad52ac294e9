#!/usr/bin/env python3
"""Serve the Django hello world (hello_project.py) with Tornado's WSGIContainer.

This is how django-hurricane runs a Django project: Tornado's HTTPServer on an
asyncio event loop, with the Django WSGI application wrapped in
tornado.wsgi.WSGIContainer (one process, one thread).

    python3 serve_tornado.py --port 8000 [--bind 127.0.0.1] [--fallback]

--fallback puts the container behind tornado.web.Application + FallbackHandler,
the exact layering django-hurricane uses; the default is the bare container.
Access logging is off, as it is for gale and nginx in the benchmark.
"""

import argparse
import asyncio
import logging
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import tornado.httpserver  # noqa: E402
import tornado.web  # noqa: E402
import tornado.wsgi  # noqa: E402

import hello_project  # noqa: E402


async def serve(bind: str, port: int, fallback: bool) -> None:
    container = tornado.wsgi.WSGIContainer(hello_project.application)
    if fallback:
        handler = tornado.web.Application(
            [(r".*", tornado.web.FallbackHandler, {"fallback": container})]
        )
    else:
        handler = container
    server = tornado.httpserver.HTTPServer(handler, xheaders=False)
    server.listen(port, address=bind)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"serving Django hello on http://{bind}:{port}/", flush=True)
    await stop.wait()
    server.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bind", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8000)
    ap.add_argument("--fallback", action="store_true")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("tornado.access").disabled = True
    asyncio.run(serve(args.bind, args.port, args.fallback))


if __name__ == "__main__":
    main()
