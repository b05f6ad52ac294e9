// SPDX-License-Identifier: MIT
// Messages per second produced through gale::pipe::KafkaProducer against raw librdkafka producing the same messages,
// both against librdkafka's in-process mock cluster (3 brokers, one 12-partition topic), in the same run.
//
//   pipe_kafka_bench [messages=200000] [value_bytes=100] [rounds=5] [sync_messages=2000]
//
// raw:        rd_kafka_produce (cached topic handle, RD_KAFKA_MSG_F_COPY, rd_kafka_poll(0) after each, poll(100) and
//             retry on a full queue) + rd_kafka_flush: librdkafka's fastest documented producer loop.
// gale async: KafkaProducer::SendAsync (no callback) + Flush.
// gale sync:  KafkaProducer::Send per message (a broker round trip each; django-logpipe's behaviour).
// Both producers use the same settings (murmur2_random, retries=0, message.timeout.ms=10000, librdkafka defaults
// otherwise). Rounds alternate raw and gale (the machine is shared, so single rounds are noisy); reported: each
// round's ratio, the median of those ratios (the figure the exit status checks against 0.8), and the best of each.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <gale/pipe/kafka.hpp>

namespace {

using Clock = std::chrono::steady_clock;
constexpr const char* kTopic = "bench";

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

std::vector<std::string> Keys() {
    std::vector<std::string> keys;
    for (int i = 0; i < 1000; ++i) keys.push_back("key-" + std::to_string(i));
    return keys;
}

rd_kafka_conf_t* Conf(const std::string& bootstraps) {
    char errstr[256];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    const std::pair<const char*, const char*> properties[] = {
        {"bootstrap.servers", bootstraps.c_str()},
        {"partitioner", "murmur2_random"},
        {"retries", "0"},
        {"message.timeout.ms", "10000"},
        {"log_level", "3"},
    };
    for (const auto& [name, value] : properties) {
        if (rd_kafka_conf_set(conf, name, value, errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
            std::fprintf(stderr, "%s\n", errstr);
            std::exit(1);
        }
    }
    return conf;
}

int delivered_errors = 0;
void OnDelivery(rd_kafka_t*, const rd_kafka_message_t* message, void*) {
    if (message->err != RD_KAFKA_RESP_ERR_NO_ERROR) ++delivered_errors;
}

// Messages/s of raw librdkafka.
double Raw(const std::string& bootstraps, int messages, const std::string& value,
           const std::vector<std::string>& keys) {
    char errstr[256];
    rd_kafka_conf_t* conf = Conf(bootstraps);
    rd_kafka_conf_set_dr_msg_cb(conf, &OnDelivery);
    rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk, kTopic, nullptr);
    // Warm up: metadata and connections, as the gale producer gets below.
    rd_kafka_produce(rkt, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY, const_cast<char*>(value.data()), value.size(),
                     keys[0].data(), keys[0].size(), nullptr);
    rd_kafka_flush(rk, 10000);
    const auto start = Clock::now();
    for (int i = 0; i < messages; ++i) {
        const std::string& key = keys[static_cast<std::size_t>(i) % keys.size()];
        while (rd_kafka_produce(rkt, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY, const_cast<char*>(value.data()),
                                value.size(), key.data(), key.size(), nullptr) != 0) {
            if (rd_kafka_last_error() != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                std::fprintf(stderr, "raw produce: %s\n", rd_kafka_err2str(rd_kafka_last_error()));
                std::exit(1);
            }
            rd_kafka_poll(rk, 100);
        }
        rd_kafka_poll(rk, 0);
    }
    rd_kafka_flush(rk, 60000);
    const double rate = messages / Seconds(Clock::now() - start);
    rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(rk);
    return rate;
}

gale::pipe::KafkaOptions Options(const std::string& bootstraps) {
    gale::pipe::KafkaOptions options;
    options.bootstrap_servers = bootstraps;
    options.config["log_level"] = "3";
    return options;
}

double GaleAsync(const std::string& bootstraps, int messages, const std::string& value,
                 const std::vector<std::string>& keys) {
    auto producer = gale::pipe::KafkaProducer::Create(Options(bootstraps));
    if (!producer) {
        std::fprintf(stderr, "%s\n", producer.error().ToString().c_str());
        std::exit(1);
    }
    auto& p = **producer;
    if (!p.Send(kTopic, keys[0], value)) std::exit(1);  // warm up
    const auto start = Clock::now();
    for (int i = 0; i < messages; ++i) {
        auto sent = p.SendAsync(kTopic, keys[static_cast<std::size_t>(i) % keys.size()], value);
        if (!sent) {
            std::fprintf(stderr, "SendAsync: %s\n", sent.error().ToString().c_str());
            std::exit(1);
        }
    }
    auto flushed = p.Flush(std::chrono::seconds(60));
    const double rate = messages / Seconds(Clock::now() - start);
    if (!flushed) {
        std::fprintf(stderr, "Flush: %s\n", flushed.error().ToString().c_str());
        std::exit(1);
    }
    return rate;
}

double GaleSync(const std::string& bootstraps, int messages, const std::string& value,
                const std::vector<std::string>& keys) {
    auto producer = gale::pipe::KafkaProducer::Create(Options(bootstraps));
    if (!producer) std::exit(1);
    auto& p = **producer;
    if (!p.Send(kTopic, keys[0], value)) std::exit(1);
    const auto start = Clock::now();
    for (int i = 0; i < messages; ++i) {
        auto sent = p.Send(kTopic, keys[static_cast<std::size_t>(i) % keys.size()], value);
        if (!sent) {
            std::fprintf(stderr, "Send: %s\n", sent.error().ToString().c_str());
            std::exit(1);
        }
    }
    return messages / Seconds(Clock::now() - start);
}

}  // namespace

