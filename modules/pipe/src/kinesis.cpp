// SPDX-License-Identifier: MIT
// Kinesis over the AWS JSON 1.1 protocol, and the producer/consumer backends on top of it.
//
// Client: every call is JSON body -> KinesisTransport (default: POST <endpoint>/ with X-Amz-Target
// Kinesis_20131202.<Op>, SigV4 service "kinesis", gale::http::Client) -> 200 + JSON, or an error status with
// {"__type": "[prefix#]Type", "message": "..."}. Throttling and 5xx are retried with doubling backoff; the AWS error
// type travels beside the gale::Error (CallFailure) so callers branch on it without parsing messages.
//
// Consumer invariants:
// - A shard is fetched only when every parent it names is finished or unknown (gone past retention). Finished is
//   sticky for the consumer's life; after a restart a finished parent is re-read from its stored offset, which
//   yields nothing and finishes it again.
// - Records are queued in fetch order and handed out FIFO, so everything fetched from a parent is delivered before
//   anything fetched from its children.
// - ShardState::last_read is the sequence number of the last record *queued* from the shard (or the stored offset),
//   so an expired iterator is replaced AFTER it without re-delivering or skipping.
#include <algorithm>
#include <cmath>
#include <deque>
#include <list>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <utility>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <gale/aws/base64.hpp>
#include <gale/aws/environment.hpp>
#include <gale/aws/sigv4.hpp>
#include <gale/db/database.hpp>
#include <gale/http/client.hpp>
#include <gale/pipe/kinesis.hpp>
#include <gale/pipe/logpipe_schema.hpp>

namespace gale::pipe {
namespace {

using nlohmann::json;

struct CallFailure {
    std::string aws_type;  // empty for transport and protocol failures
    Error error;
};
using CallResult = tl::expected<json, CallFailure>;

bool IsThrottling(std::string_view type) {
    return type == "ProvisionedThroughputExceededException" || type == "LimitExceededException" ||
           type == "ThrottlingException";
}

ErrorCode CodeForAwsError(std::string_view type, int status) {
    if (type == "ResourceNotFoundException") return ErrorCode::kNotFound;
    if (type == "ResourceInUseException") return ErrorCode::kAlreadyExists;
    if (status >= 500 || IsThrottling(type)) return ErrorCode::kUnavailable;
    return ErrorCode::kInvalidArgument;
}

std::string StringField(const json& object, const char* key) {
    if (!object.is_object()) return {};
    auto it = object.find(key);
    if (it == object.end() || !it->is_string()) return {};
    return it->get<std::string>();
}

// Sequence numbers are decimal strings of up to 128 bits: compare by length, then lexicographically.
bool SequenceAtLeast(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return a.size() > b.size();
    return a >= b;
}

}  // namespace

std::string_view ToString(ShardIteratorType type) noexcept {
    switch (type) {
        case ShardIteratorType::kTrimHorizon:
            return "TRIM_HORIZON";
        case ShardIteratorType::kLatest:
            return "LATEST";
        case ShardIteratorType::kAtSequenceNumber:
            return "AT_SEQUENCE_NUMBER";
        case ShardIteratorType::kAfterSequenceNumber:
            return "AFTER_SEQUENCE_NUMBER";
        case ShardIteratorType::kAtTimestamp:
            return "AT_TIMESTAMP";
    }
    return "TRIM_HORIZON";
}

std::optional<ShardIteratorType> ParseShardIteratorType(std::string_view text) noexcept {
    for (auto type : {ShardIteratorType::kTrimHorizon, ShardIteratorType::kLatest, ShardIteratorType::kAtSequenceNumber,
                      ShardIteratorType::kAfterSequenceNumber, ShardIteratorType::kAtTimestamp}) {
        if (ToString(type) == text) return type;
    }
    return std::nullopt;
}

// ---------------------------------------------------------------------------------------------------------------
// KinesisClient

struct KinesisClient::Impl {
    KinesisOptions options;
    std::string endpoint;
    mutable std::mutex mutex;
    mutable http::Client http;

