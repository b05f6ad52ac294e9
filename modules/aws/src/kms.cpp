// SPDX-License-Identifier: MIT
// KMS over the AWS JSON 1.1 protocol. Every call is: JSON body -> POST <endpoint>/ with X-Amz-Target and the
// application/x-amz-json-1.1 content type -> SigV4 (service "kms") -> gale::http::Client -> 200 with a JSON body, or
// an error status with {"__type": "[prefix#]ErrorType", "message"|"Message": "..."}.
//
// The error *type* is kept apart from the gale::Error while a call is in flight (CallResult) so that TryDecrypt and
// DecryptIfKms can branch on InvalidCiphertextException without parsing messages.
#include <mutex>
#include <string>
#include <utility>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <gale/aws/base64.hpp>
#include <gale/aws/kms.hpp>
#include <gale/base/strings.hpp>
#include <gale/http/client.hpp>

namespace gale::aws {
namespace {

// KMS limits: CiphertextBlob is 1..6144 bytes.
constexpr std::size_t kMaxCiphertextBytes = 6144;

struct CallFailure {
    std::string aws_type;  // empty for transport and protocol failures
    Error error;
};

using CallResult = tl::expected<nlohmann::json, CallFailure>;

ErrorCode CodeForAwsError(std::string_view type, int status) {
    if (type == "NotFoundException") return ErrorCode::kNotFound;
    if (status >= 500 || type == "ThrottlingException" || type == "KMSInternalException" ||
        type == "DependencyTimeoutException" || type == "KeyUnavailableException") {
        return ErrorCode::kUnavailable;
    }
    return ErrorCode::kInvalidArgument;
}

std::string FindHeader(const http::ClientResponse& response, std::string_view name) {
    for (const auto& [n, v] : response.headers) {
        if (EqualsIgnoreCase(n, name)) return v;
    }
    return {};
}

}  // namespace

struct KmsClient::Impl {
    KmsOptions options;
    std::string endpoint;
    mutable std::mutex mutex;
    mutable http::Client client;

    CallResult Call(std::string_view operation, const nlohmann::json& body) const {
        const std::string where = fmt::format("KMS {} at {}", operation, endpoint);
        http::ClientRequest request{.method = "POST",
                                    .url = endpoint + "/",
                                    .headers = {{"Content-Type", "application/x-amz-json-1.1"},
                                                {"X-Amz-Target", fmt::format("TrentService.{}", operation)}},
                                    .body = body.dump(),
                                    .timeout = options.timeout,
                                    .connect_timeout = options.connect_timeout};
        const SigningParams params{.credentials = options.credentials,
                                   .region = options.region,
                                   .service = "kms",
                                   .time = options.now ? options.now() : std::chrono::system_clock::now(),
                                   .add_content_sha256 = false,
                                   .normalize_path = true,
                                   .double_encode_path = false};
        auto signature = SignClientRequest(request, params);
        if (!signature) {
            return tl::unexpected(CallFailure{{}, Error(ErrorCode::kInternal, where, std::move(signature).error())});
        }
        Result<http::ClientResponse> response = [&] {
            std::lock_guard lock(mutex);
            return client.Send(request);
        }();
        if (!response) {
            const ErrorCode code =
                response.error().code() == ErrorCode::kTimeout ? ErrorCode::kTimeout : ErrorCode::kUnavailable;
            return tl::unexpected(CallFailure{{}, Error(code, where, std::move(response).error())});
        }
        nlohmann::json reply = nlohmann::json::parse(response->body, nullptr, /*allow_exceptions=*/false);
        if (response->status == 200) {
            if (!reply.is_object()) {
                return tl::unexpected(CallFailure{
                    {}, Error(ErrorCode::kInvalidArgument, fmt::format("{}: the reply is not a JSON object", where))});
            }
            return reply;
        }
        // Error type: the body's __type ("com.amazonaws.kms#NotFoundException" or "NotFoundException"), else the
        // x-amzn-ErrorType header ("NotFoundException:http://..."), else "HTTP <status>".
        std::string type;
        std::string message;
        if (reply.is_object()) {
            if (auto it = reply.find("__type"); it != reply.end() && it->is_string()) type = it->get<std::string>();
            for (const char* key : {"message", "Message"}) {
                if (auto it = reply.find(key); it != reply.end() && it->is_string()) message = it->get<std::string>();
            }
        }
        if (type.empty()) type = FindHeader(*response, "x-amzn-ErrorType");
        if (const auto hash = type.rfind('#'); hash != std::string::npos) type.erase(0, hash + 1);
        if (const auto colon = type.find(':'); colon != std::string::npos) type.erase(colon);
        const std::string shown_type = type.empty() ? std::string("unknown error") : type;
        std::string text = fmt::format("{}: {}{}{} (HTTP {})", where, shown_type, message.empty() ? "" : ": ", message,
                                       response->status);
        const ErrorCode code = CodeForAwsError(type, response->status);
        return tl::unexpected(CallFailure{std::move(type), Error(code, std::move(text))});
    }

