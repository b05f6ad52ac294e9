// SPDX-License-Identifier: MIT
// Kafka transport over librdkafka.
//
// Design and invariants:
// - Every librdkafka callback we install (delivery reports, errors) is served on the thread that calls
//   rd_kafka_poll / rd_kafka_flush / rd_kafka_consumer_poll, i.e. the one thread that uses the object (the class
//   contracts say one thread at a time). So Impl state is touched without locks. librdkafka's own logging still goes
//   to its default stderr logger from its internal threads.
// - Producer records carry an opaque id (0 = an untracked SendAsync record without callback, so the fast path does no
//   map operation). A synchronous Send that times out leaves its entry marked abandoned; its late report is
//   dropped. `pending_` counts every record produced and not yet reported.
// - `message.timeout.ms` is set to send_timeout so librdkafka itself gives up on a record when Send would have, and
//   records never linger in the queue for librdkafka's default 5 minutes.
// - The consumer never joins a group (rd_kafka_assign, no subscribe): the group id is only the key of committed
//   offsets in kKafka mode, as in django-logpipe (kafka-python's assign + commit).
#include <algorithm>
#include <charconv>
#include <cstring>
#include <limits>
#include <string>
#include <system_error>
#include <unordered_map>
#include <utility>
#include <vector>

#include <librdkafka/rdkafka.h>

#include <gale/pipe/kafka.hpp>
#include <gale/pipe/logpipe_schema.hpp>

namespace gale::pipe {
namespace {

using Clock = std::chrono::steady_clock;

bool IsSecretProperty(std::string_view name) {
    return name.find("password") != std::string_view::npos || name.find("secret") != std::string_view::npos ||
           name.find(".key") != std::string_view::npos;
}

struct ConfDeleter {
    void operator()(rd_kafka_conf_t* conf) const noexcept { rd_kafka_conf_destroy(conf); }
};
using ConfPtr = std::unique_ptr<rd_kafka_conf_t, ConfDeleter>;

struct PartitionListDeleter {
    void operator()(rd_kafka_topic_partition_list_t* list) const noexcept {
        rd_kafka_topic_partition_list_destroy(list);
    }
};
using PartitionListPtr = std::unique_ptr<rd_kafka_topic_partition_list_t, PartitionListDeleter>;

Result<void> SetProperty(rd_kafka_conf_t* conf, const std::string& name, const std::string& value) {
    char errstr[512];
    if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), errstr, sizeof errstr) == RD_KAFKA_CONF_OK) return {};
    if (IsSecretProperty(name)) {
        return MakeError(ErrorCode::kInvalidArgument, "invalid Kafka setting \"" + name + "\" (value not shown)");
    }
    return MakeError(ErrorCode::kInvalidArgument, "invalid Kafka setting \"" + name + "\": " + errstr);
}

Result<void> SetProperties(rd_kafka_conf_t* conf, const std::map<std::string, std::string>& properties) {
    for (const auto& [name, value] : properties) GALE_RETURN_IF_ERROR(SetProperty(conf, name, value));
    return {};
}

int ToMs(std::chrono::milliseconds duration) {
    const auto count = std::clamp<std::int64_t>(duration.count(), 0, std::numeric_limits<int>::max());
    return static_cast<int>(count);
}

int RemainingMs(Clock::time_point deadline) {
    return ToMs(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()));
}

std::string Describe(rd_kafka_resp_err_t err) {
    return std::string(rd_kafka_err2str(err)) + " (" + rd_kafka_err2name(err) + ")";
}

ErrorCode CodeFor(rd_kafka_resp_err_t err) {
    switch (err) {
        case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
        case RD_KAFKA_RESP_ERR__TIMED_OUT:
        case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
            return ErrorCode::kTimeout;
        case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
        case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
        case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
            return ErrorCode::kNotFound;
        case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
        case RD_KAFKA_RESP_ERR_INVALID_RECORD:
            return ErrorCode::kInvalidArgument;
        case RD_KAFKA_RESP_ERR__PURGE_QUEUE:
        case RD_KAFKA_RESP_ERR__PURGE_INFLIGHT:
        case RD_KAFKA_RESP_ERR__DESTROY:
            return ErrorCode::kCancelled;
        default:
            return ErrorCode::kUnavailable;
    }
}