    Result<KinesisHttpReply> SendHttp(const KinesisHttpCall& call) const {
        http::ClientRequest request{.method = "POST",
                                    .url = endpoint + "/",
                                    .headers = {{"Content-Type", "application/x-amz-json-1.1"},
                                                {"X-Amz-Target", "Kinesis_20131202." + call.operation}},
                                    .body = call.body,
                                    .timeout = options.timeout,
                                    .connect_timeout = options.connect_timeout};
        const aws::SigningParams params{.credentials = {.access_key_id = options.access_key_id,
                                                        .secret_access_key = options.secret_access_key,
                                                        .session_token = options.session_token},
                                        .region = options.region,
                                        .service = "kinesis",
                                        .time = options.now ? options.now() : std::chrono::system_clock::now(),
                                        .add_content_sha256 = false,
                                        .normalize_path = true,
                                        .double_encode_path = false};
        auto signature = aws::SignClientRequest(request, params);
        if (!signature) return MakeError(ErrorCode::kInternal, "SigV4: " + signature.error().ToString());
        std::lock_guard lock(mutex);
        GALE_ASSIGN_OR_RETURN(http::ClientResponse response, http.Send(request));
        return KinesisHttpReply{.status = response.status, .body = std::move(response.body)};
    }

    // One attempt: transport, then the reply classified.
    CallResult Attempt(const std::string& where, const KinesisHttpCall& call) const {
        Result<KinesisHttpReply> reply = options.transport ? options.transport(call) : SendHttp(call);
        if (!reply) {
            const ErrorCode code = reply.error().code() == ErrorCode::kTimeout    ? ErrorCode::kTimeout
                                   : reply.error().code() == ErrorCode::kInternal ? ErrorCode::kInternal
                                                                                  : ErrorCode::kUnavailable;
            return tl::unexpected(CallFailure{{}, Error(code, where, std::move(reply).error())});
        }
        json body = json::parse(reply->body, nullptr, /*allow_exceptions=*/false);
        if (reply->status == 200) {
            if (body.is_discarded() && reply->body.empty()) return json::object();  // CreateStream & co.
            if (!body.is_object()) {
                return tl::unexpected(CallFailure{
                    {}, Error(ErrorCode::kInvalidArgument, fmt::format("{}: the reply is not a JSON object", where))});
            }
            return body;
        }
        std::string type = StringField(body, "__type");
        std::string message = StringField(body, "message");
        if (message.empty()) message = StringField(body, "Message");
        if (const auto hash = type.rfind('#'); hash != std::string::npos) type.erase(0, hash + 1);
        std::string text = fmt::format("{}: {}{}{} (HTTP {})", where, type.empty() ? "unknown error" : type,
                                       message.empty() ? "" : ": ", message, reply->status);
        const ErrorCode code = CodeForAwsError(type, reply->status);
        return tl::unexpected(CallFailure{std::move(type), Error(code, std::move(text))});
    }

    CallResult Call(std::string_view operation, const json& request) const {
        const std::string where = fmt::format("Kinesis {} at {}", operation, endpoint);
        const KinesisHttpCall call{.operation = std::string(operation), .body = request.dump()};
        std::chrono::milliseconds delay = options.backoff;
        const int attempts = std::max(1, options.max_attempts);
        for (int attempt = 1;; ++attempt) {
            CallResult result = Attempt(where, call);
            if (result) return result;
            const CallFailure& failure = result.error();
            const bool retryable = IsThrottling(failure.aws_type) ||
                                   (!failure.aws_type.empty() && failure.error.code() == ErrorCode::kUnavailable);
            if (!retryable || attempt >= attempts) {
                if (retryable && attempts > 1) {
                    return tl::unexpected(CallFailure{
                        failure.aws_type, Error(failure.error.code(), fmt::format("{} (after {} attempts)",
                                                                                  failure.error.message(), attempts))});
                }
                return result;
            }
            if (options.sleep) {
                options.sleep(delay);
            } else {
                std::this_thread::sleep_for(delay);
            }
            delay = std::min(delay * 2, options.max_backoff);
        }
    }

    Result<json> CallOrError(std::string_view operation, const json& request) const {
        CallResult result = Call(operation, request);
        if (!result) return tl::unexpected(std::move(result.error().error));
        return std::move(*result);
    }

