// SPDX-License-Identifier: MIT
#include <map>
#include <stdexcept>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <gale/pipe/consumer.hpp>
#include <gale/pipe/serializer.hpp>
#include <gale/pipe/testing/memory_backend.hpp>

namespace gale::pipe {
namespace {

using std::chrono::milliseconds;
using testing::MemoryBackend;

// Golden vectors from the reference (§1.7) and variations of them.
const std::string kNewYork = R"(json:{"type":"us-state","version":1,"message":{"code":"NY","name":"New York"}})";
// The reference's pickle test vector (protocol 3): refused as an unknown format.
const char kPickle[] =
    "pickle:\x80\x03}q\x00X\x03\x00\x00\x00"
    "fooq\x01X\x03\x00\x00\x00"
    "barq\x02s.";
std::string State(std::string_view code, std::string_view version = "1") {
    return std::string(R"(json:{"type":"us-state","version":)") + std::string(version) + R"(,"message":{"code":")" +
           std::string(code) + R"(","name":"x"}})";
}

struct HandlerLog {
    std::vector<std::string> saved;  ///< "type/version/code"
    int validate_calls = 0;
    int save_calls = 0;
};

class FakeHandler final : public MessageHandler {
public:
    FakeHandler(std::string type, std::int64_t version, HandlerLog& log)
        : type_(std::move(type)), version_(version), log_(log) {}
    const std::string& type() const noexcept override { return type_; }
    std::int64_t version() const noexcept override { return version_; }
    Result<void> Validate(const Value& message) override {
        ++log_.validate_calls;
        if (!message.is_object() || !message.contains("code") || !message["code"].is_string()) {
            return MakeError(ErrorCode::kInvalidArgument, "code: required string");
        }
        if (message["code"] == "XX") return MakeError(ErrorCode::kInvalidArgument, "code: not a state");
        if (message["code"] == "VT") throw std::runtime_error("validator blew up");
        return {};
    }
    Result<void> Save(const Value& message) override {
        ++log_.save_calls;
        if (fail_times_ > 0) {
            --fail_times_;
            if (throw_) throw std::runtime_error("database is down");
            return MakeError(ErrorCode::kUnavailable, "database is down");
        }
        if (on_save_) GALE_RETURN_IF_ERROR(on_save_(message));
        log_.saved.push_back(type_ + "/" + std::to_string(version_) + "/" + message["code"].get<std::string>());
        return {};
    }

    int fail_times_ = 0;
    bool throw_ = false;
    std::function<Result<void>(const Value&)> on_save_{};

private:
    std::string type_;
    std::int64_t version_;
    HandlerLog& log_;
};

class RecordingSink final : public DeadLetterSink {
public:
    Result<void> Put(const Record& record, std::string_view reason) override {
        if (fail_) return MakeError(ErrorCode::kUnavailable, "dlq down");
        entries.emplace_back(record, std::string(reason));
        return {};
    }
    std::vector<std::pair<Record, std::string>> entries;
    bool fail_ = false;
};

struct Fixture {
    MemoryBackend backend{"states"};
    RecordingSink sink;
    HandlerLog log;
    std::vector<milliseconds> sleeps;

    ConsumerOptions Options() {
        ConsumerOptions o;
        o.dead_letters = &sink;
        o.sleep = [this](milliseconds d) { sleeps.push_back(d); };
        return o;
    }
    FakeHandler* Add(Consumer& c, std::string type, std::int64_t version) {
        auto h = std::make_unique<FakeHandler>(std::move(type), version, log);
        FakeHandler* raw = h.get();
        c.Register(std::move(h));
        return raw;
    }
    std::size_t Drain(Consumer& c) {
        std::size_t total = 0;
        for (;;) {
            auto r = c.RunOnce(milliseconds(0));
            EXPECT_TRUE(r) << r.error().ToString();
            if (!r || *r == 0) return total;
            total += *r;
        }
    }
};

