// SPDX-License-Identifier: MIT
//
// gale-wsgi as a Django developer runs it (issue 11): the small Django project in tests/integration/wsgi (a model in
// SQLite, a CSRF form, a streaming response, a download, an exception, a check tagged readiness, hashed static
// files) and a Flask app, over real HTTP on loopback, with Debian's python3-django 3.2 and python3-flask; start-up
// errors, --check-migrations, a sleeping view, a saturated Python, SIGTERM under load and the request corpus the
// C++ server's fuzzers keep.
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "harness.hpp"

namespace {

using namespace std::chrono_literals;
using gale::http::testing::RawClient;
using gale::testing::integration::Eventually;
using gale::testing::integration::Get;
using gale::testing::integration::LoadLoop;
using gale::testing::integration::LoadStats;
using gale::testing::integration::Lower;
using gale::testing::integration::Post;
using gale::testing::integration::Process;
using gale::testing::integration::ProcessTest;
using gale::testing::integration::ReadFile;
using gale::testing::integration::StatusOf;
using gale::testing::integration::Threads;
using Clock = std::chrono::steady_clock;
using Json = nlohmann::json;
namespace fs = std::filesystem;

#if !defined(GALE_WSGI_PATH) || !defined(GALE_WSGI_APPS_DIR) || !defined(GALE_HTTP_CORPUS_DIR)
#error "GALE_WSGI_PATH, GALE_WSGI_APPS_DIR and GALE_HTTP_CORPUS_DIR must be defined"
#endif
constexpr const char* kGaleWsgi = GALE_WSGI_PATH;
const std::string kApps = GALE_WSGI_APPS_DIR;  // testproject/, notes/, flaskapp/

double MsSince(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

class WsgiTest : public ProcessTest {
protected:
    WsgiTest() : ProcessTest("wsgi", {"GALE_", "APP_", "DJANGO_", "PYTHON", "VIRTUAL_ENV", "TESTPROJECT_"}) {}

    /// gale-wsgi with ARGS in the test's directory; the runner's GALE_*, APP_*, DJANGO_* and PYTHON* variables are
    /// not passed on.
    Process& Spawn(std::vector<std::string> args, std::map<std::string, std::string> env) {
        args.insert(args.begin(), kGaleWsgi);
        env.emplace("PYTHONDONTWRITEBYTECODE", "1");  // no __pycache__ in the source tree
        return ProcessTest::Spawn(std::move(args), std::move(env));
    }
    std::map<std::string, std::string> DjangoEnv() const {
        return {{"DJANGO_SETTINGS_MODULE", "testproject.settings"}, {"TESTPROJECT_DIR", dir_}};
    }
    /// Runs gale-wsgi to its end; its exit code, or -1 if it did not end within `timeout`.
    int RunToEnd(std::vector<std::string> args, std::map<std::string, std::string> env,
                 std::chrono::milliseconds timeout = 60s) {
        Process& p = Spawn(std::move(args), std::move(env));
        auto code = p.WaitExit(timeout);
        return code ? *code : -1;
    }

    /// `gale-wsgi migrate`, then `serve` on free ports with `extra` options; sets app_port_ and probe_port_.
    void StartDjango(std::vector<std::string> extra = {}, bool migrate = true) {
        if (migrate) {
            ASSERT_EQ(RunToEnd({"migrate", "--pythonpath", kApps}, DjangoEnv()), 0) << LogOf(procs_.size() - 1);
        }
        std::vector<std::string> args = {"serve", "--pythonpath", kApps, "--bind", "127.0.0.1", "--port", "0"};
        args.insert(args.end(), extra.begin(), extra.end());
        Start(args, DjangoEnv());
    }
    void Start(std::vector<std::string> args, std::map<std::string, std::string> env) {
        server_ = &Spawn(std::move(args), std::move(env));
        probe_port_ = server_->WaitForPort("probe server listening", 30s);
        ASSERT_NE(probe_port_, 0) << "no probe port";
        app_port_ = server_->WaitForPort("app server listening", 60s);
        ASSERT_NE(app_port_, 0) << "no app port";
    }

    /// `serve --processes N` with ARGS added: waits until every process serves; sets app_port_ and probe_port_.
    void StartProcesses(std::size_t n, std::vector<std::string> args, std::map<std::string, std::string> env) {
        args.insert(args.begin(), {"serve", "--processes", std::to_string(n), "--bind", "127.0.0.1", "--port", "0"});
        server_ = &Spawn(std::move(args), std::move(env));
        auto forking = server_->WaitForRecord("serving with several processes", 30s);
        ASSERT_TRUE(forking) << server_->Log();
        EXPECT_EQ((*forking)["processes"], n);
        app_port_ = (*forking)["port"].get<std::uint16_t>();
        probe_port_ = (*forking)["probe_port"].get<std::uint16_t>();
        ASSERT_TRUE(server_->WaitForRecord("every process is serving", 60s)) << server_->Log();
    }
    /// The pids that answered, by GETs on new connections until `n` distinct ones did (at most 300 requests).
    std::set<int> PidsServing(std::size_t n, const std::string& path = "/") {
        std::set<int> pids;
        for (int i = 0; i < 300 && pids.size() < n; ++i) {
            auto r = Get(app_port_, path, "Connection: close\r\n");
            if (!r || r->status != 200) {
                ADD_FAILURE() << "request " << i << ": " << (r ? r->head : "no response");
                break;
            }
            pids.insert(Json::parse(r->body)["pid"].get<int>());
        }
        return pids;
    }
    /// A WSGI app answering {"pid", "multiprocess"}; /sleep sleeps 200 ms first.
    void WritePidsApp() {
        std::ofstream(dir_ + "/pids.py") << R"(import json, os, time
def application(environ, start_response):
    if environ["PATH_INFO"] == "/sleep":
        time.sleep(0.2)
    body = json.dumps({"pid": os.getpid(), "multiprocess": environ["wsgi.multiprocess"]}).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]
)";
    }

