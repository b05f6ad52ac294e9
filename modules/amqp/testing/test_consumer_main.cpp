// SPDX-License-Identifier: MIT
// A consumer process for the redelivery test: consumes queue argv[2] from the AMQP URL argv[1] (prefetch 20, one
// handler thread) and, for each message, sleeps argv[4] ms (work in progress when the test SIGKILLs it), then appends
// "<body>\n" to the file argv[3] with one write(2) and returns success. Runs until killed.
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include <gale/amqp/consumer.hpp>

int main(int argc, char** argv) {
    if (argc != 5) {
        std::fprintf(stderr, "usage: %s AMQP_URL QUEUE OUTPUT_FILE SLEEP_MS\n", argv[0]);
        return 2;
    }
    auto options = gale::amqp::ParseUrl(argv[1]);
    if (!options) {
        std::fprintf(stderr, "%s\n", options.error().ToString().c_str());
        return 2;
    }
    const int fd = ::open(argv[3], O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) return 2;
    const int sleep_ms = std::atoi(argv[4]);
    gale::amqp::Subscription sub;
    sub.queue.name = argv[2];
    sub.handler = [&](const gale::amqp::Message& m) -> gale::Result<void> {
        std::this_thread::sleep_for(std::chrono::milliseconds(sleep_ms));
        std::string line = m.body + "\n";
        if (::write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
            return gale::MakeError(gale::ErrorCode::kIo, "write failed");
        }
        return {};
    };
    gale::amqp::ConsumerOptions co;
    co.name = "kill-test";
    co.prefetch = 20;
    co.handler_threads = 1;
    auto consumer = gale::amqp::Consumer::Create(*options, {std::move(sub)}, co);
    if (!consumer) {
        std::fprintf(stderr, "%s\n", consumer.error().ToString().c_str());
        return 2;
    }
    (*consumer)->Start();
    for (;;) std::this_thread::sleep_for(std::chrono::seconds(1));
}