std::uint64_t CountOf(const ConsumerStats& s, std::string_view type, std::string_view version, Outcome o) {
    for (const auto& c : s.counters) {
        if (c.type == type && c.version == version && c.outcome == o) return c.count;
    }
    return 0;
}

TEST(Consumer, ErrorMatrix) {
    Fixture f;
    Consumer c("states", f.backend, f.Options());
    f.Add(c, "us-state", 1);
    c.IgnoreType("us-city");
    f.backend.Append("states", "NY", kNewYork);                                                         // 0 saved
    f.backend.Append("states", "", R"(json:{"type":"us-city","version":1,"message":{"code":"NYC"}})");  // 1 ign
    f.backend.Append("states", "", R"(json:{"type":"country","version":1,"message":{"code":"US"}})");   // 2 type
    f.backend.Append("states", "", State("NY", "3"));                                                   // 3 ver
    f.backend.Append("states", "", State("NY", "\"1\""));                                               // 4 ver
    f.backend.Append("states", "", State("XX"));                                                        // 5 inv
    f.backend.Append("states", "", State("VT"));                                                        // 6 inv
    f.backend.Append("states", "", R"(xml:<state code="NY"/>)");                                        // 7 dlq
    f.backend.Append("states", "", R"(json:{"type":"us-state","version":1,"message":)");                // 8 dlq
    f.backend.Append("states", "", R"(json:{"version":1,"message":{"code":"NY"}})");                    // 9 dlq
    f.backend.Append("states", "", std::string(kPickle, sizeof(kPickle) - 1));                          // 10 dlq
    f.backend.Append("states", "CA", State("CA", "1.0"));                                               // 11 saved

    EXPECT_EQ(f.Drain(c), 12U);
    auto s = c.Stats();
    EXPECT_EQ(s.topic, "states");
    EXPECT_EQ(CountOf(s, "us-state", "1", Outcome::kProcessed), 2U);
    EXPECT_EQ(CountOf(s, "us-city", "1", Outcome::kSkippedIgnored), 1U);
    EXPECT_EQ(CountOf(s, "country", "1", Outcome::kSkippedUnknownType), 1U);
    EXPECT_EQ(CountOf(s, "us-state", "3", Outcome::kSkippedUnknownVersion), 1U);
    EXPECT_EQ(CountOf(s, "us-state", "\"1\"", Outcome::kSkippedUnknownVersion), 1U);
    EXPECT_EQ(CountOf(s, "us-state", "1", Outcome::kSkippedInvalid), 2U);
    EXPECT_EQ(CountOf(s, "", "", Outcome::kDeadLettered), 4U);
    EXPECT_EQ(s.Total(Outcome::kFailedAttempts), 0U);
    EXPECT_EQ(s.backend_errors, 0U);

    // Save only for the two good ones; Validate never for ignored/unknown ones.
    EXPECT_EQ(f.log.save_calls, 2);
    EXPECT_EQ(f.log.saved, (std::vector<std::string>{"us-state/1/NY", "us-state/1/CA"}));
    EXPECT_EQ(f.log.validate_calls, 4);
    // Everything committed, in order.
    EXPECT_EQ(f.backend.committed_count(), 12U);
    ASSERT_EQ(f.backend.commits().size(), 12U);
    for (std::size_t i = 0; i < 12; ++i) EXPECT_EQ(f.backend.commits()[i].offset, std::to_string(i));
    EXPECT_EQ(f.backend.Lag(), 0);
    // The poison records are in the DLQ with a reason naming the problem.
    ASSERT_EQ(f.sink.entries.size(), 4U);
    EXPECT_EQ(f.sink.entries[0].first.offset, "7");
    EXPECT_EQ(f.sink.entries[0].second.rfind("unknown_format: ", 0), 0U) << f.sink.entries[0].second;
    EXPECT_EQ(f.sink.entries[1].second.rfind("malformed_body: ", 0), 0U) << f.sink.entries[1].second;
    EXPECT_EQ(f.sink.entries[2].second.rfind("invalid_envelope: ", 0), 0U) << f.sink.entries[2].second;
    EXPECT_EQ(f.sink.entries[3].second.rfind("unknown_format: ", 0), 0U) << f.sink.entries[3].second;
    EXPECT_EQ(f.sink.entries[3].first.value.size(), 34U);  // bytes kept, NULs included
}

