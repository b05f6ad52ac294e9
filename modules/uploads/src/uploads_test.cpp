// SPDX-License-Identifier: MIT
// Unit tests of the upload helper, and real clients — Debian's curl (-F) and Python's requests (/usr/bin/python3,
// python3-requests) — posting multipart forms to a gale http::Server on loopback whose handler calls SaveUploads.
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <gale/http/router.hpp>
#include <gale/http/server.hpp>
#include <gale/log/log.hpp>
#include <gale/storage/local_storage.hpp>
#include <gale/uploads/uploads.hpp>

namespace gale::uploads {
namespace {

namespace fs = std::filesystem;

TEST(SanitizeFilename, KeepsASafeBaseName) {
    EXPECT_EQ(SanitizeFilename("report.pdf"), "report.pdf");
    EXPECT_EQ(SanitizeFilename("C:\\Users\\me\\My File.txt"), "My File.txt");
    EXPECT_EQ(SanitizeFilename("../../etc/passwd"), "passwd");
    EXPECT_EQ(SanitizeFilename(".."), "file");
    EXPECT_EQ(SanitizeFilename("a/.."), "file");
    EXPECT_EQ(SanitizeFilename(".env"), "env");
    EXPECT_EQ(SanitizeFilename(""), "file");
    EXPECT_EQ(SanitizeFilename(std::string("ev\0il\r\n.sh", 10)), "evil.sh");
    EXPECT_EQ(SanitizeFilename("trailing. . "), "trailing");
    EXPECT_EQ(SanitizeFilename("na\xc3\xafve.txt"), "na\xc3\xafve.txt");
    std::string long_name = std::string(300, 'a') + ".jpeg";
    EXPECT_EQ(SanitizeFilename(long_name), std::string(195, 'a') + ".jpeg");
}

class UploadsTest : public ::testing::Test {
protected:
    void SetUp() override {
        log::SetLevel(log::Level::kError);
        dir_ = fs::temp_directory_path() / ("gale-uploads-" + std::to_string(::getpid()) + "-" +
                                            ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(dir_);
        fs::create_directories(dir_ / "tmp");
        auto s = storage::LocalStorage::Create({.root = dir_ / "media", .base_url = "/media/"});
        ASSERT_TRUE(s) << s.error().ToString();
        storage_ = std::move(*s);
    }
    void TearDown() override { fs::remove_all(dir_); }

    std::string Stored(const std::string& name) {
        std::ifstream in(dir_ / "media" / name, std::ios::binary);
        EXPECT_TRUE(in) << name;
        return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    }
    std::size_t TempFiles() {
        return static_cast<std::size_t>(std::distance(fs::directory_iterator(dir_ / "tmp"), fs::directory_iterator()));
    }

    fs::path dir_;
    std::unique_ptr<storage::LocalStorage> storage_;
};

const char* kType = "multipart/form-data; boundary=B0und";

std::string Part(const std::string& disposition, const std::string& body) {
    return "--B0und\r\nContent-Disposition: form-data; " + disposition + "\r\n\r\n" + body + "\r\n";
}

TEST_F(UploadsTest, SavesFilesAndReturnsFields) {
    std::string big(3000, 'x');
    big += "\r\n--B0un not a boundary\r\n";
    std::string body = Part("name=\"title\"", "Holiday") + Part("name=\"photo\"; filename=\"../a.jpg\"", "JPEG") +
                       Part("name=\"doc\"; filename=\"big.bin\"", big) + Part("name=\"empty\"; filename=\"\"", "") +
                       "--B0und--\r\n";
    UploadOptions options{.memory_threshold = 1024, .temp_dir = dir_ / "tmp"};
    auto form = SaveUploads(kType, body, *storage_, options);
    ASSERT_TRUE(form) << form.error().ToString();
    EXPECT_EQ(form->field("title"), "Holiday");
    ASSERT_EQ(form->files.size(), 2u);
    EXPECT_EQ(form->files[0].field, "photo");
    EXPECT_EQ(form->files[0].client_filename, "../a.jpg");
    EXPECT_EQ(form->files[0].stored_name, "uploads/a.jpg");
    EXPECT_EQ(form->files[0].size, 4u);
    EXPECT_EQ(Stored("uploads/a.jpg"), "JPEG");
    EXPECT_EQ(form->files[1].stored_name, "uploads/big.bin");  // spooled through a temporary file
    EXPECT_EQ(Stored("uploads/big.bin"), big);
    EXPECT_EQ(TempFiles(), 0u);

    // The same names again: not replaced, made unique.
    auto again = SaveUploads(kType, body, *storage_, options);
    ASSERT_TRUE(again) << again.error().ToString();
    const std::string& second = again->files[0].stored_name;
    EXPECT_NE(second, "uploads/a.jpg");
    EXPECT_TRUE(second.starts_with("uploads/a_") && second.ends_with(".jpg") && second.size() == 21) << second;
    EXPECT_EQ(Stored("uploads/a.jpg"), "JPEG");
}

TEST_F(UploadsTest, AFailedFormLeavesNothingBehind) {
    std::string body = Part("name=\"a\"; filename=\"one.txt\"", "1") + Part("name=\"b\"; filename=\"two.txt\"", "2") +
                       "--B0und\r\nContent-Disposition: form-data; name=\"c\"; filename=\"three.txt\"\r\n\r\nno end";
    auto form = SaveUploads(kType, body, *storage_, {.temp_dir = dir_ / "tmp"});
    ASSERT_FALSE(form);
    EXPECT_EQ(form.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(form.error().message(), "multipart: part 3: body ended before the closing boundary '--B0und--'");
    EXPECT_FALSE(fs::exists(dir_ / "media" / "uploads" / "one.txt"));
    EXPECT_FALSE(fs::exists(dir_ / "media" / "uploads" / "two.txt"));

    auto too_many = SaveUploads(kType, Part("name=a; filename=x", "1") + Part("name=b; filename=y", "2") + "--B0und--",
                                *storage_, {.max_files = 1});
    ASSERT_FALSE(too_many);
    EXPECT_EQ(too_many.error().message(), "uploads: part 2: more than 1 files");
    EXPECT_FALSE(fs::exists(dir_ / "media" / "uploads" / "x"));

    auto not_multipart = SaveUploads("application/json", "{}", *storage_);
    ASSERT_FALSE(not_multipart);
    EXPECT_EQ(not_multipart.error().message(), "multipart: Content-Type 'application/json' is not multipart/form-data");
}

/// A server whose POST /upload saves the form and answers with what it saved, as JSON.
class UploadServerTest : public UploadsTest {
protected:
    void SetUp() override {
        UploadsTest::SetUp();
        auto save = http::HandleErrors([this](http::Request& req) -> Result<http::Response> {
            streamed_ = req.body_stream() != nullptr;
            GALE_ASSIGN_OR_RETURN(UploadedForm form,
                                  SaveUploads(req, *storage_, {.memory_threshold = 4096, .temp_dir = dir_ / "tmp"}));
            nlohmann::ordered_json out;
            for (const auto& [k, v] : form.fields) out["fields"][k] = v;
            for (const UploadedFile& f : form.files) {
                out["files"].push_back({{"field", f.field},
                                        {"filename", f.client_filename},
                                        {"stored", f.stored_name},
                                        {"type", f.content_type},
                                        {"size", f.size}});
            }
            return http::Response::Json(200, out);
        });
        ASSERT_TRUE(router_.Add(http::Method::kPost, "/upload", save));
        ASSERT_TRUE(router_.Add(http::Method::kPost, "/streamed-upload", save, {.stream_body = true}));
        http::ServerOptions o;
        o.bind = "127.0.0.1";
        o.port = 0;
        o.loops = 1;
        o.workers = 2;
        o.access_log = false;
        server_ = std::make_unique<http::Server>(o, router_);
        ASSERT_TRUE(server_->Listen());
        server_->Start();
        url_ = "http://127.0.0.1:" + std::to_string(server_->port()) + "/upload";
    }
    void TearDown() override {
        if (server_) server_->Stop();
        UploadsTest::TearDown();
    }
    /// Runs a shell command and returns its standard output; fails the test on a non-zero exit.
    std::string Run(const std::string& cmd) {
        fs::path out = dir_ / "out.txt";
        int rc = std::system((cmd + " > '" + out.string() + "' 2>&1").c_str());
        std::ifstream in(out);
        std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        EXPECT_EQ(rc, 0) << cmd << "\n" << text;
        return text;
    }

    http::Router router_;
    std::unique_ptr<http::Server> server_;
    std::string url_;
    std::atomic<bool> streamed_{false};  // the last request's handler read a body_stream()
};

TEST_F(UploadServerTest, CurlFormUpload) {
    std::string data;
    for (int i = 0; i < 20000; ++i) data += "line " + std::to_string(i) + "\r\n";  // ~200 KB, CRLFs included
    std::ofstream(dir_ / "data.txt", std::ios::binary) << data;
    std::string out = Run("curl -sS --fail -F 'title=My upload' -F 'file=@" + (dir_ / "data.txt").string() +
                          ";type=text/csv;filename=../../report.csv' " + url_);
    auto json = nlohmann::json::parse(out, nullptr, false);
    ASSERT_FALSE(json.is_discarded()) << out;
    EXPECT_EQ(json["fields"]["title"], "My upload");
    ASSERT_EQ(json["files"].size(), 1u);
    EXPECT_EQ(json["files"][0]["stored"], "uploads/report.csv");
    EXPECT_EQ(json["files"][0]["type"], "text/csv");
    EXPECT_EQ(json["files"][0]["size"], data.size());
    EXPECT_EQ(Stored("uploads/report.csv"), data);
    EXPECT_EQ(TempFiles(), 0u);
}

TEST_F(UploadServerTest, AStreamedUploadIsParsedAsItArrives) {
    // 3 MB, far above the server's 256 KiB read-ahead, and across many reads: parts split anywhere.
    std::string data;
    for (int i = 0; i < 300000; ++i) data += "row " + std::to_string(i) + "\r\n";
    std::ofstream(dir_ / "big.csv", std::ios::binary) << data;
    const std::string streamed_url = url_.substr(0, url_.rfind('/')) + "/streamed-upload";
    std::string out = Run("curl -sS --fail -F 'title=Big' -F 'file=@" + (dir_ / "big.csv").string() +
                          ";type=text/csv' " + streamed_url);
    EXPECT_TRUE(streamed_.load()) << "the route did not stream the body";
    auto json = nlohmann::json::parse(out, nullptr, false);
    ASSERT_FALSE(json.is_discarded()) << out;
    EXPECT_EQ(json["fields"]["title"], "Big");
    ASSERT_EQ(json["files"].size(), 1u);
    EXPECT_EQ(json["files"][0]["size"], data.size());
    EXPECT_EQ(Stored("uploads/big.csv"), data);
    EXPECT_EQ(TempFiles(), 0u);

    // A form cut short: 400, nothing stored.
    std::ofstream(dir_ / "cut.txt", std::ios::binary)
        << "--x\r\nContent-Disposition: form-data; name=\"f\"; filename=\"cut.txt\"\r\n\r\nabc";
    std::string bad =
        Run("curl -sS -o /dev/null -w '%{http_code}' -H 'Content-Type: multipart/form-data; boundary=x' "
            "--data-binary @" +
            (dir_ / "cut.txt").string() + " " + streamed_url);
    EXPECT_EQ(bad, "400");
    EXPECT_FALSE(storage_->Exists("uploads/cut.txt").value_or(true));
}

TEST_F(UploadServerTest, PythonRequestsUploadAndABadBodyIs400) {
    std::string script =
        "import requests, sys\n"
        "r = requests.post(sys.argv[1], data={'a': '1', 'b': 'two words'},\n"
        "                  files={'f': ('na\\u00efve.bin', bytes(range(256)) * 64, 'application/octet-stream')})\n"
        "print(r.status_code); print(r.text)\n"
        "bad = requests.post(sys.argv[1], data=b'--x\\r\\nContent-Disposition: form-data; name=a\\r\\n\\r\\nv',\n"
        "                    headers={'Content-Type': 'multipart/form-data; boundary=x'})\n"
        "print(bad.status_code)\n";
    std::ofstream(dir_ / "client.py") << script;
    std::string out = Run("/usr/bin/python3 '" + (dir_ / "client.py").string() + "' " + url_);
    std::size_t first = out.find('\n');
    ASSERT_NE(first, std::string::npos) << out;
    EXPECT_EQ(out.substr(0, first), "200") << out;
    std::size_t last = out.rfind('\n', out.size() - 2);
    auto json = nlohmann::json::parse(out.substr(first + 1, last - first), nullptr, false);
    ASSERT_FALSE(json.is_discarded()) << out;
    EXPECT_EQ(json["fields"]["a"], "1");
    EXPECT_EQ(json["fields"]["b"], "two words");
    EXPECT_EQ(json["files"][0]["filename"], "na\xc3\xafve.bin");
    EXPECT_EQ(json["files"][0]["stored"], "uploads/na\xc3\xafve.bin");
    std::string expected;
    for (int r = 0; r < 64; ++r) {
        for (int i = 0; i < 256; ++i) expected += static_cast<char>(i);
    }
    EXPECT_EQ(Stored("uploads/na\xc3\xafve.bin"), expected);
    EXPECT_EQ(out.substr(last + 1), "400\n") << out;
}

}  // namespace
}  // namespace gale::uploads
