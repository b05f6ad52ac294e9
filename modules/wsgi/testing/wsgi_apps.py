"""WSGI applications the gale-wsgi unit tests call, one per behaviour of PEP 3333."""
import json

closed = []  # names of the iterables whose close() ran


def hello(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"Hello, ", b"world!\n"]


def echo(environ, start_response):
    body = environ["wsgi.input"].read()
    keys = ["REQUEST_METHOD", "SCRIPT_NAME", "PATH_INFO", "QUERY_STRING", "CONTENT_TYPE", "CONTENT_LENGTH",
            "SERVER_NAME", "SERVER_PORT", "SERVER_PROTOCOL", "HTTP_HOST", "HTTP_COOKIE", "HTTP_X_MULTI",
            "HTTP_X_FORWARDED_FOR", "wsgi.url_scheme", "wsgi.multithread", "wsgi.multiprocess", "wsgi.run_once",
            "wsgi.input_terminated", "gale.request_id"]
    seen = {k: environ[k] for k in keys if k in environ}
    seen["wsgi.version"] = list(environ["wsgi.version"])
    seen["body"] = body.decode("latin-1")
    seen["types"] = sorted({type(v).__name__ for k, v in environ.items() if k.isupper()})
    environ["wsgi.errors"].write("echo saw a request\n")
    out = json.dumps(seen, sort_keys=True).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(out)))])
    return [out]


def input_ops(environ, start_response):
    """Every way PEP 3333 reads wsgi.input, in turn; the results as their repr, one per line."""
    f = environ["wsgi.input"]
    seen = [f.read(1), f.readline(), f.readline(2), f.readline(), f.read(2), next(iter(f)), f.readlines(),
            f.read(), f.readline(), list(f)]
    start_response("200 OK", [("Content-Type", "text/plain")])
    return ["\n".join(repr(x) for x in seen).encode()]


def input_error(environ, start_response):
    """Reads wsgi.input to its end; a body that cannot be read is a 422 naming why."""
    try:
        got = environ["wsgi.input"].read()
    except OSError as e:
        start_response("422 Unprocessable Entity", [("Content-Type", "text/plain")])
        return [str(e).encode()]
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [got]


class Tracked:
    """An iterable with close(), as Django's responses are."""

    def __init__(self, name, chunks, fail_at=None):
        self.name, self.chunks, self.fail_at = name, chunks, fail_at

    def __iter__(self):
        for i, c in enumerate(self.chunks):
            if i == self.fail_at:
                raise RuntimeError("failed while streaming")
            yield c

    def close(self):
        closed.append(self.name)


def small_iterable(environ, start_response):
    start_response("201 Created", [("Content-Type", "text/plain"), ("X-Custom", "yes")])
    return Tracked("small", [b"a", b"", b"b"])


def big_stream(environ, start_response):
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    return Tracked("big", [b"x" * 50000 for _ in range(10)])


def stream_fails(environ, start_response):
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    return Tracked("fails", [b"y" * 70000, b"y" * 70000, b"never"], fail_at=2)


def fails_before_body(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return Tracked("before", [b"never"], fail_at=0)


def lazy_generator(environ, start_response):
    # start_response inside the generator: allowed until the first body byte (PEP 3333)
    def body():
        start_response("200 OK", [("Content-Type", "text/plain")])
        yield b""
        yield b"lazy"
    return body()


def with_write(environ, start_response):
    write = start_response("200 OK", [("Content-Type", "text/plain")])
    write(b"written ")
    return [b"returned"]


def raises(environ, start_response):
    raise ValueError("the view broke")


def no_start_response(environ, start_response):
    return [b"oops"]


def bad_status(environ, start_response):
    start_response("OK", [])
    return [b""]


def split_status(environ, start_response):
    start_response("200 OK\r\nX-Injected: yes", [])
    return [b""]


def custom_reason(environ, start_response):
    start_response("299 Found It Anyway", [("Content-Type", "text/plain")])
    return [b"custom"]


def hop_by_hop(environ, start_response):
    start_response("200 OK", [("Connection", "close")])
    return [b""]


def not_bytes(environ, start_response):
    start_response("200 OK", [])
    return ["text, not bytes"]


def twice(environ, start_response):
    start_response("200 OK", [])
    start_response("500 Internal Server Error", [])
    return [b""]


def error_page(environ, start_response):
    import sys
    start_response("200 OK", [("Content-Type", "text/plain")])
    try:
        raise KeyError("missing")
    except KeyError:
        start_response("503 Service Unavailable", [("Content-Type", "text/plain")], sys.exc_info())
    return [b"sorry"]


def file_download(environ, start_response):
    f = open(environ["QUERY_STRING"], "rb")
    f.seek(3)
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    return environ["wsgi.file_wrapper"](f, 4096)


def file_wrapper_bytesio(environ, start_response):
    import io
    start_response("200 OK", [("Content-Type", "text/plain")])
    return environ["wsgi.file_wrapper"](io.BytesIO(b"from memory"), 4)


def truncated(environ, start_response):
    start_response("200 OK", [("Content-Length", "3")])
    return [b"abcdef"]


def make_app():
    return hello


not_callable = 42