TEST(Consumer, RunOnceStopsAfterOneSavedMessageButNotAfterSkippedOnes) {
    Fixture f;
    Consumer c("states", f.backend, f.Options());
    f.Add(c, "us-state", 1);
    f.backend.Append("states", "", State("XX"));
    f.backend.Append("states", "", State("XX"));
    f.backend.Append("states", "", State("NY"));
    f.backend.Append("states", "", State("CA"));
    EXPECT_EQ(c.RunOnce(milliseconds(0)).value(), 3U);
    EXPECT_EQ(c.RunOnce(milliseconds(0)).value(), 1U);
    EXPECT_EQ(c.RunOnce(milliseconds(0)).value(), 0U);
    EXPECT_EQ(f.log.saved.size(), 2U);
}

TEST(Consumer, RetryThenSuccess) {
    Fixture f;
    Consumer c("states", f.backend, f.Options());
    FakeHandler* h = f.Add(c, "us-state", 1);
    h->fail_times_ = 2;
    f.backend.Append("states", "NY", kNewYork);
    EXPECT_EQ(c.RunOnce(milliseconds(0)).value(), 1U);
    EXPECT_EQ(f.log.save_calls, 3);
    EXPECT_EQ(f.sleeps, (std::vector<milliseconds>{milliseconds(100), milliseconds(200)}));
    auto s = c.Stats();
    EXPECT_EQ(CountOf(s, "us-state", "1", Outcome::kFailedAttempts), 2U);
    EXPECT_EQ(CountOf(s, "us-state", "1", Outcome::kProcessed), 1U);
    EXPECT_TRUE(f.sink.entries.empty());
    EXPECT_EQ(f.backend.committed_count(), 1U);
}

TEST(Consumer, RetryThenDeadLetterAndContinue) {
    Fixture f;
    Consumer c("states", f.backend, f.Options());
    FakeHandler* h = f.Add(c, "us-state", 1);
    h->fail_times_ = 5;
    h->throw_ = true;  // exceptions are failures like errors
    f.backend.Append("states", "NY", kNewYork);
    f.backend.Append("states", "CA", State("CA"));
    EXPECT_EQ(c.RunOnce(milliseconds(0)).value(), 1U);
    EXPECT_EQ(f.sleeps,
              (std::vector<milliseconds>{milliseconds(100), milliseconds(200), milliseconds(400), milliseconds(800)}));
    ASSERT_EQ(f.sink.entries.size(), 1U);
    EXPECT_EQ(f.sink.entries[0].first.value, kNewYork);
    EXPECT_EQ(f.sink.entries[0].first.key, "NY");
    EXPECT_NE(f.sink.entries[0].second.find("save_failed after 5 attempts"), std::string::npos);
    EXPECT_NE(f.sink.entries[0].second.find("database is down"), std::string::npos);
    EXPECT_EQ(f.backend.committed_count(), 1U);
    // The consumer carries on with the next record.
    EXPECT_EQ(c.RunOnce(milliseconds(0)).value(), 1U);
    EXPECT_EQ(f.log.saved, (std::vector<std::string>{"us-state/1/CA"}));
    auto s = c.Stats();
    EXPECT_EQ(CountOf(s, "us-state", "1", Outcome::kFailedAttempts), 5U);
    EXPECT_EQ(CountOf(s, "us-state", "1", Outcome::kDeadLettered), 1U);
    EXPECT_EQ(CountOf(s, "us-state", "1", Outcome::kProcessed), 1U);
}

// django-logpipe's lookup_instance, typed: the found instance reaches save; a permanent lookup failure (here: two
// stores match) is a poison message, dead-lettered at once; a transient one is retried.
struct StoreMsg {
    std::string code;
    std::string name;
};
GALE_PIPE_DEFINE_MESSAGE(StoreMsg, code, name)

