#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# The Python side of gale's AMQP interop tests, on Debian's python3-pika (django-hurricane's client):
#   pika_interop.py publish URL EXCHANGE ROUTING_KEY   publishes the fixed messages below (exchange must exist)
#   pika_interop.py consume URL QUEUE COUNT            consumes COUNT messages (ack each), prints one JSON line each
import base64
import json
import sys

import pika


def messages():
    yield (b"plain text", {"kind": "order", "n": 1, "ok": True})
    yield (b"\x00\xffbinary\x80", {"nested": {"a": 1, "b": "two"}, "list": [1, "x", False], "big": 2 ** 40})
    yield ("caf\u00e9 \u2603".encode(), {"unicode": "caf\u00e9", "neg": -5})


def value(v):
    if isinstance(v, bytes):
        return {"bytes": base64.b64encode(v).decode()}
    if isinstance(v, dict):
        return {k: value(x) for k, x in v.items()}
    if isinstance(v, list):
        return [value(x) for x in v]
    return v


def main():
    mode, url = sys.argv[1], sys.argv[2]
    conn = pika.BlockingConnection(pika.URLParameters(url))
    ch = conn.channel()
    if mode == "publish":
        exchange, key = sys.argv[3], sys.argv[4]
        ch.confirm_delivery()
        for i, (body, headers) in enumerate(messages()):
            ch.basic_publish(exchange, key, body, pika.BasicProperties(
                content_type="application/octet-stream", correlation_id="corr-%d" % i, message_id="msg-%d" % i,
                delivery_mode=2, headers=headers), mandatory=True)
    elif mode == "consume":
        queue, count = sys.argv[3], int(sys.argv[4])
        got = 0
        for method, props, body in ch.consume(queue, inactivity_timeout=20):
            if method is None:
                sys.exit("timed out after %d of %d messages" % (got, count))
            print(json.dumps({"body": base64.b64encode(body).decode(), "routing_key": method.routing_key,
                              "content_type": props.content_type, "correlation_id": props.correlation_id,
                              "message_id": props.message_id, "delivery_mode": props.delivery_mode,
                              "headers": value(props.headers or {})}), flush=True)
            ch.basic_ack(method.delivery_tag)
            got += 1
            if got == count:
                break
        ch.cancel()
    conn.close()


if __name__ == "__main__":
    main()