    static Result<std::string> Blob(const nlohmann::json& reply, const char* field, std::string_view where) {
        auto it = reply.find(field);
        if (it == reply.end() || !it->is_string()) {
            return MakeError(ErrorCode::kInvalidArgument, fmt::format("{}: the reply has no {}", where, field));
        }
        auto bytes = Base64Decode(it->get<std::string>());
        if (!bytes) {
            return MakeError(ErrorCode::kInvalidArgument,
                             fmt::format("{}: the reply's {} is not base64", where, field));
        }
        return std::move(*bytes);
    }
};

KmsClient::KmsClient(KmsOptions options) : impl_(std::make_unique<Impl>()) {
    impl_->endpoint = options.endpoint_url.empty() ? fmt::format("https://kms.{}.amazonaws.com", options.region)
                                                   : options.endpoint_url;
    while (!impl_->endpoint.empty() && impl_->endpoint.back() == '/') impl_->endpoint.pop_back();
    impl_->options = std::move(options);
}

KmsClient::~KmsClient() = default;
KmsClient::KmsClient(KmsClient&&) noexcept = default;
KmsClient& KmsClient::operator=(KmsClient&&) noexcept = default;

Result<KmsClient> KmsClient::FromEnvironment(const EnvLookup& env) {
    KmsOptions options;
    GALE_ASSIGN_OR_RETURN(options.credentials, CredentialsFromEnvironment(env));
    GALE_ASSIGN_OR_RETURN(options.region, RegionFromEnvironment(env));
    options.endpoint_url = EndpointFromEnvironment("KMS", env).value_or("");
    return KmsClient(std::move(options));
}

const std::string& KmsClient::endpoint() const noexcept { return impl_->endpoint; }

Result<std::optional<std::string>> KmsClient::TryDecrypt(std::string_view ciphertext_blob) const {
    CallResult reply = impl_->Call("Decrypt", {{"CiphertextBlob", Base64Encode(ciphertext_blob)}});
    if (!reply) {
        if (reply.error().aws_type == "InvalidCiphertextException") return std::optional<std::string>();
        return tl::unexpected(std::move(reply.error().error));
    }
    GALE_ASSIGN_OR_RETURN(std::string plaintext,
                          Impl::Blob(*reply, "Plaintext", fmt::format("KMS Decrypt at {}", impl_->endpoint)));
    return std::optional<std::string>(std::move(plaintext));
}

Result<std::string> KmsClient::Decrypt(std::string_view ciphertext_blob) const {
    CallResult reply = impl_->Call("Decrypt", {{"CiphertextBlob", Base64Encode(ciphertext_blob)}});
    if (!reply) return tl::unexpected(std::move(reply.error().error));
    return Impl::Blob(*reply, "Plaintext", fmt::format("KMS Decrypt at {}", impl_->endpoint));
}

Result<std::string> KmsClient::Encrypt(std::string_view key_id, std::string_view plaintext) const {
    CallResult reply = impl_->Call("Encrypt", {{"KeyId", key_id}, {"Plaintext", Base64Encode(plaintext)}});
    if (!reply) return tl::unexpected(std::move(reply.error().error));
    return Impl::Blob(*reply, "CiphertextBlob", fmt::format("KMS Encrypt at {}", impl_->endpoint));
}

Result<std::string> KmsClient::CreateKey(std::string_view description) const {
    CallResult reply = impl_->Call(
        "CreateKey", {{"Description", description}, {"KeySpec", "SYMMETRIC_DEFAULT"}, {"KeyUsage", "ENCRYPT_DECRYPT"}});
    if (!reply) return tl::unexpected(std::move(reply.error().error));
    const nlohmann::json& reply_json = *reply;
    auto metadata = reply_json.find("KeyMetadata");
    if (metadata == reply_json.end() || !metadata->is_object() || !metadata->contains("KeyId") ||
        !(*metadata)["KeyId"].is_string()) {
        return MakeError(ErrorCode::kInvalidArgument,
                         fmt::format("KMS CreateKey at {}: the reply has no KeyMetadata.KeyId", impl_->endpoint));
    }
    return (*metadata)["KeyId"].get<std::string>();
}

Result<std::string> DecryptIfKms(const KmsClient& kms, std::string_view value) {
    std::optional<std::string> blob = Base64Decode(value);
    if (!blob || blob->empty() || blob->size() > kMaxCiphertextBytes) return std::string(value);
    GALE_ASSIGN_OR_RETURN(std::optional<std::string> plaintext, kms.TryDecrypt(*blob));
    if (!plaintext) return std::string(value);
    return std::move(*plaintext);
}

}  // namespace gale::aws