TEST(Consumer, LookupFindsTheInstanceAndAFailingLookupIsPoison) {
    Fixture f;
    Consumer c("states", f.backend, f.Options());
    std::map<std::string, std::string> stores = {{"NY", "old name"}};  // code -> name: the "database"
    int lookups = 0;
    int transient = 1;
    c.Register(MakeLookupHandler<std::string>(
        TypedSerializer<StoreMsg>("us-state", 1, "code"),
        [&](const StoreMsg& m) -> Result<std::optional<std::string>> {
            ++lookups;
            if (m.code == "ZZ") return MakeError(ErrorCode::kNotFound, "2 stores match code ZZ");
            if (m.code == "TX" && transient-- > 0) return MakeError(ErrorCode::kUnavailable, "database is down");
            auto it = stores.find(m.code);
            if (it == stores.end()) return std::optional<std::string>();
            return std::optional<std::string>(it->second);
        },
        [&](const StoreMsg& m, std::optional<std::string> existing) -> Result<void> {
            // update when found, create otherwise: the test records which one happened
            stores[m.code] = existing ? *existing + " -> " + m.name : "new " + m.name;
            return {};
        }));
    f.backend.Append("states", "NY", State("NY"));
    f.backend.Append("states", "PA", State("PA"));
    f.backend.Append("states", "ZZ", State("ZZ"));
    f.backend.Append("states", "TX", State("TX"));
    EXPECT_EQ(f.Drain(c), 4U);
    EXPECT_EQ(stores["NY"], "old name -> x");
    EXPECT_EQ(stores["PA"], "new x");
    EXPECT_EQ(stores["TX"], "new x");
    EXPECT_FALSE(stores.contains("ZZ"));
    ASSERT_EQ(f.sink.entries.size(), 1U);
    EXPECT_EQ(f.sink.entries[0].first.key, "ZZ");
    EXPECT_THAT(f.sink.entries[0].second, ::testing::HasSubstr("rejected: "));
    EXPECT_THAT(f.sink.entries[0].second, ::testing::HasSubstr("us-state v1: lookup: 2 stores match code ZZ"));
    EXPECT_EQ(lookups, 5);                                                // NY, PA, ZZ once (no retry), TX twice
    EXPECT_EQ(f.sleeps, (std::vector<milliseconds>{milliseconds(100)}));  // only TX's transient failure waited
    EXPECT_EQ(f.backend.committed_count(), 4U);
    auto s = c.Stats();
    EXPECT_EQ(s.Total(Outcome::kProcessed), 3U);
    EXPECT_EQ(s.Total(Outcome::kDeadLettered), 1U);
    EXPECT_EQ(s.Total(Outcome::kFailedAttempts), 2U);  // ZZ's one attempt, TX's first
}

// Issue 8: an integer that does not fit the typed field is a validation failure (skipped_invalid, committed, never
// saved), in both formats, and never a wrong value reaching Save.
struct Counted {
    std::string code;
    std::int64_t count = 0;
};
GALE_PIPE_DEFINE_MESSAGE(Counted, code, count)

