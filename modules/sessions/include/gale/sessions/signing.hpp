// SPDX-License-Identifier: MIT
/// @file gale/sessions/signing.hpp
/// @brief Django's django.core.signing (3.2) in C++: Signer, TimestampSigner and signed JSON objects, byte for byte
///        the strings Django writes and reads with the same SECRET_KEY and salt.
///
/// Format (what Django 3.2 writes with DEFAULT_HASHING_ALGORITHM = 'sha256', its default):
///
///     value ':' timestamp ':' signature        (TimestampSigner; Signer has no timestamp)
///
/// - signature: URL-safe base64 without padding of HMAC-SHA256(key = SHA256(salt + "signer" + secret), text), where
///   text is everything before the last ':' (Django's salted_hmac);
/// - timestamp: the signing time in whole Unix seconds, base62 (0-9A-Za-z);
/// - a signed object's value is URL-safe base64 without padding of its JSON (compact, ASCII-only), or, when zlib made
///   it shorter and compression was asked for, '.' followed by the base64 of the zlib stream. The '.' is signed too,
///   so nothing is inflated before the signature is checked.
///
/// Keys: SigningKeys::secret signs; it and every fallback verify (Django 4.1's SECRET_KEY_FALLBACKS: rotate by making
/// the old key a fallback, then dropping it once what it signed has expired). Signatures are compared in constant
/// time. Django 3.2 also verifies legacy SHA-1 signatures (written by Django before 3.1); gale does not.
///
/// Errors are values, never exceptions or crashes, whatever the input: kInvalidArgument with "bad signature" (no
/// separator, a signature that matches no key, a malformed timestamp or payload) or "signature expired" (older than
/// max_age). The messages never contain the signed value or a key.
///
/// Thread-safety: Signer and TimestampSigner are immutable after construction; use them from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include <gale/base/clock.hpp>
#include <gale/base/environment.hpp>
#include <gale/base/error.hpp>

namespace gale::sessions {

/// The secret that signs, and older secrets that still verify.
struct SigningKeys {
    std::string secret;
    std::vector<std::string> fallbacks{};
};

/// SigningKeys from APP_SECRET_KEY (required: kInvalidArgument naming it when unset) and APP_SECRET_KEY_FALLBACKS
/// (optional; several keys separated by commas or whitespace), through `lookup` (default: the process environment).
[[nodiscard]] Result<SigningKeys> SigningKeysFromEnvironment(const EnvLookup& lookup = {});

/// URL-safe base64 (RFC 4648 §5) without '=' padding, as Django's b64_encode.
[[nodiscard]] std::string Base64UrlEncode(std::string_view data);
/// The reverse; nullopt for a character outside the URL-safe alphabet, a length of 1 mod 4, or non-zero pad bits.
[[nodiscard]] std::optional<std::string> Base64UrlDecode(std::string_view text);
/// Base62 (0-9A-Za-z) of a non-negative integer, as Django's baseconv.base62.
[[nodiscard]] std::string Base62Encode(std::uint64_t value);
/// The reverse; nullopt for an empty text, another character, or a value above 2^63 - 1.
[[nodiscard]] std::optional<std::int64_t> Base62Decode(std::string_view text);

/// django.core.signing.Signer: `value:signature`.
class Signer {
public:
    /// `salt` namespaces the signatures (Django's default for Signer is its class path).
    explicit Signer(SigningKeys keys, std::string salt = "django.core.signing.Signer");

    /// `value:signature` under the signing secret. `value` should not contain ':' at its end only if the caller
    /// wants to split it again; any bytes are signed as given.
    [[nodiscard]] std::string Sign(std::string_view value) const;
    /// The value, when the text after the last ':' is its signature under the secret or a fallback.
    [[nodiscard]] Result<std::string> Unsign(std::string_view signed_value) const;

    /// The signature of `value` under `secret` (base64url of the salted HMAC-SHA256).
    [[nodiscard]] std::string Signature(std::string_view value, std::string_view secret) const;
    [[nodiscard]] const std::string& salt() const noexcept { return salt_; }

private:
    SigningKeys keys_;
    std::string salt_;
};

/// django.core.signing.TimestampSigner (`value:timestamp:signature`), and signed JSON objects (dumps/loads).
class TimestampSigner {
public:
    /// `salt`: Django's default for TimestampSigner is its class path; signing.dumps/loads pass
    /// "django.core.signing"; the signed-cookie session backend passes
    /// "django.contrib.sessions.backends.signed_cookies".
    explicit TimestampSigner(SigningKeys keys, std::string salt = "django.core.signing.TimestampSigner");

    [[nodiscard]] std::string Sign(std::string_view value, SystemClock::time_point now = SystemClock::now()) const;
    /// The value, when the signature matches and, with `max_age`, the timestamp is at most that old (a timestamp in
    /// the future passes, as in Django).
    [[nodiscard]] Result<std::string> Unsign(std::string_view signed_value,
                                             std::optional<std::chrono::seconds> max_age = std::nullopt,
                                             SystemClock::time_point now = SystemClock::now()) const;

    /// signing.dumps(obj, salt=…, compress=…): the compact ASCII JSON of `object`, compressed when `compress` and
    /// zlib saves more than one byte, signed. Strings that are not valid UTF-8 are written with U+FFFD.
    [[nodiscard]] std::string SignObject(const nlohmann::json& object, bool compress = false,
                                         SystemClock::time_point now = SystemClock::now()) const;
    /// signing.loads(s, salt=…, max_age=…): Unsign, then base64, zlib (at most 16 MiB inflated) and JSON; any
    /// failure after the signature matched is "bad signature: malformed payload".
    [[nodiscard]] Result<nlohmann::json> UnsignObject(std::string_view signed_object,
                                                      std::optional<std::chrono::seconds> max_age = std::nullopt,
                                                      SystemClock::time_point now = SystemClock::now()) const;

private:
    Signer signer_;
};

}  // namespace gale::sessions