// Builds the client from `conf` (consumed on success), naming the role in errors.
Result<rd_kafka_t*> NewClient(rd_kafka_type_t type, ConfPtr conf) {
    char errstr[512];
    rd_kafka_t* rk = rd_kafka_new(type, conf.get(), errstr, sizeof errstr);
    if (rk == nullptr) {
        return MakeError(ErrorCode::kInvalidArgument, std::string("invalid Kafka ") +
                                                          (type == RD_KAFKA_PRODUCER ? "producer" : "consumer") +
                                                          " configuration: " + errstr);
    }
    static_cast<void>(conf.release());  // owned by rk now
    return rk;
}

// Remembers the last error librdkafka reported outside a request (connection refused, authentication failed…), to
// explain a timeout. Installed on both clients; served by poll/flush on the owning thread.
struct ErrorSink {
    std::string last_error;
};

void OnError(rd_kafka_t* /*rk*/, int err, const char* reason, void* opaque) {
    auto* sink = static_cast<ErrorSink*>(opaque);
    sink->last_error = std::string(reason) + " (" + rd_kafka_err2name(static_cast<rd_kafka_resp_err_t>(err)) + ")";
}

std::string WithLastError(std::string message, const ErrorSink& sink) {
    if (!sink.last_error.empty()) message += "; last broker error: " + sink.last_error;
    return message;
}

std::optional<std::string> ConfigValue(rd_kafka_t* rk, const std::string& name) {
    const rd_kafka_conf_t* conf = rd_kafka_conf(rk);
    std::size_t size = 0;
    if (rd_kafka_conf_get(conf, name.c_str(), nullptr, &size) != RD_KAFKA_CONF_OK) return std::nullopt;
    std::string value(size, '\0');
    if (rd_kafka_conf_get(conf, name.c_str(), value.data(), &size) != RD_KAFKA_CONF_OK) return std::nullopt;
    if (!value.empty() && value.back() == '\0') value.pop_back();
    return value;
}

template <typename Int>
bool ParseInt(std::string_view text, Int& out) {
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
    return ec == std::errc() && end == text.data() + text.size();
}

}  // namespace

// ------------------------------------------------------------------------------------------------------------------
// KafkaProducer

struct KafkaProducer::Impl : ErrorSink {
    struct Tracked {
        bool sync = false;
        bool done = false;
        bool abandoned = false;
        std::optional<Result<RecordMetadata>> result;
        KafkaDeliveryCallback callback;
    };

    KafkaOptions options;
    rd_kafka_t* rk = nullptr;
    std::unordered_map<std::string, rd_kafka_topic_t*> topics;
    std::unordered_map<std::uint64_t, Tracked> tracked;
    std::uint64_t next_id = 1;
    std::int64_t pending = 0;
    std::int64_t failures = 0;
    std::optional<Error> first_failure;

    ~Impl() {
        for (auto& [name, rkt] : topics) rd_kafka_topic_destroy(rkt);
        if (rk != nullptr) rd_kafka_destroy(rk);
    }

