// SPDX-License-Identifier: MIT
// Interop with AWS's own tools, against a real moto_server the suite starts (ctest label `s3`): what gale writes,
// Debian's `aws` CLI (awscli) and boto3 (python3-boto3) read, and what boto3 writes (a multipart upload_file
// included), gale reads. And gale's presigned URL is the one botocore computes for the same object, credentials and
// time (moto does not check presigned signatures, so this is where they are checked against an independent signer).
// Needs /usr/bin/python3 with boto3 and /usr/bin/aws: tools/install-deps.sh test installs them; the test fails,
// naming what is missing, without them.
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include <gale/aws/sigv4.hpp>
#include <gale/aws/testing/moto_server.hpp>
#include <gale/storage/s3_storage.hpp>

namespace gale::storage {
namespace {

namespace fs = std::filesystem;
using aws::testing::MotoServer;

constexpr char kPython[] = "/usr/bin/python3";
constexpr char kAwsCli[] = "/usr/bin/aws";
const aws::Credentials kCredentials{.access_key_id = "AKIDINTEROP", .secret_access_key = "interop/secret+key"};

struct Ran {
    int status = -1;
    std::string output;
};

// Runs a shell command (bounded by timeout(1)), stdout and stderr captured together.
Ran Shell(const std::string& command) {
    Ran run;
    FILE* pipe = ::popen(("timeout 120 " + command + " 2>&1").c_str(), "r");
    if (pipe == nullptr) return run;
    char buffer[4096];
    std::size_t n = 0;
    while ((n = ::fread(buffer, 1, sizeof buffer, pipe)) > 0) run.output.append(buffer, n);
    const int status = ::pclose(pipe);
    run.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return run;
}

std::string Slurp(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::string Pattern(std::size_t size, int seed) {
    std::string out(size, '\0');
    std::uint32_t x = static_cast<std::uint32_t>(seed) * 2654435761u + 7;
    for (auto& c : out) {
        x = x * 1664525u + 1013904223u;
        c = static_cast<char>(x >> 24);
    }
    return out;
}

class S3Interop : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        server_ = new MotoServer();
        std::string pattern = (fs::temp_directory_path() / "gale-s3-interop-XXXXXX").string();
        dir_ = new fs::path(::mkdtemp(pattern.data()));
        // For the child processes (boto3, aws): the same credentials and endpoint as gale's.
        ::setenv("AWS_ACCESS_KEY_ID", kCredentials.access_key_id.c_str(), 1);
        ::setenv("AWS_SECRET_ACCESS_KEY", kCredentials.secret_access_key.c_str(), 1);
        ::setenv("AWS_DEFAULT_REGION", "us-east-1", 1);
        ::setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
        ::setenv("AWS_CONFIG_FILE", "/dev/null", 1);
        ::setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null", 1);
        ::setenv("AWS_PAGER", "", 1);
        if (server_->problem().empty()) {
            ::setenv("GALE_TEST_ENDPOINT", server_->url().c_str(), 1);
            Python("s3().create_bucket(Bucket='interop')");
        }
    }
    static void TearDownTestSuite() {
        delete server_;
        fs::remove_all(*dir_);
        delete dir_;
    }
    void SetUp() override {
        ASSERT_TRUE(server_->problem().empty()) << server_->problem();
        ASSERT_EQ(::access(kPython, X_OK), 0) << kPython << " is missing (Debian python3-boto3)";
        ASSERT_EQ(::access(kAwsCli, X_OK), 0) << kAwsCli << " is missing (Debian awscli)";
    }

    // Runs `body` in /usr/bin/python3 with boto3 imported and s3() giving a client on moto.
    static Ran Python(const std::string& body) {
        const fs::path script = *dir_ / "script.py";
        std::ofstream(script) << "import os, sys, hashlib, boto3\n"
                                 "from boto3.s3.transfer import TransferConfig\n"
                                 "def s3():\n"
                                 "    return boto3.client('s3', endpoint_url=os.environ['GALE_TEST_ENDPOINT'])\n"
                              << body << "\n";
        return Shell(std::string(kPython) + " " + script.string());
    }

