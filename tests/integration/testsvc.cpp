// SPDX-License-Identifier: MIT
// testsvc: the service the integration tests drive from outside (tests/integration/serve_test.cpp). Every route,
// check and command exists to make one behaviour of `serve` observable:
//   GET /             inline hello (never touches the worker pool)
//   GET /sleep/{ms}   blocking handler: sleeps ms (at most 10000) on a worker thread
//   POST /echo        answers with the request body
//   check "flag"      readiness; fails with "flag file present" while $TESTSVC_FAIL_FILE exists
//   check "alive"     liveness; always passes
//   sleep-ms N / fail N / ok   commands for `serve --command` and direct runs
//   Migrations()      one pending migration while $TESTSVC_PENDING_FILE exists
//   resource "counter" (gale/app/resource.hpp): created on first use, or at start with TESTSVC_RESOURCE_AT_START=1;
//                     its creation fails while $TESTSVC_RESOURCE_FAIL_FILE exists and takes 100 ms with
//                     TESTSVC_RESOURCE_SLOW=1; its readiness check says which
//                     creation it is; closing it logs "counter closed"
//   GET /resource     a handler returning Result<Response>: the counter's creation number and its uses so far
//   GET /error/{code} returns an error of that code ("not_found", "unavailable"…) whose text must not reach clients
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include <gale/app/app.hpp>
#include <gale/config/contract.hpp>
#include <gale/config/settings.hpp>
#include <gale/log/log.hpp>
#include <gale/pipe/consumer.hpp>
#include <gale/pipe/embedded_log.hpp>

namespace {

bool EnvFileExists(const char* variable) {
    const char* path = std::getenv(variable);
    if (path == nullptr || *path == '\0') return false;
    struct stat st {};
    return ::stat(path, &st) == 0;
}

/// Parses a non-negative decimal; nullopt-like -1 on anything else.
long long ParseCount(std::string_view text) {
    long long v = -1;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || ptr != text.data() + text.size() || v < 0) return -1;
    return v;
}

}  // namespace