    rd_kafka_topic_t* Topic(const std::string& name) {
        auto it = topics.find(name);
        if (it != topics.end()) return it->second;
        rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk, name.c_str(), nullptr);
        if (rkt != nullptr) topics.emplace(name, rkt);
        return rkt;
    }

    static void OnDelivery(rd_kafka_t* /*rk*/, const rd_kafka_message_t* message, void* opaque) {
        static_cast<Impl*>(static_cast<ErrorSink*>(opaque))->Delivered(*message);
    }

    void Delivered(const rd_kafka_message_t& message) {
        --pending;
        const std::string topic = rd_kafka_topic_name(message.rkt);
        Result<RecordMetadata> result =
            RecordMetadata{topic, std::to_string(message.partition), std::to_string(message.offset)};
        if (message.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            std::string text = "sending to Kafka topic \"" + topic + "\" failed: " + Describe(message.err);
            if (message.err == RD_KAFKA_RESP_ERR__MSG_TIMED_OUT) text = WithLastError(std::move(text), *this);
            result = tl::unexpected(Error(CodeFor(message.err), std::move(text)));
        }
        const auto id = reinterpret_cast<std::uintptr_t>(message._private);
        auto it = id == 0 ? tracked.end() : tracked.find(id);
        const bool sync = it != tracked.end() && it->second.sync;
        if (!result && !sync) {
            if (failures++ == 0) first_failure = result.error();
        }
        if (it == tracked.end()) return;
        Tracked& entry = it->second;
        if (entry.abandoned) {
            tracked.erase(it);
        } else if (entry.sync) {
            entry.done = true;
            entry.result = std::move(result);
        } else {
            KafkaDeliveryCallback callback = std::move(entry.callback);
            tracked.erase(it);
            // The callback runs inside a C callback of librdkafka: nothing may propagate through it.
            try {
                if (callback) callback(result);
            } catch (...) {  // NOLINT(bugprone-empty-catch): documented, callbacks must not throw
            }
        }
    }

    // Enqueues one record, waiting on a full queue until `deadline`.
    Result<void> Produce(const std::string& topic, const std::string& key, const std::string& value, std::uint64_t id,
                         Clock::time_point deadline) {
        rd_kafka_topic_t* rkt = Topic(topic);
        if (rkt == nullptr) {
            return MakeError(ErrorCode::kInvalidArgument,
                             "sending to Kafka topic \"" + topic + "\" failed: " + Describe(rd_kafka_last_error()));
        }
        // key.data() is never null, so an empty key is sent as an empty non-null key (django-logpipe §1.9).
        for (;;) {
            const int rc = rd_kafka_produce(rkt, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY,
                                            const_cast<char*>(value.data()), value.size(), key.data(), key.size(),
                                            reinterpret_cast<void*>(static_cast<std::uintptr_t>(id)));
            if (rc == 0) {
                ++pending;
                return {};
            }
            const rd_kafka_resp_err_t err = rd_kafka_last_error();
            if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                return MakeError(CodeFor(err), "sending to Kafka topic \"" + topic + "\" failed: " + Describe(err));
            }
            const int remaining = RemainingMs(deadline);
            if (remaining <= 0) {
                return MakeError(ErrorCode::kTimeout,
                                 WithLastError("sending to Kafka topic \"" + topic +
                                                   "\" failed: the local queue "
                                                   "stayed full for " +
                                                   std::to_string(options.send_timeout.count()) + " ms",
                                               *this));
            }
            rd_kafka_poll(rk, std::min(remaining, 100));
        }
    }
};

KafkaProducer::KafkaProducer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

KafkaProducer::~KafkaProducer() {
    if (!impl_ || impl_->rk == nullptr) return;
    static_cast<void>(rd_kafka_flush(impl_->rk, ToMs(impl_->options.send_timeout)));
    // What is left is dropped: purged records are reported (kCancelled) to their callbacks by this last poll.
    static_cast<void>(rd_kafka_purge(impl_->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT));
    rd_kafka_poll(impl_->rk, 0);
}