    Error Malformed(std::string_view operation, std::string_view what) const {
        return Error(ErrorCode::kInvalidArgument,
                     fmt::format("Kinesis {} at {}: the reply has no {}", operation, endpoint, what));
    }
};

KinesisClient::KinesisClient(KinesisOptions options) : impl_(std::make_unique<Impl>()) {
    impl_->endpoint = options.endpoint_url.empty() ? fmt::format("https://kinesis.{}.amazonaws.com", options.region)
                                                   : options.endpoint_url;
    while (!impl_->endpoint.empty() && impl_->endpoint.back() == '/') impl_->endpoint.pop_back();
    impl_->options = std::move(options);
}

KinesisClient::~KinesisClient() = default;
KinesisClient::KinesisClient(KinesisClient&&) noexcept = default;
KinesisClient& KinesisClient::operator=(KinesisClient&&) noexcept = default;

Result<KinesisClient> KinesisClient::FromEnvironment(KinesisOptions base) {
    const aws::EnvLookup env = aws::ProcessEnvironment();
    GALE_ASSIGN_OR_RETURN(aws::Credentials credentials, aws::CredentialsFromEnvironment(env));
    GALE_ASSIGN_OR_RETURN(base.region, aws::RegionFromEnvironment(env));
    base.access_key_id = std::move(credentials.access_key_id);
    base.secret_access_key = std::move(credentials.secret_access_key);
    base.session_token = std::move(credentials.session_token);
    base.endpoint_url = aws::EndpointFromEnvironment("Kinesis", env).value_or("");
    return KinesisClient(std::move(base));
}

const std::string& KinesisClient::endpoint() const noexcept { return impl_->endpoint; }
const std::string& KinesisClient::region() const noexcept { return impl_->options.region; }

Result<PutRecordResult> KinesisClient::PutRecord(std::string_view stream, std::string_view partition_key,
                                                 std::string_view data,
                                                 const std::optional<std::string>& sequence_number_for_ordering) const {
    if (partition_key.empty() || partition_key.size() > 256) {
        return MakeError(ErrorCode::kInvalidArgument,
                         fmt::format("Kinesis PutRecord to stream {}: the partition key must be 1 to 256 characters "
                                     "long, got {}",
                                     stream, partition_key.size()));
    }
    json request = {{"StreamName", stream}, {"PartitionKey", partition_key}, {"Data", aws::Base64Encode(data)}};
    if (sequence_number_for_ordering) request["SequenceNumberForOrdering"] = *sequence_number_for_ordering;
    GALE_ASSIGN_OR_RETURN(json reply, impl_->CallOrError("PutRecord", request));
    PutRecordResult result{.shard_id = StringField(reply, "ShardId"),
                           .sequence_number = StringField(reply, "SequenceNumber")};
    if (result.shard_id.empty() || result.sequence_number.empty()) {
        return tl::unexpected(impl_->Malformed("PutRecord", "ShardId or SequenceNumber"));
    }
    return result;
}

Result<std::vector<KinesisShard>> KinesisClient::ListShards(std::string_view stream, int page_size) const {
    std::vector<KinesisShard> shards;
    std::string token;
    for (;;) {
        // AWS forbids StreamName beside NextToken; moto requires it and answers InvalidToken without it, so that
        // one answer is retried with both.
        json request = json::object();
        if (token.empty()) {
            request["StreamName"] = stream;
        } else {
            request["NextToken"] = token;
        }
        if (page_size > 0) request["MaxResults"] = page_size;
        CallResult reply = impl_->Call("ListShards", request);
        if (!reply && !token.empty() && reply.error().aws_type == "InvalidToken") {
            request["StreamName"] = stream;
            reply = impl_->Call("ListShards", request);
        }
        if (!reply) return tl::unexpected(std::move(reply.error().error));
        const json& body = *reply;
        auto list = body.find("Shards");
        if (list == body.end() || !list->is_array()) return tl::unexpected(impl_->Malformed("ListShards", "Shards"));
        for (const json& item : *list) {
            KinesisShard shard{.shard_id = StringField(item, "ShardId"),
                               .parent_shard_id = StringField(item, "ParentShardId"),
                               .adjacent_parent_shard_id = StringField(item, "AdjacentParentShardId"),
                               .starting_sequence_number = {},
                               .ending_sequence_number = {}};
            if (item.is_object()) {
                if (auto range = item.find("SequenceNumberRange"); range != item.end()) {
                    shard.starting_sequence_number = StringField(*range, "StartingSequenceNumber");
                    shard.ending_sequence_number = StringField(*range, "EndingSequenceNumber");
                }
            }
            if (shard.shard_id.empty()) return tl::unexpected(impl_->Malformed("ListShards", "ShardId"));
            shards.push_back(std::move(shard));
        }
        token = StringField(body, "NextToken");
        if (token.empty()) return shards;
    }
}

Result<std::string> KinesisClient::GetShardIterator(std::string_view stream, std::string_view shard_id,
                                                    const ShardPosition& position) const {
    json request = {{"StreamName", stream}, {"ShardId", shard_id}, {"ShardIteratorType", ToString(position.type)}};
    if (position.type == ShardIteratorType::kAtSequenceNumber ||
        position.type == ShardIteratorType::kAfterSequenceNumber) {
        request["StartingSequenceNumber"] = position.sequence_number;
    } else if (position.type == ShardIteratorType::kAtTimestamp) {
        const auto ms =
            std::chrono::duration_cast<std::chrono::milliseconds>(position.timestamp.time_since_epoch()).count();
        request["Timestamp"] = static_cast<double>(ms) / 1000.0;  // epoch seconds, as the SDKs send it
    }
    GALE_ASSIGN_OR_RETURN(json reply, impl_->CallOrError("GetShardIterator", request));
    std::string iterator = StringField(reply, "ShardIterator");
    if (iterator.empty()) return tl::unexpected(impl_->Malformed("GetShardIterator", "ShardIterator"));
    return iterator;
}

Result<GetRecordsResult> KinesisClient::GetRecords(std::string_view shard_iterator, int limit) const {
    json request = {{"ShardIterator", shard_iterator}, {"Limit", std::clamp(limit, 1, 10000)}};
    CallResult reply = impl_->Call("GetRecords", request);
    GetRecordsResult result;
    if (!reply) {
        if (reply.error().aws_type == "ExpiredIteratorException") {
            result.iterator_expired = true;
            return result;
        }
        return tl::unexpected(std::move(reply.error().error));
    }
    const json& body = *reply;
    auto list = body.find("Records");
    if (list == body.end() || !list->is_array()) return tl::unexpected(impl_->Malformed("GetRecords", "Records"));
    for (const json& item : *list) {
        KinesisRecord record{.sequence_number = StringField(item, "SequenceNumber"),
                             .partition_key = StringField(item, "PartitionKey"),
                             .data = {},
                             .arrival_ms = 0};
        auto data = aws::Base64Decode(StringField(item, "Data"));
        if (record.sequence_number.empty() || !data) {
            return tl::unexpected(impl_->Malformed("GetRecords", "SequenceNumber or base64 Data in a record"));
        }
        record.data = std::move(*data);
        if (auto at = item.find("ApproximateArrivalTimestamp"); at != item.end() && at->is_number()) {
            record.arrival_ms = static_cast<std::int64_t>(std::llround(at->get<double>() * 1000.0));
        }
        result.records.push_back(std::move(record));
    }
    if (std::string next = StringField(body, "NextShardIterator"); !next.empty()) {
        result.next_shard_iterator = std::move(next);
    }
    if (auto lag = body.find("MillisBehindLatest"); lag != body.end() && lag->is_number()) {
        result.millis_behind_latest = lag->get<std::int64_t>();
    }
    return result;
}

Result<void> KinesisClient::CreateStream(std::string_view stream, int shard_count) const {
    GALE_RETURN_IF_ERROR(impl_->CallOrError("CreateStream", {{"StreamName", stream}, {"ShardCount", shard_count}}));
    return {};
}

Result<StreamSummary> KinesisClient::DescribeStreamSummary(std::string_view stream) const {
    GALE_ASSIGN_OR_RETURN(json reply, impl_->CallOrError("DescribeStreamSummary", {{"StreamName", stream}}));
    auto summary = reply.find("StreamDescriptionSummary");
    if (summary == reply.end() || !summary->is_object()) {
        return tl::unexpected(impl_->Malformed("DescribeStreamSummary", "StreamDescriptionSummary"));
    }
    StreamSummary result{.status = StringField(*summary, "StreamStatus"), .open_shard_count = 0};
    if (auto count = summary->find("OpenShardCount"); count != summary->end() && count->is_number_integer()) {
        result.open_shard_count = count->get<int>();
    }
    return result;
}

Result<void> KinesisClient::UpdateShardCount(std::string_view stream, int target_shard_count) const {
    GALE_RETURN_IF_ERROR(impl_->CallOrError(
        "UpdateShardCount",
        {{"StreamName", stream}, {"TargetShardCount", target_shard_count}, {"ScalingType", "UNIFORM_SCALING"}}));
    return {};
}

Result<void> KinesisClient::MergeShards(std::string_view stream, std::string_view shard,
                                        std::string_view adjacent_shard) const {
    GALE_RETURN_IF_ERROR(impl_->CallOrError(
        "MergeShards", {{"StreamName", stream}, {"ShardToMerge", shard}, {"AdjacentShardToMerge", adjacent_shard}}));
    return {};
}

// ---------------------------------------------------------------------------------------------------------------
// KinesisProducer

struct KinesisProducer::Impl {
    std::shared_ptr<const KinesisClient> client;
    std::size_t capacity = 1000;
    std::mutex mutex;
    // LRU of (stream, key) -> last sequence number; most recently used at the front.
    using Entry = std::pair<std::pair<std::string, std::string>, std::string>;
    std::list<Entry> lru;
    std::map<std::pair<std::string, std::string>, std::list<Entry>::iterator> index;