int main(int argc, char** argv) {
    const int messages = argc > 1 ? std::atoi(argv[1]) : 200000;
    const int value_bytes = argc > 2 ? std::atoi(argv[2]) : 100;
    const int rounds = argc > 3 ? std::atoi(argv[3]) : 5;
    const int sync_messages = argc > 4 ? std::atoi(argv[4]) : 2000;

    char errstr[256];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "0", errstr, sizeof errstr);
    rd_kafka_t* mock_handle = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    rd_kafka_mock_cluster_t* cluster = rd_kafka_mock_cluster_new(mock_handle, 3);
    rd_kafka_mock_topic_create(cluster, kTopic, 12, 1);
    const std::string bootstraps = rd_kafka_mock_cluster_bootstraps(cluster);

    const std::string value(static_cast<std::size_t>(value_bytes), 'x');
    const auto keys = Keys();
    double best_raw = 0;
    double best_gale = 0;
    std::vector<double> ratios;
    for (int round = 0; round < rounds; ++round) {
        const double raw = Raw(bootstraps, messages, value, keys);
        const double gale = GaleAsync(bootstraps, messages, value, keys);
        std::printf("round %d: raw librdkafka %.0f msg/s, gale SendAsync+Flush %.0f msg/s (%.2fx)\n", round + 1, raw,
                    gale, gale / raw);
        best_raw = std::max(best_raw, raw);
        best_gale = std::max(best_gale, gale);
        ratios.push_back(gale / raw);
    }
    std::sort(ratios.begin(), ratios.end());
    const double median = ratios[ratios.size() / 2];
    const double sync = GaleSync(bootstraps, sync_messages, value, keys);
    std::printf("median ratio %.2fx (target >= 0.8x); best: raw %.0f msg/s, gale async %.0f msg/s (%.2fx)\n", median,
                best_raw, best_gale, best_gale / best_raw);
    std::printf("gale Send (synchronous, %d messages): %.0f msg/s (%.4fx of raw)\n", sync_messages, sync,
                sync / best_raw);
    std::printf("delivery errors (raw): %d\n", delivered_errors);

    rd_kafka_mock_cluster_destroy(cluster);
    rd_kafka_destroy(mock_handle);
    return median >= 0.8 ? 0 : 1;
}
