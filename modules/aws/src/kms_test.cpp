// SPDX-License-Identifier: MIT
// KmsClient and DecryptIfKms against a real moto_server (moto's KMS mock), started by the test as a child process on
// a free loopback port and stopped (SIGTERM to its own process group, then SIGKILL) when the suite ends. moto does
// not check signatures; SigV4 itself is checked against AWS's vectors in sigv4_test.cpp.
//
// moto_server is looked up in $GALE_MOTO_SERVER, then PATH, then the usual pyenv/pip locations. If it cannot be
// found the tests fail (they do not skip): install it with `pip install 'moto[server]'`.
#include <arpa/inet.h>
#include <fcntl.h>
#include <glob.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include <gale/aws/base64.hpp>
#include <gale/aws/kms.hpp>
#include <gale/aws/testing/moto_server.hpp>
#include <gale/http/client.hpp>

extern char** environ;

namespace gale::aws {
namespace {

using testing::FindMotoServer;
using testing::FreePort;
using testing::MotoServer;

KmsOptions OptionsFor(std::string endpoint) {
    return KmsOptions{.region = "us-east-1",
                      .endpoint_url = std::move(endpoint),
                      .credentials = {.access_key_id = "AKIDEXAMPLE",
                                      .secret_access_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                                      .session_token = {}},
                      .timeout = std::chrono::milliseconds(10000),
                      .connect_timeout = std::chrono::milliseconds(2000),
                      .now = {}};
}

class KmsAgainstMoto : public ::testing::Test {
protected:
    static void SetUpTestSuite() { server_ = new MotoServer(); }
    static void TearDownTestSuite() {
        delete server_;
        server_ = nullptr;
    }
    void SetUp() override { ASSERT_TRUE(server_->problem().empty()) << server_->problem(); }

    static MotoServer* server_;
};

MotoServer* KmsAgainstMoto::server_ = nullptr;

TEST_F(KmsAgainstMoto, CreateKeyEncryptDecryptRoundTrip) {
    KmsClient kms(OptionsFor(server_->url()));
    auto key = kms.CreateKey("gale-aws round trip");
    ASSERT_TRUE(key) << key.error().ToString();
    EXPECT_FALSE(key->empty());

    const std::string plaintext("s3cr3t \x00\xff binary", 16);
    auto blob = kms.Encrypt(*key, plaintext);
    ASSERT_TRUE(blob) << blob.error().ToString();
    EXPECT_NE(*blob, plaintext);
    auto decrypted = kms.Decrypt(*blob);
    ASSERT_TRUE(decrypted) << decrypted.error().ToString();
    EXPECT_EQ(*decrypted, plaintext);
}

TEST_F(KmsAgainstMoto, DecryptIfKmsDecryptsOurCiphertextAndPassesOtherValuesThrough) {
    KmsClient kms(OptionsFor(server_->url()));
    auto key = kms.CreateKey("gale-aws DecryptIfKms");
    ASSERT_TRUE(key) << key.error().ToString();
    auto blob = kms.Encrypt(*key, "postgres-password");
    ASSERT_TRUE(blob) << blob.error().ToString();

    EXPECT_EQ(DecryptIfKms(kms, Base64Encode(*blob)), "postgres-password");
    // Not base64: no KMS call at all.
    EXPECT_EQ(DecryptIfKms(kms, "postgres://user:pw@db:5432/app"), "postgres://user:pw@db:5432/app");
    EXPECT_EQ(DecryptIfKms(kms, ""), "");
    // Valid base64 that is not a ciphertext: KMS answers InvalidCiphertextException, the value is kept.
    EXPECT_EQ(DecryptIfKms(kms, "true"), "true");
    EXPECT_EQ(DecryptIfKms(kms, "c2VjcmV0"), "c2VjcmV0");
    // A tampered ciphertext of a real key: InvalidCiphertextException too.
    std::string tampered = *blob;
    tampered.back() = static_cast<char>(tampered.back() ^ 0x01);
    EXPECT_EQ(DecryptIfKms(kms, Base64Encode(tampered)), Base64Encode(tampered));
}

TEST_F(KmsAgainstMoto, DecryptOfGarbageIsAnErrorNamingTheAwsErrorType) {
    KmsClient kms(OptionsFor(server_->url()));
    auto garbage = kms.Decrypt("not a ciphertext");
    ASSERT_FALSE(garbage);
    EXPECT_EQ(garbage.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(garbage.error().ToString().find("KMS Decrypt at " + server_->url()), std::string::npos)
        << garbage.error().ToString();
    EXPECT_NE(garbage.error().ToString().find("InvalidCiphertextException"), std::string::npos)
        << garbage.error().ToString();
    auto tried = kms.TryDecrypt("not a ciphertext");
    ASSERT_TRUE(tried) << tried.error().ToString();
    EXPECT_EQ(*tried, std::nullopt);

    auto no_key = kms.Encrypt("alias/does-not-exist", "x");
    ASSERT_FALSE(no_key);
    EXPECT_EQ(no_key.error().code(), ErrorCode::kNotFound) << no_key.error().ToString();
    EXPECT_NE(no_key.error().ToString().find("KMS Encrypt at"), std::string::npos) << no_key.error().ToString();
    EXPECT_NE(no_key.error().ToString().find("NotFoundException"), std::string::npos) << no_key.error().ToString();
}

TEST(Kms, DeadEndpointIsAnErrorNamingTheUrl) {
    const std::string url = "http://127.0.0.1:" + std::to_string(FreePort());
    KmsClient kms(OptionsFor(url));
    auto decrypted = kms.Decrypt("anything");
    ASSERT_FALSE(decrypted);
    EXPECT_EQ(decrypted.error().code(), ErrorCode::kUnavailable);
    EXPECT_NE(decrypted.error().ToString().find("KMS Decrypt at " + url), std::string::npos)
        << decrypted.error().ToString();

    // The rule must not treat an unreachable KMS as "not a ciphertext".
    auto value = DecryptIfKms(kms, "c2VjcmV0");
    ASSERT_FALSE(value);
    EXPECT_EQ(value.error().code(), ErrorCode::kUnavailable);
    EXPECT_NE(value.error().ToString().find(url), std::string::npos) << value.error().ToString();
}

TEST(Kms, FromEnvironment) {
    const std::map<std::string, std::string> vars = {{"AWS_ACCESS_KEY_ID", "AKID"},
                                                     {"AWS_SECRET_ACCESS_KEY", "secret"},
                                                     {"AWS_DEFAULT_REGION", "eu-central-1"},
                                                     {"AWS_ENDPOINT_URL_KMS", "http://127.0.0.1:4566/"}};
    auto env = [&vars](std::string_view name) -> std::optional<std::string> {
        auto it = vars.find(std::string(name));
        return it == vars.end() ? std::nullopt : std::optional<std::string>(it->second);
    };
    auto kms = KmsClient::FromEnvironment(env);
    ASSERT_TRUE(kms) << kms.error().ToString();
    EXPECT_EQ(kms->endpoint(), "http://127.0.0.1:4566");

    KmsClient aws(KmsOptions{.region = "eu-west-1"});
    EXPECT_EQ(aws.endpoint(), "https://kms.eu-west-1.amazonaws.com");

    auto missing = KmsClient::FromEnvironment([](std::string_view) { return std::optional<std::string>(); });
    ASSERT_FALSE(missing);
    EXPECT_NE(missing.error().message().find("AWS_ACCESS_KEY_ID"), std::string::npos);
}

}  // namespace
}  // namespace gale::aws