    std::optional<std::string> Lookup(const std::pair<std::string, std::string>& id) {
        std::lock_guard lock(mutex);
        auto it = index.find(id);
        if (it == index.end()) return std::nullopt;
        lru.splice(lru.begin(), lru, it->second);
        return it->second->second;
    }

    void Remember(std::pair<std::string, std::string> id, std::string sequence) {
        if (capacity == 0) return;
        std::lock_guard lock(mutex);
        if (auto it = index.find(id); it != index.end()) {
            // Concurrent sends of one key may finish out of order: keep the highest.
            if (SequenceAtLeast(sequence, it->second->second)) it->second->second = std::move(sequence);
            lru.splice(lru.begin(), lru, it->second);
            return;
        }
        lru.emplace_front(id, std::move(sequence));
        index.emplace(std::move(id), lru.begin());
        if (lru.size() > capacity) {
            index.erase(lru.back().first);
            lru.pop_back();
        }
    }
};

KinesisProducer::KinesisProducer(std::shared_ptr<const KinesisClient> client, std::size_t sequence_cache_size)
    : impl_(std::make_unique<Impl>()) {
    impl_->client = std::move(client);
    impl_->capacity = sequence_cache_size;
}

KinesisProducer::~KinesisProducer() = default;

Result<RecordMetadata> KinesisProducer::Send(const std::string& topic, const std::string& key,
                                             const std::string& value) {
    auto id = std::make_pair(topic, key);
    const std::optional<std::string> previous = impl_->Lookup(id);
    GALE_ASSIGN_OR_RETURN(PutRecordResult put, impl_->client->PutRecord(topic, key, value, previous));
    impl_->Remember(std::move(id), put.sequence_number);
    return RecordMetadata{
        .topic = topic, .partition = std::move(put.shard_id), .offset = std::move(put.sequence_number)};
}

// ---------------------------------------------------------------------------------------------------------------
// Offsets

Result<void> EnsureKinesisOffsetTable(db::Database& db) {
    // Both of django-logpipe's tables and their django_migrations rows, or Django's own tables as they are.
    GALE_ASSIGN_OR_RETURN(const LogpipeSchema schema, EnsureLogpipeSchema(db));
    (void)schema;
    return {};
}

// ---------------------------------------------------------------------------------------------------------------
// KinesisConsumer

struct KinesisConsumer::Impl {
    std::shared_ptr<const KinesisClient> client;
    db::Database db;
    KinesisConsumerOptions options;