TEST(Consumer, IntegersOutOfTheFieldsRangeAreSkippedAsInvalid) {
    Fixture f;
    Consumer c("states", f.backend, f.Options());
    std::vector<std::int64_t> saved;
    c.Register(MakeHandler(TypedSerializer<Counted>("counted", 1), [&](const Counted& m) -> Result<void> {
        saved.push_back(m.count);
        return {};
    }));
    const auto json = [](std::string_view count) {
        return std::string(R"(json:{"type":"counted","version":1,"message":{"code":"NY","count":)") +
               std::string(count) + "}}";
    };
    const auto msgpack = [](const Value& count) {
        return Render(Format::kMsgpack,
                      Value({{"type", "counted"}, {"version", 1}, {"message", {{"code", "NY"}, {"count", count}}}}))
            .value();
    };
    f.backend.Append("states", "NY", json("1180591620717411303424"));  // 2^70: was INT64_MIN
    f.backend.Append("states", "NY", json("18446744073709551615"));    // 2^64-1: was -1
    f.backend.Append("states", "NY", json("1.5"));                     // was 1
    f.backend.Append("states", "NY", json("true"));                    // was 1
    f.backend.Append("states", "NY", msgpack(Value(UINT64_MAX)));      // 0xcf ff…: was -1
    f.backend.Append("states", "NY", msgpack(Value(1e300)));           // 0xcb: was INT64_MIN
    f.backend.Append("states", "NY", json("9223372036854775807"));
    f.backend.Append("states", "NY", msgpack(Value(INT64_MIN)));
    EXPECT_EQ(f.Drain(c), 8U);
    EXPECT_EQ(saved, (std::vector<std::int64_t>{INT64_MAX, INT64_MIN}));
    auto s = c.Stats();
    EXPECT_EQ(CountOf(s, "counted", "1", Outcome::kSkippedInvalid), 6U);
    EXPECT_EQ(CountOf(s, "counted", "1", Outcome::kProcessed), 2U);
    EXPECT_EQ(s.Total(Outcome::kDeadLettered), 0U);
    EXPECT_EQ(s.Total(Outcome::kFailedAttempts), 0U);
    EXPECT_EQ(f.backend.committed_count(), 8U);
}

TEST(Consumer, BackoffDoublesUpToTheCap) {
    Fixture f;
    ConsumerOptions o = f.Options();
    o.max_attempts = 7;
    o.initial_backoff = milliseconds(1000);
    o.max_backoff = milliseconds(5000);
    Consumer c("states", f.backend, o);
    f.Add(c, "us-state", 1)->fail_times_ = 100;
    f.backend.Append("states", "NY", kNewYork);
    EXPECT_EQ(c.RunOnce(milliseconds(0)).value(), 1U);
    EXPECT_EQ(f.sleeps, (std::vector<milliseconds>{milliseconds(1000), milliseconds(2000), milliseconds(4000),
                                                   milliseconds(5000), milliseconds(5000), milliseconds(5000)}));
    EXPECT_EQ(f.log.save_calls, 7);
}

TEST(Consumer, PoisonDoesNotBlockTheNextMessage) {
    Fixture f;
    Consumer c("states", f.backend, f.Options());
    f.Add(c, "us-state", 1);
    f.backend.Append("states", "", "json:{not json");
    f.backend.Append("states", "", "no-colon-at-all");
    f.backend.Append("states", "NY", kNewYork);
    EXPECT_EQ(c.RunOnce(milliseconds(0)).value(), 1U);  // a dead-letter ends a RunOnce like a save
    EXPECT_EQ(f.Drain(c), 2U);
    EXPECT_EQ(f.sink.entries.size(), 2U);
    EXPECT_EQ(f.log.saved, (std::vector<std::string>{"us-state/1/NY"}));
    EXPECT_EQ(f.backend.committed_count(), 3U);
}

TEST(Consumer, WithoutSinkAPoisonRecordIsNeverCommittedNorLost) {
    Fixture f;
    ConsumerOptions o = f.Options();
    o.dead_letters = nullptr;
    Consumer c("states", f.backend, o);
    f.Add(c, "us-state", 1);
    f.backend.Append("states", "", "json:{not json");
    f.backend.Append("states", "NY", kNewYork);
    for (int i = 0; i < 3; ++i) {
        auto r = c.RunOnce(milliseconds(0));
        ASSERT_FALSE(r);
        EXPECT_EQ(r.error().code(), ErrorCode::kUnavailable);
        EXPECT_NE(r.error().message().find("states/0/0"), std::string::npos) << r.error().message();
    }
    EXPECT_EQ(f.backend.committed_count(), 0U);
    EXPECT_EQ(f.log.save_calls, 0);
    EXPECT_EQ(c.Stats().backend_errors, 3U);
}