    /// Load from `clients` keep-alive clients on /notes/, SIGTERM after 500 ms, the load stopped 700 ms later: no
    /// request failed, the load ran on after SIGTERM, some response said Connection: close, and the exit was 0.
    void ExpectSigtermUnderLoadLosesNoRequest(int clients, std::chrono::seconds exit_within) {
        LoadStats stats;
        std::atomic<bool> stop{false};
        Threads load;
        for (int i = 0; i < clients; ++i) load.Start([&] { LoadLoop(app_port_, stop, stats, "/notes/"); });
        std::this_thread::sleep_for(500ms);
        int before = stats.sent.load();
        EXPECT_GT(before, 5) << "the load barely ran";
        auto t_term = Clock::now();
        server_->Signal(SIGTERM);
        EXPECT_TRUE(Eventually([&] { return StatusOf(probe_port_, "/ready") == 503; }, 500ms, 5ms));
        std::this_thread::sleep_for(700ms - (Clock::now() - t_term));
        stop = true;
        load.JoinAll();
        auto code = server_->WaitExit(exit_within);
        {
            std::lock_guard lock(stats.mu);
            EXPECT_TRUE(stats.failures.empty())
                << stats.failures.size() << " failed, first: " << stats.failures.front();
        }
        EXPECT_EQ(stats.ok.load(), stats.sent.load());
        EXPECT_GT(stats.sent.load() - before, 5) << "too little load after SIGTERM to prove anything";
        EXPECT_GT(stats.reconnects.load(), 0) << "no response carried Connection: close while draining";
        ASSERT_TRUE(code) << "did not exit within " << exit_within.count() << " s of SIGTERM";
        EXPECT_EQ(*code, 0) << server_->Log();
    }

    Process* server_ = nullptr;
    std::uint16_t app_port_ = 0;
    std::uint16_t probe_port_ = 0;
};

/// `n` lines b"line%07d\n", numbered from 0: a body whose order the apps' upload views check.
std::string NumberedLines(int n) {
    std::string text;
    char line[16];
    for (int i = 0; i < n; ++i) {
        std::snprintf(line, sizeof line, "line%07d\n", i);
        text += line;
    }
    return text;
}

// The csrftoken cookie's value from a Set-Cookie header, and the form's hidden csrfmiddlewaretoken.
std::string Between(const std::string& text, const std::string& start, char end) {
    auto at = text.find(start);
    if (at == std::string::npos) return {};
    at += start.size();
    return text.substr(at, text.find(end, at) - at);
}

TEST_F(WsgiTest, DjangoServesModelsFormsStreamsDownloadsAndStaticFiles) {
    {
        std::ofstream f(dir_ + "/download.bin", std::ios::binary);
        for (int i = 0; i < 70000; ++i) f.put(static_cast<char>(i * 7));
    }
    ASSERT_NO_FATAL_FAILURE(StartDjango({"--command", "collectstatic --noinput"}));

    // A model read and written in SQLite.
    auto created = Post(app_port_, "/notes/", R"({"text": "first"})", "Content-Type: application/json\r\n");
    ASSERT_TRUE(created);
    EXPECT_EQ(created->status, 201) << created->body;
    auto listed = Get(app_port_, "/notes/");
    ASSERT_TRUE(listed);
    EXPECT_EQ(Json::parse(listed->body)["notes"], Json::array({"first"}));

    // A POST form with CSRF: refused without the token, accepted with the cookie and the form's token.
    auto form = Get(app_port_, "/form/");
    ASSERT_TRUE(form);
    ASSERT_EQ(form->status, 200);
    std::string cookie = Between(form->header("set-cookie"), "csrftoken=", ';');
    std::string token = Between(form->body, "name=\"csrfmiddlewaretoken\" value=\"", '"');
    ASSERT_FALSE(cookie.empty()) << form->head;
    ASSERT_FALSE(token.empty()) << form->body;
    auto refused = Post(app_port_, "/form/", "text=nope", "Content-Type: application/x-www-form-urlencoded\r\n");
    ASSERT_TRUE(refused);
    EXPECT_EQ(refused->status, 403);
    auto saved = Post(app_port_, "/form/", "text=second&csrfmiddlewaretoken=" + token,
                      "Content-Type: application/x-www-form-urlencoded\r\nCookie: csrftoken=" + cookie + "\r\n");
    ASSERT_TRUE(saved);
    EXPECT_EQ(saved->status, 200) << saved->body;
    EXPECT_EQ(Json::parse(Get(app_port_, "/notes/")->body)["notes"], Json::array({"first", "second"}));

    // StreamingHttpResponse: chunked, whole.
    auto stream = Get(app_port_, "/stream/");
    ASSERT_TRUE(stream);
    EXPECT_EQ(stream->status, 200);
    EXPECT_EQ(stream->header("transfer-encoding"), "chunked");
    ASSERT_EQ(stream->body.size(), 100000U);
    EXPECT_EQ(stream->body.substr(0, 10), "0000000000");
    EXPECT_EQ(stream->body.substr(99995), "00099");

    // FileResponse: through wsgi.file_wrapper, with its length and name.
    auto download = Get(app_port_, "/download/");
    ASSERT_TRUE(download);
    EXPECT_EQ(download->status, 200);
    EXPECT_EQ(download->body, ReadFile(dir_ + "/download.bin"));
    EXPECT_EQ(download->header("content-length"), "70000");
    EXPECT_NE(download->header("content-disposition").find("download.bin"), std::string::npos);

    // collectstatic ran before the port opened; hashed names (ManifestStaticFilesStorage) are immutable.
    std::string hashed;
    for (const auto& e : fs::directory_iterator(dir_ + "/static/notes")) {
        std::string name = e.path().filename().string();
        if (name != "app.css" && name.starts_with("app.")) hashed = name;
    }
    ASSERT_FALSE(hashed.empty()) << "collectstatic wrote no hashed file";
    auto css = Get(app_port_, "/static/notes/" + hashed);
    ASSERT_TRUE(css);
    EXPECT_EQ(css->status, 200);
    EXPECT_EQ(css->body, "body { color: #123; }\n");
    EXPECT_EQ(css->header("cache-control"), "public, max-age=31536000, immutable");

    // HEAD reaches Django too, with the GET's length and no body.
    auto head = gale::testing::integration::Request(app_port_, "HEAD", "/notes/");
    ASSERT_TRUE(head);
    EXPECT_EQ(head->status, 200);
    EXPECT_TRUE(head->body.empty());

    // Metrics count the app's requests under route "*".
    auto metrics = Get(probe_port_, "/metrics");
    ASSERT_TRUE(metrics);
    EXPECT_NE(metrics->body.find("route=\"*\""), std::string::npos);
}

