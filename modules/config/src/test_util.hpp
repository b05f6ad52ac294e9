// SPDX-License-Identifier: MIT
// Test helpers: a scratch directory, and a transcrypt-identical encryption done by the real openssl CLI.
#pragma once

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>

#include <gtest/gtest.h>

namespace gale::config::testing {

/// A fresh directory under $TMPDIR, removed with everything in it on destruction.
class TempDir {
public:
    TempDir() {
        std::string tmpl = (std::filesystem::temp_directory_path() / "gale-config-XXXXXX").string();
        if (mkdtemp(tmpl.data()) == nullptr) ADD_FAILURE() << "mkdtemp failed";
        path_ = tmpl;
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    [[nodiscard]] const std::filesystem::path& path() const { return path_; }

private:
    std::filesystem::path path_;
};

inline void WriteFile(const std::filesystem::path& path, std::string_view text) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    ASSERT_TRUE(out.good()) << path;
}

inline std::string ReadFile(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

/// Encrypts `plaintext` into dir/file_name exactly as transcrypt's clean filter does, with the openssl CLI:
/// salt = last 16 hex digits of HMAC-SHA256(key "<file_name>:<password>", plaintext); then
/// `openssl enc -e -aes-256-cbc -md MD5 -pass env:ENC_PASS -S $salt`, with the "Salted__"+salt header prepended
/// by hand (OpenSSL 3 omits it when -S is given; transcrypt's #133 workaround) and `openssl base64` on top.
/// With `pbkdf2`, transcrypt 3's variant: `-md SHA256 -pbkdf2`. Returns the file's contents; FAILS the test
/// (never skips) when openssl or the shell pipeline fails.
inline std::string TranscryptEncrypt(const std::filesystem::path& dir, std::string_view file_name,
                                     std::string_view plaintext, std::string_view password, bool pbkdf2 = false) {
    const auto work = dir / ".transcrypt-work";
    std::filesystem::create_directories(work);
    WriteFile(work / "plain", plaintext);
    WriteFile(work / "password", password);
    WriteFile(work / "name", file_name);
    const std::string kdf = pbkdf2 ? "-md SHA256 -pbkdf2" : "-md MD5";
    const std::string script =
        "set -euo pipefail\n"
        "command -v openssl >/dev/null || { echo 'openssl CLI not installed' >&2; exit 2; }\n"
        "cd '" +
        work.string() +
        "'\n"
        "password=$(cat password); filename=$(cat name)\n"
        "salt=$(openssl dgst -hmac \"${filename}:${password}\" -sha256 plain | tr -d '\\r\\n' | tail -c16)\n"
        "( printf 'Salted__' && printf '%s' \"$salt\" | xxd -r -p &&\n"
        "  ENC_PASS=$password openssl enc -e -aes-256-cbc " +
        kdf + " -pass env:ENC_PASS -S \"$salt\" -in plain 2>/dev/null ) | openssl base64 > out\n";
    WriteFile(work / "encrypt.sh", script);
    const std::string command = "bash '" + (work / "encrypt.sh").string() + "'";
    const int rc = std::system(command.c_str());
    EXPECT_EQ(rc, 0) << "transcrypt-style openssl encryption failed (is the openssl CLI installed?)";
    std::string encrypted = ReadFile(work / "out");
    EXPECT_FALSE(encrypted.empty());
    WriteFile(dir / std::string(file_name), encrypted);
    std::filesystem::remove_all(work);
    return encrypted;
}

/// Decrypts with the openssl CLI, as transcrypt's smudge filter does; returns the plaintext or "<failed>".
inline std::string OpensslDecrypt(const std::filesystem::path& dir, std::string_view ciphertext,
                                  std::string_view password) {
    const auto work = dir / ".openssl-work";
    std::filesystem::create_directories(work);
    WriteFile(work / "in", ciphertext);
    WriteFile(work / "password", password);
    const std::string command = "cd '" + work.string() +
                                "' && ENC_PASS=$(cat password) openssl enc -d -aes-256-cbc -md MD5 -pass env:ENC_PASS "
                                "-a -in in -out out 2>/dev/null";
    const int rc = std::system(command.c_str());
    std::string out = rc == 0 ? ReadFile(work / "out") : "<failed>";
    std::filesystem::remove_all(work);
    return out;
}

}  // namespace gale::config::testing
