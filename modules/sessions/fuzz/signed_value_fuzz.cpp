// SPDX-License-Identifier: MIT
// Fuzzes what gale::sessions reads from clients: signed values (session cookies, django_session rows, anything
// signing.loads reads) and CSRF tokens and the forms that carry them.
//
// Signed values, in four ways for every input:
//  1. the input itself as a signed value, for a Signer, a TimestampSigner and signed objects: it never verifies
//     (the fuzzer does not know the key), and nothing crashes on the way to that answer;
//  2. the input as the payload of a value signed with the key, so that the signature matches and the payload's
//     reading (Django's base64, the '.' that marks zlib, JSON) gets arbitrary bytes;
//  3. the input base64url-encoded as that payload: the JSON reader gets the raw bytes;
//  4. the same behind the '.': zlib gets the raw bytes (inflating at most 16 MiB).
// Whatever 2–4 read must be a JSON value that signs and reads back unchanged, or "bad signature: malformed payload"
// (with what was malformed): the signature matched, so no other error may come.
// CSRF: the input as a token (sanitised, unmasked, compared) and as the body of a POST, urlencoded and multipart
// (boundary "gale-fuzz"), checked against a fixed cookie: a refusal or a pass, never a crash or a hang.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include <gale/base/clock.hpp>
#include <gale/http/message.hpp>
#include <gale/sessions/csrf.hpp>
#include <gale/sessions/signing.hpp>
#include <gale/sessions/store.hpp>

namespace {

using namespace gale::sessions;

const SigningKeys kKeys{.secret = "fuzz-secret-key", .fallbacks = {"older-fuzz-key"}};
constexpr const char* kSalt = "django.contrib.sessions.backends.signed_cookies";
const gale::SystemClock::time_point kNow = gale::SystemClock::time_point(std::chrono::seconds(1'800'000'000));

/// `payload` signed as TimestampSigner signs it, with the signing key: `payload:timestamp:signature`.
std::string SignedWithKey(std::string_view payload) {
    const Signer signer(kKeys, kSalt);
    std::string value = std::string(payload) + ":" + Base62Encode(1'800'000'000);
    return value + ":" + signer.Signature(value, kKeys.secret);
}

void ReadSignedPayload(const TimestampSigner& signer, std::string_view payload) {
    auto read = signer.UnsignObject(SignedWithKey(payload), std::chrono::seconds(60), kNow);
    if (!read) {
        if (!read.error().message().starts_with("bad signature: malformed payload")) std::abort();  // (base64) etc.
        return;
    }
    auto again = signer.UnsignObject(signer.SignObject(*read, /*compress=*/true, kNow), std::nullopt, kNow);
    if (!again || again->dump() != read->dump()) std::abort();  // dumps: a 1e400 reads as inf, written null
}

void CheckCsrf(std::string_view in) {
    using namespace gale::sessions::csrf;
    (void)SanitizeToken(in);
    (void)UnmaskToken(in);
    (void)TokensMatch(in, in);
    const Options options;
    const std::optional<std::string> cookie = MaskSecretWith(std::string(32, 'k'), std::string(32, 'm'));
    for (std::string_view type : {"application/x-www-form-urlencoded", "multipart/form-data; boundary=gale-fuzz"}) {
        gale::http::Request request;
        request.SetLine(gale::http::Method::kPost, "POST", "/login", 1);
        request.AddHeader("Content-Type", type);
        request.mutable_body() = std::string(in);
        (void)Check(request, options, cookie);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view in(reinterpret_cast<const char*>(data), size);
    const Signer plain(kKeys);
    const TimestampSigner timed(kKeys, kSalt);
    const SessionCodec codec(kKeys);
    if (plain.Unsign(in) || timed.Unsign(in, std::nullopt, kNow) || timed.UnsignObject(in, std::nullopt, kNow) ||
        codec.Decode(in)) {
        std::abort();  // verified without the key
    }
    ReadSignedPayload(timed, in);
    ReadSignedPayload(timed, Base64UrlEncode(in));
    ReadSignedPayload(timed, "." + Base64UrlEncode(in));
    if (auto decoded = Base64UrlDecode(in); decoded && Base64UrlEncode(*decoded) != in) std::abort();
    CheckCsrf(in);
    return 0;
}
