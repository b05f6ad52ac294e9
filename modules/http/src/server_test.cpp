// SPDX-License-Identifier: MIT
#include <sys/socket.h>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>

#include <gale/http/server.hpp>
#include <gale/http/testing/raw_client.hpp>
#include <gale/log/log.hpp>

namespace gale::http {
namespace {

using testing::Fetch;
using testing::RawClient;

class ServerTest : public ::testing::Test {
protected:
    void SetUp() override {
        log::SetLevel(log::Level::kError);
        ASSERT_TRUE(router_.Add(Method::kGet, "/", [](Request&) { return Response::Text(200, "hello\n"); },
                                {.inline_handler = true}));
        ASSERT_TRUE(router_.Add(Method::kPost, "/echo",
                                [](Request& r) { return Response::Text(200, r.body(), "application/octet-stream"); }));
        ASSERT_TRUE(router_.Add(Method::kGet, "/items/{id}",
                                [](Request& r) { return Response::Text(200, std::string(r.param("id"))); }));
        ASSERT_TRUE(router_.Add(Method::kGet, "/sleep", [this](Request&) {
            ++sleeping_;
            std::this_thread::sleep_for(std::chrono::milliseconds(300));
            --sleeping_;
            return Response::Text(200, "slept");
        }));
        ASSERT_TRUE(
            router_.Add(Method::kGet, "/throw", [](Request&) -> Response { throw std::runtime_error("boom"); }));
        ASSERT_TRUE(router_.Add(Method::kGet, "/teapot",
                                [](Request&) -> Response { throw HttpError(418, "short and stout"); }));
        ASSERT_TRUE(router_.Add(Method::kGet, "/stream/{n}", [](Request& req) {
            int total = std::stoi(std::string(req.param("n")));
            Response r = Response::Text(200, "", "text/plain");
            auto sent = std::make_shared<int>(0);
            r.SetStream([total, sent](std::string& chunk) {
                if (*sent == 2) throw std::runtime_error("producer failed");
                chunk.assign(*sent == 1 ? 300000 : 5, static_cast<char>('a' + *sent));
                return ++*sent < total;
            });
            return r;
        }));
        ASSERT_TRUE(router_.Add(Method::kGet, "/reason/{status}", [](Request& r) {
            Response res = Response::Text(std::stoi(std::string(r.param("status"))), "");
            EXPECT_TRUE(res.set_reason("Found It\tAnyway"));
            EXPECT_FALSE(res.set_reason("OK\r\nX-Injected: yes")) << "CR LF would split the head";
            return res;
        }));
        ASSERT_TRUE(router_.Add(Method::kGet, "/big", [](Request&) {
            return Response::Text(200, std::string(64 << 20, 'b'), "application/octet-stream");
        }));
        ASSERT_TRUE(router_.Add(Method::kGet, "/chunks", [](Request&) {
            Response r = Response::Text(200, "");
            r.mutable_body() = std::string(100000, 'z');
            return r;
        }));
    }
    void StartServer(ServerOptions o = {}) {
        o.bind = "127.0.0.1";
        o.port = 0;
        if (o.loops == 0) o.loops = 2;
        if (o.workers == 0) o.workers = 2;
        o.access_log = false;
        server_ = std::make_unique<Server>(o, router_, [this](const RequestRecord& rec) {
            observed_.fetch_add(1);
            last_status_.store(rec.status);
            if (!throw_for_path_.empty() && rec.request.path() == throw_for_path_) {
                throw std::runtime_error("observer failure");  // stands for any bug on the event loop
            }
        });
        ASSERT_TRUE(server_->Listen());
        server_->Start();
    }
    void TearDown() override {
        if (server_) server_->Stop();
    }
    std::uint16_t port() const { return server_->port(); }