Result<std::unique_ptr<KafkaProducer>> KafkaProducer::Create(const KafkaOptions& options) {
    if (options.bootstrap_servers.empty()) {
        return MakeError(ErrorCode::kInvalidArgument, "Kafka bootstrap_servers is required");
    }
    if (options.send_timeout.count() <= 0) {
        return MakeError(ErrorCode::kInvalidArgument, "Kafka send_timeout must be positive");
    }
    auto impl = std::make_unique<Impl>();
    impl->options = options;
    ConfPtr conf(rd_kafka_conf_new());
    GALE_RETURN_IF_ERROR(SetProperty(conf.get(), "bootstrap.servers", options.bootstrap_servers));
    GALE_RETURN_IF_ERROR(SetProperty(conf.get(), "partitioner", "murmur2_random"));
    GALE_RETURN_IF_ERROR(SetProperty(conf.get(), "retries", std::to_string(options.retries)));
    GALE_RETURN_IF_ERROR(SetProperty(conf.get(), "message.timeout.ms", std::to_string(ToMs(options.send_timeout))));
    GALE_RETURN_IF_ERROR(SetProperties(conf.get(), options.config));
    rd_kafka_conf_set_opaque(conf.get(), static_cast<ErrorSink*>(impl.get()));
    rd_kafka_conf_set_dr_msg_cb(conf.get(), &Impl::OnDelivery);
    rd_kafka_conf_set_error_cb(conf.get(), &OnError);
    GALE_ASSIGN_OR_RETURN(impl->rk, NewClient(RD_KAFKA_PRODUCER, std::move(conf)));
    return std::unique_ptr<KafkaProducer>(new KafkaProducer(std::move(impl)));
}

Result<RecordMetadata> KafkaProducer::Send(const std::string& topic, const std::string& key, const std::string& value) {
    Impl& impl = *impl_;
    const auto deadline = Clock::now() + impl.options.send_timeout;
    const std::uint64_t id = impl.next_id++;
    impl.tracked[id].sync = true;
    if (auto produced = impl.Produce(topic, key, value, id, deadline); !produced) {
        impl.tracked.erase(id);
        return tl::unexpected(produced.error());
    }
    // flush (not poll) so that linger.ms does not delay a synchronous send; it also reports earlier async records.
    while (!impl.tracked[id].done) {
        const int remaining = RemainingMs(deadline);
        if (remaining <= 0) break;
        static_cast<void>(rd_kafka_flush(impl.rk, remaining));
    }
    auto it = impl.tracked.find(id);
    if (!it->second.done) {
        it->second.abandoned = true;
        return MakeError(
            ErrorCode::kTimeout,
            WithLastError("sending to Kafka topic \"" + topic + "\" timed out after " +
                              std::to_string(impl.options.send_timeout.count()) + " ms without an acknowledgement",
                          impl));
    }
    Result<RecordMetadata> result = std::move(*it->second.result);
    impl.tracked.erase(it);
    return result;
}

Result<void> KafkaProducer::SendAsync(const std::string& topic, const std::string& key, const std::string& value,
                                      KafkaDeliveryCallback on_delivery) {
    Impl& impl = *impl_;
    std::uint64_t id = 0;
    if (on_delivery) {
        id = impl.next_id++;
        impl.tracked[id].callback = std::move(on_delivery);
    }
    auto produced = impl.Produce(topic, key, value, id, Clock::now() + impl.options.send_timeout);
    if (!produced && id != 0) impl.tracked.erase(id);
    rd_kafka_poll(impl.rk, 0);  // serve delivery reports so they do not pile up
    return produced;
}

Result<void> KafkaProducer::Flush(std::chrono::milliseconds timeout) {
    Impl& impl = *impl_;
    const rd_kafka_resp_err_t err = rd_kafka_flush(impl.rk, ToMs(timeout));
    if (err == RD_KAFKA_RESP_ERR__TIMED_OUT || impl.pending > 0) {
        return MakeError(ErrorCode::kTimeout,
                         WithLastError("Kafka flush timed out after " + std::to_string(timeout.count()) + " ms with " +
                                           std::to_string(impl.pending) + " records unacknowledged",
                                       impl));
    }
    if (impl.failures > 0) {
        Error first = std::move(*impl.first_failure);
        const std::int64_t count = impl.failures;
        impl.failures = 0;
        impl.first_failure.reset();
        const ErrorCode code = first.code();
        return tl::unexpected(
            Error(code, std::to_string(count) + " Kafka record(s) failed since the last flush", std::move(first)));
    }
    return {};
}

std::int64_t KafkaProducer::pending() const noexcept { return impl_->pending; }

