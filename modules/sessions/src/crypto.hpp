// SPDX-License-Identifier: MIT
/// @file crypto.hpp (sessions, private)
/// @brief The few primitives sessions and CSRF need from OpenSSL's libcrypto and zlib: HMAC, digests, a CSPRNG,
///        a constant-time comparison, and bounded zlib (de)compression.
///
/// aws' HMAC-SHA256 is private to its SigV4 signer (and loads libcrypto with dlopen); this module links libcrypto
/// as modules/redis does. Thread-safety: every function may be called from any thread.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace gale::sessions::detail {

enum class Digest { kSha1, kSha256 };

/// The raw digest of `data`.
[[nodiscard]] std::string Hash(Digest digest, std::string_view data);
/// The raw HMAC of `data` under `key`.
[[nodiscard]] std::string Hmac(Digest digest, std::string_view key, std::string_view data);
/// Django's salted_hmac: HMAC(digest(key_salt + secret), value).
[[nodiscard]] std::string SaltedHmac(Digest digest, std::string_view key_salt, std::string_view value,
                                     std::string_view secret);
/// `n` bytes from OpenSSL's CSPRNG (RAND_bytes). Aborts if the generator fails: nothing may be keyed with less.
[[nodiscard]] std::string RandomBytes(std::size_t n);
/// `length` characters drawn uniformly from `alphabet` (at most 256 characters) with RandomBytes, by rejection, as
/// Django's get_random_string.
[[nodiscard]] std::string RandomString(std::size_t length, std::string_view alphabet);
/// Equality in time that depends only on the lengths (CRYPTO_memcmp).
[[nodiscard]] bool ConstantTimeEquals(std::string_view a, std::string_view b) noexcept;
/// zlib's compress() at the default level (what Python's zlib.compress writes).
[[nodiscard]] std::string ZlibCompress(std::string_view data);
/// Inflates a zlib stream; nullopt when it is not one, is truncated, has bytes after its end, or would inflate to
/// more than `max_size` bytes.
[[nodiscard]] std::optional<std::string> ZlibDecompress(std::string_view data, std::size_t max_size);

}  // namespace gale::sessions::detail
