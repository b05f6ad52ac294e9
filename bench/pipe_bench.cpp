// SPDX-License-Identifier: MIT
//
// Throughput of the embedded log: records produced per second (one transaction per Send), and records consumed and
// saved per second by a Consumer whose handler inserts one row into the service's table, with Save + offset commit
// in one SQLite transaction (exactly-once), for several batch sizes.
//
//   gale-pipe-bench [MESSAGES] [DB_PATH] [MIN_RATE]
//
// Defaults: 200000 messages, a file under /tmp, no target. With MIN_RATE (msg/s) the exit status is 1 unless the
// batch_size 256 consume + save rate reaches it (bench/pipe.sh passes the issue's 100000).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include <gale/db/sqlite.hpp>
#include <gale/log/log.hpp>
#include <gale/pipe/consumer.hpp>
#include <gale/pipe/embedded_log.hpp>

namespace {

using Clock = std::chrono::steady_clock;

class InsertHandler final : public gale::pipe::MessageHandler {
public:
    InsertHandler(gale::db::Database db, std::string table)
        : db_(std::move(db)), sql_("INSERT INTO " + table + " (msg_id, code, name) VALUES (?, ?, ?)") {}
    const std::string& type() const noexcept override { return type_; }
    std::int64_t version() const noexcept override { return 1; }
    gale::Result<void> Validate(const gale::pipe::Value& m) override {
        if (!m.contains("id") || !m.contains("code")) return gale::MakeError(gale::ErrorCode::kInvalidArgument, "");
        return {};
    }
    gale::Result<void> Save(const gale::pipe::Value& m) override {
        GALE_RETURN_IF_ERROR(db_.Execute(
            sql_, {m["id"].get<std::int64_t>(), m["code"].get<std::string>(), m["name"].get<std::string>()}));
        return {};
    }

private:
    std::string type_ = "us-state";
    gale::db::Database db_;
    std::string sql_;
};

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

int Fail(const gale::Error& e) {
    std::fprintf(stderr, "pipe-bench: %s\n", e.ToString().c_str());
    return 1;
}

}  // namespace

int main(int argc, char** argv) {
    const long n = argc > 1 ? std::atol(argv[1]) : 200'000;
    const std::string path = argc > 2 ? argv[2] : "/tmp/gale-pipe-bench.db";
    const double min_rate = argc > 3 ? std::atof(argv[3]) : 0.0;
    if (n <= 0 || min_rate < 0) {
        std::fprintf(stderr, "usage: %s [MESSAGES>0] [DB_PATH] [MIN_RATE>=0]\n", argv[0]);
        return 2;
    }
    double batch_256_rate = 0;
    gale::log::SetLevel(gale::log::Level::kError);
    for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path + suffix);
    auto log = gale::pipe::EmbeddedLog::Open(path);
    if (!log) return Fail(log.error());
    auto producer = log->Producer();
    if (!producer) return Fail(producer.error());

    auto t0 = Clock::now();
    for (long i = 0; i < n; ++i) {
        auto md = (*producer)->Send("states", "NY",
                                    R"(json:{"type":"us-state","version":1,"message":{"id":)" + std::to_string(i) +
                                        R"(,"code":"NY","name":"New York"}})");
        if (!md) return Fail(md.error());
    }
    double produce_s = Seconds(Clock::now() - t0);
    std::printf("produce  %8ld messages  %7.2f s  %9.0f msg/s  (one transaction per Send)\n", n, produce_s,
                static_cast<double>(n) / produce_s);

    for (std::size_t batch : {std::size_t{1}, std::size_t{16}, std::size_t{256}}) {
        const std::string table = "applied_" + std::to_string(batch);
        auto db = log->database();
        if (auto r = db.ExecScript("CREATE TABLE " + table +
                                   " (msg_id INTEGER PRIMARY KEY, code TEXT NOT NULL, name TEXT NOT NULL)");
            !r) {
            return Fail(r.error());
        }
        auto backend = log->Consumer("bench-" + std::to_string(batch), "states");
        auto dlq = log->DeadLetters();
        gale::pipe::ConsumerOptions options;
        options.transaction = log->Transaction();
        options.dead_letters = dlq.get();
        options.batch_size = batch;
        gale::pipe::Consumer consumer("states", *backend, options);
        consumer.Register(std::make_unique<InsertHandler>(db, table));
        t0 = Clock::now();
        std::size_t done = 0;
        while (done < static_cast<std::size_t>(n)) {
            auto r = consumer.RunOnce(std::chrono::milliseconds(0));
            if (!r) return Fail(r.error());
            if (*r == 0) break;
            done += *r;
        }
        double consume_s = Seconds(Clock::now() - t0);
        if (batch == 256) batch_256_rate = static_cast<double>(done) / consume_s;
        auto rows = db.Query("SELECT COUNT(*) FROM " + table);
        std::printf(
            "consume  %8zu messages  %7.2f s  %9.0f msg/s  (batch_size %3zu, Save + commit per transaction; "
            "rows %lld, processed %llu)\n",
            done, consume_s, static_cast<double>(done) / consume_s, batch,
            rows ? static_cast<long long>(std::get<std::int64_t>((*rows)[0][0])) : -1LL,
            static_cast<unsigned long long>(consumer.Stats().Total(gale::pipe::Outcome::kProcessed)));
    }
    for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path + suffix);
    if (min_rate > 0) {
        const bool met = batch_256_rate >= min_rate;
        std::printf("target >= %.0f msg/s consumed and saved (batch_size 256): %.0f msg/s, %s\n", min_rate,
                    batch_256_rate, met ? "met" : "NOT MET");
        return met ? 0 : 1;
    }
    return 0;
}
