// SPDX-License-Identifier: MIT
#include <string>

#include <gtest/gtest.h>

#include <gale/config/settings.hpp>

#include "test_util.hpp"

namespace gale::config {
namespace {

using testing::TempDir;
using testing::TranscryptEncrypt;
using testing::WriteFile;

TEST(Settings, HigherLayersWinWhateverTheOrder) {
    Settings s;
    s.Set("PORT", "1", Layer::kCommandLine);
    s.Set("PORT", "2", Layer::kEnvironment);
    s.SetDefault("PORT", "3");
    EXPECT_EQ(s.Find("PORT"), "1");
    s.Set("HOST", "a", Layer::kDefault);
    s.Set("HOST", "b", Layer::kFile, "gale.toml");
    s.Set("HOST", "c", Layer::kDotenv, ".env.base");
    s.Set("HOST", "d", Layer::kDotenv, ".env.local");  // same layer: the later one wins
    auto info = s.Info("HOST");
    ASSERT_TRUE(info);
    EXPECT_EQ(info->value, "d");
    EXPECT_EQ(info->layer, Layer::kDotenv);
    EXPECT_EQ(info->file, ".env.local");
    s.LoadEnvironment({{"HOST", "e"}, {"OTHER", "x"}});
    EXPECT_EQ(s.Info("HOST")->layer, Layer::kEnvironment);
    EXPECT_EQ(s.Info("HOST")->file, "");
    EXPECT_FALSE(s.Find("MISSING"));
}

// Issue 8: a bundled profile's values were defaults, so `config` said "# default" and errors "(from default)" for
// what GALE_PROFILE=production had chosen. The profile is its own layer, named with the profile.
TEST(Settings, ProfileIsALayerBetweenDefaultsAndFiles) {
    Settings s;
    s.SetDefault("APP_DEBUG", "true");
    s.Set("APP_DEBUG", "false", Layer::kProfile, "production");
    s.SetDefault("APP_DEBUG", "true");  // a default set later still loses
    EXPECT_EQ(s.Find("APP_DEBUG"), "false");
    EXPECT_EQ(s.Info("APP_DEBUG")->layer, Layer::kProfile);
    EXPECT_EQ(s.Info("APP_DEBUG")->file, "production");
    EXPECT_EQ(ToString(Layer::kProfile), "profile");
    EXPECT_EQ(s.Describe(), "APP_DEBUG=false  # profile production\n");
    s.Set("APP_DEBUG", "maybe", Layer::kProfile, "production");
    EXPECT_EQ(s.GetBool("APP_DEBUG").error().message(),
              "APP_DEBUG (from profile production): 'maybe' is not a boolean (use true/false, 1/0, yes/no, on/off)");
    s.Set("APP_DEBUG", "yes", Layer::kFile, "settings/production.env");  // files outrank the profile
    EXPECT_EQ(s.Info("APP_DEBUG")->layer, Layer::kFile);
}

// What an unset option means is not a value: `config` shows it as a comment, so it can never be read as one.
TEST(Settings, DescribeExplainsNotedKeysWhileUnset) {
    Settings s;
    s.NoteUnset("GALE_WORKERS", "min(32, cores + 4), decided at start");
    s.NoteUnset("GALE_PORT", "never shown: the key is set");
    s.SetDefault("GALE_PORT", "8000");
    s.Set("GALE_AUTORELOAD", "true", Layer::kEnvironment);
    EXPECT_EQ(s.Describe(),
              "GALE_AUTORELOAD=true  # environment\n"
              "GALE_PORT=8000  # default\n"
              "# GALE_WORKERS is not set: min(32, cores + 4), decided at start\n");
    EXPECT_FALSE(s.Contains("GALE_WORKERS"));
    EXPECT_FALSE(s.Find("GALE_WORKERS"));
    EXPECT_EQ(s.Entries().size(), 2U);
}

TEST(Settings, LoadEnvironmentWithPrefix) {
    Settings s;
    s.LoadEnvironment({{"GALE_PORT", "1"}, {"PATH", "/bin"}}, "GALE_");
    EXPECT_TRUE(s.Contains("GALE_PORT"));
    EXPECT_FALSE(s.Contains("PATH"));
}

TEST(Settings, TypedGettersNameKeyAndLayer) {
    Settings s;
    s.Set("PORT", "abc", Layer::kDotenv, "config/.env.local");
    s.Set("WORKERS", "8", Layer::kEnvironment);
    s.Set("DEBUG", "maybe", Layer::kCommandLine);
    s.SetDefault("TIMEOUT", "1.5s");
    s.SetDefault("MAX_BODY", "10M");
    EXPECT_EQ(s.GetInt("PORT", 1, 65535).error().message(),
              "PORT (from dotenv config/.env.local): 'abc' is not an integer");
    EXPECT_EQ(s.GetInt("WORKERS", 1, 64).value(), 8);
    EXPECT_EQ(s.GetInt("WORKERS", 1, 4).error().message(), "WORKERS (from environment): 8 is out of range [1, 4]");
    EXPECT_EQ(s.GetBool("DEBUG").error().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(s.GetBool("DEBUG").error().message().find("DEBUG (from command line)"), std::string::npos);
    EXPECT_EQ(s.GetDuration("TIMEOUT").value(), std::chrono::milliseconds(1500));
    EXPECT_EQ(s.GetSize("MAX_BODY").value(), 10U << 20);
    EXPECT_EQ(s.GetString("WORKERS").value(), "8");
    auto missing = s.GetInt("NOPE", 0, 1);
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
    EXPECT_EQ(missing.error().message(), "NOPE is not set");
}

TEST(Settings, SecretsByNameAndDeclaration) {
    Settings s;
    for (const char* k : {"DATABASE_PASSWORD", "DJANGO_SECRET_KEY", "API_TOKEN", "AWS_ACCESS_KEY", "db_password"}) {
        EXPECT_TRUE(s.IsSecret(k)) << k;
    }
    for (const char* k : {"PORT", "KEYBOARD", "KEY_PATH", "MONKEY"}) EXPECT_FALSE(s.IsSecret(k)) << k;
    s.DeclareSecret("DATABASE_URL");
    EXPECT_TRUE(s.IsSecret("DATABASE_URL"));
}

TEST(Settings, DescribeNeverLeaksSecrets) {
    Settings s;
    s.Set("DATABASE_URL", "postgres://u:hunter2@db/app", Layer::kEnvironment);
    s.DeclareSecret("DATABASE_URL");
    s.Set("API_TOKEN", "tok-123", Layer::kDotenv, ".env.local");
    s.Set("PORT", "8000", Layer::kCommandLine);
    s.SetDefault("MOTD", "two\nlines");
    s.Set("TIMEOUT_SECRET", "notanumber-hunter3", Layer::kDotenv, ".env.base");
    const std::string text = s.Describe();
    EXPECT_EQ(text,
              "API_TOKEN=********  # dotenv .env.local\n"
              "DATABASE_URL=********  # environment\n"
              "MOTD=two\\nlines  # default\n"
              "PORT=8000  # command line\n"
              "TIMEOUT_SECRET=********  # dotenv .env.base\n");
    EXPECT_EQ(text.find("hunter"), std::string::npos);
    // Not in error messages either.
    auto bad = s.GetInt("TIMEOUT_SECRET", 0, 10);
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().message().find("hunter3"), std::string::npos) << bad.error().message();
    EXPECT_NE(bad.error().message().find("TIMEOUT_SECRET (from dotenv .env.base)"), std::string::npos);
    auto entries = s.Entries();
    ASSERT_EQ(entries.size(), 5U);
    EXPECT_EQ(entries[0].value, "********");
    EXPECT_TRUE(entries[0].secret);
    EXPECT_EQ(s.Entries(/*redacted=*/false)[0].value, "tok-123");
}

TEST(Settings, DotenvChainWithoutSecretFile) {
    TempDir dir;
    WriteFile(dir.path() / ".env.base", "A=base\nB=base\nURL=http://${HOST}/\n");
    WriteFile(dir.path() / ".env.local", "B=local\nHOST=localhost\n");
    Settings s;
    ASSERT_TRUE(s.LoadDotenvChain(dir.path(), {}));
    EXPECT_EQ(s.Find("A"), "base");
    EXPECT_EQ(s.Find("B"), "local");                // .env.local wins over .env.base
    EXPECT_EQ(s.Find("URL"), "http://localhost/");  // .env.local is read first, so base can use its values
    EXPECT_EQ(s.Info("B")->file, (dir.path() / ".env.local").string());
    EXPECT_EQ(s.Info("A")->file, (dir.path() / ".env.base").string());
}

TEST(Settings, DotenvChainMissingFilesAreSkipped) {
    TempDir dir;
    Settings s;
    EXPECT_TRUE(s.LoadDotenvChain(dir.path(), {}));
    EXPECT_TRUE(s.Entries().empty());
    WriteFile(dir.path() / ".env.local", "DOTENV=production\n");  // no .env.production.secret: skipped
    EXPECT_TRUE(s.LoadDotenvChain(dir.path(), {}));
}

TEST(Settings, DotenvChainDecryptsTheSecretFile) {
    TempDir dir;
    TranscryptEncrypt(dir.path(), ".env.production.secret",
                      "DB_PASSWORD=s3cret\nB=secret\nC=secret\nDATABASE_URL=postgres://u:${DB_PASSWORD}@db/x\n",
                      "correct horse");
    WriteFile(dir.path() / ".env.base", "A=base\nB=base\nC=base\n");
    WriteFile(dir.path() / ".env.local", "DOTENV=production\nTRANSCRYPT_PASSWORD='correct horse'\nC=local\n");
    Settings s;
    auto r = s.LoadDotenvChain(dir.path(), {});
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(s.Find("A"), "base");
    EXPECT_EQ(s.Find("B"), "secret");  // secret overrides base
    EXPECT_EQ(s.Find("C"), "local");   // local overrides secret
    EXPECT_EQ(s.Find("DATABASE_URL"), "postgres://u:s3cret@db/x");
    EXPECT_EQ(s.Info("B")->file, (dir.path() / ".env.production.secret").string());
    // Everything from the secret file is secret, whatever its name; the password too.
    EXPECT_TRUE(s.IsSecret("B"));
    EXPECT_TRUE(s.IsSecret("DATABASE_URL"));
    const std::string text = s.Describe();
    EXPECT_EQ(text.find("s3cret"), std::string::npos) << text;
    EXPECT_EQ(text.find("correct horse"), std::string::npos) << text;
    EXPECT_NE(text.find("A=base"), std::string::npos) << text;
}

TEST(Settings, DotenvChainTakesDotenvAndPasswordFromTheEnvironment) {
    TempDir dir;
    TranscryptEncrypt(dir.path(), ".env.staging.secret", "X=from-secret\n", "pw");
    Settings s;
    auto r = s.LoadDotenvChain(dir.path(), {{"DOTENV", "staging"}, {"TRANSCRYPT_PASSWORD", "pw"}});
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(s.Find("X"), "from-secret");
}

TEST(Settings, DotenvChainErrors) {
    TempDir dir;
    TranscryptEncrypt(dir.path(), ".env.production.secret", "X=1\n", "right");
    WriteFile(dir.path() / ".env.local", "DOTENV=production\n");
    Settings s;
    auto missing = s.LoadDotenvChain(dir.path(), {});
    ASSERT_FALSE(missing);
    EXPECT_NE(missing.error().message().find(".env.production.secret: encrypted, but TRANSCRYPT_PASSWORD is set"),
              std::string::npos)
        << missing.error().message();

    WriteFile(dir.path() / ".env.local", "DOTENV=production\nTRANSCRYPT_PASSWORD=wrong\n");
    auto wrong = Settings().LoadDotenvChain(dir.path(), {});
    ASSERT_FALSE(wrong);
    EXPECT_EQ(wrong.error().message(), (dir.path() / ".env.production.secret").string() +
                                           ": wrong TRANSCRYPT_PASSWORD or not a transcrypt file");

    WriteFile(dir.path() / ".env.local", "DOTENV=production\nOK=1\nBAD='\n");
    auto syntax = Settings().LoadDotenvChain(dir.path(), {});
    ASSERT_FALSE(syntax);
    EXPECT_EQ(syntax.error().message(), (dir.path() / ".env.local").string() + ":3: unterminated single quote");
}

TEST(Settings, DotenvChainAcceptsAnAlreadyDecryptedSecretFile) {
    // In a checkout whose transcrypt git filter is set up, the working-tree file is plaintext.
    TempDir dir;
    WriteFile(dir.path() / ".env.dev.secret", "X=plain\n");
    WriteFile(dir.path() / ".env.local", "DOTENV=dev\n");
    Settings s;
    auto r = s.LoadDotenvChain(dir.path(), {});
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(s.Find("X"), "plain");
    EXPECT_TRUE(s.IsSecret("X"));
}

TEST(Settings, EnvironmentOutranksTheDotenvChain) {
    TempDir dir;
    WriteFile(dir.path() / ".env.local", "PORT=1\n");
    Settings s;
    s.LoadEnvironment({{"PORT", "2"}});
    ASSERT_TRUE(s.LoadDotenvChain(dir.path(), {{"PORT", "2"}}));
    EXPECT_EQ(s.Find("PORT"), "2");
    EXPECT_EQ(s.Info("PORT")->layer, Layer::kEnvironment);
}

}  // namespace
}  // namespace gale::config
