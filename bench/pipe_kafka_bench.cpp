// SPDX-License-Identifier: MIT
// Messages per second produced through gale::pipe::KafkaProducer against raw librdkafka producing the same messages,
// and consumed through gale::pipe::Consumer + KafkaConsumer against raw librdkafka consuming them, all against
// librdkafka's in-process mock cluster (3 brokers, 12-partition topics), in the same run.
//
//   pipe_kafka_bench [messages=200000] [value_bytes=100] [rounds=5] [sync_messages=2000] [offsets=db|kafka]
//
// Produce side (topic "bench", values of value_bytes 'x'):
// raw:        rd_kafka_produce (cached topic handle, RD_KAFKA_MSG_F_COPY, rd_kafka_poll(0) after each, poll(100) and
//             retry on a full queue) + rd_kafka_flush: librdkafka's fastest documented producer loop.
// gale async: KafkaProducer::SendAsync (no callback) + Flush.
// gale sync:  KafkaProducer::Send per message (a broker round trip each; django-logpipe's behaviour).
// Both producers use the same settings (murmur2_random, retries=0, message.timeout.ms=10000, librdkafka defaults
// otherwise). Rounds alternate raw and gale (the machine is shared, so single rounds are noisy); reported: each
// round's ratio, the median of those ratios (the figure the exit status checks against 0.8), and the best of each.
//
// Consume side: `messages` django-logpipe JSON envelopes
// (json:{"type":"us-state","version":1,"message":{"code":"NY","name":"New York"}}, 1000 keys) are produced once with
// raw librdkafka to the 12-partition topic "states", then each round reads all of them from the beginning with:
// raw:        rd_kafka consumer (the settings KafkaConsumer uses: enable.auto.commit=false,
//             enable.auto.offset.store=false, enable.partition.eof=false), rd_kafka_assign of all 12 partitions at
//             RD_KAFKA_OFFSET_BEGINNING, rd_kafka_consumer_poll until every message arrived (no decoding, no commit).
// gale b1:    KafkaConsumer driven by Consumer::RunOnce with a registered TypedHandler<UsState> whose Save counts:
//             per record Poll, DecodeEnvelope, dispatch, Validate, Save, Commit (batch_size 1).
// gale b256:  the same with ConsumerOptions::batch_size = 256 and no transaction: the commit (last offset per
//             partition) is deferred to the end of each batch (at-least-once).
// Offsets (5th argument): db = KafkaOffsetStorage::kDatabase, django-logpipe's logpipe_kafkaoffset table in a fresh
// SQLite file on /dev/shm per run (one upsert per commit; the default, cheaper); kafka = kKafka, a synchronous
// rd_kafka_commit to a fresh consumer group per run (a broker round trip per commit).
// Consume timing starts once every partition has answered its first fetch (raw: every high watermark known; gale:
// KafkaConsumer::Lag() has a value; at most 10 s, the wait is printed as "start-up") and ends at the last message: the
// mock cluster answers some first fetches only after ~0.5 s, which would otherwise dominate. Ratios: gale/raw consume
// per round (median and best), and best gale consume / best raw produce (reported: on the mock cluster even raw
// librdkafka consumes at a fraction of its production rate).
// Exit status 0 when both medians, produce (gale async / raw) and consume (gale batch_size 256 / raw), are >= 0.8.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <gale/pipe/consumer.hpp>
#include <gale/pipe/kafka.hpp>
#include <gale/pipe/serializer.hpp>

// The message type of the consume side (at namespace scope: GALE_PIPE_DEFINE_MESSAGE needs ADL).
namespace bench {
struct UsState {
    std::string code;
    std::string name;
};
GALE_PIPE_DEFINE_MESSAGE(UsState, code, name)
}  // namespace bench