int main(int argc, char** argv) {
    using gale::http::Request;
    using gale::http::Response;
    namespace health = gale::health;

    gale::app::App app("testsvc", "1.2.3");

    app.Get("/", [](Request&) { return Response::Text(200, "hello from testsvc\n"); }, {.inline_handler = true});

    // A setting of the service's own, with a default in its contract group (what app.settings() returns unset).
    gale::config::GroupSpec own{.name = "testsvc", .description = "testsvc's own settings.", .always_enabled = true};
    own.vars.push_back({.name = "TESTSVC_GREETING", .default_value = "hello", .help = "What GET /greeting says."});
    app.EnvironmentGroup(std::move(own));
    app.Get("/greeting", [&app](Request&) {
        auto greeting = app.settings().GetString("TESTSVC_GREETING");
        if (!greeting) throw gale::http::HttpError(500, greeting.error().message());
        return Response::Text(200, *greeting + "\n");
    });

    app.Get("/sleep/{ms}", [](Request& req) {
        long long ms = ParseCount(req.param("ms"));
        if (ms < 0) throw gale::http::HttpError(400, "ms must be a non-negative integer");
        ms = std::min(ms, 10'000LL);
        std::this_thread::sleep_for(std::chrono::milliseconds(ms));
        return Response::Text(200, "slept " + std::to_string(ms) + " ms\n");
    });

    app.Post("/echo", [](Request& req) { return Response::Text(200, req.body(), "application/octet-stream"); });

    app.Check("flag",
              [] {
                  if (EnvFileExists("TESTSVC_FAIL_FILE")) return health::CheckResult::Error("flag file present");
                  return health::CheckResult::Ok("no flag file");
              },
              {.tags = health::kReadiness});

    app.Check("alive", [] { return health::CheckResult::Ok(); }, {.tags = health::kLiveness});

    struct Counter {
        int creation = 0;
        std::atomic<int> uses{0};
    };
    static std::atomic<int> creations{0};
    const char* at_start = std::getenv("TESTSVC_RESOURCE_AT_START");
    auto counter = app.AddResource(
        "counter",
        [](gale::app::ResourceContext&) -> gale::Result<std::unique_ptr<Counter>> {
            if (EnvFileExists("TESTSVC_RESOURCE_FAIL_FILE")) {
                return gale::MakeError(gale::ErrorCode::kUnavailable, "the fail file is present");
            }
            // With TESTSVC_RESOURCE_SLOW=1 the creation takes 100 ms, so that first uses at once wait for this one.
            // Not by default: the check's first run would be pending for that long, ahead of other readiness reasons.
            if (const char* slow = std::getenv("TESTSVC_RESOURCE_SLOW");
                slow != nullptr && std::string_view(slow) == "1") {
                std::this_thread::sleep_for(std::chrono::milliseconds(100));
            }
            auto c = std::make_unique<Counter>();
            c->creation = ++creations;
            return c;
        },
        {.create = at_start != nullptr && std::string_view(at_start) == "1" ? gale::app::CreateWhen::kAtStart
                                                                            : gale::app::CreateWhen::kOnFirstUse,
         .check = [](Counter& c) { return health::CheckResult::Ok("creation " + std::to_string(c.creation)); },
         .close =
             [](Counter& c) {
                 gale::log::Info("testsvc", "counter closed", {{"uses", c.uses.load()}});
             }});
    app.Get("/resource", [counter](Request&) -> gale::Result<Response> {
        GALE_ASSIGN_OR_RETURN(auto c, counter.get());
        const int uses = ++c->uses;
        return Response::Json(200, nlohmann::json{{"creation", c->creation}, {"uses", uses}});
    });
    app.Get("/error/{code}", [](Request& req) -> gale::Result<Response> {
        for (auto code : {gale::ErrorCode::kInvalidArgument, gale::ErrorCode::kNotFound,
                          gale::ErrorCode::kAlreadyExists, gale::ErrorCode::kUnavailable, gale::ErrorCode::kTimeout,
                          gale::ErrorCode::kIo, gale::ErrorCode::kInternal, gale::ErrorCode::kCancelled}) {
            if (gale::ToString(code) == req.param("code")) {
                return gale::MakeError(code, "the secret detail: password=hunter2");
            }
        }
        return Response::Text(400, "unknown code\n");
    });

    // For error reporting (sentry_test): a handler that throws, and one that answers a status of its choice itself.
    app.Get("/throw", [](Request&) -> Response { throw std::runtime_error("boom: password=hunter2"); });
    app.Get("/status/{code}", [](Request& req) {
        long long code = ParseCount(req.param("code"));
        if (code < 200 || code > 599) throw gale::http::HttpError(400, "code must be 200-599");
        return Response::Text(static_cast<int>(code), "status " + std::to_string(code) + "\n");
    });

    app.Command("sleep-ms", "sleep N milliseconds, then succeed", [](const gale::app::Args& args) {
        long long ms = args.size() == 1 ? ParseCount(args[0]) : -1;
        if (ms < 0) return 2;
        std::this_thread::sleep_for(std::chrono::milliseconds(ms));
        return 0;
    });
    app.Command("fail", "exit with code N", [](const gale::app::Args& args) {
        long long code = args.size() == 1 ? ParseCount(args[0]) : -1;
        return code < 0 || code > 255 ? 2 : static_cast<int>(code);
    });
    app.Command("ok", "succeed at once", [](const gale::app::Args&) { return 0; });
    // Reads a setting through the typed API: prints "KEY=value (layer)" or the error; exit 1 on error.
    app.Command("get-int", "print an integer setting and its source", [&app](const gale::app::Args& args) {
        if (args.size() != 1) return 2;
        auto v = app.settings().GetInt(args[0], 0, 1'000'000);
        if (!v) {
            std::printf("error: %s\n", v.error().message().c_str());
            return 1;
        }
        auto info = app.settings().Info(args[0]);
        std::printf("%s=%lld (%s)\n", args[0].c_str(), static_cast<long long>(*v),
                    std::string(gale::config::ToString(info->layer)).c_str());
        return 0;
    });

    app.Migrations([]() -> gale::Result<std::vector<std::string>> {
        if (EnvFileExists("TESTSVC_PENDING_FILE")) return std::vector<std::string>{"0002_add_widgets"};
        return std::vector<std::string>{};
    });

    // A log-pipe consumer for `consume`: us-state v1 messages from the embedded log at $TESTSVC_PIPE_DB; each saved
    // message appends its code to $TESTSVC_PIPE_OUT. A code "XX" makes Save fail (retried, then dead-lettered).
    app.Consumer("states", [](const gale::config::Settings&) -> gale::Result<gale::app::ConsumerSpec> {
        const char* path = std::getenv("TESTSVC_PIPE_DB");
        if (path == nullptr) return gale::MakeError(gale::ErrorCode::kInvalidArgument, "TESTSVC_PIPE_DB is not set");
        auto log = gale::pipe::EmbeddedLog::Open(path);
        if (!log) return tl::unexpected(log.error());
        struct Keep {
            gale::pipe::EmbeddedLog log;
            std::unique_ptr<gale::pipe::DeadLetterSink> dead_letters;
        };
        auto keep = std::make_shared<Keep>(Keep{*log, log->DeadLetters()});
        gale::app::ConsumerSpec spec;
        spec.backend = keep->log.Consumer("testsvc", "us-states");
        gale::pipe::ConsumerOptions options;
        options.dead_letters = keep->dead_letters.get();
        options.max_attempts = 2;
        options.initial_backoff = std::chrono::milliseconds(10);
        spec.consumer = std::make_unique<gale::pipe::Consumer>("us-states", *spec.backend, options);
        class StateHandler : public gale::pipe::MessageHandler {
        public:
            const std::string& type() const noexcept override { return type_; }
            std::int64_t version() const noexcept override { return 1; }
            gale::Result<void> Validate(const gale::pipe::Value& m) override {
                if (!m.contains("code") || !m["code"].is_string() || m["code"].get<std::string>().size() != 2) {
                    return gale::MakeError(gale::ErrorCode::kInvalidArgument, "code must be 2 characters");
                }
                return {};
            }
            gale::Result<void> Save(const gale::pipe::Value& m) override {
                std::string code = m["code"].get<std::string>();
                if (code == "XX") return gale::MakeError(gale::ErrorCode::kInternal, "XX cannot be saved");
                const char* out = std::getenv("TESTSVC_PIPE_OUT");
                if (out != nullptr) std::ofstream(out, std::ios::app) << code << "\n";
                return {};
            }

        private:
            std::string type_ = "us-state";
        };
        spec.consumer->Register(std::make_unique<StateHandler>());
        spec.keep_alive = keep;
        return spec;
    });

    return app.Run(argc, argv);
}
