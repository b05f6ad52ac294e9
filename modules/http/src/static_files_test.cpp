// SPDX-License-Identifier: MIT
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include <gale/http/static_files.hpp>

#include "mime_types.hpp"

namespace gale::http {
namespace {

namespace fs = std::filesystem;

constexpr std::time_t kMtime = 784111777;  // every file's mtime
constexpr std::string_view kMtimeImf = "Sun, 06 Nov 1994 08:49:37 GMT";

struct TestHeader {
    std::string name;
    std::string value;
};

void WriteFile(const fs::path& path, std::string_view content) {
    {
        std::ofstream out(path, std::ios::binary);
        out << content;
    }
    const timespec kTimes[2] = {{kMtime, 0}, {kMtime, 0}};
    ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), kTimes, AT_SYMLINK_NOFOLLOW), 0) << path;
}

/// The served tree, created fresh for each test:
///   <base>/outside/secret.txt          the thing no request may reach
///   <base>/root/...                     the served root (see SetUp)
class StaticFilesTest : public ::testing::Test {
protected:
    void SetUp() override {
        std::string templ = (fs::temp_directory_path() / "gale-static-XXXXXX").string();
        ASSERT_NE(::mkdtemp(templ.data()), nullptr);
        base_ = templ;
        root_ = base_ / "root";
        fs::create_directories(base_ / "outside");
        fs::create_directories(root_ / "dir" / "sub");
        WriteFile(base_ / "outside" / "secret.txt", "TOP SECRET\n");

        WriteFile(root_ / "index.html", "<!doctype html><p>hi</p>\n");
        WriteFile(root_ / "style.css", "body{color:red}\n");
        WriteFile(root_ / "ten.txt", "0123456789");
        WriteFile(root_ / "empty.txt", "");
        WriteFile(root_ / "app.js", "console.log('identity');\n");
        WriteFile(root_ / "app.js.br", "BROTLI-BYTES");
        WriteFile(root_ / "app.js.gz", "GZIP-BYTES-LONGER");
        WriteFile(root_ / "only-gz.txt", "plain text\n");
        WriteFile(root_ / "only-gz.txt.gz", "GZ");
        for (const char* name :
             {"data.json", "image.png", "photo.JPG", "font.woff2", "clip.mp4", "module.mjs", "icon.svg", "app.wasm",
              "unknown.xyz", "README", "app.3f9a2c1b.css", "app-3f9a2c1b8d.js", "photo-20240101.jpg", "app.3f9a2c1.css",
              "app.012345678901.css", "app-012345678901.css", "app.0123456789012.css", "with space.txt", ".env"}) {
            WriteFile(root_ / name, name);
        }
        WriteFile(root_ / "dir" / "nested.txt", "nested\n");
        fs::create_symlink("style.css", root_ / "link-in.css");
        fs::create_symlink("../ten.txt", root_ / "dir" / "link-up.txt");
        fs::create_symlink("../outside/secret.txt", root_ / "link-out.txt");
        fs::create_symlink(base_ / "outside" / "secret.txt", root_ / "abs-link-out.txt");
        fs::create_symlink("../outside", root_ / "dir-link-out");
        ASSERT_EQ(::mkfifo((root_ / "pipe.txt").c_str(), 0600), 0);
    }

    void TearDown() override {
        std::error_code ignored;
        fs::remove_all(base_, ignored);
    }

    StaticFiles Make() { return Make({.root = root_.string()}); }

    static StaticFiles Make(StaticFiles::Options options) {
        auto files = StaticFiles::Create(std::move(options));
        if (!files) ADD_FAILURE() << files.error().ToString();
        return std::move(files).value();  // throws on error, which fails the test
    }

    /// Builds a request the way the server does (one owned head, views into it) and serves it.
    static Response Serve(const StaticFiles& files, Method method, std::string_view target,
                          const std::vector<TestHeader>& headers = {}) {
        std::string method_name(ToString(method));
        std::string raw = method_name + std::string(target);
        for (const TestHeader& h : headers) raw += h.name + h.value;
        Request req;
        req.Reset();
        std::string_view head = req.AdoptHead(raw);
        std::size_t pos = 0;
        auto take = [&](std::size_t n) {
            std::string_view piece = head.substr(pos, n);
            pos += n;
            return piece;
        };
        std::string_view m = take(method_name.size());
        std::string_view t = take(target.size());
        req.SetLine(method, m, t, 1);
        for (const TestHeader& h : headers) {
            std::string_view name = take(h.name.size());
            req.AddHeader(name, take(h.value.size()));
        }
        return files.Serve(req);
    }

