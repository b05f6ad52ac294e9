// SPDX-License-Identifier: MIT
#include <unistd.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>

#include <brotli/decode.h>
#include <gtest/gtest.h>

#include <gale/http/router.hpp>
#include <gale/http/server.hpp>
#include <gale/http/static_files.hpp>
#include <gale/http/testing/raw_client.hpp>
#include <gale/staticfiles/collect.hpp>
#include <gale/staticfiles/manifest.hpp>
#include <gale/storage/local_storage.hpp>

#include "css_urls.hpp"

namespace gale::staticfiles {
namespace {

namespace fs = std::filesystem;

std::string Gunzip(const std::string& gz) {
    z_stream zs{};
    EXPECT_EQ(inflateInit2(&zs, 15 + 16), Z_OK);
    std::string out(1 << 20, '\0');
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(gz.data()));
    zs.avail_in = static_cast<uInt>(gz.size());
    zs.next_out = reinterpret_cast<Bytef*>(out.data());
    zs.avail_out = static_cast<uInt>(out.size());
    EXPECT_EQ(inflate(&zs, Z_FINISH), Z_STREAM_END);
    out.resize(zs.total_out);
    inflateEnd(&zs);
    return out;
}

std::string Unbrotli(const std::string& br) {
    std::string out(1 << 20, '\0');
    std::size_t size = out.size();
    EXPECT_EQ(BrotliDecoderDecompress(br.size(), reinterpret_cast<const std::uint8_t*>(br.data()), &size,
                                      reinterpret_cast<std::uint8_t*>(out.data())),
              BROTLI_DECODER_RESULT_SUCCESS);
    out.resize(size);
    return out;
}

class CollectTest : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() / ("gale-collect-" + std::to_string(::getpid()) + "-" +
                                            ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(dir_);
        fs::create_directories(dir_ / "src");
    }
    void TearDown() override { fs::remove_all(dir_); }

    void Write(const fs::path& rel, const std::string& content, const fs::path& base = "src") {
        fs::create_directories((dir_ / base / rel).parent_path());
        std::ofstream(dir_ / base / rel, std::ios::binary) << content;
    }
    std::string Read(const fs::path& rel) {
        std::ifstream in(dir_ / "out" / rel, std::ios::binary);
        EXPECT_TRUE(in) << rel;
        return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    }
    bool Exists(const fs::path& rel) { return fs::exists(dir_ / "out" / rel); }
    Result<CollectReport> Collect(CollectOptions options = {}) {
        if (options.sources.empty()) options.sources = {dir_ / "src"};
        auto storage = storage::LocalStorage::Create({.root = dir_ / "out", .base_url = "/static/"});
        EXPECT_TRUE(storage);
        return CollectStatic(options, **storage);
    }

    fs::path dir_;
};

TEST(HashedNameTest, InsertsTheHashAsDjangoDoes) {
    EXPECT_EQ(HashedName("app.css", "3f2a1b4c5d6e77"), "app.3f2a1b4c5d6e.css");
    EXPECT_EQ(HashedName("a/b.tar.gz", "0123456789abcdef"), "a/b.tar.0123456789ab.gz");
    EXPECT_EQ(HashedName("a/.env", "0123456789abcdef"), "a/.env.0123456789ab");
    EXPECT_EQ(HashedName("LICENSE", "0123456789abcdef"), "LICENSE.0123456789ab");
    EXPECT_EQ(Md5Hex("hello\n"), "b1946ac92492d2347c6235b4d2611184");
}

TEST(CssUrlsTest, NormPathAndUnquoteAsPython) {
    EXPECT_EQ(detail::NormPath("css/../img/./a.png"), "img/a.png");
    EXPECT_EQ(detail::NormPath("../a"), "../a");
    EXPECT_EQ(detail::NormPath("a//b/"), "a/b");
    EXPECT_EQ(detail::NormPath("/../a"), "/a");
    EXPECT_EQ(detail::NormPath(""), ".");
    EXPECT_EQ(detail::Unquote("a%20b%zz%4"), "a b%zz%4");
}