    static std::unique_ptr<S3Storage> Make() {
        auto storage = S3Storage::Create({.bucket = "interop",
                                          .prefix = "gale",
                                          .region = "us-east-1",
                                          .endpoint = server_->url(),
                                          .credentials = kCredentials,
                                          .multipart_threshold = kS3MinPartSize,
                                          .part_size = kS3MinPartSize});
        EXPECT_TRUE(storage) << storage.error().ToString();
        return std::move(*storage);
    }

    static MotoServer* server_;
    static fs::path* dir_;
};

MotoServer* S3Interop::server_ = nullptr;
fs::path* S3Interop::dir_ = nullptr;

TEST_F(S3Interop, GaleWritesBoto3AndTheAwsCliRead) {
    auto s3 = Make();
    ASSERT_TRUE(s3->Save("notes/hello world.txt", "written by gale\n",
                         {.content_type = "text/plain", .cache_control = "max-age=60"}));
    const std::string big = Pattern(2 * kS3MinPartSize + 1000, 5);
    const fs::path source = *dir_ / "big.bin";
    std::ofstream(source, std::ios::binary) << big;
    ASSERT_TRUE(s3->SaveFile("blobs/big.bin", source));  // multipart: three parts

    auto boto = Python(
        "o = s3().get_object(Bucket='interop', Key='gale/notes/hello world.txt')\n"
        "print(repr(o['Body'].read()), o['ContentType'], o['CacheControl'])\n"
        "b = s3().get_object(Bucket='interop', Key='gale/blobs/big.bin')\n"
        "print(hashlib.sha256(b['Body'].read()).hexdigest(), b['ETag'])");
    ASSERT_EQ(boto.status, 0) << boto.output;
    EXPECT_NE(boto.output.find("b'written by gale\\n' text/plain max-age=60"), std::string::npos) << boto.output;
    EXPECT_NE(boto.output.find(aws::Sha256Hex(big)), std::string::npos) << boto.output;
    EXPECT_NE(boto.output.find("-3\""), std::string::npos) << boto.output;  // boto3 sees a three-part upload

    const fs::path copy = *dir_ / "cli-copy.bin";
    auto cli = Shell(std::string(kAwsCli) + " --endpoint-url " + server_->url() +
                     " s3 cp s3://interop/gale/blobs/big.bin " + copy.string());
    ASSERT_EQ(cli.status, 0) << cli.output;
    EXPECT_EQ(Slurp(copy), big);
    auto listed =
        Shell(std::string(kAwsCli) + " --endpoint-url " + server_->url() + " s3 ls --recursive s3://interop/gale/");
    ASSERT_EQ(listed.status, 0) << listed.output;
    EXPECT_NE(listed.output.find("gale/notes/hello world.txt"), std::string::npos) << listed.output;
}

TEST_F(S3Interop, Boto3WritesGaleReads) {
    const std::string big = Pattern(3 * kS3MinPartSize + 4321, 6);
    const fs::path source = *dir_ / "boto-big.bin";
    std::ofstream(source, std::ios::binary) << big;
    auto boto = Python(
        "s3().put_object(Bucket='interop', Key='gale/from-boto/small.json', Body=b'{\"ok\": true}',"
        " ContentType='application/json')\n"
        "s3().upload_file('" +
        source.string() +
        "', 'interop', 'gale/from-boto/big.bin',"
        " Config=TransferConfig(multipart_threshold=1024, multipart_chunksize=5 * 1024 * 1024, use_threads=False))\n"
        "print(s3().head_object(Bucket='interop', Key='gale/from-boto/big.bin')['ETag'])");
    ASSERT_EQ(boto.status, 0) << boto.output;
    EXPECT_NE(boto.output.find("-4\""), std::string::npos) << boto.output;  // four parts

    auto s3 = Make();
    EXPECT_EQ(s3->Read("from-boto/small.json").value(), "{\"ok\": true}");
    EXPECT_EQ(s3->Stat("from-boto/small.json").value().content_type, "application/json");
    auto info = s3->Stat("from-boto/big.bin");
    ASSERT_TRUE(info) << info.error().ToString();
    EXPECT_EQ(info->size, big.size());
    EXPECT_TRUE(info->etag.ends_with("-4")) << info->etag;
    EXPECT_EQ(s3->Read("from-boto/big.bin").value(), big);
    // Ranges across a part boundary and at the end.
    EXPECT_EQ(s3->ReadRange("from-boto/big.bin", kS3MinPartSize - 10, 20).value(), big.substr(kS3MinPartSize - 10, 20));
    EXPECT_EQ(s3->ReadRange("from-boto/big.bin", big.size() - 5, 100).value(), big.substr(big.size() - 5));
    auto local = s3->LocalPath("from-boto/big.bin");
    ASSERT_TRUE(local) << local.error().ToString();
    EXPECT_EQ(Slurp(local->path()), big);
    auto names = s3->List("from-boto/");
    ASSERT_TRUE(names);
    ASSERT_EQ(names->size(), 2u);
    EXPECT_EQ((*names)[0].name, "from-boto/big.bin");
}

TEST_F(S3Interop, PresignedUrlIsTheOneBotocoreComputes) {
    const auto at = std::chrono::system_clock::time_point(std::chrono::seconds(1796304600));  // 2026-12-03T13:30:00Z
    auto storage = S3Storage::Create({.bucket = "interop",
                                      .prefix = "gale",
                                      .region = "us-east-1",
                                      .endpoint = server_->url(),
                                      .credentials = kCredentials,
                                      .clock = [at] { return at; }});
    ASSERT_TRUE(storage);
    auto url = (*storage)->Url("dir/a b+c.txt", {.expiry = std::chrono::seconds(900)});
    ASSERT_TRUE(url) << url.error().ToString();
    auto boto = Python(
        "import contextlib, datetime\n"
        "from unittest import mock\n"
        "from botocore.config import Config\n"
        "c = boto3.client('s3', endpoint_url=os.environ['GALE_TEST_ENDPOINT'],"
        " config=Config(signature_version='s3v4', s3={'addressing_style': 'path'}))\n"
        "with contextlib.ExitStack() as stack:\n"
        "    for target in ('botocore.auth.datetime', 'botocore.crt.auth.datetime'):\n"  // awscrt's signer if present
        "        try:\n"
        "            dt = stack.enter_context(mock.patch(target))\n"
        "        except (ImportError, AttributeError):\n"
        "            continue\n"
        "        dt.datetime.utcnow.return_value = datetime.datetime(2026, 12, 3, 13, 30, 0)\n"
        "        dt.timezone = datetime.timezone\n"
        "    print(c.generate_presigned_url('get_object', Params={'Bucket': 'interop', 'Key': 'gale/dir/a b+c.txt'},"
        " ExpiresIn=900))");
    ASSERT_EQ(boto.status, 0) << boto.output;
    const auto signature_of = [](std::string_view text) {
        const auto at_sig = text.find("X-Amz-Signature=");
        return at_sig == std::string_view::npos ? std::string() : std::string(text.substr(at_sig + 16, 64));
    };
    ASSERT_FALSE(signature_of(*url).empty()) << *url;
    EXPECT_EQ(signature_of(*url), signature_of(boto.output)) << "gale:   " << *url << "\nboto3:  " << boto.output;
    EXPECT_TRUE(boto.output.starts_with(url->substr(0, url->find('?')) + "?")) << boto.output;
}

}  // namespace
}  // namespace gale::storage
