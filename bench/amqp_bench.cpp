// SPDX-License-Identifier: MIT
// gale-amqp-bench: the AMQP consume benchmark's two halves (bench/amqp.sh runs them; see bench/README.md).
//   gale-amqp-bench fill URL QUEUE N SIZE            declares QUEUE (durable) and publishes N persistent messages of
//                                                    SIZE bytes through the default exchange, then waits until the
//                                                    broker holds them all (raw rabbitmq-c, no confirms: it is setup)
//   gale-amqp-bench consume URL QUEUE N THREADS PREFETCH
//                                                    gale::amqp::Consumer until N messages are handled and acked;
//                                                    prints one line: consumer, messages, seconds, msg/s, CPU s,
//                                                    msg per CPU-second (getrusage of this process, all threads)
// The handler's work is the same as bench/amqp_pika_consumer.py's: FNV-1a over the body and a header lookup.
#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include <gale/amqp/consumer.hpp>
#include <gale/amqp/publisher.hpp>

namespace {

double CpuSeconds() {
    rusage u{};
    ::getrusage(RUSAGE_SELF, &u);
    return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

std::uint64_t Fnv(std::string_view s) {
    std::uint64_t h = 1469598103934665603ull;
    for (char c : s) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
    return h;
}

int Fill(const gale::amqp::ConnectionOptions& o, const std::string& queue, long n, long size) {
    auto p = gale::amqp::Publisher::Connect(o);
    if (!p) return std::fprintf(stderr, "%s\n", p.error().ToString().c_str()), 1;
    if (auto r = (*p)->DeclareQueue({.name = queue}); !r)
        return std::fprintf(stderr, "%s\n", r.error().ToString().c_str()), 1;
    amqp_connection_state_t conn = amqp_new_connection();
    amqp_socket_t* sock = amqp_tcp_socket_new(conn);
    if (amqp_socket_open(sock, o.host.c_str(), o.port) != AMQP_STATUS_OK) return std::fprintf(stderr, "connect\n"), 1;
    if (amqp_login(conn, o.vhost.c_str(), 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, o.username.c_str(), o.password.c_str())
            .reply_type != AMQP_RESPONSE_NORMAL) {
        return std::fprintf(stderr, "login\n"), 1;
    }
    amqp_channel_open(conn, 1);
    std::string body(static_cast<std::size_t>(size), 'x');
    amqp_table_entry_t entry{amqp_cstring_bytes("kind"), {}};
    entry.value.kind = AMQP_FIELD_KIND_UTF8;
    entry.value.value.bytes = amqp_cstring_bytes("bench");
    amqp_basic_properties_t props{};
    props._flags = AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_HEADERS_FLAG;
    props.delivery_mode = 2;
    props.headers = {1, &entry};
    for (long i = 0; i < n; ++i) {
        amqp_basic_publish(conn, 1, amqp_empty_bytes, amqp_cstring_bytes(queue.c_str()), 0, 0, &props,
                           amqp_bytes_t{body.size(), body.data()});
    }
    amqp_channel_close(conn, 1, AMQP_REPLY_SUCCESS);
    amqp_connection_close(conn, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(conn);
    for (int i = 0; i < 6000; ++i) {
        auto c = (*p)->DeclareQueue({.name = queue});
        if (c && *c >= static_cast<std::uint32_t>(n)) return 0;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return std::fprintf(stderr, "the queue never reached %ld messages\n", n), 1;
}

int Consume(const gale::amqp::ConnectionOptions& o, const std::string& queue, long n, int threads, int prefetch) {
    std::atomic<long> handled{0};
    std::atomic<std::uint64_t> sink{0};
    gale::amqp::Subscription sub{{.name = queue}, [&](const gale::amqp::Message& m) -> gale::Result<void> {
                                     std::uint64_t h = Fnv(m.body);
                                     if (auto k = gale::amqp::FindString(m.headers(), "kind")) h ^= Fnv(*k);
                                     sink.fetch_add(h, std::memory_order_relaxed);
                                     handled.fetch_add(1, std::memory_order_relaxed);
                                     return {};
                                 }};
    gale::amqp::ConsumerOptions co;
    co.name = "bench";
    co.handler_threads = threads;
    co.prefetch = prefetch;
    auto c = gale::amqp::Consumer::Create(o, {sub}, co);
    if (!c) return std::fprintf(stderr, "%s\n", c.error().ToString().c_str()), 1;
    const double cpu0 = CpuSeconds();
    const auto t0 = std::chrono::steady_clock::now();
    (*c)->Start();
    while ((*c)->Stats().queues[0].acked < static_cast<std::uint64_t>(n)) {
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double cpu = CpuSeconds() - cpu0;
    (*c)->Stop();
    std::printf("gale threads=%d prefetch=%d  messages=%ld  seconds=%.3f  msg/s=%.0f  cpu_s=%.3f  msg/cpu_s=%.0f\n",
                threads, prefetch, n, secs, static_cast<double>(n) / secs, cpu, static_cast<double>(n) / cpu);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 5) {
        std::fprintf(stderr, "usage: %s fill URL QUEUE N SIZE | consume URL QUEUE N THREADS PREFETCH\n", argv[0]);
        return 2;
    }
    auto o = gale::amqp::ParseUrl(argv[2]);
    if (!o) return std::fprintf(stderr, "%s\n", o.error().ToString().c_str()), 2;
    const std::string mode = argv[1];
    if (mode == "fill" && argc == 6) return Fill(*o, argv[3], std::atol(argv[4]), std::atol(argv[5]));
    if (mode == "consume" && argc == 7) {
        return Consume(*o, argv[3], std::atol(argv[4]), std::atoi(argv[5]), std::atoi(argv[6]));
    }
    std::fprintf(stderr, "bad arguments\n");
    return 2;
}