TEST_F(WsgiTest, ExceptionInAViewIsA500LoggedWithTheRequestIdAndTraceback) {
    ASSERT_NO_FATAL_FAILURE(StartDjango());
    auto boom = Get(app_port_, "/boom/");
    ASSERT_TRUE(boom);
    EXPECT_EQ(boom->status, 500);
    EXPECT_EQ(boom->body.find("broke"), std::string::npos) << "the error's detail reached the client";
    std::string id = boom->header("x-request-id");
    ASSERT_FALSE(id.empty());
    ASSERT_TRUE(Eventually([&] { return !server_->Records("Internal Server Error: /boom/").empty(); }, 5s));
    Json record = server_->Records("Internal Server Error: /boom/").front();
    EXPECT_EQ(record.value("level", ""), "error");
    EXPECT_EQ(record.value("logger", ""), "django.request");
    EXPECT_EQ(record.value("request_id", ""), id);
    EXPECT_NE(record.value("traceback", "").find("RuntimeError: the view broke on purpose"), std::string::npos)
        << record.dump();
    EXPECT_EQ(StatusOf(app_port_, "/notes/"), 200) << "the server carries on";
}

TEST_F(WsgiTest, DjangoChecksTaggedReadinessAndTheDatabaseDriveTheProbes) {
    ASSERT_NO_FATAL_FAILURE(StartDjango());
    std::optional<gale::http::testing::RawResponse> ready;
    EXPECT_TRUE(Eventually(  // the first probes may find the checks still pending
        [&] {
            ready = Get(probe_port_, "/ready");
            return ready && ready->status == 200;
        },
        5s))
        << (ready ? ready->body : "no answer");
    ASSERT_TRUE(ready);
    Json body = Json::parse(ready->body);
    std::vector<std::string> names;
    for (const auto& c : body["checks"]) names.push_back(c.value("name", ""));
    EXPECT_EQ(names, (std::vector<std::string>{"django-readiness", "django-database"})) << ready->body;

    std::ofstream(dir_ + "/not-ready") << "maintenance\n";
    ASSERT_TRUE(Eventually([&] { return StatusOf(probe_port_, "/ready") == 503; }, 5s)) << "the check never failed";
    auto failing = Get(probe_port_, "/ready");
    EXPECT_NE(failing->body.find("notes.E001"), std::string::npos) << failing->body;
    EXPECT_EQ(StatusOf(probe_port_, "/alive"), 200) << "a readiness check must not fail liveness";
    fs::remove(dir_ + "/not-ready");
    EXPECT_TRUE(Eventually([&] { return StatusOf(probe_port_, "/ready") == 200; }, 5s));
}

TEST_F(WsgiTest, AnUnreachableDatabaseFailsReadinessNotLiveness) {
    auto env = DjangoEnv();
    env["TESTPROJECT_DB"] = dir_ + "/no/such/dir/db.sqlite3";  // SQLite cannot create it
    ASSERT_NO_FATAL_FAILURE(
        Start({"serve", "--pythonpath", kApps, "--bind", "127.0.0.1", "--port", "0"}, std::move(env)));
    std::optional<gale::http::testing::RawResponse> ready;
    ASSERT_TRUE(Eventually(
        [&] {
            ready = Get(probe_port_, "/ready");  // the first probes may report the check as pending
            return ready && ready->status == 503 && ready->body.find("database error") != std::string::npos;
        },
        5s))
        << (ready ? ready->body : "no answer");
    EXPECT_NE(ready->body.find("database error"), std::string::npos) << ready->body;
    EXPECT_NE(ready->body.find("unable to open database file"), std::string::npos) << ready->body;
    EXPECT_EQ(StatusOf(probe_port_, "/alive"), 200) << "restarting the pod does not bring a database back";
}

TEST_F(WsgiTest, CheckMigrationsHoldsTheAppPortUntilDjangoIsMigrated) {
    server_ = &Spawn({"serve", "--pythonpath", kApps, "--bind", "127.0.0.1", "--port", "0", "--check-migrations"},
                     DjangoEnv());
    probe_port_ = server_->WaitForPort("probe server listening", 30s);
    ASSERT_NE(probe_port_, 0);
    std::this_thread::sleep_for(1500ms);
    EXPECT_NE(StatusOf(probe_port_, "/startup"), 200) << "startup passed with migrations pending";
    EXPECT_TRUE(server_->Records("app server listening").empty()) << "the app port opened with migrations pending";
    ASSERT_EQ(RunToEnd({"manage", "migrate", "--pythonpath", kApps}, DjangoEnv()), 0) << LogOf(1);
    app_port_ = server_->WaitForPort("app server listening", 20s);
    ASSERT_NE(app_port_, 0) << "the app port never opened after migrate";
    EXPECT_EQ(StatusOf(app_port_, "/notes/"), 200);
    EXPECT_TRUE(Eventually([&] { return StatusOf(probe_port_, "/startup") == 200; }, 5s));
}