namespace {

using Clock = std::chrono::steady_clock;
constexpr const char* kTopic = "bench";
constexpr const char* kConsumeTopic = "states";

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

// Enqueues `messages` records on `rkt` with librdkafka's fastest loop (poll(0) after each, waiting only when the
// queue is full); exits on any other produce error, naming `what`. The caller flushes.
void ProduceAll(rd_kafka_t* rk, rd_kafka_topic_t* rkt, int messages, const std::string& value,
                const std::vector<std::string>& keys, const char* what) {
    for (int i = 0; i < messages; ++i) {
        const std::string& key = keys[static_cast<std::size_t>(i) % keys.size()];
        while (rd_kafka_produce(rkt, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY, const_cast<char*>(value.data()),
                                value.size(), key.data(), key.size(), nullptr) != 0) {
            if (rd_kafka_last_error() != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                std::fprintf(stderr, "%s: %s\n", what, rd_kafka_err2str(rd_kafka_last_error()));
                std::exit(1);
            }
            rd_kafka_poll(rk, 100);
        }
        rd_kafka_poll(rk, 0);
    }
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
    ProduceAll(rk, rkt, messages, value, keys, "raw produce");
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

// ---------------------------------------------------------------------------------------------------------------
// Consume side

int fill_errors = 0;
void OnFillDelivery(rd_kafka_t*, const rd_kafka_message_t* message, void*) {
    if (message->err != RD_KAFKA_RESP_ERR_NO_ERROR) ++fill_errors;
}

// Produces `messages` envelopes to kConsumeTopic with raw librdkafka; returns msg/s (enqueue + flush).
double Fill(const std::string& bootstraps, int messages, const std::string& value,
            const std::vector<std::string>& keys) {
    char errstr[256];
    rd_kafka_conf_t* conf = Conf(bootstraps);
    rd_kafka_conf_set_dr_msg_cb(conf, &OnFillDelivery);
    rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk, kConsumeTopic, nullptr);
    const auto start = Clock::now();
    ProduceAll(rk, rkt, messages, value, keys, "fill produce");
    const rd_kafka_resp_err_t flushed = rd_kafka_flush(rk, 60000);
    const double rate = messages / Seconds(Clock::now() - start);
    rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(rk);
    if (flushed != RD_KAFKA_RESP_ERR_NO_ERROR || fill_errors != 0) {
        std::fprintf(stderr, "fill: %s, %d delivery errors\n", rd_kafka_err2str(flushed), fill_errors);
        std::exit(1);
    }
    return rate;
}

// One consume run: msg/s from the moment every partition has answered its first fetch (its high watermark is known)
// to the last message, and the start-up time before that (client creation, assignment, first fetches).
struct ConsumeRate {
    double rate = 0;
    double ready_s = 0;
};

// When timing starts (see the file comment).
enum class Start {
    kFetched,  // every partition has answered its first fetch: consumption races the broker's fetches
    kQueued,   // every message is already in the client's queue: consumption is bound by the client's CPU
};

// Client queue limits that let every message of a run be fetched before timing starts (Start::kQueued); librdkafka's
// defaults stop prefetching at 100,000 messages per partition or 64 MiB.
constexpr std::pair<const char*, const char*> kQueueAll[] = {
    {"queued.min.messages", "10000000"},
    {"queued.max.messages.kbytes", "2097151"},
};

// Waits (up to `limit`) until `ready` holds.
template <typename Ready>
void WaitUntilReady(const char* who, std::chrono::seconds limit, Ready ready) {
    const auto deadline = Clock::now() + limit;
    while (!ready()) {
        if (Clock::now() > deadline) {
            std::fprintf(stderr, "%s: not ready after %lld s; timing anyway\n", who,
                         static_cast<long long>(limit.count()));
            return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
}

// Raw librdkafka consuming every message of kConsumeTopic from the beginning.
ConsumeRate RawConsume(const std::string& bootstraps, int messages, Start start_at, int round) {
    char errstr[256];
    const auto start = Clock::now();
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    const std::string group = "raw-consume-" + std::to_string(round) + (start_at == Start::kQueued ? "-q" : "");
    const std::pair<const char*, const char*> properties[] = {
        {"bootstrap.servers", bootstraps.c_str()},
        {"group.id", group.c_str()},
        {"auto.offset.reset", "earliest"},
        {"enable.auto.commit", "false"},
        {"enable.auto.offset.store", "false"},
        {"enable.partition.eof", "false"},
        {"log_level", "3"},
    };
    for (const auto& [name, value] : properties) {
        if (rd_kafka_conf_set(conf, name, value, errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
            std::fprintf(stderr, "%s\n", errstr);
            std::exit(1);
        }
    }
    if (start_at == Start::kQueued) {
        for (const auto& [name, value] : kQueueAll) {
            if (rd_kafka_conf_set(conf, name, value, errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
                std::fprintf(stderr, "%s\n", errstr);
                std::exit(1);
            }
        }
    }
    rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    if (rk == nullptr) {
        std::fprintf(stderr, "raw consumer: %s\n", errstr);
        std::exit(1);
    }
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t* partitions = rd_kafka_topic_partition_list_new(12);
    for (int p = 0; p < 12; ++p) {
        rd_kafka_topic_partition_list_add(partitions, kConsumeTopic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    }
    if (rd_kafka_assign(rk, partitions) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        std::fprintf(stderr, "raw consumer: assign failed\n");
        std::exit(1);
    }
    rd_kafka_topic_partition_list_destroy(partitions);
    if (start_at == Start::kQueued) {
        rd_kafka_queue_t* queue = rd_kafka_queue_get_consumer(rk);
        WaitUntilReady("raw consumer (queued)", std::chrono::seconds(60), [queue, messages] {
            return rd_kafka_queue_length(queue) >= static_cast<std::size_t>(messages);
        });
        rd_kafka_queue_destroy(queue);
    }
    WaitUntilReady("raw consumer", std::chrono::seconds(10), [rk] {
        for (int p = 0; p < 12; ++p) {
            std::int64_t low = -1;
            std::int64_t high = -1;
            if (rd_kafka_get_watermark_offsets(rk, kConsumeTopic, p, &low, &high) != RD_KAFKA_RESP_ERR_NO_ERROR ||
                high < 0) {
                return false;
            }
        }
        return true;
    });
    const auto ready = Clock::now();
    int received = 0;
    std::size_t bytes = 0;
    auto last = Clock::now();
    while (received < messages) {
        rd_kafka_message_t* message = rd_kafka_consumer_poll(rk, 100);
        if (message == nullptr) {
            if (Clock::now() - last > std::chrono::seconds(30)) {
                std::fprintf(stderr, "raw consumer: stuck at %d of %d messages\n", received, messages);
                std::exit(1);
            }
            continue;
        }
        if (message->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            std::fprintf(stderr, "raw consumer: %s\n", rd_kafka_message_errstr(message));
            std::exit(1);
        }
        ++received;
        bytes += message->len;
        last = Clock::now();
        rd_kafka_message_destroy(message);
    }
    const ConsumeRate rate{messages / Seconds(Clock::now() - ready), Seconds(ready - start)};
    if (bytes == 0) std::exit(1);  // keeps the payload access honest
    rd_kafka_assign(rk, nullptr);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return rate;
}

void RemoveDatabase(const std::string& path) {
    for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path + suffix);
}

// gale::pipe::Consumer over KafkaConsumer (see the file comment).
ConsumeRate GaleConsume(const std::string& bootstraps, int messages, std::size_t batch_size, bool offsets_in_kafka,
                        Start start_at, int round) {
    const std::string tag =
        std::to_string(round) + "-" + std::to_string(batch_size) + (start_at == Start::kQueued ? "-q" : "");
    const std::string path = "/dev/shm/gale-pipe-kafka-bench-" + std::to_string(getpid()) + "-" + tag + ".db";
    gale::pipe::KafkaOptions options = Options(bootstraps);
    if (start_at == Start::kQueued) {
        for (const auto& [name, value] : kQueueAll) options.consumer_config[name] = value;
    }
    if (offsets_in_kafka) {
        options.offset_storage = gale::pipe::KafkaOffsetStorage::kKafka;
        options.group_id = "gale-consume-" + tag;
    } else {
        RemoveDatabase(path);
        auto database = gale::db::Database::Open(path);
        if (!database) {
            std::fprintf(stderr, "%s\n", database.error().ToString().c_str());
            std::exit(1);
        }
        options.database = std::move(*database);
    }
    std::uint64_t saved = 0;
    const auto start = Clock::now();
    auto backend = gale::pipe::KafkaConsumer::Create(kConsumeTopic, options);
    if (!backend) {
        std::fprintf(stderr, "KafkaConsumer::Create: %s\n", backend.error().ToString().c_str());
        std::exit(1);
    }
    gale::pipe::ConsumerOptions consumer_options;
    consumer_options.batch_size = batch_size;
    gale::pipe::Consumer consumer(kConsumeTopic, **backend, consumer_options);
    consumer.Register(gale::pipe::MakeHandler<bench::UsState>(
        gale::pipe::TypedSerializer<bench::UsState>("us-state", 1, "code"),
        [&saved](const bench::UsState&) -> gale::Result<void> {
            ++saved;
            return {};
        },
        [](const bench::UsState& state) -> gale::Result<void> {
            if (state.code.size() != 2) return gale::MakeError(gale::ErrorCode::kInvalidArgument, "bad code");
            return {};
        }));
    if (start_at == Start::kQueued) {
        WaitUntilReady("gale consumer (queued)", std::chrono::seconds(60),
                       [&backend, messages] { return (*backend)->prefetched() >= static_cast<std::size_t>(messages); });
    }
    WaitUntilReady("gale consumer", std::chrono::seconds(10), [&backend] { return (*backend)->Lag().has_value(); });
    const auto ready = Clock::now();
    std::size_t handled = 0;
    auto last = Clock::now();
    while (handled < static_cast<std::size_t>(messages)) {
        auto r = consumer.RunOnce(std::chrono::milliseconds(100));
        if (!r) {
            std::fprintf(stderr, "Consumer::RunOnce: %s\n", r.error().ToString().c_str());
            std::exit(1);
        }
        if (*r == 0) {
            if (Clock::now() - last > std::chrono::seconds(30)) {
                std::fprintf(stderr, "gale consumer: stuck at %zu of %d messages\n", handled, messages);
                std::exit(1);
            }
            continue;
        }
        handled += *r;
        last = Clock::now();
    }
    const ConsumeRate rate{messages / Seconds(Clock::now() - ready), Seconds(ready - start)};
    const std::uint64_t processed = consumer.Stats().Total(gale::pipe::Outcome::kProcessed);
    if (saved != static_cast<std::uint64_t>(messages) || processed != saved) {
        std::fprintf(stderr, "gale consumer: %llu saved, %llu processed, %d expected\n",
                     static_cast<unsigned long long>(saved), static_cast<unsigned long long>(processed), messages);
        std::exit(1);
    }
    backend->reset();
    if (!offsets_in_kafka) RemoveDatabase(path);
    return rate;
}

double Median(std::vector<double> values) {
    std::sort(values.begin(), values.end());
    return values[values.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
    const int messages = argc > 1 ? std::atoi(argv[1]) : 200000;
    const int value_bytes = argc > 2 ? std::atoi(argv[2]) : 100;
    const int rounds = argc > 3 ? std::atoi(argv[3]) : 5;
    const int sync_messages = argc > 4 ? std::atoi(argv[4]) : 2000;
    const std::string offsets = argc > 5 ? argv[5] : "db";
    if (messages <= 0 || rounds <= 0 || (offsets != "db" && offsets != "kafka")) {
        std::fprintf(stderr, "usage: %s [messages>0] [value_bytes] [rounds>0] [sync_messages] [offsets=db|kafka]\n",
                     argv[0]);
        return 2;
    }

    char errstr[256];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "0", errstr, sizeof errstr);
    rd_kafka_t* mock_handle = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    rd_kafka_mock_cluster_t* cluster = rd_kafka_mock_cluster_new(mock_handle, 3);
    rd_kafka_mock_topic_create(cluster, kTopic, 12, 1);
    rd_kafka_mock_topic_create(cluster, kConsumeTopic, 12, 1);
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
    const double median = Median(ratios);
    const double sync = GaleSync(bootstraps, sync_messages, value, keys);
    std::printf("median ratio %.2fx (target >= 0.8x); best: raw %.0f msg/s, gale async %.0f msg/s (%.2fx)\n", median,
                best_raw, best_gale, best_gale / best_raw);
    std::printf("gale Send (synchronous, %d messages): %.0f msg/s (%.4fx of raw)\n", sync_messages, sync,
                sync / best_raw);
    std::printf("delivery errors (raw): %d\n", delivered_errors);

    const std::string envelope = R"(json:{"type":"us-state","version":1,"message":{"code":"NY","name":"New York"}})";
    const double fill = Fill(bootstraps, messages, envelope, keys);
    const bool offsets_in_kafka = offsets == "kafka";
    std::printf(
        "consume: %d envelopes of %zu bytes in topic \"%s\" (12 partitions; raw produce %.0f msg/s), offsets "
        "in %s\n",
        messages, envelope.size(), kConsumeTopic, fill,
        offsets_in_kafka ? "Kafka (consumer group, synchronous commit)" : "SQLite on /dev/shm (logpipe_kafkaoffset)");
    std::vector<double> fetched_1;
    std::vector<double> fetched_256;
    std::vector<double> queued_256;
    std::vector<double> raw_fetched_rates;
    std::vector<double> raw_queued_rates;
    std::vector<double> gale_queued_rates;
    for (int round = 0; round < rounds; ++round) {
        const ConsumeRate raw = RawConsume(bootstraps, messages, Start::kFetched, round);
        const ConsumeRate gale_1 = GaleConsume(bootstraps, messages, 1, offsets_in_kafka, Start::kFetched, round);
        const ConsumeRate gale_256 = GaleConsume(bootstraps, messages, 256, offsets_in_kafka, Start::kFetched, round);
        std::printf(
            "consume round %d, as fetched: raw librdkafka %.0f msg/s, gale batch_size 1 %.0f msg/s (%.2fx), "
            "batch_size 256 %.0f msg/s (%.2fx); start-up %.2f / %.2f / %.2f s\n",
            round + 1, raw.rate, gale_1.rate, gale_1.rate / raw.rate, gale_256.rate, gale_256.rate / raw.rate,
            raw.ready_s, gale_1.ready_s, gale_256.ready_s);
        const ConsumeRate raw_q = RawConsume(bootstraps, messages, Start::kQueued, round);
        const ConsumeRate gale_q = GaleConsume(bootstraps, messages, 256, offsets_in_kafka, Start::kQueued, round);
        std::printf(
            "consume round %d, from the client's queue: raw librdkafka %.0f msg/s, gale batch_size 256 %.0f msg/s "
            "(%.2fx; %.2f us per record)\n",
            round + 1, raw_q.rate, gale_q.rate, gale_q.rate / raw_q.rate, 1e6 / gale_q.rate);
        fetched_1.push_back(gale_1.rate / raw.rate);
        fetched_256.push_back(gale_256.rate / raw.rate);
        queued_256.push_back(gale_q.rate / raw_q.rate);
        raw_fetched_rates.push_back(raw.rate);
        raw_queued_rates.push_back(raw_q.rate);
        gale_queued_rates.push_back(gale_q.rate);
    }
    const double fetched_median = Median(fetched_256);
    std::printf(
        "consume as fetched, median gale/raw: batch_size 1 %.2fx, batch_size 256 %.2fx (raw median %.0f msg/s = "
        "%.2fx of raw produce: the mock broker's fetches are the bound)\n",
        Median(fetched_1), fetched_median, Median(raw_fetched_rates), Median(raw_fetched_rates) / fill);
    std::printf(
        "consume from the client's queue, median: raw %.0f msg/s, gale batch_size 256 %.0f msg/s (%.2fx of raw "
        "consume, %.2fx of raw produce): gale's per-record decode, validate, save and commit is the bound\n",
        Median(raw_queued_rates), Median(gale_queued_rates), Median(queued_256), Median(gale_queued_rates) / fill);

    rd_kafka_mock_cluster_destroy(cluster);
    rd_kafka_destroy(mock_handle);
    const bool met = median >= 0.8;
    std::printf("target >= 0.8x of raw librdkafka's producer: gale SendAsync median %.2fx: %s\n", median,
                met ? "met" : "NOT MET");
    return met ? 0 : 1;
}
