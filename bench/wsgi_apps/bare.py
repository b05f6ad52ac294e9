"""The bare WSGI callable of bench/wsgi.sh: the least work a WSGI app can do.

    application(environ, start_response) -> [b"Hello, world!\n"]

It answers every request 200 with Content-Type and Content-Length set (so that
every server can keep the connection alive without chunking), building its
header list per call as a real app would. Served as `bare:application` with
this directory on the Python path, by every server in the benchmark.
"""

BODY = b"Hello, world!\n"
LENGTH = str(len(BODY))


def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", LENGTH)])
    return [BODY]