TEST(Consumer, TwoVersionsOfOneTypeGoToTheirHandlers) {
    Fixture f;
    Consumer c("states", f.backend, f.Options());
    f.Add(c, "us-state", 1);
    f.Add(c, "us-state", 2);
    f.backend.Append("states", "", State("NY", "2"));
    f.backend.Append("states", "", State("CA", "1"));
    f.backend.Append("states", "", State("TX", "true"));  // Python equality: true == 1
    f.backend.Append("states", "", State("WA", "2.0"));
    f.Drain(c);
    EXPECT_EQ(f.log.saved,
              (std::vector<std::string>{"us-state/2/NY", "us-state/1/CA", "us-state/1/TX", "us-state/2/WA"}));
    auto s = c.Stats();
    EXPECT_EQ(CountOf(s, "us-state", "1", Outcome::kProcessed), 2U);
    EXPECT_EQ(CountOf(s, "us-state", "2", Outcome::kProcessed), 2U);
}

TEST(Consumer, RegisteringTheSameTypeAndVersionReplaces) {
    Fixture f;
    HandlerLog other;
    Consumer c("states", f.backend, f.Options());
    f.Add(c, "us-state", 1);
    c.Register(std::make_unique<FakeHandler>("us-state", 1, other));
    f.backend.Append("states", "NY", kNewYork);
    f.Drain(c);
    EXPECT_TRUE(f.log.saved.empty());
    EXPECT_EQ(other.saved.size(), 1U);
}

TEST(Consumer, IgnoreWinsOverARegisteredHandler) {
    Fixture f;
    Consumer c("states", f.backend, f.Options());
    f.Add(c, "us-state", 1);
    c.IgnoreType("us-state");
    f.backend.Append("states", "NY", kNewYork);
    EXPECT_EQ(f.Drain(c), 1U);
    EXPECT_EQ(f.log.save_calls, 0);
    EXPECT_EQ(f.log.validate_calls, 0);
    EXPECT_EQ(CountOf(c.Stats(), "us-state", "1", Outcome::kSkippedIgnored), 1U);
    EXPECT_EQ(f.backend.committed_count(), 1U);
}

TEST(Consumer, BackendErrorsKeepTheRecordForTheNextCall) {
    Fixture f;
    Consumer c("states", f.backend, f.Options());
    f.Add(c, "us-state", 1);
    f.backend.Append("states", "NY", kNewYork);
    f.backend.FailNextPoll(Error(ErrorCode::kUnavailable, "poll down"));
    EXPECT_FALSE(c.RunOnce(milliseconds(0)));
    f.backend.FailNextCommit(Error(ErrorCode::kUnavailable, "commit down"));
    EXPECT_FALSE(c.RunOnce(milliseconds(0)));  // saved (no transaction), commit failed: at-least-once
    EXPECT_EQ(c.RunOnce(milliseconds(0)).value(), 1U);
    EXPECT_EQ(f.backend.committed_count(), 1U);
    EXPECT_EQ(f.log.save_calls, 2);
    EXPECT_EQ(c.Stats().backend_errors, 2U);
}

// A transactional fake: Save writes to `staged`, the transaction moves staged to `applied` (commit) or drops it.
struct FakeDb {
    std::vector<std::string> applied;
    std::vector<std::string> staged;
    int transactions = 0;
    int rollbacks = 0;
    bool in_tx = false;
    TransactionFn Fn() {
        return [this](const std::function<Result<void>()>& body) -> Result<void> {
            EXPECT_FALSE(in_tx);
            in_tx = true;
            ++transactions;
            auto r = body();
            in_tx = false;
            if (r) {
                applied.insert(applied.end(), staged.begin(), staged.end());
            } else {
                ++rollbacks;
            }
            staged.clear();
            return r;
        };
    }
};

