// SPDX-License-Identifier: MIT
#include <map>
#include <string>

#include <gtest/gtest.h>

#include <gale/aws/environment.hpp>

namespace gale::aws {
namespace {

EnvLookup FakeEnv(std::map<std::string, std::string> vars) {
    return [vars = std::move(vars)](std::string_view name) -> std::optional<std::string> {
        auto it = vars.find(std::string(name));
        if (it == vars.end()) return std::nullopt;
        return it->second;
    };
}

TEST(Environment, Credentials) {
    auto creds = CredentialsFromEnvironment(
        FakeEnv({{"AWS_ACCESS_KEY_ID", "AKID"}, {"AWS_SECRET_ACCESS_KEY", "secret"}, {"AWS_SESSION_TOKEN", "tok"}}));
    ASSERT_TRUE(creds) << creds.error().ToString();
    EXPECT_EQ(creds->access_key_id, "AKID");
    EXPECT_EQ(creds->secret_access_key, "secret");
    EXPECT_EQ(creds->session_token, "tok");

    auto no_token =
        CredentialsFromEnvironment(FakeEnv({{"AWS_ACCESS_KEY_ID", "AKID"}, {"AWS_SECRET_ACCESS_KEY", "s"}}));
    ASSERT_TRUE(no_token);
    EXPECT_EQ(no_token->session_token, "");
}

TEST(Environment, MissingCredentialsNameTheVariables) {
    auto secret = CredentialsFromEnvironment(FakeEnv({{"AWS_ACCESS_KEY_ID", "AKID"}, {"AWS_SECRET_ACCESS_KEY", ""}}));
    ASSERT_FALSE(secret);
    EXPECT_EQ(secret.error().code(), ErrorCode::kNotFound);
    EXPECT_EQ(secret.error().message(), "AWS credentials: AWS_SECRET_ACCESS_KEY is not set");

    auto both = CredentialsFromEnvironment(FakeEnv({}));
    ASSERT_FALSE(both);
    EXPECT_EQ(both.error().message(), "AWS credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set");
}

TEST(Environment, Region) {
    EXPECT_EQ(RegionFromEnvironment(FakeEnv({{"AWS_REGION", "eu-west-1"}, {"AWS_DEFAULT_REGION", "us-east-1"}})),
              "eu-west-1");
    EXPECT_EQ(RegionFromEnvironment(FakeEnv({{"AWS_REGION", ""}, {"AWS_DEFAULT_REGION", "us-east-1"}})), "us-east-1");
    auto none = RegionFromEnvironment(FakeEnv({}));
    ASSERT_FALSE(none);
    EXPECT_NE(none.error().message().find("AWS_REGION"), std::string::npos);
    EXPECT_NE(none.error().message().find("AWS_DEFAULT_REGION"), std::string::npos);
}

TEST(Environment, EndpointOverrides) {
    EXPECT_EQ(EndpointFromEnvironment("KMS", FakeEnv({})), std::nullopt);
    EXPECT_EQ(EndpointFromEnvironment("KMS", FakeEnv({{"AWS_ENDPOINT_URL", "http://localhost:4566/"}})),
              "http://localhost:4566");
    EXPECT_EQ(EndpointFromEnvironment("kms", FakeEnv({{"AWS_ENDPOINT_URL", "http://localhost:4566"},
                                                      {"AWS_ENDPOINT_URL_KMS", "http://127.0.0.1:5000"}})),
              "http://127.0.0.1:5000");
    EXPECT_EQ(EndpointFromEnvironment("Secrets Manager",
                                      FakeEnv({{"AWS_ENDPOINT_URL_SECRETS_MANAGER", "http://127.0.0.1:1"}})),
              "http://127.0.0.1:1");
}

}  // namespace
}  // namespace gale::aws
