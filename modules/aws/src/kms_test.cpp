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
#include <gale/http/client.hpp>

extern char** environ;

namespace gale::aws {
namespace {

// Everything here talks to 127.0.0.1; keep a proxy named in the environment out of the way.
[[maybe_unused]] const int kNoProxyForLoopback = setenv("no_proxy", "127.0.0.1", 1);

bool IsExecutable(const std::string& path) { return access(path.c_str(), X_OK) == 0; }

std::optional<std::string> FindMotoServer() {
    if (const char* explicit_path = std::getenv("GALE_MOTO_SERVER"); explicit_path && IsExecutable(explicit_path)) {
        return std::string(explicit_path);
    }
    if (const char* path = std::getenv("PATH")) {
        std::string_view rest = path;
        while (!rest.empty()) {
            const auto colon = rest.find(':');
            const std::string dir(rest.substr(0, colon));
            if (!dir.empty() && IsExecutable(dir + "/moto_server")) return dir + "/moto_server";
            if (colon == std::string_view::npos) break;
            rest.remove_prefix(colon + 1);
        }
    }
    std::vector<std::string> patterns = {"/root/.pyenv/versions/*/bin/moto_server", "/usr/local/bin/moto_server",
                                         "/root/.local/bin/moto_server"};
    if (const char* home = std::getenv("HOME")) {
        patterns.push_back(std::string(home) + "/.pyenv/versions/*/bin/moto_server");
        patterns.push_back(std::string(home) + "/.local/bin/moto_server");
    }
    for (const auto& pattern : patterns) {
        glob_t matches{};
        if (glob(pattern.c_str(), 0, nullptr, &matches) == 0) {
            for (std::size_t i = matches.gl_pathc; i > 0; --i) {  // newest Python version sorts last
                const std::string candidate = matches.gl_pathv[i - 1];
                if (IsExecutable(candidate)) {
                    globfree(&matches);
                    return candidate;
                }
            }
        }
        globfree(&matches);
    }
    return std::nullopt;
}

// A loopback port nothing listens on right now (bound with port 0, then released).
int FreePort() {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        close(fd);
        return -1;
    }
    socklen_t len = sizeof addr;
    getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    close(fd);
    return ntohs(addr.sin_port);
}

class MotoServer {
public:
    MotoServer() {
        const auto binary = FindMotoServer();
        if (!binary) {
            problem_ =
                "moto_server not found ($GALE_MOTO_SERVER, PATH, ~/.pyenv/versions/*/bin, ~/.local/bin); "
                "install it with: pip install 'moto[server]'";
            return;
        }
        const int port = FreePort();
        url_ = "http://127.0.0.1:" + std::to_string(port);
        const std::string port_text = std::to_string(port);
        std::vector<std::string> args = {*binary, "-H", "127.0.0.1", "-p", port_text};
        std::vector<char*> argv;
        for (auto& arg : args) argv.push_back(arg.data());
        argv.push_back(nullptr);

        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        log_ = "/tmp/gale-aws-moto-" + port_text + ".log";
        const std::string& log = log_;
        posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
        posix_spawnattr_t attr;
        posix_spawnattr_init(&attr);
        posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
        posix_spawnattr_setpgroup(&attr, 0);  // its own group, so Stop reaches moto's children and nothing else
        const int rc = posix_spawn(&pid_, binary->c_str(), &actions, &attr, argv.data(), environ);
        posix_spawn_file_actions_destroy(&actions);
        posix_spawnattr_destroy(&attr);
        if (rc != 0) {
            pid_ = -1;
            problem_ = "could not start " + *binary + ": " + std::strerror(rc);
            return;
        }
        // Wait (bounded) until it answers; moto needs a second or two to import its backends.
        http::Client client;
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
        while (std::chrono::steady_clock::now() < deadline) {
            auto response = client.Send({.url = url_ + "/moto-api/", .timeout = std::chrono::milliseconds(2000)});
            if (response && response->status < 500) return;
            int status = 0;
            if (waitpid(pid_, &status, WNOHANG) == pid_) {
                pid_ = -1;
                problem_ = *binary + " exited during start-up; see " + log;
                return;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
        problem_ = *binary + " did not answer on " + url_ + " within 30 s; see " + log;
    }

    ~MotoServer() {
        if (problem_.empty() && !log_.empty()) unlink(log_.c_str());  // kept only when start-up failed
        if (pid_ <= 0) return;
        kill(-pid_, SIGTERM);
        for (int i = 0; i < 50; ++i) {
            if (waitpid(pid_, nullptr, WNOHANG) == pid_) return;
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
        kill(-pid_, SIGKILL);
        waitpid(pid_, nullptr, 0);
    }
    MotoServer(const MotoServer&) = delete;
    MotoServer& operator=(const MotoServer&) = delete;

    [[nodiscard]] const std::string& problem() const { return problem_; }
    [[nodiscard]] const std::string& url() const { return url_; }

private:
    pid_t pid_ = -1;
    std::string url_;
    std::string log_;
    std::string problem_;
};

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
