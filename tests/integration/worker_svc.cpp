// SPDX-License-Identifier: MIT
// worker_svc: the service tests/integration/worker_test.cpp runs as `worker_svc worker`. Every task exists to make
// one behaviour of the WORKER role observable from outside. Each run appends lines "<event> <task id>" to the file
// $WORKER_SVC_EVENTS (one write(2) per line, O_APPEND: whole lines even from several processes):
//   svc.sleep(ms)                    start, then sleeps ms, then done; returns ms
//   svc.visit_then_sleep(name, ms)   start; RunOnce in $WORKER_SVC_DB: inserts (name, task id) into visits — logging
//                                    insert inside the transaction — and its completion record, commit; committed;
//                                    then sleeps ms (a SIGKILL now hits the window between the commit and the
//                                    acknowledgement); done. Returns {"id", "name"}.
//   svc.count_then_sleep(name, ms)   the same without RunOnce (at least once: a redelivery inserts again)
//   svc.hang(ms)                     start, sleeps ms ignoring cancellation, done; time_limit 1 s, so the worker
//                                    abandons it at 1 s when ms is longer
//   svc.elsewhere()                  start, done; routed to the queue "other" (so the worker's default queues are
//                                    celery and other)
// No retries (max_retries 0): a run's outcome is the stored result.
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include <gale/app/app.hpp>
#include <gale/db/database.hpp>
#include <gale/tasks/completion.hpp>
#include <gale/tasks/task.hpp>

namespace {

void Event(const std::string& what, const std::string& id) {
    const char* path = std::getenv("WORKER_SVC_EVENTS");
    if (path == nullptr || *path == '\0') return;
    const int fd = ::open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) return;
    const std::string line = what + " " + id + "\n";
    (void)!::write(fd, line.data(), line.size());
    ::close(fd);
}

/// This thread's connection to $WORKER_SVC_DB (a transaction needs a connection of its own), with the tables.
gale::Result<gale::db::Database*> ThreadDatabase() {
    thread_local std::optional<gale::db::Database> conn;
    if (!conn) {
        const char* path = std::getenv("WORKER_SVC_DB");
        if (path == nullptr || *path == '\0') {
            return gale::MakeError(gale::ErrorCode::kInvalidArgument, "WORKER_SVC_DB is not set");
        }
        GALE_ASSIGN_OR_RETURN(auto opened, gale::db::Database::Open(path));
        GALE_RETURN_IF_ERROR(
            opened.ExecScript("CREATE TABLE IF NOT EXISTS visits (name TEXT NOT NULL, task_id TEXT NOT NULL);"
                              "CREATE TABLE IF NOT EXISTS counts (name TEXT NOT NULL, task_id TEXT NOT NULL);"));
        GALE_RETURN_IF_ERROR(gale::tasks::EnsureCompletionTable(opened));
        conn.emplace(std::move(opened));
    }
    return &*conn;
}

void SleepMs(std::int64_t ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

}  // namespace

int main(int argc, char** argv) {
    using gale::tasks::TaskContext;
    gale::app::App app("workersvc", "1.0.0");
    const gale::tasks::TaskOptions once{.retry = {.max_retries = 0}};

    app.Task("svc.sleep",
             gale::tasks::Typed(
                 [](TaskContext& ctx, std::int64_t ms) {
                     Event("start", ctx.id());
                     SleepMs(ms);
                     Event("done", ctx.id());
                     return ms;
                 },
                 {"ms"}),
             once);

    // Throws on every run, retried twice 10 ms apart: error reporting (sentry in worker_test) sees one failure.
    const gale::tasks::TaskOptions retried{
        .retry = {
            .max_retries = 2, .backoff = std::chrono::milliseconds(10), .jitter = false, .retry_exceptions = true}};
    app.Task("svc.fail", gale::tasks::Typed([](TaskContext& ctx) -> std::int64_t {
                 Event("start", ctx.id());
                 throw std::runtime_error("charge failed: token=tok_secret");
             }),
             retried);

    app.Task("svc.visit_then_sleep",
             gale::tasks::Typed(
                 [](TaskContext& ctx, const std::string& name, std::int64_t ms) -> gale::Result<nlohmann::json> {
                     Event("start", ctx.id());
                     GALE_ASSIGN_OR_RETURN(auto* db, ThreadDatabase());
                     auto r =
                         gale::tasks::RunOnce(*db, ctx, [&](gale::db::Database& tx) -> gale::Result<nlohmann::json> {
                             GALE_RETURN_IF_ERROR(
                                 tx.Execute("INSERT INTO visits (name, task_id) VALUES (?, ?)", {name, ctx.id()}));
                             Event("insert", ctx.id());
                             return nlohmann::json{{"name", name}, {"task_id", ctx.id()}};
                         });
                     if (!r) return r;
                     Event("committed", ctx.id());
                     SleepMs(ms);
                     Event("done", ctx.id());
                     return r;
                 },
                 {"name", "ms"}),
             once);

    app.Task(
        "svc.count_then_sleep",
        gale::tasks::Typed(
            [](TaskContext& ctx, const std::string& name, std::int64_t ms) -> gale::Result<nlohmann::json> {
                Event("start", ctx.id());
                GALE_ASSIGN_OR_RETURN(auto* db, ThreadDatabase());
                GALE_RETURN_IF_ERROR(db->Execute("INSERT INTO counts (name, task_id) VALUES (?, ?)", {name, ctx.id()}));
                Event("committed", ctx.id());
                SleepMs(ms);
                Event("done", ctx.id());
                return nlohmann::json{{"name", name}};
            },
            {"name", "ms"}),
        once);

    gale::tasks::TaskOptions hang_options = once;
    hang_options.time_limit = std::chrono::seconds(1);
    app.Task("svc.hang",
             gale::tasks::Typed(
                 [](TaskContext& ctx, std::int64_t ms) {
                     Event("start", ctx.id());
                     SleepMs(ms);  // ignores ctx.cancelled() on purpose
                     Event("done", ctx.id());
                     return ms;
                 },
                 {"ms"}),
             hang_options);

    gale::tasks::TaskOptions elsewhere_options = once;
    elsewhere_options.queue = "other";
    app.Task("svc.elsewhere", gale::tasks::Typed([](TaskContext& ctx) {
                 Event("start", ctx.id());
                 Event("done", ctx.id());
             }),
             elsewhere_options);

    return app.Run(argc, argv);
}