TEST_F(CollectTest, WritesOriginalsHashedCopiesCompressedSiblingsAndTheManifest) {
    std::string js = "console.log('hello');\n";
    for (int i = 0; i < 50; ++i) js += "function f" + std::to_string(i) + "() { return 'compressible text'; }\n";
    Write("js/app.js", js);
    Write("hello.txt", "hello\n");                  // too small to gain from compression
    Write("img/logo.png", std::string(4096, 'p'));  // compressible bytes, but PNG is never compressed
    Write(".hidden", "secret");
    Write("notes.txt~", "backup");
    auto report = Collect();
    ASSERT_TRUE(report) << report.error().ToString();
    EXPECT_EQ(report->files, 3u);
    std::string js_hashed = HashedName("js/app.js", Md5Hex(js));
    EXPECT_EQ(report->paths.at("hello.txt"), "hello.b1946ac92492.txt");
    EXPECT_EQ(report->paths.at("js/app.js"), js_hashed);
    EXPECT_EQ(Read("hello.b1946ac92492.txt"), "hello\n");
    EXPECT_EQ(Read("hello.txt"), "hello\n");
    EXPECT_FALSE(Exists("hello.txt.gz"));
    EXPECT_FALSE(Exists("hello.b1946ac92492.txt.br"));
    EXPECT_EQ(Read("js/app.js"), js);
    EXPECT_EQ(Read(js_hashed), js);
    EXPECT_EQ(Gunzip(Read(js_hashed + ".gz")), js);
    EXPECT_EQ(Unbrotli(Read(js_hashed + ".br")), js);
    EXPECT_EQ(Unbrotli(Read("js/app.js.br")), js);
    EXPECT_FALSE(Exists("img/logo.png.gz"));
    EXPECT_FALSE(Exists(".hidden"));
    EXPECT_FALSE(Exists("notes.txt~"));
    EXPECT_EQ(report->gzipped, 2u);
    EXPECT_EQ(report->brotli, 2u);
    auto manifest = StaticManifest::Load(dir_ / "out" / "staticfiles.json");
    ASSERT_TRUE(manifest) << manifest.error().ToString();
    EXPECT_EQ(manifest->paths(), report->paths);
    EXPECT_EQ(manifest->Url("js/app.js").value(), "/static/" + js_hashed);
}

TEST_F(CollectTest, FirstSourceWinsAndDryRunWritesNothing) {
    Write("a.txt", "first\n");
    Write("a.txt", "second\n", "src2");
    Write("b.txt", "only in second\n", "src2");
    auto dry = Collect({.sources = {dir_ / "src", dir_ / "src2"}, .dry_run = true});
    ASSERT_TRUE(dry);
    EXPECT_EQ(dry->files, 2u);
    EXPECT_FALSE(Exists("staticfiles.json"));
    auto report = Collect({.sources = {dir_ / "src", dir_ / "src2"}});
    ASSERT_TRUE(report);
    EXPECT_EQ(Read("a.txt"), "first\n");
    EXPECT_EQ(report->paths.at("a.txt"), HashedName("a.txt", Md5Hex("first\n")));
    auto missing = Collect({.sources = {dir_ / "nope"}});
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().message(), "collectstatic: source " + (dir_ / "nope").string() + " is not a directory");
}

TEST_F(CollectTest, RewritesCssReferencesAsDjango) {
    Write("img/a.png", "PNG");
    Write("fonts/f.woff", "WOFF");
    Write("css/base.css", "body { color: red }\n");
    Write("css/app.css",
          "@import 'base.css';\n"
          "a { background: url(../img/a.png) }\n"
          "b { background: URL(\"/static/img/a.png\") }\n"
          "@font-face { src: url('../fonts/f.woff?#iefix') }\n"
          "c { background: url(data:image/png;base64,AAAA) }\n"
          "d { background: url(https://example.com/x.png) }\n"
          "e { background: url(/elsewhere/x.png) }\n"
          "f { filter: url(#svgfilter) }\n");
    auto report = Collect();
    ASSERT_TRUE(report) << report.error().ToString();
    std::string png = report->paths.at("img/a.png");
    std::string woff = report->paths.at("fonts/f.woff");
    std::string base = report->paths.at("css/base.css");
    std::string expected = "@import url(\"" + base.substr(4) +
                           "\");\n"
                           "a { background: url(\"../" +
                           png +
                           "\") }\n"
                           "b { background: url(\"/static/" +
                           png +
                           "\") }\n"
                           "@font-face { src: url(\"../" +
                           woff +
                           "?#iefix\") }\n"
                           "c { background: url(data:image/png;base64,AAAA) }\n"
                           "d { background: url(https://example.com/x.png) }\n"
                           "e { background: url(/elsewhere/x.png) }\n"
                           "f { filter: url(\"#svgfilter\") }\n";
    std::string app_hashed = report->paths.at("css/app.css");
    EXPECT_EQ(Read(app_hashed), expected);
    EXPECT_EQ(app_hashed, HashedName("css/app.css", Md5Hex(expected)));
    EXPECT_EQ(report->rewritten_css, 1u);
    EXPECT_NE(Read("css/app.css"), expected);  // the original name keeps the original content, as in Django
}