TEST(Consumer, SaveAndCommitRunInOneTransaction) {
    Fixture f;
    FakeDb db;
    ConsumerOptions o = f.Options();
    o.transaction = db.Fn();
    Consumer c("states", f.backend, o);
    FakeHandler* h = f.Add(c, "us-state", 1);
    h->on_save_ = [&](const Value& m) -> Result<void> {
        EXPECT_TRUE(db.in_tx);
        db.staged.push_back(m["code"].get<std::string>());
        return {};
    };
    f.backend.Append("states", "NY", kNewYork);
    f.backend.Append("states", "CA", State("CA"));
    f.backend.FailNextCommit(Error(ErrorCode::kUnavailable, "commit down"));
    EXPECT_FALSE(c.RunOnce(milliseconds(0)));  // Save ran, the commit failed: rolled back together
    EXPECT_TRUE(db.applied.empty());
    EXPECT_EQ(f.Drain(c), 2U);
    EXPECT_EQ(db.applied, (std::vector<std::string>{"NY", "CA"}));  // exactly once
    EXPECT_EQ(f.backend.committed_count(), 2U);
}

TEST(Consumer, BatchesCommitOncePerTransactionAndReplayOnFailure) {
    Fixture f;
    FakeDb db;
    ConsumerOptions o = f.Options();
    o.transaction = db.Fn();
    o.batch_size = 4;
    Consumer c("states", f.backend, o);
    FakeHandler* h = f.Add(c, "us-state", 1);
    int fail_tx = 0;
    h->on_save_ = [&](const Value& m) -> Result<void> {
        std::string code = m["code"].get<std::string>();
        if (code == "S5" && fail_tx++ == 0) return MakeError(ErrorCode::kUnavailable, "once");
        db.staged.push_back(code);
        return {};
    };
    for (int i = 0; i < 10; ++i) f.backend.Append("states", "", State("S" + std::to_string(i)));
    f.backend.Append("states", "", State("XX"));  // invalid: skipped inside the batch
    f.backend.Append("states", "", "json:{");     // poison: dead-lettered inside the batch
    EXPECT_EQ(f.Drain(c), 12U);
    std::vector<std::string> want;
    for (int i = 0; i < 10; ++i) want.push_back("S" + std::to_string(i));
    EXPECT_EQ(db.applied, want);  // S4's batch rolled back once and was replayed: still exactly once
    EXPECT_EQ(f.backend.committed_count(), 12U);
    // Batch 1 (S0-S3): one commit. Batch 2 (S4-S7) fails, replayed one by one: 4 commits. Batch 3 (S8 S9 XX poison):
    // one commit.
    EXPECT_EQ(f.backend.commits().size(), 6U);
    EXPECT_EQ(f.sink.entries.size(), 1U);
    auto s = c.Stats();
    EXPECT_EQ(s.Total(Outcome::kProcessed), 10U);
    EXPECT_EQ(s.Total(Outcome::kSkippedInvalid), 1U);
    EXPECT_EQ(s.Total(Outcome::kDeadLettered), 1U);
    EXPECT_EQ(s.Total(Outcome::kFailedAttempts), 1U);
    EXPECT_EQ(db.rollbacks, 1);
}

TEST(Consumer, BatchWithoutTransactionDefersCommits) {
    Fixture f;
    ConsumerOptions o = f.Options();
    o.batch_size = 8;
    Consumer c("states", f.backend, o);
    f.Add(c, "us-state", 1);
    for (int i = 0; i < 10; ++i) f.backend.Append("states", "", State("S" + std::to_string(i)));
    EXPECT_EQ(f.Drain(c), 10U);
    EXPECT_EQ(f.log.saved.size(), 10U);
    EXPECT_EQ(f.backend.commits().size(), 2U);
    EXPECT_EQ(f.backend.commit_all_calls(), 2U);  // one CommitAll per batch (all partitions at once)
    EXPECT_EQ(f.backend.committed_count(), 10U);
}

