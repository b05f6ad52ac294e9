// SPDX-License-Identifier: MIT
// A gale service built against an installed gale with the Kafka adapter: proves gale::kafka's headers and its link
// dependencies (librdkafka) are complete. Building a producer does not connect, so no broker is needed; the
// packaging test runs it with --help.
#include <cstdio>

#include <gale/app/app.hpp>
#include <gale/pipe/kafka.hpp>

int main(int argc, char** argv) {
    gale::pipe::KafkaOptions options;
    options.bootstrap_servers = "127.0.0.1:9";
    auto producer = gale::pipe::KafkaProducer::Create(options);
    if (!producer) {
        std::fprintf(stderr, "KafkaProducer::Create: %s\n", producer.error().ToString().c_str());
        return 1;
    }
    gale::app::App app("kafka-consumer", "0.0.1");
    app.Get("/", [](gale::http::Request&) { return gale::http::Response::Text(200, "Hello from a consumer\n"); },
            {.inline_handler = true});
    return app.Run(argc, argv);
}