TEST_F(CollectTest, CssThatReferencesCssSettlesAndMissingFilesAndCyclesAreErrors) {
    Write("a.css", "@import url(\"b.css\");\n");
    Write("b.css", "@import url(\"c.css\");\n");
    Write("c.css", "x { background: url(i.png) }\n");
    Write("i.png", "i");
    auto report = Collect();
    ASSERT_TRUE(report) << report.error().ToString();
    std::string c = Read(report->paths.at("c.css"));
    EXPECT_EQ(report->paths.at("c.css"), HashedName("c.css", Md5Hex(c)));
    std::string b = "@import url(\"" + report->paths.at("c.css") + "\");\n";
    EXPECT_EQ(Read(report->paths.at("b.css")), b);
    EXPECT_EQ(report->paths.at("b.css"), HashedName("b.css", Md5Hex(b)));

    Write("d.css", "x { background: url(img/missing.png) }\n");
    auto missing = Collect();
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().message(), "d.css: url(img/missing.png): the file 'img/missing.png' was not collected");
    fs::remove(dir_ / "src" / "d.css");

    Write("c.css", "@import url(\"a.css\");\n");
    auto cycle = Collect();
    ASSERT_FALSE(cycle);
    EXPECT_EQ(cycle.error().message(),
              "collectstatic: CSS references did not settle after 6 passes (a cycle of url() references among: a.css, "
              "b.css, c.css)");
}

TEST_F(CollectTest, ServedImmutableAndPrecompressedByStaticFiles) {
    std::string css = "body { margin: 0 }\n";
    for (int i = 0; i < 40; ++i) css += ".c" + std::to_string(i) + " { color: #123456; padding: 1px }\n";
    Write("css/site.css", css);
    auto report = Collect();
    ASSERT_TRUE(report) << report.error().ToString();
    std::string hashed = report->paths.at("css/site.css");
    ASSERT_TRUE(http::HasContentHash(fs::path(hashed).filename().string())) << hashed;

    auto files = http::StaticFiles::Create({.root = (dir_ / "out").string(), .url_prefix = "/static/"});
    ASSERT_TRUE(files) << files.error().ToString();
    http::Router router;
    ASSERT_TRUE(router.Add(http::Method::kGet, "/static/{path...}", [&](http::Request& r) { return files->Serve(r); }));
    http::ServerOptions server_options;
    server_options.bind = "127.0.0.1";
    server_options.port = 0;
    server_options.loops = 1;
    server_options.workers = 1;
    server_options.access_log = false;
    http::Server server(server_options, router);
    ASSERT_TRUE(server.Listen());
    server.Start();
    auto get = [&](const std::string& path, const std::string& accept) {
        return http::testing::Fetch(server.port(), "GET " + path + " HTTP/1.1\r\nHost: t\r\nAccept-Encoding: " +
                                                       accept + "\r\nConnection: close\r\n\r\n");
    };
    auto br = get("/static/" + hashed, "gzip, br");
    ASSERT_TRUE(br);
    EXPECT_EQ(br->status, 200);
    EXPECT_EQ(br->header("content-encoding"), "br");
    EXPECT_EQ(br->header("cache-control"), "public, max-age=31536000, immutable");
    EXPECT_EQ(Unbrotli(br->body), css);
    auto gz = get("/static/" + hashed, "gzip");
    ASSERT_TRUE(gz);
    EXPECT_EQ(gz->header("content-encoding"), "gzip");
    EXPECT_EQ(Gunzip(gz->body), css);
    auto plain = get("/static/css/site.css", "identity");
    ASSERT_TRUE(plain);
    EXPECT_EQ(plain->body, css);
    EXPECT_EQ(plain->header("cache-control"), "public, max-age=3600");
    server.Stop();
}

}  // namespace
}  // namespace gale::staticfiles