    struct ShardState {
        KinesisShard info;
        std::optional<std::string> iterator;
        std::optional<std::string> last_read;  // last queued sequence number, or the stored offset
        bool loaded_offset = false;
        bool finished = false;
        std::optional<std::int64_t> millis_behind;
    };
    std::map<std::string, ShardState> shards;
    std::deque<std::string> ready;  // round-robin order of readable shards
    std::deque<Record> queue;
    std::chrono::steady_clock::time_point next_discovery{};

    explicit Impl(db::Database database) : db(std::move(database)) {}

    std::string Where() const { return fmt::format("Kinesis consumer of stream {}", options.stream); }

    bool ParentDone(const std::string& id) const {
        if (id.empty()) return true;
        auto it = shards.find(id);
        return it == shards.end() || it->second.finished;  // unknown: expired past retention
    }

    bool Readable(const ShardState& s) const {
        return !s.finished && ParentDone(s.info.parent_shard_id) && ParentDone(s.info.adjacent_parent_shard_id);
    }

    Result<void> Discover() {
        GALE_ASSIGN_OR_RETURN(std::vector<KinesisShard> listed,
                              client->ListShards(options.stream, options.list_shards_page_size));
        for (KinesisShard& shard : listed) {
            auto [it, inserted] = shards.try_emplace(shard.shard_id);
            if (inserted)
                it->second.info = std::move(shard);
            else
                it->second.info.ending_sequence_number = shard.ending_sequence_number;  // may have closed since
        }
        RebuildReady();
        next_discovery = std::chrono::steady_clock::now() + options.rediscover_interval;
        return {};
    }