    static Response Get(const StaticFiles& files, std::string_view target,
                        const std::vector<TestHeader>& headers = {}) {
        return Serve(files, Method::kGet, target, headers);
    }

    /// The bytes the server would send: the file range read back with pread, or the string body.
    static std::string Body(const Response& r) {
        if (!r.file()) return r.body();
        std::string out(r.file()->length, '\0');
        ssize_t n = ::pread(r.file()->fd, out.data(), out.size(), static_cast<off_t>(r.file()->offset));
        EXPECT_EQ(n, static_cast<ssize_t>(out.size()));
        return out;
    }

    static std::string HeaderOf(const Response& r, std::string_view name) {
        return std::string(r.header(name).value_or("<absent>"));
    }

    fs::path base_;
    fs::path root_;
};

// --- Create and Matches ---

TEST_F(StaticFilesTest, CreateResolvesRootAndNormalisesPrefix) {
    StaticFiles files = Make({.root = (root_ / "dir" / "..").string(), .url_prefix = "/assets"});
    EXPECT_EQ(files.root(), fs::canonical(root_).string());
    EXPECT_EQ(files.url_prefix(), "/assets/");
    EXPECT_TRUE(files.Matches("/assets/app.js"));
    EXPECT_FALSE(files.Matches("/assets"));
    EXPECT_FALSE(files.Matches("/assetsx/app.js"));
    EXPECT_FALSE(files.Matches("/static/app.js"));
}

TEST_F(StaticFilesTest, CreateRejectsMissingRootAndNamesIt) {
    std::string missing = (base_ / "nope").string();
    auto files = StaticFiles::Create({.root = missing});
    ASSERT_FALSE(files);
    EXPECT_EQ(files.error().code(), ErrorCode::kNotFound);
    EXPECT_NE(files.error().message().find(missing), std::string::npos) << files.error().message();
}

