// SPDX-License-Identifier: MIT
// WsgiApp against the PEP 3333 behaviours of testing/wsgi_apps.py, in process (the black-box tests over HTTP are
// tests/integration/wsgi_test.cpp).
#include <unistd.h>

#include <cstdio>
#include <deque>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <gale/wsgi/wsgi_app.hpp>

#include "python_ref.hpp"
#include "wsgi_test_util.hpp"

namespace gale::wsgi {
namespace {

using ::testing::HasSubstr;
using testing::TestRequest;

const auto* const kPython = ::testing::AddGlobalTestEnvironment(new testing::PythonEnvironment());

std::unique_ptr<WsgiApp> Load(const std::string& name, WsgiOptions options = {}) {
    auto app = WsgiApp::Import("wsgi_apps:" + name, std::move(options));
    EXPECT_TRUE(app) << (app ? "" : app.error().message());
    return app ? std::move(*app) : nullptr;
}

// Pulls a streamed body to its end (as the server does, one piece at a time).
std::string Drain(http::Response& response) {
    std::string body = response.body();
    http::StreamFn stream = response.TakeStream();
    if (!stream) return body;
    for (;;) {
        std::string chunk;
        bool more = stream(chunk);
        body += chunk;
        if (!more) return body;
    }
}

// A request body that comes in pieces, as the server's streamed body does, then ends or fails.
class PieceStream : public http::BodyStream {
public:
    explicit PieceStream(std::deque<std::string> pieces, std::optional<Error> failure = std::nullopt)
        : pieces_(std::move(pieces)), failure_(std::move(failure)) {}
    Result<std::size_t> Read(std::string& out, std::size_t max) override {
        if (PyGILState_Check() != 0) gil_held_ = true;
        if (pieces_.empty()) {
            if (failure_) return tl::unexpected(*failure_);
            return 0;
        }
        std::string& front = pieces_.front();
        std::size_t n = std::min(max, front.size());
        out.append(front, 0, n);
        front.erase(0, n);
        if (front.empty()) pieces_.pop_front();
        return n;
    }
    bool gil_held() const { return gil_held_; }

private:
    std::deque<std::string> pieces_;
    std::optional<Error> failure_;
    bool gil_held_ = false;
};

std::vector<std::string> Closed() {
    Gil gil;
    Ref module = Ref::Adopt(PyImport_ImportModule("wsgi_apps"));
    Ref list = Ref::Adopt(PyObject_GetAttrString(module.get(), "closed"));
    std::vector<std::string> out;
    for (Py_ssize_t i = 0; i < PyList_Size(list.get()); ++i)
        out.emplace_back(PyUnicode_AsUTF8(PyList_GetItem(list.get(), i)));
    return out;
}

TEST(WsgiApp, ListBodyIsSentWithItsLengthAndHeaders) {
    auto app = Load("hello");
    TestRequest req(http::Method::kGet, "/");
    http::Response res = app->Handle(req.get());
    EXPECT_EQ(res.status(), 200);
    EXPECT_EQ(res.body(), "Hello, world!\n");
    EXPECT_FALSE(res.streaming());
    EXPECT_EQ(res.header("Content-Type"), "text/plain");
}

TEST(WsgiApp, EnvironFollowsPep3333) {
    auto app = Load("echo");
    TestRequest req(http::Method::kPost, "/caf%C3%A9/a%20b?x=1&y=%20",
                    {{"Host", "example.org:8080"},
                     {"Content-Type", "text/plain"},
                     {"Content-Length", "4"},
                     {"Cookie", "a=1"},
                     {"Cookie", "b=2"},
                     {"X-Multi", "one"},
                     {"X-Multi", "two"},
                     {"X_Forwarded_For", "6.6.6.6"}},
                    "body");
    http::Response res = app->Handle(req.get());
    ASSERT_EQ(res.status(), 200) << res.body();
    auto e = nlohmann::json::parse(res.body());
    EXPECT_EQ(e["REQUEST_METHOD"], "POST");
    EXPECT_EQ(e["SCRIPT_NAME"], "");
    // Decoded, then each byte one code point (Latin-1): the UTF-8 "é" is two characters, as PEP 3333 says.
    EXPECT_EQ(e["PATH_INFO"], "/caf\u00c3\u00a9/a b");
    EXPECT_EQ(e["QUERY_STRING"], "x=1&y=%20");
    EXPECT_EQ(e["CONTENT_TYPE"], "text/plain");
    EXPECT_EQ(e["CONTENT_LENGTH"], "4");
    EXPECT_EQ(e["SERVER_NAME"], "example.org");
    EXPECT_EQ(e["SERVER_PORT"], "8080");
    EXPECT_EQ(e["SERVER_PROTOCOL"], "HTTP/1.1");
    EXPECT_EQ(e["HTTP_HOST"], "example.org:8080");
    EXPECT_EQ(e["HTTP_COOKIE"], "a=1; b=2");
    EXPECT_EQ(e["HTTP_X_MULTI"], "one, two");
    EXPECT_FALSE(e.contains("HTTP_X_FORWARDED_FOR")) << "a header with '_' must not pose as one with '-'";
    EXPECT_EQ(e["wsgi.url_scheme"], "http");
    EXPECT_EQ(e["wsgi.version"], nlohmann::json::array({1, 0}));
    EXPECT_EQ(e["wsgi.multithread"], true);
    EXPECT_EQ(e["wsgi.multiprocess"], false);
    EXPECT_EQ(e["wsgi.run_once"], false);
    EXPECT_EQ(e["wsgi.input_terminated"], true);
    EXPECT_EQ(e["gale.request_id"], "test-request-1");
    EXPECT_EQ(e["body"], "body");
    EXPECT_EQ(e["types"], nlohmann::json::array({"str"})) << "every CGI variable is a native str";
}

TEST(WsgiApp, ScriptNameIsTheMountPrefix) {
    auto app = Load("echo", {.script_name = "/app"});
    TestRequest under(http::Method::kGet, "/app/items/1");
    auto e = nlohmann::json::parse(app->Handle(under.get()).body());
    EXPECT_EQ(e["SCRIPT_NAME"], "/app");
    EXPECT_EQ(e["PATH_INFO"], "/items/1");
    TestRequest prefix_only(http::Method::kGet, "/application");  // not under "/app/"
    e = nlohmann::json::parse(app->Handle(prefix_only.get()).body());
    EXPECT_EQ(e["SCRIPT_NAME"], "");
    EXPECT_EQ(e["PATH_INFO"], "/application");
}

TEST(WsgiApp, MalformedEscapeInThePathIs400) {
    auto app = Load("echo");
    for (const char* target : {"/a%zz", "/a%00b", "/%"}) {
        TestRequest req(http::Method::kGet, target);
        http::Response res = app->Handle(req.get());
        EXPECT_EQ(res.status(), 400) << target;
        EXPECT_THAT(res.body(), HasSubstr("%-escape")) << target;
    }
}

TEST(WsgiApp, ShortIterableIsBufferedAndClosed) {
    auto app = Load("small_iterable");
    TestRequest req(http::Method::kGet, "/");
    http::Response res = app->Handle(req.get());
    EXPECT_EQ(res.status(), 201);
    EXPECT_FALSE(res.streaming());
    EXPECT_EQ(res.body(), "ab");
    EXPECT_EQ(res.header("X-Custom"), "yes");
    EXPECT_THAT(Closed(), ::testing::Contains("small"));
}

TEST(WsgiApp, LongIterableStreamsAndIsClosedAtItsEnd) {
    auto app = Load("big_stream");
    TestRequest req(http::Method::kGet, "/");
    http::Response res = app->Handle(req.get());
    ASSERT_TRUE(res.streaming());
    EXPECT_THAT(Closed(), ::testing::Not(::testing::Contains("big")));
    EXPECT_EQ(Drain(res), std::string(500000, 'x'));
    EXPECT_THAT(Closed(), ::testing::Contains("big"));
}

TEST(WsgiApp, StreamAbandonedByTheClientIsClosedOffThread) {
    auto app = Load("big_stream");
    {
        TestRequest req(http::Method::kGet, "/");
        http::Response res = app->Handle(req.get());
        ASSERT_TRUE(res.streaming());
        // The response dies here without being drained, as when the client goes away mid-stream.
    }
    for (int i = 0; i < 200; ++i) {
        std::vector<std::string> closed = Closed();
        if (std::find(closed.begin(), closed.end(), "big") != closed.end()) break;
        ::usleep(10'000);
    }
    EXPECT_THAT(Closed(), ::testing::Contains("big"));
}

TEST(WsgiApp, ExceptionWhileStreamingCutsTheResponseAndCloses) {
    auto app = Load("stream_fails");
    TestRequest req(http::Method::kGet, "/");
    http::Response res = app->Handle(req.get());
    ASSERT_TRUE(res.streaming());
    EXPECT_THROW(Drain(res), std::exception);
    EXPECT_THAT(Closed(), ::testing::Contains("fails"));
}

TEST(WsgiApp, ExceptionBeforeTheBodyIs500AndCloses) {
    auto app = Load("fails_before_body");
    TestRequest req(http::Method::kGet, "/");
    EXPECT_EQ(app->Handle(req.get()).status(), 500);
    EXPECT_THAT(Closed(), ::testing::Contains("before"));
}

TEST(WsgiApp, StartResponseInsideTheGenerator) {
    auto app = Load("lazy_generator");
    TestRequest req(http::Method::kGet, "/");
    http::Response res = app->Handle(req.get());
    EXPECT_EQ(res.status(), 200);
    EXPECT_EQ(res.body(), "lazy");
}

TEST(WsgiApp, WriteCallableComesFirst) {
    auto app = Load("with_write");
    TestRequest req(http::Method::kGet, "/");
    EXPECT_EQ(app->Handle(req.get()).body(), "written returned");
}

TEST(WsgiApp, ExcInfoReplacesTheHeadBeforeTheBody) {
    auto app = Load("error_page");
    TestRequest req(http::Method::kGet, "/");
    http::Response res = app->Handle(req.get());
    EXPECT_EQ(res.status(), 503);
    EXPECT_EQ(res.body(), "sorry");
}

TEST(WsgiApp, TheAppsReasonPhraseIsKeptAndTheStandardOneIsNotCopied) {
    auto app = Load("custom_reason");
    TestRequest req(http::Method::kGet, "/");
    http::Response res = app->Handle(req.get());
    EXPECT_EQ(res.status(), 299);
    EXPECT_EQ(res.reason(), "Found It Anyway");
    EXPECT_EQ(Drain(res), "custom");
    auto standard = Load("small_iterable");  // "201 Created": the server's own phrase, nothing stored
    TestRequest again(http::Method::kGet, "/");
    EXPECT_EQ(standard->Handle(again.get()).reason(), "");
}

TEST(WsgiApp, AppErrorsAre500s) {
    for (const char* name :
         {"raises", "no_start_response", "bad_status", "split_status", "hop_by_hop", "not_bytes", "twice"}) {
        auto app = Load(name);
        TestRequest req(http::Method::kGet, "/");
        http::Response res = app->Handle(req.get());
        EXPECT_EQ(res.status(), 500) << name;
        EXPECT_EQ(res.body(), "Internal Server Error\n") << name << ": no detail leaks to the client";
    }
}

TEST(WsgiApp, ContentLengthBoundsTheBody) {
    auto app = Load("truncated");
    TestRequest req(http::Method::kGet, "/");
    EXPECT_EQ(app->Handle(req.get()).body(), "abc");
}

TEST(WsgiApp, FileWrapperOverARegularFileIsSentWithSendfile) {
    std::string path = ::testing::TempDir() + "/gale-wsgi-download.bin";
    {
        std::ofstream f(path, std::ios::binary);
        f << "0123456789";
    }
    auto app = Load("file_download");
    TestRequest req(http::Method::kGet, "/?" + path);
    http::Response res = app->Handle(req.get());
    ASSERT_TRUE(res.file().has_value()) << res.status() << " " << res.body();
    EXPECT_EQ(res.file()->offset, 3U);  // from the file's position
    EXPECT_EQ(res.file()->length, 7U);
    char buf[16] = {};
    ASSERT_EQ(::pread(res.file()->fd, buf, res.file()->length, static_cast<off_t>(res.file()->offset)), 7);
    EXPECT_STREQ(buf, "3456789");
    std::filesystem::remove(path);
}

TEST(WsgiApp, FileWrapperOverAnythingElseIsIterated) {
    auto app = Load("file_wrapper_bytesio");
    TestRequest req(http::Method::kGet, "/");
    http::Response res = app->Handle(req.get());
    EXPECT_FALSE(res.file().has_value());
    EXPECT_EQ(res.body(), "from memory");
}

TEST(WsgiApp, ImportErrorsNameWhatIsWrong) {
    auto missing = WsgiApp::Import("no_such_module:app");
    ASSERT_FALSE(missing);
    EXPECT_THAT(missing.error().message(), HasSubstr("cannot import 'no_such_module'"));
    EXPECT_THAT(missing.error().message(), HasSubstr("ModuleNotFoundError"));
    auto attribute = WsgiApp::Import("wsgi_apps:nothing_here");
    ASSERT_FALSE(attribute);
    EXPECT_THAT(attribute.error().message(), HasSubstr("no attribute 'nothing_here'"));
    auto not_callable = WsgiApp::Import("wsgi_apps:not_callable");
    ASSERT_FALSE(not_callable);
    EXPECT_THAT(not_callable.error().message(), HasSubstr("not callable"));
    auto malformed = WsgiApp::Import("wsgi_apps:");
    ASSERT_FALSE(malformed);
    EXPECT_THAT(malformed.error().message(), HasSubstr("expected 'package.module:attribute'"));
}

TEST(WsgiApp, InputReadsAStreamedBodyByBytesLinesAndIteration) {
    auto app = Load("input_ops");
    TestRequest req(http::Method::kPost, "/", {{"Transfer-Encoding", "chunked"}});
    auto stream = std::make_shared<PieceStream>(std::deque<std::string>{"a", "b\ncd", "ef\ngh", "i\njk\nla", "st"});
    req.get().SetBodyStream(stream);
    http::Response res = app->Handle(req.get());
    ASSERT_EQ(res.status(), 200) << res.body();
    EXPECT_EQ(res.body(), "b'a'\nb'b\\n'\nb'cd'\nb'ef\\n'\nb'gh'\nb'i\\n'\n[b'jk\\n', b'last']\nb''\nb''\n[]");
    EXPECT_FALSE(stream->gil_held()) << "a read waiting for the body must let other Python threads run";
}

TEST(WsgiApp, InputOfABufferedBodyReadsTheSameWay) {
    auto app = Load("input_ops");
    TestRequest req(http::Method::kPost, "/", {{"Content-Length", "20"}}, "ab\ncdef\nghi\njk\nlast");
    EXPECT_EQ(app->Handle(req.get()).body(),
              "b'a'\nb'b\\n'\nb'cd'\nb'ef\\n'\nb'gh'\nb'i\\n'\n[b'jk\\n', b'last']\nb''\nb''\n[]");
}

TEST(WsgiApp, ABodyThatCannotBeReadRaisesOSErrorNamingWhy) {
    auto app = Load("input_error");
    TestRequest req(http::Method::kPost, "/", {{"Transfer-Encoding", "chunked"}});
    req.get().SetBodyStream(std::make_shared<PieceStream>(std::deque<std::string>{"abc"},
                                                          Error(ErrorCode::kInvalidArgument, "malformed chunk size")));
    http::Response res = app->Handle(req.get());
    EXPECT_EQ(res.status(), 422);
    EXPECT_EQ(res.body(), "request body: malformed chunk size");
}

TEST(WsgiApp, AnUncaughtBodyErrorIsA500NotACrash) {
    auto app = Load("echo");
    TestRequest req(http::Method::kPost, "/", {{"Transfer-Encoding", "chunked"}});
    req.get().SetBodyStream(
        std::make_shared<PieceStream>(std::deque<std::string>{}, Error(ErrorCode::kTimeout, "no bytes for 1 ms")));
    EXPECT_EQ(app->Handle(req.get()).status(), 500);
}

TEST(WsgiApp, FactoryIsCalled) {
    auto app = WsgiApp::Import("wsgi_apps:make_app()");
    ASSERT_TRUE(app) << app.error().message();
    TestRequest req(http::Method::kGet, "/");
    EXPECT_EQ((*app)->Handle(req.get()).body(), "Hello, world!\n");
}

TEST(WsgiApp, ManyThreadsAtOnce) {
    auto app = Load("echo");
    std::vector<std::thread> threads;
    std::atomic<int> ok{0};
    for (int t = 0; t < 8; ++t) {
        threads.emplace_back([&] {
            for (int i = 0; i < 50; ++i) {
                TestRequest req(http::Method::kPost, "/x", {}, "payload");
                if (app->Handle(req.get()).status() == 200) ok.fetch_add(1);
            }
        });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(ok.load(), 400);
}

}  // namespace
}  // namespace gale::wsgi