std::optional<std::string> KafkaProducer::ConfigValueForTest(const std::string& name) const {
    return ConfigValue(impl_->rk, name);
}

// ------------------------------------------------------------------------------------------------------------------
// KafkaOffsetStore

Result<void> KafkaOffsetStore::EnsureTable() {
    // Both of django-logpipe's tables and their django_migrations rows, or Django's own tables as they are.
    GALE_ASSIGN_OR_RETURN(const LogpipeSchema schema, EnsureLogpipeSchema(database_));
    (void)schema;
    return {};
}

Result<std::optional<std::int64_t>> KafkaOffsetStore::Load(std::string_view topic, std::int32_t partition) {
    GALE_ASSIGN_OR_RETURN(auto rows,
                          database_.Query(R"(SELECT "offset" FROM "logpipe_kafkaoffset" WHERE "topic" = ? AND )"
                                          R"("partition" = ?)",
                                          {std::string(topic), std::int64_t{partition}}));
    if (rows.empty()) return std::optional<std::int64_t>();
    if (const auto* offset = std::get_if<std::int64_t>(&rows.front().front())) return std::optional(*offset);
    return MakeError(ErrorCode::kInternal, "logpipe_kafkaoffset: the offset of topic \"" + std::string(topic) +
                                               "\" partition " + std::to_string(partition) + " is not an integer");
}

Result<void> KafkaOffsetStore::Store(std::string_view topic, std::int32_t partition, std::int64_t next_offset) {
    const std::pair<std::int32_t, std::int64_t> one[] = {{partition, next_offset}};
    return StoreAll(topic, one);
}

Result<void> KafkaOffsetStore::StoreAll(std::string_view topic,
                                        std::span<const std::pair<std::int32_t, std::int64_t>> next_offsets) {
    if (next_offsets.empty()) return {};
    // ON CONFLICT … DO UPDATE: SQLite >= 3.24 and PostgreSQL >= 9.5; one statement, so no race between two writers
    // and all rows or none.
    std::string sql = R"(INSERT INTO "logpipe_kafkaoffset" ("topic", "partition", "offset") VALUES )";
    std::vector<db::Value> params;
    params.reserve(next_offsets.size() * 3);
    for (const auto& [partition, next_offset] : next_offsets) {
        if (next_offset < 0 || partition < 0) {
            return MakeError(
                ErrorCode::kInvalidArgument,
                "logpipe_kafkaoffset: negative partition or offset for topic \"" + std::string(topic) + "\"");
        }
        sql += params.empty() ? "(?, ?, ?)" : ", (?, ?, ?)";
        params.emplace_back(std::string(topic));
        params.emplace_back(std::int64_t{partition});
        params.emplace_back(next_offset);
    }
    sql += R"( ON CONFLICT ("topic", "partition") DO UPDATE SET "offset" = excluded."offset")";
    auto done = database_.Execute(sql, params);
    if (!done) return tl::unexpected(done.error());
    return {};
}

// ------------------------------------------------------------------------------------------------------------------
// KafkaConsumer

constexpr const char* kDefaultGroupId = "gale-pipe";

struct KafkaConsumer::Impl : ErrorSink {
    std::string topic;
    KafkaOptions options;
    rd_kafka_t* rk = nullptr;
    PartitionListPtr assignment;
    std::optional<KafkaOffsetStore> store;
    std::vector<std::int64_t> start_offsets;  // per partition: where consumption starts, or < 0 if unknown

    ~Impl() {
        if (rk != nullptr) {
            static_cast<void>(rd_kafka_assign(rk, nullptr));
            static_cast<void>(rd_kafka_consumer_close(rk));
            rd_kafka_destroy(rk);
        }
    }