TEST(Consumer, AFailedDeferredCommitIsRetriedWithoutSavingAgain) {
    Fixture f;
    ConsumerOptions o = f.Options();
    o.batch_size = 4;
    Consumer c("states", f.backend, o);
    f.Add(c, "us-state", 1);
    for (int i = 0; i < 4; ++i) f.backend.Append("states", "", State("S" + std::to_string(i)));
    f.backend.FailNextCommit(Error(ErrorCode::kUnavailable, "offset store down"));
    auto failed = c.RunOnce(std::chrono::milliseconds(0));
    ASSERT_FALSE(failed);
    EXPECT_THAT(failed.error().ToString(), ::testing::HasSubstr("offset store down"));
    EXPECT_EQ(f.log.saved.size(), 4U);
    EXPECT_EQ(f.backend.committed_count(), 0U);
    // The next call commits the deferred offsets first and does not save the batch again.
    auto next = c.RunOnce(std::chrono::milliseconds(0));
    ASSERT_TRUE(next) << next.error().ToString();
    EXPECT_EQ(*next, 0U);
    EXPECT_EQ(f.log.saved.size(), 4U);
    EXPECT_EQ(f.backend.committed_count(), 4U);
    EXPECT_EQ(c.Stats().backend_errors, 1U);
}

TEST(Consumer, LastProgressMovesAndRunStops) {
    Fixture f;
    Consumer c("states", f.backend, f.Options());
    f.Add(c, "us-state", 1);
    auto before = c.last_progress();
    f.backend.Append("states", "NY", kNewYork);
    std::jthread t([&](std::stop_token st) { c.Run(st, milliseconds(5)); });
    while (f.backend.committed_count() < 1) std::this_thread::yield();
    t.request_stop();
    t.join();
    EXPECT_GT(c.last_progress(), before);
    EXPECT_EQ(f.log.saved.size(), 1U);
}

TEST(Consumer, RequestStopInterruptsABackoff) {
    Fixture f;
    ConsumerOptions o = f.Options();
    o.sleep = nullptr;  // the real, interruptible wait
    o.initial_backoff = milliseconds(60'000);
    o.max_backoff = milliseconds(60'000);
    Consumer c("states", f.backend, o);
    f.Add(c, "us-state", 1)->fail_times_ = 100;
    f.backend.Append("states", "NY", kNewYork);
    std::thread stopper([&] {
        while (f.log.save_calls == 0) std::this_thread::yield();
        c.RequestStop();
    });
    auto r = c.RunOnce(milliseconds(0));
    stopper.join();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), ErrorCode::kCancelled);
    EXPECT_EQ(f.backend.committed_count(), 0U);  // not committed, not dead-lettered
    EXPECT_TRUE(f.sink.entries.empty());
}

TEST(MultiConsumer, RoundRobinsOneSavedMessagePerConsumer) {
    Fixture f;
    MemoryBackend cities("cities");
    Consumer states("states", f.backend, f.Options());
    f.Add(states, "us-state", 1);
    Consumer cities_consumer("cities", cities, f.Options());
    f.Add(cities_consumer, "us-city", 1);
    for (int i = 0; i < 3; ++i) {
        f.backend.Append("states", "", State("S" + std::to_string(i)));
        cities.Append("cities", "",
                      R"(json:{"type":"us-city","version":1,"message":{"code":"C)" + std::to_string(i) + R"("}})");
    }
    MultiConsumer multi({&states, &cities_consumer});
    EXPECT_EQ(multi.RunRound(milliseconds(0)).value(), 2U);
    EXPECT_EQ(f.log.saved, (std::vector<std::string>{"us-state/1/S0", "us-city/1/C0"}));
    EXPECT_EQ(multi.RunRound(milliseconds(0)).value(), 2U);
    EXPECT_EQ(multi.RunRound(milliseconds(0)).value(), 2U);
    EXPECT_EQ(multi.RunRound(milliseconds(0)).value(), 0U);
    EXPECT_EQ(f.log.saved.size(), 6U);
}

TEST(Consumer, CounterKeysAreBounded) {
    Fixture f;
    Consumer c("states", f.backend, f.Options());
    for (int i = 0; i < 300; ++i) {
        f.backend.Append("states", "", R"(json:{"type":"t)" + std::to_string(i) + R"(","version":1,"message":{}})");
    }
    EXPECT_EQ(f.Drain(c), 300U);
    auto s = c.Stats();
    EXPECT_LE(s.counters.size(), 257U);
    EXPECT_EQ(s.Total(Outcome::kSkippedUnknownType), 300U);
}

}  // namespace
}  // namespace gale::pipe
