"""A Flask app for gale-wsgi's tests: the second WSGI framework."""
from flask import Flask, Response, jsonify, request

app = Flask(__name__)


@app.get("/hello")
def hello():
    return "Hello from Flask\n"


@app.post("/echo")
def echo():
    return jsonify(received=request.get_json(), path=request.path, args=request.args)


@app.post("/upload")
def upload():
    """Reads the body in pieces as it arrives (wsgi.input streamed): its size, lines and the lines out of order."""
    size, lines, tail, unordered = 0, 0, b"", 0
    while piece := request.stream.read(65536):
        size += len(piece)
        data = tail + piece
        *complete, tail = data.split(b"\n")
        for line in complete:
            unordered += line != b"line%07d" % lines
            lines += 1
    return jsonify(size=size, lines=lines, unordered=unordered, rest=tail.decode("latin-1"))


@app.post("/first-line")
def first_line():
    """Answers with the body's first line, read from wsgi.input before the rest of the body has come."""
    return request.environ["wsgi.input"].readline()


@app.get("/stream")
def stream():
    return Response((b"chunk%03d\n" % i for i in range(10000)), mimetype="text/plain")


@app.get("/gone")
def gone():
    return Response("moved on\n", status="410 Moved On Without A Forwarding Address")


@app.get("/fail")
def fail():
    raise KeyError("flask view failed")