    Result<std::int32_t> ReadPartitionCount() {
        // All topics, not just ours: a request naming the topic may auto-create it (librdkafka 2.0 lets
        // rd_kafka_metadata ask for that), and a consumer must find a missing topic missing.
        const rd_kafka_metadata_t* metadata = nullptr;
        const rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 1, nullptr, &metadata, ToMs(options.metadata_timeout));
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            return MakeError(
                CodeFor(err) == ErrorCode::kTimeout ? ErrorCode::kTimeout : ErrorCode::kUnavailable,
                WithLastError("could not read the partitions of Kafka topic \"" + topic + "\": " + Describe(err),
                              *this));
        }
        std::int32_t count = 0;
        rd_kafka_resp_err_t topic_err = RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART;
        for (int i = 0; i < metadata->topic_cnt; ++i) {
            if (topic == metadata->topics[i].topic) {
                topic_err = metadata->topics[i].err;
                count = metadata->topics[i].partition_cnt;
            }
        }
        rd_kafka_metadata_destroy(metadata);
        if (topic_err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART || (topic_err == 0 && count == 0)) {
            return MakeError(ErrorCode::kNotFound, "Could not find topic " + topic + ". Does it exist?");
        }
        if (topic_err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            return MakeError(ErrorCode::kUnavailable, "Kafka topic \"" + topic + "\": " + Describe(topic_err));
        }
        return count;
    }
};

KafkaConsumer::KafkaConsumer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
KafkaConsumer::~KafkaConsumer() = default;

Result<std::unique_ptr<KafkaConsumer>> KafkaConsumer::Create(const std::string& topic, const KafkaOptions& options) {
    if (options.bootstrap_servers.empty()) {
        return MakeError(ErrorCode::kInvalidArgument, "Kafka bootstrap_servers is required");
    }
    if (topic.empty()) return MakeError(ErrorCode::kInvalidArgument, "Kafka consumer: the topic is empty");
    const bool in_database = options.offset_storage == KafkaOffsetStorage::kDatabase;
    if (in_database && !options.database) {
        return MakeError(ErrorCode::kInvalidArgument,
                         "Kafka consumer of topic \"" + topic + "\": offsets in the database need a database");
    }
    if (!in_database && options.group_id.empty()) {
        return MakeError(ErrorCode::kInvalidArgument,
                         "Kafka consumer of topic \"" + topic + "\": offsets in Kafka need a group_id");
    }
    auto impl = std::make_unique<Impl>();
    impl->topic = topic;
    impl->options = options;

    ConfPtr conf(rd_kafka_conf_new());
    GALE_RETURN_IF_ERROR(SetProperty(conf.get(), "bootstrap.servers", options.bootstrap_servers));
    // librdkafka refuses assign() without a group.id even when nothing is ever committed to the group.
    GALE_RETURN_IF_ERROR(
        SetProperty(conf.get(), "group.id", options.group_id.empty() ? kDefaultGroupId : options.group_id));
    GALE_RETURN_IF_ERROR(SetProperty(conf.get(), "auto.offset.reset", "earliest"));
    GALE_RETURN_IF_ERROR(SetProperty(conf.get(), "enable.auto.commit", "false"));
    GALE_RETURN_IF_ERROR(SetProperty(conf.get(), "enable.auto.offset.store", "false"));
    GALE_RETURN_IF_ERROR(SetProperty(conf.get(), "enable.partition.eof", "false"));
    GALE_RETURN_IF_ERROR(SetProperties(conf.get(), options.config));
    GALE_RETURN_IF_ERROR(SetProperties(conf.get(), options.consumer_config));
    rd_kafka_conf_set_opaque(conf.get(), static_cast<ErrorSink*>(impl.get()));
    rd_kafka_conf_set_error_cb(conf.get(), &OnError);
    GALE_ASSIGN_OR_RETURN(impl->rk, NewClient(RD_KAFKA_CONSUMER, std::move(conf)));
    static_cast<void>(rd_kafka_poll_set_consumer(impl->rk));

    GALE_ASSIGN_OR_RETURN(const std::int32_t partitions, impl->ReadPartitionCount());
    impl->assignment.reset(rd_kafka_topic_partition_list_new(partitions));
    for (std::int32_t p = 0; p < partitions; ++p) {
        rd_kafka_topic_partition_list_add(impl->assignment.get(), topic.c_str(), p)->offset = RD_KAFKA_OFFSET_STORED;
    }
    impl->start_offsets.assign(static_cast<std::size_t>(partitions), -1);

    if (in_database) {
        impl->store.emplace(*options.database);
        GALE_RETURN_IF_ERROR(impl->store->EnsureTable());
        for (std::int32_t p = 0; p < partitions; ++p) {
            GALE_ASSIGN_OR_RETURN(const auto stored, impl->store->Load(topic, p));
            // With a row: seek to it; without: the beginning (django-logpipe's ModelOffsetStore.seek).
            impl->assignment->elems[p].offset = stored ? *stored : RD_KAFKA_OFFSET_BEGINNING;
            if (stored) impl->start_offsets[static_cast<std::size_t>(p)] = *stored;
        }
    } else {
        // The group's committed offsets (as kafka-python's committed()): explicit where known, else STORED, which
        // falls back to auto.offset.reset.
        PartitionListPtr committed(rd_kafka_topic_partition_list_copy(impl->assignment.get()));
        const rd_kafka_resp_err_t err = rd_kafka_committed(impl->rk, committed.get(), ToMs(options.metadata_timeout));
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            return MakeError(CodeFor(err) == ErrorCode::kTimeout ? ErrorCode::kTimeout : ErrorCode::kUnavailable,
                             WithLastError("could not read the committed offsets of group \"" + options.group_id +
                                               "\" for Kafka topic \"" + topic + "\": " + Describe(err),
                                           *impl));
        }
        for (std::int32_t p = 0; p < partitions; ++p) {
            const std::int64_t offset = committed->elems[p].offset;
            if (offset >= 0) {
                impl->assignment->elems[p].offset = offset;
                impl->start_offsets[static_cast<std::size_t>(p)] = offset;
            }
        }
    }
    if (const rd_kafka_resp_err_t err = rd_kafka_assign(impl->rk, impl->assignment.get()); err != 0) {
        return MakeError(ErrorCode::kUnavailable,
                         "could not assign the partitions of Kafka topic \"" + topic + "\": " + Describe(err));
    }
    return std::unique_ptr<KafkaConsumer>(new KafkaConsumer(std::move(impl)));
}

