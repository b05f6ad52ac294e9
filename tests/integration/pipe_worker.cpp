// SPDX-License-Identifier: MIT
//
// The consumer process of pipe_crash_test: drains one topic of an EmbeddedLog into the table
// applied(msg_id INTEGER PRIMARY KEY, n INTEGER), with Save and the offset commit in one SQLite transaction.
//
//   gale-pipe-worker DB TOPIC BATCH_SIZE SAVE_DELAY_US
//
// Exit codes: 0 the log is drained (lag 0); 2 usage or a failure; 3 a record was dead-lettered (the PRIMARY KEY
// makes a redelivered message fail its Save, so a dead letter means a duplicate delivery).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include <gale/db/sqlite.hpp>
#include <gale/pipe/consumer.hpp>
#include <gale/pipe/embedded_log.hpp>

namespace {

class AppliedHandler final : public gale::pipe::MessageHandler {
public:
    AppliedHandler(gale::db::Database db, std::chrono::microseconds delay) : db_(std::move(db)), delay_(delay) {}
    const std::string& type() const noexcept override { return type_; }
    std::int64_t version() const noexcept override { return 1; }
    gale::Result<void> Validate(const gale::pipe::Value& m) override {
        if (!m.is_object() || !m.contains("id") || !m["id"].is_number_integer() || !m.contains("n")) {
            return gale::MakeError(gale::ErrorCode::kInvalidArgument, "id and n required");
        }
        return {};
    }
    gale::Result<void> Save(const gale::pipe::Value& m) override {
        GALE_RETURN_IF_ERROR(db_.Execute("INSERT INTO applied (msg_id, n) VALUES (?, ?)",
                                         {m["id"].get<std::int64_t>(), m["n"].get<std::int64_t>()}));
        if (delay_.count() > 0) std::this_thread::sleep_for(delay_);  // widen the window a SIGKILL can hit
        return {};
    }

private:
    std::string type_ = "item";
    gale::db::Database db_;
    std::chrono::microseconds delay_;
};

}  // namespace

int main(int argc, char** argv) {
    if (argc != 5) {
        std::fprintf(stderr, "usage: %s DB TOPIC BATCH_SIZE SAVE_DELAY_US\n", argv[0]);
        return 2;
    }
    const std::string topic = argv[2];
    auto log = gale::pipe::EmbeddedLog::Open(argv[1]);
    if (!log) {
        std::fprintf(stderr, "worker: %s\n", log.error().ToString().c_str());
        return 2;
    }
    auto db = log->database();
    if (auto r = db.ExecScript("CREATE TABLE IF NOT EXISTS applied (msg_id INTEGER PRIMARY KEY, n INTEGER)"); !r) {
        std::fprintf(stderr, "worker: %s\n", r.error().ToString().c_str());
        return 2;
    }
    auto backend = log->Consumer("crash-test", topic);
    auto dead_letters = log->DeadLetters();
    gale::pipe::ConsumerOptions options;
    options.transaction = log->Transaction();
    options.dead_letters = dead_letters.get();
    options.batch_size = static_cast<std::size_t>(std::strtoul(argv[3], nullptr, 10));
    options.max_attempts = 2;
    options.initial_backoff = std::chrono::milliseconds(1);
    gale::pipe::Consumer consumer(topic, *backend, options);
    consumer.Register(std::make_unique<AppliedHandler>(db, std::chrono::microseconds(std::atoll(argv[4]))));
    for (;;) {
        auto r = consumer.RunOnce(std::chrono::milliseconds(20));
        if (!r) {
            std::fprintf(stderr, "worker: %s\n", r.error().ToString().c_str());
            return 2;
        }
        if (consumer.Stats().Total(gale::pipe::Outcome::kDeadLettered) > 0) {
            std::fprintf(stderr, "worker: DEAD-LETTER\n");
            return 3;
        }
        if (*r == 0 && backend->Lag() == 0) break;
    }
    auto stats = consumer.Stats();
    std::fprintf(stderr, "worker: drained; processed %llu, failed attempts %llu\n",
                 static_cast<unsigned long long>(stats.Total(gale::pipe::Outcome::kProcessed)),
                 static_cast<unsigned long long>(stats.Total(gale::pipe::Outcome::kFailedAttempts)));
    return 0;
}
