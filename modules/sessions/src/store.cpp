// SPDX-License-Identifier: MIT
#include <gale/sessions/store.hpp>

#include "crypto.hpp"

namespace gale::sessions {

std::string NewSessionKey() { return detail::RandomString(32, "abcdefghijklmnopqrstuvwxyz0123456789"); }

bool IsValidSessionKey(std::string_view key) noexcept {
    if (key.size() < 8 || key.size() > 40) return false;
    for (char c : key) {
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) return false;
    }
    return true;
}

SessionCodec::SessionCodec(SigningKeys keys) : signer_(std::move(keys), "django.contrib.sessions.SessionStore") {}

std::string SessionCodec::Encode(const nlohmann::json& data) const { return signer_.SignObject(data, true); }

Result<nlohmann::json> SessionCodec::Decode(std::string_view encoded) const {
    GALE_ASSIGN_OR_RETURN(nlohmann::json data, signer_.UnsignObject(encoded));
    if (!data.is_object()) return MakeError(ErrorCode::kInvalidArgument, "session data is not a JSON object");
    return data;
}

}  // namespace gale::sessions