Result<std::optional<Record>> KafkaConsumer::Poll(std::chrono::milliseconds timeout) {
    Impl& impl = *impl_;
    rd_kafka_message_t* raw = rd_kafka_consumer_poll(impl.rk, ToMs(timeout));
    if (raw == nullptr) return std::optional<Record>();
    std::unique_ptr<rd_kafka_message_t, void (*)(rd_kafka_message_t*)> message(raw, &rd_kafka_message_destroy);
    if (message->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) return std::optional<Record>();
    if (message->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        char fatal[256];
        if (rd_kafka_fatal_error(impl.rk, fatal, sizeof fatal) != RD_KAFKA_RESP_ERR_NO_ERROR) {
            return MakeError(ErrorCode::kInternal,
                             "Kafka consumer of topic \"" + impl.topic + "\" failed fatally: " + fatal);
        }
        return MakeError(CodeFor(message->err), "consuming Kafka topic \"" + impl.topic +
                                                    "\": " + rd_kafka_message_errstr(message.get()) + " (" +
                                                    rd_kafka_err2name(message->err) + ")");
    }
    Record record;
    record.topic = rd_kafka_topic_name(message->rkt);
    record.partition = std::to_string(message->partition);
    record.offset = std::to_string(message->offset);
    rd_kafka_timestamp_type_t type = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE;
    const std::int64_t timestamp = rd_kafka_message_timestamp(message.get(), &type);
    record.timestamp_ms = type == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE ? 0 : timestamp;
    if (message->key != nullptr) record.key.assign(static_cast<const char*>(message->key), message->key_len);
    if (message->payload != nullptr) {
        record.value.assign(static_cast<const char*>(message->payload), message->len);
    }
    return std::optional<Record>(std::move(record));
}

