// SPDX-License-Identifier: MIT
#include <cstdlib>
#include <string>
#include <vector>

#include <fmt/format.h>

#include <gale/aws/environment.hpp>
#include <gale/base/environment.hpp>

namespace gale::aws {

EnvLookup ProcessEnvironment() {
    return [](std::string_view name) -> std::optional<std::string> {
        const char* value = std::getenv(std::string(name).c_str());
        if (value == nullptr) return std::nullopt;
        return std::string(value);
    };
}

Result<Credentials> CredentialsFromEnvironment(const EnvLookup& env) {
    Credentials credentials;
    std::vector<std::string_view> missing;
    if (auto v = LookupEnv(env, "AWS_ACCESS_KEY_ID")) {
        credentials.access_key_id = std::move(*v);
    } else {
        missing.push_back("AWS_ACCESS_KEY_ID");
    }
    if (auto v = LookupEnv(env, "AWS_SECRET_ACCESS_KEY")) {
        credentials.secret_access_key = std::move(*v);
    } else {
        missing.push_back("AWS_SECRET_ACCESS_KEY");
    }
    if (!missing.empty()) {
        return MakeError(ErrorCode::kNotFound,
                         fmt::format("AWS credentials: {} {} not set", fmt::join(missing, " and "),
                                     missing.size() == 1 ? "is" : "are"));
    }
    if (auto v = LookupEnv(env, "AWS_SESSION_TOKEN")) credentials.session_token = std::move(*v);
    return credentials;
}

Result<std::string> RegionFromEnvironment(const EnvLookup& env) {
    if (auto v = LookupEnv(env, "AWS_REGION")) return std::move(*v);
    if (auto v = LookupEnv(env, "AWS_DEFAULT_REGION")) return std::move(*v);
    return MakeError(ErrorCode::kNotFound, "AWS region: neither AWS_REGION nor AWS_DEFAULT_REGION is set");
}

std::optional<std::string> EndpointFromEnvironment(std::string_view service_id, const EnvLookup& env) {
    std::string name = "AWS_ENDPOINT_URL_";
    for (const char c : service_id) {
        if (c == ' ' || c == '-') {
            name += '_';
        } else if (c >= 'a' && c <= 'z') {
            name += static_cast<char>(c - 'a' + 'A');
        } else {
            name += c;
        }
    }
    std::optional<std::string> value = LookupEnv(env, name);
    if (!value) value = LookupEnv(env, "AWS_ENDPOINT_URL");
    while (value && !value->empty() && value->back() == '/') value->pop_back();
    if (value && value->empty()) return std::nullopt;
    return value;
}

}  // namespace gale::aws