    Router router_;
    std::unique_ptr<Server> server_;
    std::atomic<int> sleeping_{0};
    std::atomic<int> observed_{0};
    std::atomic<int> last_status_{0};
    std::string throw_for_path_;
};

TEST_F(ServerTest, AnswersGetWithDateAndLength) {
    StartServer();
    auto r = Fetch(port(), "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "hello\n");
    EXPECT_EQ(r->header("content-length"), "6");
    EXPECT_FALSE(r->header("date").empty());
    EXPECT_EQ(r->header("server"), "gale");
    EXPECT_FALSE(r->header("x-request-id").empty());
}

TEST_F(ServerTest, KeepAliveAndPipelining) {
    StartServer();
    RawClient c(port());
    ASSERT_TRUE(
        c.Send("GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /items/7 HTTP/1.1\r\nHost: x\r\n\r\n"
               "GET /sleep HTTP/1.1\r\nHost: x\r\n\r\nGET /items/8 HTTP/1.1\r\nHost: x\r\n\r\n"));
    auto a = c.ReadResponse();
    auto b = c.ReadResponse();
    auto s = c.ReadResponse();
    auto d = c.ReadResponse();
    ASSERT_TRUE(a && b && s && d);
    EXPECT_EQ(a->body, "hello\n");
    EXPECT_EQ(b->body, "7");
    EXPECT_EQ(s->body, "slept");
    EXPECT_EQ(d->body, "8");  // order kept although /sleep ran on the pool
    ASSERT_TRUE(c.Send("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
    EXPECT_TRUE(c.ReadResponse());
}

// A client that half-closes after its request (`printf … | nc`) gets its answer and then the close, not a socket
// held open until the keep-alive timeout; one that half-closes mid-request is closed at once. The FIN came in the
// same epoll edge as the request's bytes, after a short read that looked like "drained".
TEST_F(ServerTest, HalfClosedClientIsAnsweredThenClosed) {
    StartServer();
    for (const char* path : {"/", "/items/7"}) {  // inline, then on the worker pool
        RawClient c(port(), std::chrono::milliseconds(2000));
        ASSERT_TRUE(c.Send(std::string("GET ") + path + " HTTP/1.1\r\nHost: x\r\n\r\n"));
        ::shutdown(c.fd(), SHUT_WR);
        auto r = c.ReadResponse();
        ASSERT_TRUE(r) << path;
        EXPECT_EQ(r->status, 200) << path;
        EXPECT_TRUE(c.WaitForClose()) << path << ": the connection stayed open after the peer's FIN";
    }
    RawClient partial(port(), std::chrono::milliseconds(2000));
    ASSERT_TRUE(partial.Send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly part"));
    ::shutdown(partial.fd(), SHUT_WR);
    EXPECT_TRUE(partial.WaitForClose()) << "a truncated request waited for its body timeout";
}

TEST_F(ServerTest, Http10ClosesUnlessKeepAlive) {
    StartServer();
    RawClient c(port());
    ASSERT_TRUE(c.Send("GET / HTTP/1.0\r\n\r\n"));
    auto r = c.ReadResponse();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->head.substr(0, 8), "HTTP/1.0");
    EXPECT_EQ(r->header("connection"), "close");
    EXPECT_TRUE(c.WaitForClose());
}

TEST_F(ServerTest, AHandlersReasonPhraseIsSentWithItsStatusOnly) {
    StartServer();
    auto r = Fetch(port(), "GET /reason/299 HTTP/1.1\r\nHost: x\r\n\r\n");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->head.substr(0, r->head.find("\r\n")), "HTTP/1.1 299 Found It\tAnyway");
    EXPECT_TRUE(r->header("x-injected").empty());
    // A status the server replaces (out of range: 500) gets the standard phrase, not the handler's.
    r = Fetch(port(), "GET /reason/999 HTTP/1.1\r\nHost: x\r\n\r\n");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->head.substr(0, r->head.find("\r\n")), "HTTP/1.1 500 Internal Server Error");
}

TEST_F(ServerTest, HeadHasLengthButNoBody) {
    StartServer();
    RawClient c(port());
    ASSERT_TRUE(c.Send("HEAD / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n"));
    auto h = c.ReadResponse(true);
    ASSERT_TRUE(h);
    EXPECT_EQ(h->status, 200);
    EXPECT_EQ(h->header("content-length"), "6");
    auto g = c.ReadResponse();
    ASSERT_TRUE(g);
    EXPECT_EQ(g->body, "hello\n");  // proves no body bytes followed the HEAD response
}

TEST_F(ServerTest, ContentLengthAndChunkedBodies) {
    StartServer();
    auto r = Fetch(port(), "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->body, "hello");
    auto c = Fetch(port(),
                   "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                   "3\r\nabc\r\n4;x=y\r\ndefg\r\n0\r\nT: 1\r\n\r\n");
    ASSERT_TRUE(c);
    EXPECT_EQ(c->body, "abcdefg");
}

TEST_F(ServerTest, StreamedResponsesAreChunked) {
    StartServer();
    RawClient c(port());
    ASSERT_TRUE(c.Send("GET /stream/2 HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n"));
    auto r = c.ReadResponse();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->header("transfer-encoding"), "chunked");
    EXPECT_TRUE(r->header("content-length").empty());
    EXPECT_EQ(r->body, std::string(5, 'a') + std::string(300000, 'b'));
    auto next = c.ReadResponse();  // keep-alive continues after the terminating chunk
    ASSERT_TRUE(next);
    EXPECT_EQ(next->body, "hello\n");
}

TEST_F(ServerTest, StreamedResponseToHttp10EndsWithClose) {
    StartServer();
    RawClient c(port());
    ASSERT_TRUE(c.Send("GET /stream/1 HTTP/1.0\r\n\r\n"));
    auto r = c.ReadResponse();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->body, std::string(5, 'a'));
    EXPECT_EQ(r->header("connection"), "close");
}

TEST_F(ServerTest, FailingStreamProducerTruncatesVisibly) {
    StartServer();
    RawClient c(port());
    ASSERT_TRUE(c.Send("GET /stream/5 HTTP/1.1\r\nHost: x\r\n\r\n"));
    EXPECT_FALSE(c.ReadResponse());  // no terminating chunk: the client can't mistake it for a complete body
    EXPECT_EQ(last_status_.load(), 500);
}

TEST_F(ServerTest, ExpectContinue) {
    StartServer();
    RawClient c(port());
    ASSERT_TRUE(c.Send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n"));
    auto cont = c.ReadResponse();
    ASSERT_TRUE(cont);
    EXPECT_EQ(cont->status, 100);
    ASSERT_TRUE(c.Send("data"));
    auto r = c.ReadResponse();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "data");
}

TEST_F(ServerTest, LimitsGiveTheRightStatus) {
    ServerOptions o;
    o.max_body_size = 16;
    o.max_header_bytes = 1024;
    o.max_uri_bytes = 512;
    StartServer(o);
    auto big = Fetch(port(), "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 17\r\n\r\n");
    ASSERT_TRUE(big);
    EXPECT_EQ(big->status, 413);
    auto chunked = Fetch(port(),
                         "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                         "20\r\n" +
                             std::string(32, 'a') + "\r\n0\r\n\r\n");
    ASSERT_TRUE(chunked);
    EXPECT_EQ(chunked->status, 413);
    auto uri = Fetch(port(), "GET /" + std::string(600, 'u') + " HTTP/1.1\r\nHost: x\r\n\r\n");
    ASSERT_TRUE(uri);
    EXPECT_EQ(uri->status, 414);
    auto hdr = Fetch(port(), "GET / HTTP/1.1\r\nHost: x\r\nX: " + std::string(2000, 'h') + "\r\n\r\n");
    ASSERT_TRUE(hdr);
    EXPECT_EQ(hdr->status, 431);
}

TEST_F(ServerTest, MalformedRequestsGet400AndClose) {
    StartServer();
    for (std::string bad : {"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
                            "GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", "BAD\x01 / HTTP/1.1\r\n\r\n",
                            "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"}) {
        RawClient c(port());
        ASSERT_TRUE(c.Send(bad));
        auto r = c.ReadResponse();
        ASSERT_TRUE(r) << bad;
        EXPECT_EQ(r->status, 400) << bad;
        EXPECT_EQ(r->header("connection"), "close");
        EXPECT_TRUE(c.WaitForClose()) << bad;
    }
}

TEST_F(ServerTest, NotFoundAndMethodNotAllowedWithAllow) {
    StartServer();
    auto nf = Fetch(port(), "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n");
    ASSERT_TRUE(nf);
    EXPECT_EQ(nf->status, 404);
    auto na = Fetch(port(), "DELETE /items/1 HTTP/1.1\r\nHost: x\r\n\r\n");
    ASSERT_TRUE(na);
    EXPECT_EQ(na->status, 405);
    EXPECT_EQ(na->header("allow"), "GET, HEAD");
}

TEST_F(ServerTest, HandlerExceptionsAre500AndTheWorkerSurvives) {
    ServerOptions o;
    o.workers = 1;
    StartServer(o);
    for (int i = 0; i < 3; ++i) {
        auto r = Fetch(port(), "GET /throw HTTP/1.1\r\nHost: x\r\n\r\n");
        ASSERT_TRUE(r);
        EXPECT_EQ(r->status, 500);
    }
    auto t = Fetch(port(), "GET /teapot HTTP/1.1\r\nHost: x\r\n\r\n");
    ASSERT_TRUE(t);
    EXPECT_EQ(t->status, 418);
    EXPECT_EQ(t->body, "short and stout\n");
    auto ok = Fetch(port(), "GET /items/1 HTTP/1.1\r\nHost: x\r\nX-Request-ID: abc-123\r\n\r\n");
    ASSERT_TRUE(ok);
    EXPECT_EQ(ok->status, 200);
    EXPECT_EQ(ok->header("x-request-id"), "abc-123");
}

TEST_F(ServerTest, BlockingHandlersDoNotStallOtherConnections) {
    ServerOptions o;
    o.loops = 1;
    o.workers = 2;
    StartServer(o);
    std::thread slow([&] { Fetch(port(), "GET /sleep HTTP/1.1\r\nHost: x\r\n\r\n"); });
    while (sleeping_.load() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    auto start = std::chrono::steady_clock::now();
    auto r = Fetch(port(), "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    auto took = std::chrono::steady_clock::now() - start;
    slow.join();
    ASSERT_TRUE(r);
    EXPECT_LT(took, std::chrono::milliseconds(200));
}

TEST_F(ServerTest, QueueLengthCountsRequestsWaitingForAWorker) {
    ServerOptions o;
    o.workers = 1;
    StartServer(o);
    std::vector<std::thread> clients;
    for (int i = 0; i < 4; ++i) {
        clients.emplace_back([&] { Fetch(port(), "GET /sleep HTTP/1.1\r\nHost: x\r\n\r\n"); });
    }
    bool saw_queue = false;
    for (int i = 0; i < 200 && !saw_queue; ++i) {
        if (server_->queue_length() >= 2) saw_queue = true;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    for (auto& t : clients) t.join();
    EXPECT_TRUE(saw_queue);
    EXPECT_EQ(server_->queue_length(), 0U);
}

TEST_F(ServerTest, SlowHeadersTimeOutWith408) {
    ServerOptions o;
    o.header_timeout = std::chrono::milliseconds(300);
    StartServer(o);
    RawClient c(port());
    ASSERT_TRUE(c.Send("GET / HTTP/1.1\r\nHost: x\r\n"));  // never finishes the head
    auto start = std::chrono::steady_clock::now();
    auto r = c.ReadResponse();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 408);
    EXPECT_TRUE(c.WaitForClose());
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(2500));
}

TEST_F(ServerTest, IdleKeepAliveConnectionsAreClosed) {
    ServerOptions o;
    o.keep_alive_timeout = std::chrono::milliseconds(200);
    StartServer(o);
    RawClient c(port());
    ASSERT_TRUE(c.Send("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
    ASSERT_TRUE(c.ReadResponse());
    EXPECT_TRUE(c.WaitForClose());
}

TEST_F(ServerTest, LargeBodiesAndManyConnections) {
    StartServer();
    std::vector<std::thread> threads;
    std::atomic<int> ok{0};
    for (int t = 0; t < 8; ++t) {
        threads.emplace_back([&] {
            RawClient c(port());
            for (int i = 0; i < 20; ++i) {
                if (!c.Send("GET /chunks HTTP/1.1\r\nHost: x\r\n\r\n")) return;
                auto r = c.ReadResponse();
                if (r && r->body.size() == 100000) ++ok;
            }
        });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(ok.load(), 160);
    EXPECT_GE(observed_.load(), 160);
}

TEST_F(ServerTest, DrainingClosesKeepAliveAndStopAcceptingRefusesNewConnections) {
    StartServer();
    RawClient c(port());
    ASSERT_TRUE(c.Send("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
    ASSERT_TRUE(c.ReadResponse());
    RawClient idle(port());
    ASSERT_TRUE(idle.Send("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
    ASSERT_TRUE(idle.ReadResponse());
    server_->SetDraining();
    ASSERT_TRUE(c.Send("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
    auto r = c.ReadResponse();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->header("connection"), "close");
    EXPECT_TRUE(c.WaitForClose());
    server_->StopAccepting();
    EXPECT_TRUE(idle.WaitForClose());  // idle keep-alive connections are closed
    EXPECT_TRUE(server_->WaitForIdle(std::chrono::milliseconds(2000)));
    RawClient late(port());
    EXPECT_FALSE(late.connected() && late.Send("GET / HTTP/1.1\r\nHost: x\r\n\r\n") && late.ReadResponse());
}

TEST_F(ServerTest, ListenErrorNamesTheAddress) {
    StartServer();
    ServerOptions o;
    o.bind = "127.0.0.1";
    o.port = port();
    o.loops = 1;
    Server other(o, router_);
    // SO_REUSEPORT lets the same user bind twice, so use an invalid address to see the error path.
    ServerOptions bad = o;
    bad.bind = "not-an-ip";
    Server invalid(bad, router_);
    auto r = invalid.Listen();
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message().find("not-an-ip"), std::string::npos);
}

// --- issue 8: defects found by attacking the server ---

TEST_F(ServerTest, AbsoluteFormTargetsWithoutAPathAreServedNotFatal) {
    StartServer();
    for (std::string target : {"http://x", "https://x", "http://x?a=1", "HTTP://x/"}) {
        auto r = Fetch(port(), "GET " + target + " HTTP/1.1\r\nHost: x\r\n\r\n");
        ASSERT_TRUE(r) << target;
        EXPECT_EQ(r->status, 200) << target;
        EXPECT_EQ(r->body, "hello\n") << target;
    }
    auto bad = Fetch(port(), "GET http:// HTTP/1.1\r\nHost: x\r\n\r\n");
    ASSERT_TRUE(bad);
    EXPECT_EQ(bad->status, 400);
    auto after = Fetch(port(), "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    ASSERT_TRUE(after);
    EXPECT_EQ(after->status, 200);
}

TEST_F(ServerTest, AnExceptionOnTheEventLoopCostsOneConnectionNotTheProcess) {
    throw_for_path_ = "/items/boom";
    StartServer();
    for (int i = 0; i < 2; ++i) {
        RawClient c(port());
        ASSERT_TRUE(c.Send("GET /items/boom HTTP/1.1\r\nHost: x\r\n\r\n"));
        (void)c.ReadResponse();  // the head may or may not have left before the failure; the connection goes
        EXPECT_TRUE(c.WaitForClose());
    }
    EXPECT_EQ(server_->internal_errors(), 2U);
    auto r = Fetch(port(), "GET /items/7 HTTP/1.1\r\nHost: x\r\n\r\n");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "7");
}

TEST_F(ServerTest, InvalidPercentEncodingIs400BeforeRouting) {
    StartServer();
    for (std::string target : {"/items/%zz", "/items/a%00b", "/items/%4", "/items/a#frag"}) {
        auto r = Fetch(port(), "GET " + target + " HTTP/1.1\r\nHost: x\r\n\r\n");
        ASSERT_TRUE(r) << target;
        EXPECT_EQ(r->status, 400) << target;
        EXPECT_EQ(r->header("allow"), "") << target;
    }
}

TEST_F(ServerTest, APartialHeadAfterARequestIsOnTheHeaderDeadline) {
    ServerOptions o;
    o.header_timeout = std::chrono::milliseconds(300);
    o.keep_alive_timeout = std::chrono::seconds(30);
    StartServer(o);
    RawClient c(port());
    // One complete request and the first bytes of the next, in one packet.
    ASSERT_TRUE(c.Send("GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HT"));
    auto first = c.ReadResponse();
    ASSERT_TRUE(first);
    EXPECT_EQ(first->status, 200);
    auto start = std::chrono::steady_clock::now();
    auto timed_out = c.ReadResponse();
    ASSERT_TRUE(timed_out);
    EXPECT_EQ(timed_out->status, 408);
    EXPECT_TRUE(c.WaitForClose());
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(2500));
}

TEST_F(ServerTest, AConnectionThatNeverSendsIsOnTheHeaderDeadline) {
    ServerOptions o;
    o.header_timeout = std::chrono::milliseconds(300);
    o.keep_alive_timeout = std::chrono::seconds(30);
    StartServer(o);
    RawClient c(port());
    auto start = std::chrono::steady_clock::now();
    EXPECT_TRUE(c.WaitForClose());
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(2500));
}

TEST_F(ServerTest, ATrickleOfInputDoesNotExtendTheWriteDeadline) {
    ServerOptions o;
    o.write_timeout = std::chrono::milliseconds(500);
    o.keep_alive_timeout = std::chrono::seconds(30);
    o.header_timeout = std::chrono::seconds(30);
    StartServer(o);
    RawClient c(port());
    int small = 4096;
    setsockopt(c.fd(), SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    ASSERT_TRUE(c.Send("GET /big HTTP/1.1\r\nHost: x\r\n\r\n"));
    // Never read; send a byte every 100 ms (the start of a next head) for up to 4 s.
    auto start = std::chrono::steady_clock::now();
    bool closed = false;
    while (std::chrono::steady_clock::now() - start < std::chrono::seconds(4)) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        (void)c.Send("G");
        if (server_->open_connections() == 0) {
            closed = true;
            break;
        }
    }
    EXPECT_TRUE(closed) << "the write deadline was re-armed by input";
}

TEST_F(ServerTest, ASecondListenerOnTheSamePortIsRefusedGaleOrNot) {
    StartServer();
    ServerOptions o;
    o.bind = "127.0.0.1";
    o.port = port();
    o.loops = 1;
    Server second(o, router_);
    auto r = second.Listen();
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message().find("in use"), std::string::npos) << r.error().message();

    // Another program that listens with SO_REUSEPORT itself (as nginx's `reuseport` does).
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    ASSERT_EQ(::listen(fd, 16), 0);
    socklen_t len = sizeof(addr);
    getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    o.port = ntohs(addr.sin_port);
    Server third(o, router_);
    auto r3 = third.Listen();
    ::close(fd);
    ASSERT_FALSE(r3);
    EXPECT_NE(r3.error().message().find(std::to_string(o.port)), std::string::npos) << r3.error().message();
}

// serve --processes: the group is opened once, each server takes its share and the kernel spreads connections
// over all of them; nobody else may join (the in-use checks ran when the group was opened).
TEST_F(ServerTest, ServersShareAGroupOfListenersOpenedAhead) {
    auto group = OpenListeners("app", "127.0.0.1", 0, 4);
    ASSERT_TRUE(group) << group.error().ToString();
    ASSERT_EQ(group->fds.size(), 4U);
    ASSERT_NE(group->port, 0);
    std::atomic<int> served_by[2] = {0, 0};
    Router routers[2];
    std::vector<std::unique_ptr<Server>> servers;
    for (int i = 0; i < 2; ++i) {
        ASSERT_TRUE(routers[i].Add(Method::kGet, "/", [&served_by, i](Request&) {
            ++served_by[i];
            return Response::Text(200, std::to_string(i));
        }));
        ServerOptions o;
        o.loops = 2;
        o.workers = 1;
        o.access_log = false;
        o.port = 1;  // ignored: the sockets are given
        o.listen_fds = {group->fds[2 * i], group->fds[2 * i + 1]};
        servers.push_back(std::make_unique<Server>(o, routers[i]));
        ASSERT_TRUE(servers.back()->Listen());
        EXPECT_EQ(servers.back()->port(), group->port);
        servers.back()->Start();
    }
    for (int n = 0; n < 200 && (served_by[0] == 0 || served_by[1] == 0); ++n) {
        auto r = Fetch(group->port, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        ASSERT_TRUE(r) << "request " << n;
        EXPECT_EQ(r->status, 200);
    }
    EXPECT_GT(served_by[0].load(), 0) << "the kernel never picked the first server's sockets";
    EXPECT_GT(served_by[1].load(), 0) << "the kernel never picked the second server's sockets";
    // A third server may not join the group as a stray would: the port is taken.
    ServerOptions stray;
    stray.bind = "127.0.0.1";
    stray.port = group->port;
    stray.loops = 1;
    Server third(stray, router_);
    EXPECT_FALSE(third.Listen());
    for (auto& s : servers) s->Stop();
}

TEST_F(ServerTest, GivenListenersMustBeOnePerLoopAndAreClosedUnused) {
    auto group = OpenListeners("app", "127.0.0.1", 0, 1);
    ASSERT_TRUE(group);
    {
        ServerOptions o;
        o.loops = 2;
        o.listen_fds = group->fds;
        Server s(o, router_);
        auto r = s.Listen();
        ASSERT_FALSE(r);
        EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
        EXPECT_NE(r.error().message().find("1 listening sockets given for 2 event loops"), std::string::npos)
            << r.error().message();
    }
    // The server closed the socket it was given: the port is free again.
    auto again = OpenListeners("app", "127.0.0.1", group->port, 1);
    ASSERT_TRUE(again) << again.error().ToString();
    for (int fd : again->fds) ::close(fd);
}

TEST_F(ServerTest, AtTheConnectionLimitNewClientsWaitInTheBacklog) {
    ServerOptions o;
    o.max_connections = 3;
    o.loops = 1;
    StartServer(o);
    std::vector<std::unique_ptr<RawClient>> held;
    for (int i = 0; i < 3; ++i) {
        held.push_back(std::make_unique<RawClient>(port()));
        ASSERT_TRUE(held.back()->Send("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
        ASSERT_TRUE(held.back()->ReadResponse());
    }
    RawClient waiting(port(), std::chrono::milliseconds(500));
    ASSERT_TRUE(waiting.connected());  // the kernel completes the handshake into the backlog
    ASSERT_TRUE(waiting.Send("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
    EXPECT_FALSE(waiting.ReadResponse()) << "accepted past the connection limit";
    EXPECT_EQ(server_->open_connections(), 3U);
    held.pop_back();  // one closes: the waiting client is accepted and served
    RawClient& w = waiting;
    std::optional<testing::RawResponse> r;
    for (int i = 0; i < 6 && !r; ++i) r = w.ReadResponse();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
}

TEST_F(ServerTest, StopAcceptingResetsNoConnectionTheKernelAccepted) {
    // Clients open new connections as fast as they can while the listeners close; three rounds, since a reset
    // needs a connection to land in a backlog in the moment before its listener closes.
    for (int round = 0; round < 3; ++round) {
        ServerOptions o;
        o.loops = 2;
        StartServer(o);
        std::atomic<bool> stop{false};
        std::atomic<int> answered{0};
        std::atomic<int> refused{0};
        std::atomic<int> lost{0};
        std::vector<std::thread> clients;
        for (int t = 0; t < 8; ++t) {
            clients.emplace_back([&] {
                while (!stop.load()) {
                    RawClient c(port(), std::chrono::milliseconds(3000));
                    if (!c.connected()) {
                        ++refused;  // after the listeners closed: refused, which a client can retry elsewhere
                        continue;
                    }
                    // The kernel accepted this connection: it must get an answer, never a reset.
                    auto r = c.Send("GET / HTTP/1.1\r\nHost: x\r\n\r\n") ? c.ReadResponse() : std::nullopt;
                    if (r && (r->status == 200 || r->status == 503)) {
                        ++answered;
                    } else {
                        ++lost;
                    }
                }
            });
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
        server_->SetDraining();
        server_->StopAccepting();
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        stop.store(true);
        for (auto& t : clients) t.join();
        EXPECT_EQ(lost.load(), 0) << "round " << round;
        EXPECT_GT(answered.load(), 50) << "round " << round;
        EXPECT_GT(refused.load(), 0) << "round " << round;
        server_->Stop();
    }
}

// Issue 8: slow-body clients held the shutdown for the whole graceful timeout.
TEST_F(ServerTest, SlowClientsDoNotHoldTheShutdownForTheGracefulTimeout) {
    ServerOptions o;
    o.header_timeout = std::chrono::milliseconds(400);
    o.body_timeout = std::chrono::seconds(60);
    StartServer(o);
    RawClient head(port());
    ASSERT_TRUE(head.Send("GET / HTTP/1.1\r\nHost: x\r\n"));  // a head that never ends
    RawClient body(port());
    ASSERT_TRUE(body.Send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789"));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    auto t0 = std::chrono::steady_clock::now();
    server_->SetDraining();
    server_->StopAccepting();
    auto r = head.ReadResponse();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 408);
    // At most: the header timeout, the 1 s deadline sweep, and the 2 s lingering close that lets the 408 arrive
    // (with slack for a loaded machine); without the fix the body would have its 60 s body timeout.
    EXPECT_TRUE(server_->WaitForIdle(std::chrono::milliseconds(8000))) << "a slow body held the shutdown";
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(8000));
    auto b = body.ReadResponse();
    ASSERT_TRUE(b);
    EXPECT_EQ(b->status, 408);
}

// ---------------------------------------------------------------------------------------------------------------
// Streamed request bodies (RouteOptions::stream_body)

/// A route that reads its body as it arrives: what it read, and how it ended, for the test to look at.
class StreamedBodyTest : public ServerTest {
protected:
    void SetUp() override {
        ServerTest::SetUp();
        ASSERT_TRUE(router_.Add(Method::kPost, "/upload",
                                [this](Request& r) {
                                    {
                                        std::unique_lock lock(mu_);
                                        cv_.wait(lock, [&] { return !hold_; });
                                    }
                                    std::string all;
                                    std::optional<ErrorCode> failed;
                                    std::string message;
                                    if (r.body_stream()) {
                                        while (!stop_after_ || all.size() < stop_after_) {
                                            auto n = r.body_stream()->Read(all, 64 * 1024);
                                            if (!n) {
                                                failed = n.error().code();
                                                message = n.error().message();
                                                break;
                                            }
                                            read_.store(all.size());
                                            if (*n == 0) break;
                                        }
                                    }
                                    {
                                        std::lock_guard lock(mu_);
                                        error_ = failed;
                                        error_message_ = message;
                                        done_ = true;
                                    }
                                    cv_.notify_all();
                                    if (failed) return Response::Text(422, message);
                                    return Response::Text(200, std::to_string(all.size()) + ":" + all.substr(0, 16));
                                },
                                {.stream_body = true}));
    }
    void Release() {
        {
            std::lock_guard lock(mu_);
            hold_ = false;
        }
        cv_.notify_all();
    }
    /// The handler's end: nullopt when it read the body to its end, else the error's code.
    std::optional<ErrorCode> WaitHandlerDone() {
        std::unique_lock lock(mu_);
        EXPECT_TRUE(cv_.wait_for(lock, std::chrono::seconds(10), [&] { return done_; })) << "the handler hung";
        return error_;
    }
    static bool Eventually(const std::function<bool()>& f) {
        for (int i = 0; i < 500; ++i) {
            if (f()) return true;
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        return false;
    }

    std::mutex mu_;
    std::condition_variable cv_;
    bool hold_ = false;
    bool done_ = false;
    std::optional<ErrorCode> error_;
    std::string error_message_;
    std::size_t stop_after_ = 0;
    std::atomic<std::size_t> read_{0};
};

TEST_F(StreamedBodyTest, TheHandlerReadsTheBodyAsItArrivesAndTheConnectionGoesOn) {
    StartServer();
    RawClient c(port());
    ASSERT_TRUE(c.Send("POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhello"));
    ASSERT_TRUE(Eventually([&] { return read_.load() == 5; })) << "the handler did not get the first half alone";
    ASSERT_TRUE(c.Send("world"));
    auto r = c.ReadResponse();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "10:helloworld");
    EXPECT_EQ(WaitHandlerDone(), std::nullopt);
    EXPECT_TRUE(r->header("connection").empty()) << "a body read to its end keeps the connection";

    done_ = false;
    read_ = 0;
    ASSERT_TRUE(c.Send("POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n"));
    ASSERT_TRUE(Eventually([&] { return read_.load() == 3; })) << "the first chunk was not handed on alone";
    ASSERT_TRUE(c.Send("4;ext=1\r\ndefg\r\n0\r\n\r\nGET /items/9 HTTP/1.1\r\nHost: x\r\n\r\n"));
    auto chunked = c.ReadResponse();
    ASSERT_TRUE(chunked);
    EXPECT_EQ(chunked->body, "7:abcdefg");
    auto next = c.ReadResponse();  // pipelined after the chunked body
    ASSERT_TRUE(next);
    EXPECT_EQ(next->body, "9");
}

TEST_F(StreamedBodyTest, AClientFasterThanTheHandlerIsHeldBackNotBuffered) {
    ServerOptions o;
    o.max_body_size = 64ULL << 20;
    StartServer(o);
    hold_ = true;  // the handler reads nothing until released
    const std::size_t total = 48U << 20;
    std::atomic<bool> sent{false};
    RawClient c(port());
    std::thread sender([&] {
        std::string head = "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(total) + "\r\n\r\n";
        EXPECT_TRUE(c.Send(head + std::string(total, 'u')));
        sent = true;
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    EXPECT_FALSE(sent.load()) << "the server took 48 MiB while its handler read nothing";
    Release();
    sender.join();
    auto r = c.ReadResponse();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->body, std::to_string(total) + ":" + std::string(16, 'u'));
}

TEST_F(StreamedBodyTest, AMalformedChunkFailsTheReadAndTheClientGets400) {
    StartServer();
    auto r = Fetch(port(), "POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\nzz\r\n");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400) << "the handler's 422 stood instead of the framing error";
    EXPECT_EQ(r->header("connection"), "close");
    EXPECT_EQ(WaitHandlerDone(), ErrorCode::kInvalidArgument);
}

TEST_F(StreamedBodyTest, AChunkedBodyOverTheLimitIs413) {
    ServerOptions o;
    o.max_body_size = 16;
    StartServer(o);
    auto r = Fetch(port(),
                   "POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                   "8\r\n12345678\r\n9\r\n123456789\r\n0\r\n\r\n");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 413);
    EXPECT_EQ(WaitHandlerDone(), ErrorCode::kInvalidArgument);
}

TEST_F(StreamedBodyTest, AClientGoneMidBodyCancelsTheReadAtOnce) {
    StartServer();
    {
        RawClient c(port());
        ASSERT_TRUE(c.Send("POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc"));
        ASSERT_TRUE(Eventually([&] { return read_.load() == 3; }));
    }  // closed
    auto t = std::chrono::steady_clock::now();
    EXPECT_EQ(WaitHandlerDone(), ErrorCode::kCancelled);
    EXPECT_LT(std::chrono::steady_clock::now() - t, std::chrono::seconds(5)) << "the read waited for its timeout";
    EXPECT_TRUE(Fetch(port(), "GET / HTTP/1.1\r\nHost: x\r\n\r\n")) << "the server is still serving";
}

TEST_F(StreamedBodyTest, AStalledClientTimesTheReadOutAndGets408) {
    ServerOptions o;
    o.body_timeout = std::chrono::milliseconds(300);
    StartServer(o);
    RawClient c(port());
    ASSERT_TRUE(c.Send("POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc"));
    EXPECT_EQ(WaitHandlerDone(), ErrorCode::kTimeout);
    auto r = c.ReadResponse();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 408) << "the handler's 422 stood instead of the client's timeout";
    EXPECT_NE(r->body.find("no request body bytes came for 300 ms"), std::string::npos) << r->body;
    EXPECT_EQ(r->header("connection"), "close");
}

TEST_F(StreamedBodyTest, ABodyTheHandlerDidNotReadClosesTheConnectionAfterTheResponse) {
    StartServer();
    stop_after_ = 4;  // reads a first piece, then answers
    RawClient c(port());
    ASSERT_TRUE(c.Send("POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabcd"));
    auto r = c.ReadResponse();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "4:abcd");
    EXPECT_EQ(r->header("connection"), "close") << "the rest of the body would be read as the next request";
    ASSERT_TRUE(c.Send("efghij"));  // the rest, discarded by the lingering close
    EXPECT_FALSE(c.ReadResponse());
}

TEST_F(StreamedBodyTest, ARequestWithoutABodyHasNoStream) {
    StartServer();
    auto r = Fetch(port(), "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->body, "0:");
}

}  // namespace
}  // namespace gale::http
