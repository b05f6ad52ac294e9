// SPDX-License-Identifier: MIT
// Django's signing (contract in gale/sessions/signing.hpp). The signature is checked against every key before any
// other part of the input is interpreted; only then are the timestamp, the base64 and the zlib stream decoded, so
// an attacker without a key reaches nothing but one HMAC per key and a constant-time comparison.
#include <fmt/format.h>

#include <gale/aws/base64.hpp>
#include <gale/base/strings.hpp>
#include <gale/sessions/signing.hpp>

#include "crypto.hpp"

namespace gale::sessions {
namespace {

constexpr std::string_view kBase62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
constexpr std::size_t kMaxInflated = 16U << 20;

Error BadSignature(std::string_view why) {
    return Error(ErrorCode::kInvalidArgument, fmt::format("bad signature: {}", why));
}

}  // namespace

Result<SigningKeys> SigningKeysFromEnvironment(const EnvLookup& lookup) {
    SigningKeys keys;
    auto secret = LookupEnv(lookup, "APP_SECRET_KEY");
    if (!secret) {
        return MakeError(ErrorCode::kInvalidArgument, "APP_SECRET_KEY is not set, and sessions are signed with it");
    }
    keys.secret = std::move(*secret);
    if (auto fallbacks = LookupEnv(lookup, "APP_SECRET_KEY_FALLBACKS")) keys.fallbacks = SplitList(*fallbacks);
    return keys;
}

std::string Base64UrlEncode(std::string_view data) {
    std::string out = aws::Base64Encode(data);
    while (!out.empty() && out.back() == '=') out.pop_back();
    for (char& c : out) {
        if (c == '+') c = '-';
        if (c == '/') c = '_';
    }
    return out;
}

std::optional<std::string> Base64UrlDecode(std::string_view text) {
    if (text.size() % 4 == 1) return std::nullopt;
    std::string standard(text);
    for (char& c : standard) {
        if (c == '-') {
            c = '+';
        } else if (c == '_') {
            c = '/';
        } else if (c == '+' || c == '/' || c == '=') {
            return std::nullopt;  // the standard alphabet's own characters are not URL-safe base64
        }
    }
    standard.append((4 - standard.size() % 4) % 4, '=');
    return aws::Base64Decode(standard);
}

std::string Base62Encode(std::uint64_t value) {
    std::string out;
    do {
        out.insert(out.begin(), kBase62[value % 62]);
        value /= 62;
    } while (value != 0);
    return out;
}

std::optional<std::int64_t> Base62Decode(std::string_view text) {
    if (text.empty()) return std::nullopt;
    std::uint64_t value = 0;
    for (char c : text) {
        const std::size_t digit = kBase62.find(c);
        if (digit == std::string_view::npos) return std::nullopt;
        if (value > (static_cast<std::uint64_t>(INT64_MAX) - digit) / 62) return std::nullopt;
        value = value * 62 + digit;
    }
    return static_cast<std::int64_t>(value);
}

Signer::Signer(SigningKeys keys, std::string salt) : keys_(std::move(keys)), salt_(std::move(salt)) {}

std::string Signer::Signature(std::string_view value, std::string_view secret) const {
    return Base64UrlEncode(detail::SaltedHmac(detail::Digest::kSha256, salt_ + "signer", value, secret));
}

std::string Signer::Sign(std::string_view value) const {
    std::string out(value);
    out += ':';
    out += Signature(value, keys_.secret);
    return out;
}

Result<std::string> Signer::Unsign(std::string_view signed_value) const {
    const std::size_t sep = signed_value.rfind(':');
    if (sep == std::string_view::npos) return tl::unexpected(BadSignature("no ':' found"));
    const std::string_view value = signed_value.substr(0, sep);
    const std::string_view signature = signed_value.substr(sep + 1);
    bool match = detail::ConstantTimeEquals(signature, Signature(value, keys_.secret));
    for (const std::string& fallback : keys_.fallbacks) {
        if (match) break;
        match = detail::ConstantTimeEquals(signature, Signature(value, fallback));
    }
    if (!match) return tl::unexpected(BadSignature("the signature does not match"));
    return std::string(value);
}

TimestampSigner::TimestampSigner(SigningKeys keys, std::string salt) : signer_(std::move(keys), std::move(salt)) {}

std::string TimestampSigner::Sign(std::string_view value, SystemClock::time_point now) const {
    const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
    std::string text(value);
    text += ':';
    text += Base62Encode(seconds < 0 ? 0 : static_cast<std::uint64_t>(seconds));
    return signer_.Sign(text);
}

Result<std::string> TimestampSigner::Unsign(std::string_view signed_value, std::optional<std::chrono::seconds> max_age,
                                            SystemClock::time_point now) const {
    GALE_ASSIGN_OR_RETURN(std::string text, signer_.Unsign(signed_value));
    const std::size_t sep = text.rfind(':');
    if (sep == std::string::npos) return tl::unexpected(BadSignature("no timestamp"));
    const auto timestamp = Base62Decode(std::string_view(text).substr(sep + 1));
    if (!timestamp) return tl::unexpected(BadSignature("malformed timestamp"));
    if (max_age) {
        const auto age = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count() - *timestamp;
        if (age > max_age->count()) {
            return MakeError(ErrorCode::kInvalidArgument,
                             fmt::format("signature expired: {} s old, more than {} s", age, max_age->count()));
        }
    }
    text.resize(sep);
    return text;
}

std::string TimestampSigner::SignObject(const nlohmann::json& object, bool compress,
                                        SystemClock::time_point now) const {
    std::string data = object.dump(-1, ' ', /*ensure_ascii=*/true, nlohmann::json::error_handler_t::replace);
    bool compressed = false;
    if (compress) {
        std::string z = detail::ZlibCompress(data);
        if (z.size() + 1 < data.size()) {
            data = std::move(z);
            compressed = true;
        }
    }
    std::string value = compressed ? "." : "";
    value += Base64UrlEncode(data);
    return Sign(value, now);
}

Result<nlohmann::json> TimestampSigner::UnsignObject(std::string_view signed_object,
                                                     std::optional<std::chrono::seconds> max_age,
                                                     SystemClock::time_point now) const {
    GALE_ASSIGN_OR_RETURN(std::string value, Unsign(signed_object, max_age, now));
    std::string_view b64 = value;
    const bool compressed = !b64.empty() && b64.front() == '.';
    if (compressed) b64.remove_prefix(1);
    auto data = Base64UrlDecode(b64);
    if (!data) return tl::unexpected(BadSignature("malformed payload (base64)"));
    if (compressed) {
        data = detail::ZlibDecompress(*data, kMaxInflated);
        if (!data) return tl::unexpected(BadSignature("malformed payload (zlib)"));
    }
    auto parsed = nlohmann::json::parse(*data, nullptr, /*allow_exceptions=*/false);
    if (parsed.is_discarded()) return tl::unexpected(BadSignature("malformed payload (JSON)"));
    return parsed;
}

}  // namespace gale::sessions