    // Keeps the round-robin order of shards already in it; appends newly readable ones in shard-id order.
    void RebuildReady() {
        std::deque<std::string> next;
        for (const std::string& id : ready) {
            if (Readable(shards.at(id))) next.push_back(id);
        }
        for (const auto& [id, state] : shards) {
            if (Readable(state) && std::find(next.begin(), next.end(), id) == next.end()) next.push_back(id);
        }
        ready = std::move(next);
    }

    Result<void> LoadOffset(ShardState& s) {
        if (s.loaded_offset) return {};
        GALE_ASSIGN_OR_RETURN(
            std::vector<db::Row> rows,
            db.Query("SELECT sequence_number FROM logpipe_kinesisoffset WHERE region = ? AND stream = ? AND shard = ?",
                     {options.region, options.stream, s.info.shard_id}));
        if (!rows.empty() && !rows[0].empty()) {
            if (const auto* text = std::get_if<std::string>(&rows[0][0]); text && !text->empty()) s.last_read = *text;
        }
        s.loaded_offset = true;
        return {};
    }

    Result<void> ObtainIterator(ShardState& s) {
        GALE_RETURN_IF_ERROR(LoadOffset(s));
        ShardPosition position = options.start;
        if (s.last_read) {
            position = ShardPosition{
                .type = ShardIteratorType::kAfterSequenceNumber, .sequence_number = *s.last_read, .timestamp = {}};
        }
        GALE_ASSIGN_OR_RETURN(s.iterator, client->GetShardIterator(options.stream, s.info.shard_id, position));
        return {};
    }

    // Reads one page of `s`; returns whether the shard finished.
    Result<bool> FetchPage(ShardState& s) {
        GetRecordsResult page;
        for (int attempt = 0;; ++attempt) {
            if (!s.iterator) GALE_RETURN_IF_ERROR(ObtainIterator(s));
            GALE_ASSIGN_OR_RETURN(page, client->GetRecords(*s.iterator, options.fetch_limit));
            if (!page.iterator_expired) break;
            s.iterator.reset();
            if (attempt >= 1) {
                return MakeError(
                    ErrorCode::kUnavailable,
                    fmt::format("{}: shard {}: a fresh shard iterator expired at once", Where(), s.info.shard_id));
            }
        }
        const bool empty = page.records.empty();
        for (KinesisRecord& r : page.records) {
            s.last_read = r.sequence_number;
            queue.push_back(Record{.topic = options.stream,
                                   .partition = s.info.shard_id,
                                   .offset = std::move(r.sequence_number),
                                   .timestamp_ms = r.arrival_ms,
                                   .key = std::move(r.partition_key),
                                   .value = std::move(r.data)});
        }
        s.millis_behind = page.millis_behind_latest;
        s.iterator = std::move(page.next_shard_iterator);
        if (!s.iterator) return true;
        if (s.info.closed() && empty) {
            // moto keeps returning an iterator for a closed shard: finished once its end has been read.
            if (s.last_read ? SequenceAtLeast(*s.last_read, s.info.ending_sequence_number)
                            : page.millis_behind_latest.value_or(1) == 0) {
                return true;
            }
        }
        return false;
    }