TEST_F(StaticFilesTest, CreateRejectsFileAsRoot) {
    std::string file = (root_ / "ten.txt").string();
    auto files = StaticFiles::Create({.root = file});
    ASSERT_FALSE(files);
    EXPECT_EQ(files.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(files.error().message().find(file), std::string::npos) << files.error().message();
}

TEST_F(StaticFilesTest, CreateRejectsBadPrefixAndMaxAge) {
    EXPECT_FALSE(StaticFiles::Create({.root = root_.string(), .url_prefix = "static/"}));
    EXPECT_FALSE(StaticFiles::Create({.root = root_.string(), .url_prefix = ""}));
    EXPECT_FALSE(StaticFiles::Create({.root = root_.string(), .max_age = std::chrono::seconds(-1)}));
}

TEST_F(StaticFilesTest, MovedFromInstanceLeavesTargetWorking) {
    StaticFiles a = Make();
    StaticFiles b = std::move(a);
    EXPECT_EQ(Get(b, "/static/ten.txt").status(), 200);
    StaticFiles c = Make({.root = root_.string(), .url_prefix = "/other/"});
    c = std::move(b);
    EXPECT_EQ(Get(c, "/static/ten.txt").status(), 200);
}

// --- Content types ---

TEST(MimeTypes, KnownUnknownAndCaseInsensitive) {
    using detail::ContentTypeForPath;
    EXPECT_EQ(ContentTypeForPath("a/index.html"), "text/html; charset=utf-8");
    EXPECT_EQ(ContentTypeForPath("x.css"), "text/css; charset=utf-8");
    EXPECT_EQ(ContentTypeForPath("x.js"), "text/javascript; charset=utf-8");
    EXPECT_EQ(ContentTypeForPath("x.mjs"), "text/javascript; charset=utf-8");
    EXPECT_EQ(ContentTypeForPath("x.json"), "application/json");
    EXPECT_EQ(ContentTypeForPath("x.map"), "application/json");
    EXPECT_EQ(ContentTypeForPath("x.svg"), "image/svg+xml");
    EXPECT_EQ(ContentTypeForPath("x.png"), "image/png");
    EXPECT_EQ(ContentTypeForPath("X.JPG"), "image/jpeg");
    EXPECT_EQ(ContentTypeForPath("x.jpeg"), "image/jpeg");
    EXPECT_EQ(ContentTypeForPath("x.gif"), "image/gif");
    EXPECT_EQ(ContentTypeForPath("x.webp"), "image/webp");
    EXPECT_EQ(ContentTypeForPath("x.avif"), "image/avif");
    EXPECT_EQ(ContentTypeForPath("favicon.ico"), "image/x-icon");
    EXPECT_EQ(ContentTypeForPath("x.woff"), "font/woff");
    EXPECT_EQ(ContentTypeForPath("x.woff2"), "font/woff2");
    EXPECT_EQ(ContentTypeForPath("x.ttf"), "font/ttf");
    EXPECT_EQ(ContentTypeForPath("x.txt"), "text/plain; charset=utf-8");
    EXPECT_EQ(ContentTypeForPath("x.xml"), "application/xml");
    EXPECT_EQ(ContentTypeForPath("x.pdf"), "application/pdf");
    EXPECT_EQ(ContentTypeForPath("x.wasm"), "application/wasm");
    EXPECT_EQ(ContentTypeForPath("x.mp4"), "video/mp4");
    EXPECT_EQ(ContentTypeForPath("x.webm"), "video/webm");
    EXPECT_EQ(ContentTypeForPath("x.vtt"), "text/vtt; charset=utf-8");
    EXPECT_EQ(ContentTypeForPath("x.xyz"), "application/octet-stream");
    EXPECT_EQ(ContentTypeForPath("README"), "application/octet-stream");
    EXPECT_EQ(ContentTypeForPath("x."), "application/octet-stream");
    EXPECT_EQ(ContentTypeForPath(".bashrc"), "application/octet-stream");
    EXPECT_EQ(ContentTypeForPath("dir.d/README"), "application/octet-stream");
    EXPECT_EQ(ContentTypeForPath("x.averyveryverylongextension"), "application/octet-stream");
}

TEST_F(StaticFilesTest, ServesContentTypeByExtension) {
    StaticFiles files = Make();
    const std::vector<std::pair<std::string, std::string>> kCases = {
        {"index.html", "text/html; charset=utf-8"},
        {"style.css", "text/css; charset=utf-8"},
        {"module.mjs", "text/javascript; charset=utf-8"},
        {"data.json", "application/json"},
        {"image.png", "image/png"},
        {"photo.JPG", "image/jpeg"},
        {"font.woff2", "font/woff2"},
        {"clip.mp4", "video/mp4"},
        {"icon.svg", "image/svg+xml"},
        {"app.wasm", "application/wasm"},
        {"unknown.xyz", "application/octet-stream"},
        {"README", "application/octet-stream"},
    };
    for (const auto& [name, type] : kCases) {
        Response r = Get(files, "/static/" + name);
        EXPECT_EQ(r.status(), 200) << name;
        EXPECT_EQ(HeaderOf(r, "Content-Type"), type) << name;
        EXPECT_EQ(HeaderOf(r, "X-Content-Type-Options"), "nosniff") << name;
    }
}

// --- 200 and HEAD ---

TEST_F(StaticFilesTest, GetSendsWholeFileWithValidators) {
    StaticFiles files = Make();
    Response r = Get(files, "/static/ten.txt?cache-buster=1");
    ASSERT_EQ(r.status(), 200);
    ASSERT_TRUE(r.file().has_value());
    EXPECT_EQ(r.file()->offset, 0U);
    EXPECT_EQ(r.content_length(), 10U);
    EXPECT_EQ(Body(r), "0123456789");
    EXPECT_EQ(HeaderOf(r, "Last-Modified"), kMtimeImf);
    EXPECT_EQ(HeaderOf(r, "ETag"), "\"a-2ebc98a1-0\"");  // size-mtime-nanoseconds, hex
    EXPECT_EQ(HeaderOf(r, "Accept-Ranges"), "bytes");
    EXPECT_EQ(HeaderOf(r, "Cache-Control"), "public, max-age=3600");
    EXPECT_EQ(HeaderOf(r, "Vary"), "<absent>");
    EXPECT_EQ(HeaderOf(r, "Content-Encoding"), "<absent>");
}

TEST_F(StaticFilesTest, DecodesPercentEncodedNames) {
    StaticFiles files = Make();
    Response r = Get(files, "/static/with%20space.txt");
    ASSERT_EQ(r.status(), 200);
    EXPECT_EQ(Body(r), "with space.txt");
    EXPECT_EQ(Get(files, "/static/dir/nested%2etxt").status(), 200);
}

TEST_F(StaticFilesTest, HeadMatchesGetAndKeepsLength) {
    StaticFiles files = Make();
    Response get = Get(files, "/static/ten.txt");
    Response head = Serve(files, Method::kHead, "/static/ten.txt");
    EXPECT_EQ(head.status(), 200);
    EXPECT_EQ(head.content_length(), 10U);
    EXPECT_EQ(head.headers(), get.headers());
    // Range applies to GET only.
    Response ranged = Serve(files, Method::kHead, "/static/ten.txt", {{"Range", "bytes=0-1"}});
    EXPECT_EQ(ranged.status(), 200);
    EXPECT_EQ(ranged.content_length(), 10U);
}

TEST_F(StaticFilesTest, OtherMethodsGet405WithAllow) {
    StaticFiles files = Make();
    for (Method m : {Method::kPost, Method::kPut, Method::kDelete, Method::kOptions, Method::kPatch}) {
        Response r = Serve(files, m, "/static/ten.txt");
        EXPECT_EQ(r.status(), 405) << ToString(m);
        EXPECT_EQ(HeaderOf(r, "Allow"), "GET, HEAD");
        EXPECT_FALSE(r.file().has_value());
    }
}

TEST_F(StaticFilesTest, EmptyFileIsServed) {
    StaticFiles files = Make();
    Response r = Get(files, "/static/empty.txt");
    EXPECT_EQ(r.status(), 200);
    EXPECT_EQ(r.content_length(), 0U);
}

// --- Conditional requests ---

TEST_F(StaticFilesTest, IfNoneMatchGives304) {
    StaticFiles files = Make();
    std::string etag = HeaderOf(Get(files, "/static/ten.txt"), "ETag");
    for (const std::string& value : {etag, "\"other\", " + etag, "W/" + etag, std::string("*"), "\"x\",W/" + etag}) {
        Response r = Get(files, "/static/ten.txt", {{"If-None-Match", value}});
        EXPECT_EQ(r.status(), 304) << value;
        EXPECT_FALSE(r.file().has_value());
        EXPECT_EQ(r.content_length(), 0U);
        EXPECT_EQ(HeaderOf(r, "ETag"), etag);
        EXPECT_EQ(HeaderOf(r, "Cache-Control"), "public, max-age=3600");
        EXPECT_EQ(HeaderOf(r, "Content-Type"), "<absent>");
    }
    EXPECT_EQ(Get(files, "/static/ten.txt", {{"If-None-Match", "\"other\""}}).status(), 200);
    EXPECT_EQ(Get(files, "/static/ten.txt", {{"If-None-Match", "garbage"}}).status(), 200);
    // Headers repeated on several lines are one list.
    EXPECT_EQ(Get(files, "/static/ten.txt", {{"If-None-Match", "\"a\""}, {"If-None-Match", etag}}).status(), 304);
    EXPECT_EQ(Serve(files, Method::kHead, "/static/ten.txt", {{"If-None-Match", etag}}).status(), 304);
}

TEST_F(StaticFilesTest, IfModifiedSinceGives304InAllThreeDateFormats) {
    StaticFiles files = Make();
    for (std::string_view date :
         {kMtimeImf, std::string_view("Sunday, 06-Nov-94 08:49:37 GMT"), std::string_view("Sun Nov  6 08:49:37 1994"),
          std::string_view("Mon, 07 Nov 1994 00:00:00 GMT")}) {
        Response r = Get(files, "/static/ten.txt", {{"If-Modified-Since", std::string(date)}});
        EXPECT_EQ(r.status(), 304) << date;
        EXPECT_EQ(HeaderOf(r, "Last-Modified"), kMtimeImf);
    }
    for (std::string_view date :
         {std::string_view("Sun, 06 Nov 1994 08:49:36 GMT"), std::string_view("Sun, 06 Nov 1994 08:49:37 PST"),
          std::string_view("Sun, 31 Feb 1994 08:49:37 GMT"), std::string_view("yesterday"), std::string_view("")}) {
        EXPECT_EQ(Get(files, "/static/ten.txt", {{"If-Modified-Since", std::string(date)}}).status(), 200) << date;
    }
}

TEST_F(StaticFilesTest, IfNoneMatchTakesPrecedenceOverIfModifiedSince) {
    StaticFiles files = Make();
    Response r =
        Get(files, "/static/ten.txt", {{"If-None-Match", "\"stale\""}, {"If-Modified-Since", std::string(kMtimeImf)}});
    EXPECT_EQ(r.status(), 200);
}

TEST_F(StaticFilesTest, IfMatchAndIfUnmodifiedSinceGive412) {
    StaticFiles files = Make();
    std::string etag = HeaderOf(Get(files, "/static/ten.txt"), "ETag");
    EXPECT_EQ(Get(files, "/static/ten.txt", {{"If-Match", etag}}).status(), 200);
    EXPECT_EQ(Get(files, "/static/ten.txt", {{"If-Match", "*"}}).status(), 200);
    EXPECT_EQ(Get(files, "/static/ten.txt", {{"If-Match", "\"other\""}}).status(), 412);
    EXPECT_EQ(Get(files, "/static/ten.txt", {{"If-Match", "W/" + etag}}).status(), 412);  // strong comparison
    EXPECT_EQ(Get(files, "/static/ten.txt", {{"If-Unmodified-Since", "Sat, 05 Nov 1994 00:00:00 GMT"}}).status(), 412);
    EXPECT_EQ(Get(files, "/static/ten.txt", {{"If-Unmodified-Since", std::string(kMtimeImf)}}).status(), 200);
}

// --- Ranges ---

TEST_F(StaticFilesTest, SatisfiableRangesGive206) {
    StaticFiles files = Make();
    struct Case {
        std::string range;
        std::string content_range;
        std::string body;
    };
    for (const Case& c : std::vector<Case>{
             {"bytes=2-5", "bytes 2-5/10", "2345"},
             {"bytes=7-", "bytes 7-9/10", "789"},
             {"bytes=-3", "bytes 7-9/10", "789"},
             {"bytes=5-100", "bytes 5-9/10", "56789"},
             {"bytes=-100", "bytes 0-9/10", "0123456789"},
             {"bytes=0-0", "bytes 0-0/10", "0"},
             {"bytes=9-9", "bytes 9-9/10", "9"},
             {"Bytes=1-2", "bytes 1-2/10", "12"},
             {"bytes= 3-4 ", "bytes 3-4/10", "34"},
             {"bytes=8-99999999999999999999999", "bytes 8-9/10", "89"},
         }) {
        Response r = Get(files, "/static/ten.txt", {{"Range", c.range}});
        EXPECT_EQ(r.status(), 206) << c.range;
        EXPECT_EQ(HeaderOf(r, "Content-Range"), c.content_range) << c.range;
        EXPECT_EQ(Body(r), c.body) << c.range;
        EXPECT_EQ(r.content_length(), c.body.size()) << c.range;
        EXPECT_EQ(HeaderOf(r, "Content-Type"), "text/plain; charset=utf-8");
    }
}

TEST_F(StaticFilesTest, UnsatisfiableRangesGive416) {
    StaticFiles files = Make();
    for (std::string_view range : {"bytes=10-", "bytes=10-20", "bytes=-0", "bytes=99999999999999999999999-"}) {
        Response r = Get(files, "/static/ten.txt", {{"Range", std::string(range)}});
        EXPECT_EQ(r.status(), 416) << range;
        EXPECT_EQ(HeaderOf(r, "Content-Range"), "bytes */10") << range;
        EXPECT_FALSE(r.file().has_value());
    }
    Response empty = Get(files, "/static/empty.txt", {{"Range", "bytes=0-"}});
    EXPECT_EQ(empty.status(), 416);
    EXPECT_EQ(HeaderOf(empty, "Content-Range"), "bytes */0");
}

TEST_F(StaticFilesTest, MalformedOrMultipleRangesAreIgnored) {
    StaticFiles files = Make();
    for (std::string_view range : {"bytes=5-2", "bytes=0-1,3-4", "bytes=0-1, 8-", "items=0-1", "bytes=abc",
                                   "bytes=", "bytes=-", "bytes 0-1", "bytes=1-2-3", "bytes=+1-2"}) {
        Response r = Get(files, "/static/ten.txt", {{"Range", std::string(range)}});
        EXPECT_EQ(r.status(), 200) << range;
        EXPECT_EQ(Body(r), "0123456789") << range;
        EXPECT_EQ(HeaderOf(r, "Content-Range"), "<absent>") << range;
    }
    EXPECT_EQ(Get(files, "/static/ten.txt", {{"Range", "bytes=0-1"}, {"Range", "bytes=2-3"}}).status(), 200);
}

TEST_F(StaticFilesTest, IfRangeWithEtagOrDate) {
    StaticFiles files = Make();
    std::string etag = HeaderOf(Get(files, "/static/ten.txt"), "ETag");
    auto ranged = [&](std::string if_range) {
        return Get(files, "/static/ten.txt", {{"Range", "bytes=0-1"}, {"If-Range", std::move(if_range)}});
    };
    EXPECT_EQ(ranged(etag).status(), 206);
    EXPECT_EQ(ranged(std::string(kMtimeImf)).status(), 206);
    Response stale = ranged("\"stale\"");
    EXPECT_EQ(stale.status(), 200);
    EXPECT_EQ(Body(stale), "0123456789");
    EXPECT_EQ(ranged("W/" + etag).status(), 200);  // weak tags never match If-Range
    EXPECT_EQ(ranged("Mon, 07 Nov 1994 00:00:00 GMT").status(), 200);
    // If-Range false also means no 416.
    EXPECT_EQ(Get(files, "/static/ten.txt", {{"Range", "bytes=50-"}, {"If-Range", "\"stale\""}}).status(), 200);
}

TEST_F(StaticFilesTest, NotModifiedWinsOverRange) {
    StaticFiles files = Make();
    std::string etag = HeaderOf(Get(files, "/static/ten.txt"), "ETag");
    EXPECT_EQ(Get(files, "/static/ten.txt", {{"Range", "bytes=0-1"}, {"If-None-Match", etag}}).status(), 304);
}

// --- Precompressed siblings ---

TEST_F(StaticFilesTest, PrefersBrotliWhenAccepted) {
    StaticFiles files = Make();
    Response r = Get(files, "/static/app.js", {{"Accept-Encoding", "gzip, deflate, br"}});
    ASSERT_EQ(r.status(), 200);
    EXPECT_EQ(HeaderOf(r, "Content-Encoding"), "br");
    EXPECT_EQ(HeaderOf(r, "Vary"), "Accept-Encoding");
    EXPECT_EQ(HeaderOf(r, "Content-Type"), "text/javascript; charset=utf-8");
    EXPECT_EQ(HeaderOf(r, "Accept-Ranges"), "<absent>");
    EXPECT_EQ(Body(r), "BROTLI-BYTES");
    std::string identity_etag = HeaderOf(Get(files, "/static/app.js"), "ETag");
    EXPECT_NE(HeaderOf(r, "ETag"), identity_etag);
    // A validator of the br variant matches only when br is chosen again.
    std::string br_etag = HeaderOf(r, "ETag");
    EXPECT_EQ(Get(files, "/static/app.js", {{"Accept-Encoding", "br"}, {"If-None-Match", br_etag}}).status(), 304);
    EXPECT_EQ(Get(files, "/static/app.js", {{"If-None-Match", br_etag}}).status(), 200);
}

TEST_F(StaticFilesTest, ChoosesCodingByAcceptEncoding) {
    StaticFiles files = Make();
    struct Case {
        std::vector<TestHeader> headers;
        std::string encoding;
        std::string body;
    };
    const std::string kIdentity = "console.log('identity');\n";
    for (const Case& c : std::vector<Case>{
             {{{"Accept-Encoding", "gzip"}}, "gzip", "GZIP-BYTES-LONGER"},
             {{{"Accept-Encoding", "x-gzip"}}, "gzip", "GZIP-BYTES-LONGER"},
             {{{"Accept-Encoding", "br;q=0, gzip"}}, "gzip", "GZIP-BYTES-LONGER"},
             {{{"Accept-Encoding", "BR;Q=0.000, GZIP;q=0.5"}}, "gzip", "GZIP-BYTES-LONGER"},
             {{{"Accept-Encoding", "gzip;q=1, br;q=0.5"}}, "gzip", "GZIP-BYTES-LONGER"},
             {{{"Accept-Encoding", "gzip;q=0.8, br;q=0.8"}}, "br", "BROTLI-BYTES"},
             {{{"Accept-Encoding", "*"}}, "br", "BROTLI-BYTES"},
             {{{"Accept-Encoding", "*, br;q=0"}}, "gzip", "GZIP-BYTES-LONGER"},
             {{{"Accept-Encoding", "gzip"}, {"Accept-Encoding", "br"}}, "br", "BROTLI-BYTES"},
             {{{"Accept-Encoding", "gzip;q=0, br;q=0"}}, "<absent>", kIdentity},
             {{{"Accept-Encoding", "gzip;q=bogus"}}, "<absent>", kIdentity},
             {{{"Accept-Encoding", "identity"}}, "<absent>", kIdentity},
             {{{"Accept-Encoding", ""}}, "<absent>", kIdentity},
             {{}, "<absent>", kIdentity},
         }) {
        std::string label = c.headers.empty() ? "(none)" : c.headers.front().value;
        Response r = Get(files, "/static/app.js", c.headers);
        EXPECT_EQ(r.status(), 200) << label;
        EXPECT_EQ(HeaderOf(r, "Content-Encoding"), c.encoding) << label;
        EXPECT_EQ(HeaderOf(r, "Vary"), "Accept-Encoding") << label;  // also on the identity response
        EXPECT_EQ(Body(r), c.body) << label;
    }
}

TEST_F(StaticFilesTest, UsesWhicheverSiblingExists) {
    StaticFiles files = Make();
    Response r = Get(files, "/static/only-gz.txt", {{"Accept-Encoding", "br, gzip"}});
    EXPECT_EQ(HeaderOf(r, "Content-Encoding"), "gzip");
    EXPECT_EQ(Body(r), "GZ");
    Response br_only = Get(files, "/static/only-gz.txt", {{"Accept-Encoding", "br"}});
    EXPECT_EQ(HeaderOf(br_only, "Content-Encoding"), "<absent>");
    EXPECT_EQ(HeaderOf(br_only, "Vary"), "Accept-Encoding");
    EXPECT_EQ(Body(br_only), "plain text\n");
}

TEST_F(StaticFilesTest, RangeRequestsGetIdentity) {
    StaticFiles files = Make();
    Response r = Get(files, "/static/app.js", {{"Accept-Encoding", "br, gzip"}, {"Range", "bytes=0-6"}});
    EXPECT_EQ(r.status(), 206);
    EXPECT_EQ(HeaderOf(r, "Content-Encoding"), "<absent>");
    EXPECT_EQ(HeaderOf(r, "Vary"), "Accept-Encoding");
    EXPECT_EQ(Body(r), "console");
}

// --- Cache-Control ---

TEST_F(StaticFilesTest, ContentHashedNamesAreImmutable) {
    StaticFiles files = Make();
    for (std::string_view name : {"app.3f9a2c1b.css", "app-3f9a2c1b8d.js", "app.012345678901.css"}) {
        Response r = Get(files, "/static/" + std::string(name));
        EXPECT_EQ(r.status(), 200) << name;
        EXPECT_EQ(HeaderOf(r, "Cache-Control"), "public, max-age=31536000, immutable") << name;
    }
    for (std::string_view name :
         {"app.3f9a2c1.css", "photo-20240101.jpg", "style.css", "app-012345678901.css", "app.0123456789012.css"}) {
        EXPECT_EQ(HeaderOf(Get(files, "/static/" + std::string(name)), "Cache-Control"), "public, max-age=3600")
            << name;
    }
    StaticFiles plain = Make({.root = root_.string(), .immutable_hashed = false, .max_age = std::chrono::seconds(60)});
    EXPECT_EQ(HeaderOf(Get(plain, "/static/app.3f9a2c1b.css"), "Cache-Control"), "public, max-age=60");
}

// --- What is not served ---

TEST_F(StaticFilesTest, DirectoriesAndMissingFilesAre404) {
    StaticFiles files = Make();
    for (std::string_view target : {"/static/dir", "/static/dir/", "/static/", "/static/dir/sub", "/static/missing.txt",
                                    "/static/dir/missing.txt", "/static/ten.txt/x", "/static//ten.txt",
                                    "/static/dir//nested.txt", "/other/ten.txt"}) {
        Response r = Get(files, target);
        EXPECT_EQ(r.status(), 404) << target;
        EXPECT_FALSE(r.file().has_value()) << target;
    }
}

/// Traversal and escape attempts, run with openat2 and with the realpath fallback.
class StaticFilesSecurityTest : public StaticFilesTest, public ::testing::WithParamInterface<bool> {
protected:
    StaticFiles MakeForParam() {
        StaticFiles files = Make();
        if (GetParam()) files.UseRealpathFallbackForTest();
        return files;
    }
};

TEST_P(StaticFilesSecurityTest, TraversalIsRejected) {
    StaticFiles files = MakeForParam();
    for (std::string_view target : {
             "/static/../outside/secret.txt",
             "/static/dir/../../outside/secret.txt",
             "/static/dir/../ten.txt",
             "/static/./ten.txt",
             "/static/%2e%2e/outside/secret.txt",
             "/static/%2E%2E/outside/secret.txt",
             "/static/.%2e/outside/secret.txt",
             "/static/%2e/ten.txt",
             "/static/..%2Foutside%2Fsecret.txt",
             "/static/dir%2Fnested.txt",
             "/static/dir%2fnested.txt",
             "/static/..%5coutside%5csecret.txt",
             "/static/..\\outside\\secret.txt",
             "/static/dir\\nested.txt",
             "/static/ten.txt%00.png",
             "/static/%00",
             "/static/ten%zz.txt",
             "/static/ten.txt%2",
             "/static/..",
         }) {
        Response r = Get(files, target);
        EXPECT_EQ(r.status(), 400) << target;
        EXPECT_FALSE(r.file().has_value()) << target;
    }
}

TEST_P(StaticFilesSecurityTest, SymlinksLeavingTheRootAre404) {
    StaticFiles files = MakeForParam();
    for (std::string_view target : {"/static/link-out.txt", "/static/abs-link-out.txt",
                                    "/static/dir-link-out/secret.txt", "/static/dir-link-out"}) {
        Response r = Get(files, target);
        EXPECT_EQ(r.status(), 404) << target;
        EXPECT_FALSE(r.file().has_value()) << target;
    }
}

TEST_P(StaticFilesSecurityTest, SymlinksInsideTheRootAreFollowed) {
    StaticFiles files = MakeForParam();
    Response r = Get(files, "/static/link-in.css");
    EXPECT_EQ(r.status(), 200);
    EXPECT_EQ(Body(r), "body{color:red}\n");
    EXPECT_EQ(HeaderOf(r, "Content-Type"), "text/css; charset=utf-8");
    Response up = Get(files, "/static/dir/link-up.txt");
    EXPECT_EQ(up.status(), 200);
    EXPECT_EQ(Body(up), "0123456789");
}

TEST_P(StaticFilesSecurityTest, DotFilesFifosAndMissingAre404) {
    StaticFiles files = MakeForParam();
    for (std::string_view target : {"/static/.env", "/static/%2eenv", "/static/pipe.txt", "/static/nope.txt"}) {
        EXPECT_EQ(Get(files, target).status(), 404) << target;
    }
    EXPECT_EQ(Get(files, "/static/ten.txt").status(), 200);
}

std::string ResolverName(const ::testing::TestParamInfo<bool>& param) { return param.param ? "Realpath" : "Openat2"; }

INSTANTIATE_TEST_SUITE_P(Resolvers, StaticFilesSecurityTest, ::testing::Values(false, true), ResolverName);

}  // namespace
}  // namespace gale::http