TEST_F(WsgiTest, StartupErrorsExitTwoWithThePythonTraceback) {
    std::ofstream(dir_ + "/broken.py") << "def helper():\n    raise RuntimeError('import-time failure')\n\nhelper()\n";
    std::ofstream(dir_ + "/numbers.py") << "application = 42\n";
    std::ofstream(dir_ + "/ok.py") << "def application(environ, start_response):\n    return []\n";
    struct Case {
        std::vector<std::string> args;
        std::map<std::string, std::string> env;
        std::vector<std::string> expected;
    };
    const std::vector<Case> cases = {
        {{"serve", "--app", "no_such_module:app"}, {}, {"cannot import 'no_such_module'", "ModuleNotFoundError"}},
        {{"serve", "--app", "broken:app", "--pythonpath", dir_},
         {},
         {"Traceback (most recent call last)", "line 2, in helper", "RuntimeError: import-time failure"}},
        {{"serve", "--app", "numbers", "--pythonpath", dir_}, {}, {"not callable", "int"}},
        {{"serve", "--app", "numbers:missing", "--pythonpath", dir_}, {}, {"no attribute 'missing'"}},
        {{"serve", "--pythonpath", dir_ + "/nowhere"}, {}, {"--pythonpath", "is not a directory"}},
        {{"serve"}, {}, {"no application", "--app", "DJANGO_SETTINGS_MODULE"}},
        {{"serve"}, {{"DJANGO_SETTINGS_MODULE", "nosuch.settings"}}, {"Django did not start", "nosuch"}},
        {{"serve", "--processes", "0", "--app", "ok", "--pythonpath", dir_}, {}, {"--processes: 0 is out of range"}},
        {{"worker", "--processes", "2", "--app", "ok", "--pythonpath", dir_},
         {},
         {"--processes (GALE_PROCESSES) is for serve; worker runs in one process"}},
    };
    for (std::size_t i = 0; i < cases.size(); ++i) {
        const Case& c = cases[i];
        EXPECT_EQ(RunToEnd(c.args, c.env, 30s), 2) << c.args[2 % c.args.size()];
        std::string log = LogOf(i);
        for (const std::string& e : c.expected) EXPECT_NE(log.find(e), std::string::npos) << e << " in:\n" << log;
        EXPECT_EQ(log.find("AddressSanitizer"), std::string::npos) << log;
    }
}

TEST_F(WsgiTest, FlaskAppServesJsonStreamsAndErrors) {
    ASSERT_NO_FATAL_FAILURE(Start(
        {"serve", "--app", "app:app", "--pythonpath", kApps + "/flaskapp", "--bind", "127.0.0.1", "--port", "0"}, {}));
    auto hello = Get(app_port_, "/hello");
    ASSERT_TRUE(hello);
    EXPECT_EQ(hello->status, 200);
    EXPECT_EQ(hello->body, "Hello from Flask\n");
    auto echo = Post(app_port_, "/echo?x=1", R"({"a": [1, 2]})", "Content-Type: application/json\r\n");
    ASSERT_TRUE(echo);
    ASSERT_EQ(echo->status, 200) << echo->body;
    Json e = Json::parse(echo->body);
    EXPECT_EQ(e["received"], Json::parse(R"({"a": [1, 2]})"));
    EXPECT_EQ(e["path"], "/echo");
    EXPECT_EQ(e["args"]["x"], "1");
    auto stream = Get(app_port_, "/stream");
    ASSERT_TRUE(stream);
    EXPECT_EQ(stream->header("transfer-encoding"), "chunked");
    ASSERT_EQ(stream->body.size(), 1000U * 9 + 9000U * 10);  // "chunk000\n" … "chunk9999\n"
    EXPECT_EQ(stream->body.substr(stream->body.size() - 10), "chunk9999\n");
    auto gone = Get(app_port_, "/gone");  // the app's own reason phrase
    ASSERT_TRUE(gone);
    EXPECT_EQ(gone->head.substr(0, gone->head.find("\r\n")), "HTTP/1.1 410 Moved On Without A Forwarding Address");
    auto fail = Get(app_port_, "/fail");
    ASSERT_TRUE(fail);
    EXPECT_EQ(fail->status, 500);
    ASSERT_TRUE(Eventually([&] { return !server_->Records("Exception on /fail [GET]").empty(); }, 5s));
    Json record = server_->Records("Exception on /fail [GET]").front();
    EXPECT_EQ(record.value("request_id", ""), fail->header("x-request-id"));
    EXPECT_NE(record.value("traceback", "").find("KeyError: 'flask view failed'"), std::string::npos);
    EXPECT_EQ(StatusOf(app_port_, "/nothing-here"), 404);
}