    Result<void> Round() {
        const std::size_t count = ready.size();
        bool any_finished = false;
        for (std::size_t i = 0; i < count && !ready.empty(); ++i) {
            const std::string id = ready.front();
            ready.pop_front();
            ShardState& s = shards.at(id);
            Result<bool> finished = FetchPage(s);
            if (!finished) {
                ready.push_front(id);  // keep its turn; the next Poll retries
                return tl::unexpected(std::move(finished).error());
            }
            if (*finished) {
                s.finished = true;
                s.iterator.reset();
                s.millis_behind.reset();
                any_finished = true;
            } else {
                ready.push_back(id);
            }
        }
        // Children become readable when their parents finish; they may not have existed at the last listing.
        if (any_finished) GALE_RETURN_IF_ERROR(Discover());
        return {};
    }

    void Sleep(std::chrono::milliseconds d) const {
        if (d <= std::chrono::milliseconds::zero()) return;
        if (options.sleep) {
            options.sleep(d);
        } else {
            std::this_thread::sleep_for(d);
        }
    }
};

KinesisConsumer::KinesisConsumer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
KinesisConsumer::~KinesisConsumer() = default;

Result<std::unique_ptr<KinesisConsumer>> KinesisConsumer::Open(std::shared_ptr<const KinesisClient> client,
                                                               const db::Database& offsets,
                                                               KinesisConsumerOptions options) {
    if (!client) return MakeError(ErrorCode::kInvalidArgument, "Kinesis consumer: no client");
    if (options.stream.empty()) return MakeError(ErrorCode::kInvalidArgument, "Kinesis consumer: no stream name");
    if (options.fetch_limit < 1 || options.fetch_limit > 10000) {
        return MakeError(ErrorCode::kInvalidArgument,
                         fmt::format("Kinesis consumer of stream {}: fetch_limit must be 1..10000, got {}",
                                     options.stream, options.fetch_limit));
    }
    if (options.start.type == ShardIteratorType::kAtSequenceNumber ||
        options.start.type == ShardIteratorType::kAfterSequenceNumber) {
        return MakeError(ErrorCode::kInvalidArgument,
                         fmt::format("Kinesis consumer of stream {}: start must be TRIM_HORIZON, LATEST or "
                                     "AT_TIMESTAMP (a sequence number belongs to one shard)",
                                     options.stream));
    }
    if (options.region.empty()) options.region = client->region();
    auto impl = std::make_unique<Impl>(offsets);
    impl->client = std::move(client);
    impl->options = std::move(options);
    GALE_RETURN_IF_ERROR(EnsureKinesisOffsetTable(impl->db));
    GALE_RETURN_IF_ERROR(impl->Discover());
    return std::unique_ptr<KinesisConsumer>(new KinesisConsumer(std::move(impl)));
}

Result<std::optional<Record>> KinesisConsumer::Poll(std::chrono::milliseconds timeout) {
    Impl& m = *impl_;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        if (!m.queue.empty()) {
            Record record = std::move(m.queue.front());
            m.queue.pop_front();
            return std::optional<Record>(std::move(record));
        }
        const auto now = std::chrono::steady_clock::now();
        if (now >= m.next_discovery) GALE_RETURN_IF_ERROR(m.Discover());
        GALE_RETURN_IF_ERROR(m.Round());
        if (!m.queue.empty()) continue;
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left <= std::chrono::milliseconds::zero()) return std::optional<Record>();
        m.Sleep(std::min(left, m.options.idle_wait));
    }
}

Result<void> KinesisConsumer::Commit(const Record& record) {
    Impl& m = *impl_;
    // One portable upsert (SQLite >= 3.24, PostgreSQL >= 9.5).
    GALE_RETURN_IF_ERROR(
        m.db.Execute("INSERT INTO logpipe_kinesisoffset (region, stream, shard, sequence_number) VALUES (?, ?, ?, ?) "
                     "ON CONFLICT (region, stream, shard) DO UPDATE SET sequence_number = excluded.sequence_number",
                     {m.options.region, record.topic, record.partition, record.offset}));
    return {};
}

std::optional<std::int64_t> KinesisConsumer::millis_behind() const {
    std::optional<std::int64_t> result;
    for (const auto& [id, s] : impl_->shards) {
        if (!s.finished && s.millis_behind) result = std::max(result.value_or(0), *s.millis_behind);
    }
    return result;
}

std::vector<std::string> KinesisConsumer::readable_shards() const {
    std::vector<std::string> ids(impl_->ready.begin(), impl_->ready.end());
    std::sort(ids.begin(), ids.end());
    return ids;
}

}  // namespace gale::pipe
