#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# The pika side of bench/amqp.sh: django-hurricane's stack (pika BlockingConnection, basic_consume, one basic_ack per
# message, as its handlers' on_message + acknowledge_message do), doing gale-amqp-bench's work per message (FNV-1a over
# the body and a header lookup). Usage: amqp_pika_consumer.py URL QUEUE N PREFETCH. Prints one line like gale's.
import resource
import sys
import time

import pika


def fnv(data):
    h = 1469598103934665603
    for b in data:
        h = ((h ^ b) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return h


def cpu():
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime


def main():
    url, queue, n, prefetch = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    conn = pika.BlockingConnection(pika.URLParameters(url))
    ch = conn.channel()
    ch.basic_qos(prefetch_count=prefetch)
    state = {"n": 0, "sink": 0}

    def on_message(channel, method, properties, body):
        h = fnv(body)
        kind = (properties.headers or {}).get("kind")
        if kind is not None:
            h ^= fnv(kind.encode() if isinstance(kind, str) else kind)
        state["sink"] = (state["sink"] + h) & 0xFFFFFFFFFFFFFFFF
        channel.basic_ack(method.delivery_tag)
        state["n"] += 1
        if state["n"] >= n:
            channel.stop_consuming()

    cpu0, t0 = cpu(), time.monotonic()
    ch.basic_consume(queue, on_message)
    ch.start_consuming()
    secs, used = time.monotonic() - t0, cpu() - cpu0
    conn.close()
    print("pika prefetch=%d  messages=%d  seconds=%.3f  msg/s=%.0f  cpu_s=%.3f  msg/cpu_s=%.0f"
          % (prefetch, n, secs, n / secs, used, n / used))


if __name__ == "__main__":
    main()