// (partition, next offset to read) for a record this consumer handed out; kInvalidArgument for a foreign one.
Result<std::pair<std::int32_t, std::int64_t>> KafkaConsumer::NextOffset(const Record& record) const {
    const Impl& impl = *impl_;
    std::int32_t partition = 0;
    std::int64_t offset = 0;
    if (record.topic != impl.topic || !ParseInt(record.partition, partition) || !ParseInt(record.offset, offset) ||
        partition < 0 || partition >= impl.assignment->cnt || offset < 0) {
        return MakeError(ErrorCode::kInvalidArgument,
                         "Kafka consumer of topic \"" + impl.topic + "\" cannot commit topic \"" + record.topic +
                             "\" partition \"" + record.partition + "\" offset \"" + record.offset + "\"");
    }
    return std::pair{partition, offset + 1};  // the next offset to read, in both stores
}

Result<void> KafkaConsumer::Commit(const Record& record) {
    const Record* one[] = {&record};
    return CommitAll(one);
}

Result<void> KafkaConsumer::CommitAll(std::span<const Record* const> records) {
    Impl& impl = *impl_;
    std::vector<std::pair<std::int32_t, std::int64_t>> next;
    next.reserve(records.size());
    for (const Record* record : records) {
        GALE_ASSIGN_OR_RETURN(auto p, NextOffset(*record));
        next.push_back(p);
    }
    if (next.empty()) return {};
    if (impl.store) return impl.store->StoreAll(impl.topic, next);

    PartitionListPtr offsets(rd_kafka_topic_partition_list_new(static_cast<int>(next.size())));
    for (const auto& [partition, offset] : next) {
        rd_kafka_topic_partition_list_add(offsets.get(), impl.topic.c_str(), partition)->offset = offset;
    }
    const rd_kafka_resp_err_t err = rd_kafka_commit(impl.rk, offsets.get(), 0);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return {};
    std::string what = next.size() == 1
                           ? "offset " + std::to_string(next[0].second) + " of Kafka topic \"" + impl.topic +
                                 "\" partition " + std::to_string(next[0].first)
                           : std::to_string(next.size()) + " offsets of Kafka topic \"" + impl.topic + "\"";
    return MakeError(
        CodeFor(err),
        WithLastError("committing " + what + " for group \"" + impl.options.group_id + "\": " + Describe(err), impl));
}

std::optional<std::int64_t> KafkaConsumer::Lag() {
    Impl& impl = *impl_;
    PartitionListPtr positions(rd_kafka_topic_partition_list_copy(impl.assignment.get()));
    if (rd_kafka_position(impl.rk, positions.get()) != RD_KAFKA_RESP_ERR_NO_ERROR) return std::nullopt;
    std::int64_t lag = 0;
    for (int i = 0; i < positions->cnt; ++i) {
        std::int64_t low = -1;
        std::int64_t high = -1;
        if (rd_kafka_get_watermark_offsets(impl.rk, impl.topic.c_str(), positions->elems[i].partition, &low, &high) !=
                RD_KAFKA_RESP_ERR_NO_ERROR ||
            high < 0) {
            return std::nullopt;
        }
        std::int64_t position = positions->elems[i].offset;
        if (position < 0) position = impl.start_offsets[static_cast<std::size_t>(i)];
        if (position < 0) position = low;
        if (position < 0) return std::nullopt;
        lag += std::max<std::int64_t>(0, high - position);
    }
    return lag;
}

std::size_t KafkaConsumer::prefetched() const {
    rd_kafka_queue_t* queue = rd_kafka_queue_get_consumer(impl_->rk);
    if (queue == nullptr) return 0;
    const int length = rd_kafka_queue_length(queue);
    rd_kafka_queue_destroy(queue);
    return length > 0 ? static_cast<std::size_t>(length) : 0;
}

std::int32_t KafkaConsumer::partition_count() const noexcept { return impl_->assignment->cnt; }

std::optional<std::string> KafkaConsumer::ConfigValueForTest(const std::string& name) const {
    return ConfigValue(impl_->rk, name);
}

}  // namespace gale::pipe
