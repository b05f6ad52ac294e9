// SPDX-License-Identifier: MIT
#include <algorithm>
#include <string>

#include <gtest/gtest.h>

#include <gale/config/dotenv.hpp>
#include <gale/config/secrets.hpp>

#include "test_util.hpp"

namespace gale::config {
namespace {

using testing::TempDir;
using testing::TranscryptEncrypt;

constexpr std::string_view kPlain =
    "# production secrets\n"
    "DATABASE_PASSWORD='p@ss w0rd'\n"
    "API_TOKEN=\"tok\\nen\"\n"
    "GREETING=grüße\n";

TEST(DecryptTranscrypt, DecryptsWhatTranscryptEncryptsWithTheOpensslCli) {
    TempDir dir;
    std::string encrypted = TranscryptEncrypt(dir.path(), ".env.production.secret", kPlain, "correct horse");
    EXPECT_TRUE(IsTranscryptEncrypted(encrypted)) << encrypted;
    auto plain = DecryptTranscrypt(encrypted, "correct horse", ".env.production.secret");
    ASSERT_TRUE(plain) << plain.error().message();
    EXPECT_EQ(*plain, kPlain);
    auto entries = ParseDotenv(*plain, ".env.production.secret", {});
    ASSERT_TRUE(entries);
    EXPECT_EQ(entries->at(0).second, "p@ss w0rd");
    EXPECT_EQ(entries->at(1).second, "tok\nen");
}

TEST(DecryptTranscrypt, OutputIsDeterministicLikeTranscrypts) {
    TempDir dir;
    // transcrypt derives the salt from file name, password and contents, so git sees no change on re-encryption.
    EXPECT_EQ(TranscryptEncrypt(dir.path(), "a.secret", kPlain, "pw"),
              TranscryptEncrypt(dir.path(), "a.secret", kPlain, "pw"));
    EXPECT_NE(TranscryptEncrypt(dir.path(), "a.secret", kPlain, "pw"),
              TranscryptEncrypt(dir.path(), "b.secret", kPlain, "pw"));
}

TEST(DecryptTranscrypt, LongFilesSpanManyBase64Lines) {
    TempDir dir;
    std::string plain;
    for (int i = 0; i < 200; ++i) plain += "KEY_" + std::to_string(i) + "=value number " + std::to_string(i) + "\n";
    std::string encrypted = TranscryptEncrypt(dir.path(), ".env.staging.secret", plain, "pw");
    EXPECT_GT(std::count(encrypted.begin(), encrypted.end(), '\n'), 50);
    auto out = DecryptTranscrypt(encrypted, "pw", ".env.staging.secret");
    ASSERT_TRUE(out) << out.error().message();
    EXPECT_EQ(*out, plain);
}

TEST(DecryptTranscrypt, WrongPasswordIsAClearError) {
    TempDir dir;
    std::string encrypted = TranscryptEncrypt(dir.path(), ".env.production.secret", kPlain, "correct horse");
    // Many wrong passwords: padding catches most, the UTF-8/NUL check the rest.
    for (int i = 0; i < 64; ++i) {
        auto r = DecryptTranscrypt(encrypted, "wrong " + std::to_string(i), "config/.env.production.secret");
        ASSERT_FALSE(r) << "password " << i << " decrypted to: " << *r;
        EXPECT_EQ(r.error().message(),
                  "config/.env.production.secret: wrong TRANSCRYPT_PASSWORD or not a transcrypt file");
        EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
    }
}

TEST(DecryptTranscrypt, Pbkdf2VariantOfTranscrypt3) {
    TempDir dir;
    std::string encrypted = TranscryptEncrypt(dir.path(), "x.secret", kPlain, "pw", /*pbkdf2=*/true);
    TranscryptOptions options;
    options.digest = "sha256";
    options.pbkdf2 = true;
    auto out = DecryptTranscrypt(encrypted, "pw", "x.secret", options);
    ASSERT_TRUE(out) << out.error().message();
    EXPECT_EQ(*out, kPlain);
    EXPECT_FALSE(DecryptTranscrypt(encrypted, "pw", "x.secret"));  // MD5/BytesToKey does not open it
}

TEST(DecryptTranscrypt, OpensslCliDecryptsWhatItEncrypted) {
    // Sanity check of the helper itself: transcrypt's smudge command line opens the file.
    TempDir dir;
    std::string encrypted = TranscryptEncrypt(dir.path(), "s", kPlain, "pw");
    EXPECT_EQ(testing::OpensslDecrypt(dir.path(), encrypted, "pw"), kPlain);
}

TEST(DecryptTranscrypt, RejectsWhatIsNotATranscryptFile) {
    EXPECT_EQ(DecryptTranscrypt("KEY=value\n", "pw", "f").error().message(), "f: not a transcrypt file (not base64)");
    EXPECT_EQ(DecryptTranscrypt("aGVsbG8gd29ybGQgaGVsbG8gd29ybGQ=", "pw", "f").error().message(),
              "f: not a transcrypt file (no 'Salted__' header)");
    // "Salted__" + 8-byte salt + 5 bytes: not a whole block.
    EXPECT_EQ(DecryptTranscrypt("U2FsdGVkX18AAAAAAAAAAAECAwQF", "pw", "f").error().message(),
              "f: not a transcrypt file (truncated ciphertext)");
    EXPECT_FALSE(IsTranscryptEncrypted("KEY=value"));
    TranscryptOptions bad;
    bad.cipher = "no-such-cipher";
    EXPECT_EQ(DecryptTranscrypt("U2FsdGVkX18AAAAAAAAAAAECAwQFBgcICQoLDA0ODxA=", "pw", "f", bad).error().message(),
              "f: unknown cipher 'no-such-cipher'");
}

TEST(DecryptTranscrypt, EmptyFileIsEmpty) {
    auto r = DecryptTranscrypt("", "pw", "f");
    ASSERT_TRUE(r);
    EXPECT_EQ(*r, "");
}

}  // namespace
}  // namespace gale::config
