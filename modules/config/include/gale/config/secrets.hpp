// SPDX-License-Identifier: MIT
/// @file gale/config/secrets.hpp
/// @brief In-memory decryption of files encrypted by transcrypt (`openssl enc`, salted, base64).
#pragma once

#include <string>
#include <string_view>

#include <gale/base/error.hpp>

namespace gale::config {

/// How the file was encrypted. The defaults are transcrypt 2.x, the released version:
/// `openssl enc -aes-256-cbc -md MD5 -pass env:ENC_PASS -e -a -S <salt>` (EVP_BytesToKey with MD5, one round).
/// Transcrypt 3 (`--kdf pbkdf2`, `--digest`) adds `-pbkdf2`: set `pbkdf2 = true` and its `digest`.
struct TranscryptOptions {
    std::string cipher = "aes-256-cbc";  ///< transcrypt.cipher; any OpenSSL cipher name with a key and an IV
    std::string digest = "md5";          ///< transcrypt.digest: `-md` (key derivation digest)
    bool pbkdf2 = false;                 ///< transcrypt.use-pbkdf2: `-pbkdf2` (PBKDF2-HMAC instead of BytesToKey)
    int iterations = 10000;              ///< `-iter` with pbkdf2 (openssl's default is 10000)
};

/// True if `text` looks like transcrypt output: base64 of "Salted__…", i.e. it starts with "U2FsdGVk" (the test
/// transcrypt's own clean filter uses to recognise an already encrypted file).
[[nodiscard]] bool IsTranscryptEncrypted(std::string_view text) noexcept;

/// Decrypts the contents of a transcrypt-encrypted file. Thread-safe; keeps everything in memory.
///
/// @param ciphertext the file's bytes: base64 (line breaks allowed) of "Salted__" + 8-byte salt + ciphertext.
///        An empty file decrypts to "" (transcrypt leaves empty files alone).
/// @param password TRANSCRYPT_PASSWORD.
/// @param file_name used only in error messages.
/// @return the plaintext, or an ErrorCode::kInvalidArgument error: "<file_name>: not a transcrypt file (…)" when
///         the bytes are not base64 of a salted OpenSSL file, "<file_name>: wrong TRANSCRYPT_PASSWORD or not a
///         transcrypt file" when the padding is bad or the plaintext is not NUL-free UTF-8 (a wrong password
///         passes the padding check about once in 256 tries; the text check catches nearly all of those), or
///         "<file_name>: unknown cipher/digest …" for bad options.
[[nodiscard]] Result<std::string> DecryptTranscrypt(std::string_view ciphertext, std::string_view password,
                                                    std::string_view file_name, const TranscryptOptions& options = {});

}  // namespace gale::config