TEST_F(WsgiTest, FlaskReadsALargeOrChunkedBodyAsItStreamsAndABadChunkIs400) {
    ASSERT_NO_FATAL_FAILURE(Start(
        {"serve", "--app", "app:app", "--pythonpath", kApps + "/flaskapp", "--bind", "127.0.0.1", "--port", "0"}, {}));
    std::string big = NumberedLines(700'000);  // 8.4 MB, far above the 256 KiB the server reads ahead
    auto large = Post(app_port_, "/upload", big);
    ASSERT_TRUE(large);
    ASSERT_EQ(large->status, 200) << large->body;
    Json l = Json::parse(large->body);
    EXPECT_EQ(l["size"], big.size());
    EXPECT_EQ(l["lines"], 700'000);
    EXPECT_EQ(l["unordered"], 0);

    gale::http::testing::RawClient c(app_port_, std::chrono::milliseconds(5000));
    ASSERT_TRUE(
        c.Send("POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
               "c\r\nline0000000\n\r\n6\r\nline00\r\n6\r\n00001\n\r\n3\r\nend\r\n0\r\n\r\n"));
    auto chunked = c.ReadResponse();
    ASSERT_TRUE(chunked);
    ASSERT_EQ(chunked->status, 200) << chunked->body;
    Json ch = Json::parse(chunked->body);
    EXPECT_EQ(ch["size"], 27);
    EXPECT_EQ(ch["lines"], 2);
    EXPECT_EQ(ch["unordered"], 0);
    EXPECT_EQ(ch["rest"], "end");
    ASSERT_TRUE(c.Send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")) << "the connection goes on after a chunked body";
    auto after = c.ReadResponse();
    ASSERT_TRUE(after);
    EXPECT_EQ(after->body, "Hello from Flask\n");

    gale::http::testing::RawClient bad(app_port_, std::chrono::milliseconds(5000));
    ASSERT_TRUE(
        bad.Send("POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                 "4\r\nline\r\nzz\r\n"));
    auto refused = bad.ReadResponse();
    ASSERT_TRUE(refused);
    EXPECT_EQ(refused->status, 400) << "a framing error is the client's, whatever the app answers";
    EXPECT_EQ(StatusOf(app_port_, "/hello"), 200) << "and the server goes on";
}

TEST_F(WsgiTest, TheAppReadsTheBodysStartWhileTheClientStillHoldsTheRestBack) {
    // Streamed end to end: the app answers after one line of a 1 MB body of which the client has sent that line
    // only. A server that read the body first would answer nothing until --body-timeout, and then a 408.
    ASSERT_NO_FATAL_FAILURE(Start({"serve", "--app", "app:app", "--pythonpath", kApps + "/flaskapp", "--bind",
                                   "127.0.0.1", "--port", "0", "--body-timeout", "2s"},
                                  {}));
    RawClient c(app_port_, std::chrono::milliseconds(3000));
    ASSERT_TRUE(c.Send("POST /first-line HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\nthe first line\n"));
    auto first = c.ReadResponse();
    ASSERT_TRUE(first) << "no answer within 3 s while the rest of the body was held back";
    EXPECT_EQ(first->status, 200);
    EXPECT_EQ(first->body, "the first line\n");
    EXPECT_EQ(Lower(first->header("connection")), "close") << "the body was not read to its end";

    // A chunked body the same way: one chunk in, the rest held back.
    RawClient chunked(app_port_, std::chrono::milliseconds(3000));
    ASSERT_TRUE(
        chunked.Send("POST /first-line HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "6\r\nfirst\n\r\n4\r\nmore"));
    auto one = chunked.ReadResponse();
    ASSERT_TRUE(one) << "no answer within 3 s to the first chunk";
    EXPECT_EQ(one->body, "first\n");

    // A client that stops sending for --body-timeout: 408, whatever the app made of its OSError.
    RawClient stalled(app_port_, std::chrono::milliseconds(6000));
    auto t0 = Clock::now();
    ASSERT_TRUE(stalled.Send("POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nline0000000\n"));
    auto timed_out = stalled.ReadResponse();
    ASSERT_TRUE(timed_out) << "no answer to a stalled body";
    EXPECT_EQ(timed_out->status, 408) << timed_out->body;
    EXPECT_GE(Clock::now() - t0, 1900ms) << "the --body-timeout of 2 s applies";
    EXPECT_EQ(StatusOf(app_port_, "/hello"), 200);
}

TEST_F(WsgiTest, DjangoTakesAMultipartUploadOfSeveralMegabytes) {
    ASSERT_NO_FATAL_FAILURE(StartDjango());
    const std::string file = NumberedLines(500'000) + "tail";  // 6 MB: above FILE_UPLOAD_MAX_MEMORY_SIZE (2.5 MB)
    const std::string boundary = "gale-test-7d3f9b";
    std::string body = "--" + boundary +
                       "\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nquarterly report\r\n--" + boundary +
                       "\r\nContent-Disposition: form-data; name=\"report\"; filename=\"report.txt\"\r\n"
                       "Content-Type: text/plain\r\n\r\n" +
                       file + "\r\n--" + boundary + "--\r\n";
    auto r = Post(app_port_, "/upload/", body, "Content-Type: multipart/form-data; boundary=" + boundary + "\r\n");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    Json got = Json::parse(r->body);
    EXPECT_EQ(got["fields"]["title"], "quarterly report");
    Json report = got["files"]["report"];
    EXPECT_EQ(report["size"], file.size());
    EXPECT_EQ(report["lines"], 500'000);
    EXPECT_EQ(report["unordered"], 0);
    EXPECT_EQ(report["rest"], "tail");
    EXPECT_EQ(report["on_disk"], true) << "Django spools a file this large to a temporary file";
}

TEST_F(WsgiTest, AutoreloadRestartsOnAPythonChangeAndNotOnOtherFiles) {
    fs::create_directory(dir_ + "/site");
    std::string app = dir_ + "/site/app.py";
    std::ofstream(app) << "def app(environ, start_response):\n"
                          "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
                          "    return [b'version 1']\n";
    ASSERT_NO_FATAL_FAILURE(Start({"serve", "--app", "app:app", "--pythonpath", dir_ + "/site", "--bind", "127.0.0.1",
                                   "--port", "0", "--autoreload", "--drain-delay", "100ms"},
                                  {}));
    ASSERT_EQ(Get(app_port_, "/")->body, "version 1");
    // Files that are not Python, in the watched directories (a database, a log), are no reason to restart.
    std::ofstream(dir_ + "/site/data.sqlite3") << "rows";
    std::ofstream(dir_ + "/notes.txt") << "text";
    std::this_thread::sleep_for(1500ms);
    EXPECT_TRUE(server_->Records("autoreload: change detected; restarting").empty());
    std::uint16_t second = 0;
    for (int attempt = 0; attempt < 3 && second == 0; ++attempt) {
        std::ofstream(app) << "def app(environ, start_response):\n"
                              "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
                              "    return [b'version 2']\n"
                           << std::string(static_cast<std::size_t>(attempt), '\n');
        second = server_->WaitForPort("app server listening", 5s, 2);
    }
    ASSERT_NE(second, 0) << "no restart after app.py changed";
    auto r = Get(second, "/");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->body, "version 2");
}

TEST_F(WsgiTest, AVirtualenvsPackagesComeFirstAndTheSystemsStayOut) {
    // A virtualenv as `python3 -m venv` lays it out (no pip needed): pyvenv.cfg and lib/python3.11/site-packages.
    std::string venv = dir_ + "/venv";
    fs::create_directories(venv + "/lib/python3.11/site-packages");
    std::ofstream(venv + "/pyvenv.cfg") << "home = /usr/bin\ninclude-system-site-packages = false\nversion = 3.11.2\n";
    std::ofstream(venv + "/lib/python3.11/site-packages/venvonly.py") << "WHERE = 'venv'\n";
    std::ofstream(dir_ + "/probe.py") << "import importlib.util, venvonly\n"
                                         "def app(environ, start_response):\n"
                                         "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
                                         "    django = importlib.util.find_spec('django') is not None\n"
                                         "    return [('%s django=%s' % (venvonly.WHERE, django)).encode()]\n";
    ASSERT_NO_FATAL_FAILURE(
        Start({"serve", "--app", "probe:app", "--pythonpath", dir_, "--bind", "127.0.0.1", "--port", "0"},
              {{"VIRTUAL_ENV", venv}}));
    auto r = Get(app_port_, "/");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->body, "venv django=False") << "the system's Django (python3-django) leaked into the virtualenv";
    // A path that is not a virtualenv is a start-up error naming it.
    EXPECT_EQ(RunToEnd({"serve", "--app", "probe:app", "--pythonpath", dir_}, {{"VIRTUAL_ENV", dir_ + "/nope"}}), 2);
    EXPECT_NE(LogOf(procs_.size() - 1).find("VIRTUAL_ENV"), std::string::npos);
}

TEST_F(WsgiTest, TaskModeRunsDjangoCommandsAndStops) {
    auto env = DjangoEnv();
    env["APP_RUN_MODE"] = "TASK";
    env["APP_TASK_COMMANDS"] = "migrate --noinput; showmigrations notes";
    env["GALE_PYTHONPATH"] = kApps;
    EXPECT_EQ(RunToEnd({}, env), 0) << LogOf(0);
    EXPECT_NE(LogOf(0).find("[X] 0001_initial"), std::string::npos) << LogOf(0);
    env["APP_TASK_COMMANDS"] = "migrate notes 9999_missing";
    EXPECT_NE(RunToEnd({}, env), 0) << "a failing command must fail the task";
}

// `deploy k8s` reads Django's DATABASES, not gale's DATABASE_*: a project on SQLite is refused (its tables would be
// a file in each pod), one on a database server renders, its WEB pods waiting for the Job's migrations there.
TEST_F(WsgiTest, DeployK8sChecksTheDatabaseOfDjangosSettings) {
    const std::vector<std::string> deploy = {
        "deploy",  "k8s",      "--image",      "registry.example.com/testproject:1.2.0",
        "--modes", "WEB,TASK", "--pythonpath", kApps};
    auto env = DjangoEnv();
    EXPECT_EQ(RunToEnd(deploy, env), 2);
    std::string refused = LogOf(0);
    EXPECT_NE(refused.find("DATABASES['default']['ENGINE']: django.db.backends.sqlite3, but the service keeps tables"),
              std::string::npos)
        << refused;
    EXPECT_NE(refused.find("testproject: cannot render manifests"), std::string::npos) << refused;
    EXPECT_EQ(refused.find("kind: \"Deployment\""), std::string::npos) << refused;

    // On a server, named and versioned for the project: --name (anywhere on the line) and GALE_WSGI_VERSION.
    std::vector<std::string> named = deploy;
    named.insert(named.begin(), {"--name", "mysite"});

    env["TESTPROJECT_DB_ENGINE"] = "postgresql";
    env["GALE_WSGI_VERSION"] = "1.2.0";
    ASSERT_EQ(RunToEnd(named, env), 0) << LogOf(1);
    std::string yaml = LogOf(1);
    for (const char* want :
         {"name: \"mysite-web\"", "gale.dev/migrations-database: \"django.db.backends.postgresql\"",
          "name: \"GALE_CHECK_MIGRATIONS\"", "name: \"mysite-task-1-2-0\"", "app.kubernetes.io/version: \"1.2.0\""}) {
        EXPECT_NE(yaml.find(want), std::string::npos) << want << "\n" << yaml;
    }
}

TEST_F(WsgiTest, ASleepingViewDoesNotStallOtherRequests) {
    ASSERT_NO_FATAL_FAILURE(StartDjango({"--workers", "4", "--no-access-log"}));
    std::vector<int> slow(2, 0);
    Threads sleepers;
    for (int i = 0; i < 2; ++i) {
        sleepers.Start([&, i] {
            auto r = Get(app_port_, "/slow/?s=2");
            slow[i] = r ? r->status : 0;
        });
    }
    std::this_thread::sleep_for(300ms);  // both asleep in Python (time.sleep releases the GIL)
    auto t = Clock::now();
    EXPECT_EQ(StatusOf(app_port_, "/notes/"), 200);
    EXPECT_LT(MsSince(t), 1500) << "a request waited for the sleeping views";
    sleepers.JoinAll();
    EXPECT_EQ(slow, (std::vector<int>{200, 200}));
}

TEST_F(WsgiTest, ProbesAnswerWhilePythonIsSaturated) {
    ASSERT_NO_FATAL_FAILURE(StartDjango({"--workers", "2", "--req-queue-len", "2", "--no-access-log"}));
    std::vector<std::unique_ptr<RawClient>> busy;
    for (int i = 0; i < 6; ++i) {  // CPU-bound views holding the GIL, 2 running, 4 queued
        auto c = std::make_unique<RawClient>(app_port_, 1000ms);
        ASSERT_TRUE(c->connected());
        ASSERT_TRUE(c->Send("GET /spin/?s=3 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
        busy.push_back(std::move(c));
    }
    ASSERT_TRUE(Eventually([&] { return StatusOf(probe_port_, "/ready") == 503; }, 2s)) << "the queue went unseen";
    double worst = 0;
    for (int i = 0; i < 20; ++i) {
        auto t = Clock::now();
        EXPECT_EQ(StatusOf(probe_port_, "/alive"), 200);
        worst = std::max(worst, MsSince(t));
    }
    // Timing is the benchmark's (bench/wsgi.sh: /ready p99); here only that a probe never waits for the GIL.
    EXPECT_LT(worst, 1000) << "a liveness probe waited for Python";
}

TEST_F(WsgiTest, SigtermUnderLoadLosesNoRequest) {
    ASSERT_NO_FATAL_FAILURE(
        StartDjango({"--drain-delay", "1s", "--graceful-timeout", "5s", "--no-access-log", "--workers", "4"}));
    ExpectSigtermUnderLoadLosesNoRequest(3, 10s);
}

// --processes (issue 11 §1): the app imported once, then N forked processes behind one port, one probe port
// (every process's probes), one /metrics (every process's, labelled) and logs that say which process wrote.
TEST_F(WsgiTest, ProcessesShareOnePortAndTheProbesMetricsAndLogsCoverEveryOne) {
    WritePidsApp();
    ASSERT_NO_FATAL_FAILURE(StartProcesses(2, {"--app", "pids", "--pythonpath", dir_, "--workers", "2"}, {}));
    std::set<int> pids = PidsServing(2);
    ASSERT_EQ(pids.size(), 2U) << "the kernel never spread connections over both processes";
    EXPECT_EQ(pids.count(server_->pid()), 0U) << "the supervisor itself served a request";
    EXPECT_EQ(Json::parse(Get(app_port_, "/")->body)["multiprocess"], true);

    for (const char* probe : {"/startup", "/ready", "/alive"}) {
        auto r = Get(probe_port_, probe);
        ASSERT_TRUE(r);
        EXPECT_EQ(r->status, 200) << probe << ": " << r->body;
    }
    Json ready = Json::parse(Get(probe_port_, "/ready")->body);
    std::set<std::string> names;
    for (const Json& c : ready["checks"]) names.insert(c["name"].get<std::string>());
    EXPECT_EQ(names, (std::set<std::string>{"process-0-readiness", "process-1-readiness"})) << ready.dump();

    auto metrics = Get(probe_port_, "/metrics");
    ASSERT_TRUE(metrics);
    ASSERT_EQ(metrics->status, 200);
    const std::string& m = metrics->body;
    for (const char* needle :
         {"gale_http_requests_total{process=\"0\"", "gale_http_requests_total{process=\"1\"",
          "gale_processes{process=\"supervisor\"} 2\n", "process_resident_memory_bytes{process=\"supervisor\"}",
          "process_resident_memory_bytes{process=\"1\"}"}) {
        EXPECT_NE(m.find(needle), std::string::npos) << needle << " in:\n" << m;
    }
    auto types = [&m](const std::string& line) {
        std::size_t n = 0;
        for (auto at = m.find(line); at != std::string::npos; at = m.find(line, at + 1)) ++n;
        return n;
    };
    EXPECT_EQ(types("# TYPE gale_http_requests_total counter\n"), 1U);

    // Each process's records say which one wrote them; the supervisor's too.
    std::set<std::string> serving;
    for (const Json& r : server_->Records("app server listening")) serving.insert(r.value("process", "?"));
    EXPECT_EQ(serving, (std::set<std::string>{"0", "1"}));
    auto supervisor = server_->Records("probe server listening");
    EXPECT_EQ(std::count_if(supervisor.begin(), supervisor.end(),
                            [](const Json& r) { return r.value("process", "") == "supervisor"; }),
              1);
    server_->Signal(SIGTERM);
    auto code = server_->WaitExit(20s);
    ASSERT_TRUE(code);
    EXPECT_EQ(*code, 0) << server_->Log();
}

TEST_F(WsgiTest, SigtermUnderLoadWithProcessesLosesNoRequest) {
    ASSERT_EQ(RunToEnd({"migrate", "--pythonpath", kApps}, DjangoEnv()), 0) << LogOf(0);
    ASSERT_NO_FATAL_FAILURE(StartProcesses(
        2,
        {"--pythonpath", kApps, "--drain-delay", "1s", "--graceful-timeout", "5s", "--no-access-log", "--workers", "2"},
        DjangoEnv()));
    ASSERT_NO_FATAL_FAILURE(ExpectSigtermUnderLoadLosesNoRequest(4, 15s));
    EXPECT_EQ(server_->Records("process exited").size(), 2U) << server_->Log();
    EXPECT_EQ(server_->Records("shutdown finished").size(), 3U) << "two processes and the supervisor";
}

TEST_F(WsgiTest, AProcessThatDiesFailsTheProbesAndStopsTheWholeWithExitOne) {
    WritePidsApp();
    ASSERT_NO_FATAL_FAILURE(StartProcesses(
        2, {"--app", "pids", "--pythonpath", dir_, "--drain-delay", "2s", "--graceful-timeout", "2s"}, {}));
    std::set<int> pids = PidsServing(2);
    ASSERT_EQ(pids.size(), 2U);
    int victim = *pids.begin();
    ASSERT_EQ(::kill(victim, SIGKILL), 0);
    // Readiness fails at once (the supervisor drains); the survivor keeps serving through the drain delay.
    EXPECT_TRUE(Eventually([&] { return StatusOf(probe_port_, "/ready") == 503; }, 3s, 10ms)) << server_->Log();
    auto r = Get(app_port_, "/", "Connection: close\r\n");
    ASSERT_TRUE(r) << "the surviving process stopped serving before its drain";
    EXPECT_EQ(r->status, 200);
    EXPECT_NE(Json::parse(r->body)["pid"].get<int>(), victim);
    auto code = server_->WaitExit(20s);
    ASSERT_TRUE(code) << server_->Log();
    EXPECT_EQ(*code, 1);
    auto died = server_->Records("a process ended while serving; stopping the others");
    ASSERT_EQ(died.size(), 1U) << server_->Log();
    EXPECT_EQ(died[0]["exit"], "was killed by signal 9 (Killed)");
    EXPECT_EQ(died[0]["pid"], victim);
}

TEST_F(WsgiTest, StartupStepsRunOnceBeforeTheProcessesFork) {
    ASSERT_NO_FATAL_FAILURE(StartProcesses(
        3,
        {"--pythonpath", kApps, "--command", "migrate", "--command", "collectstatic --noinput", "--check-migrations"},
        DjangoEnv()));
    auto started = server_->Records("command started");
    ASSERT_EQ(started.size(), 2U) << server_->Log();
    for (const Json& r : started) EXPECT_EQ(r["process"], "steps");
    EXPECT_EQ(server_->Records("migrations are applied").size(), 1U);
    // Django's database, migrated once, is every process's.
    auto created = Post(app_port_, "/notes/", R"({"text": "from one"})", "Content-Type: application/json\r\n");
    ASSERT_TRUE(created);
    EXPECT_EQ(created->status, 201) << created->body;
    for (int i = 0; i < 6; ++i) {
        auto listed = Get(app_port_, "/notes/", "Connection: close\r\n");
        ASSERT_TRUE(listed);
        EXPECT_EQ(Json::parse(listed->body)["notes"], Json::array({"from one"}));
    }
    EXPECT_EQ(StatusOf(probe_port_, "/ready"), 200);
    server_->Signal(SIGTERM);
    auto code = server_->WaitExit(30s);
    ASSERT_TRUE(code);
    EXPECT_EQ(*code, 0);
}

TEST_F(WsgiTest, AFailingStartupStepStopsBeforeAnyProcessForks) {
    int code = RunToEnd({"serve", "--processes", "2", "--bind", "127.0.0.1", "--port", "0", "--pythonpath", kApps,
                         "--command", "migrate nosuchapp"},
                        DjangoEnv(), 30s);
    EXPECT_EQ(code, 1) << LogOf(0);
    Process& p = *procs_.back();
    EXPECT_TRUE(p.Records("app server listening").empty()) << "a process forked after a failed step";
    auto failed = p.Records("start-up failed");
    ASSERT_EQ(failed.size(), 1U) << p.Log();
    EXPECT_EQ(failed[0]["process"], "steps");
    EXPECT_EQ(failed[0]["step"], "--command migrate");
}

TEST_F(WsgiTest, TheServersRequestCorpusNeitherCrashesNorWedgesIt) {
    ASSERT_NO_FATAL_FAILURE(Start({"serve", "--app", "app:app", "--pythonpath", kApps + "/flaskapp", "--bind",
                                   "127.0.0.1", "--port", "0", "--no-access-log"},
                                  {}));
    int sent = 0;
    for (const char* corpus : {"request_parser_corpus", "request_exchange_corpus"}) {
        for (const auto& entry : fs::directory_iterator(fs::path(GALE_HTTP_CORPUS_DIR) / corpus)) {
            RawClient c(app_port_, 2000ms);
            ASSERT_TRUE(c.connected()) << "refused before " << entry.path();
            c.Send(ReadFile(entry.path().string()));
            ::shutdown(c.fd(), SHUT_WR);  // nothing more comes: the server answers or closes, never waits
            EXPECT_TRUE(c.WaitForClose()) << entry.path() << " left the connection open: " << c.buffer();
            ++sent;
        }
    }
    EXPECT_GE(sent, 15) << "the corpus went missing";
    EXPECT_EQ(StatusOf(app_port_, "/hello"), 200);
    EXPECT_EQ(StatusOf(probe_port_, "/alive"), 200);
    EXPECT_FALSE(server_->WaitExit(0ms)) << "the server died";
}

}  // namespace

int main(int argc, char** argv) {
    ::signal(SIGPIPE, SIG_IGN);
    ::testing::InitGoogleTest(&argc, argv);
    return RUN_ALL_TESTS();
}
