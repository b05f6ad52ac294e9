// SPDX-License-Identifier: MIT
/// @file gale/aws/kms.hpp
/// @brief A small AWS KMS client (Decrypt, Encrypt, CreateKey) and the "decrypt the value if it is a KMS ciphertext"
///        rule for configuration values.
///
/// Speaks KMS's JSON 1.1 protocol (POST / with X-Amz-Target: TrentService.<Operation>), signs every request with
/// SigV4 and sends it with gale::http::Client. Blobs are raw bytes in this API and base64 on the wire.
///
/// Configuration (KmsOptions, or KmsClient::FromEnvironment):
/// | Name            | Description                   | Default (FromEnvironment)                                      |
/// |-----------------|-------------------------------|---------------------------------------------------------------|
/// | region          | signing region                | AWS_REGION, else AWS_DEFAULT_REGION                           |
/// | endpoint_url    | scheme://host[:port], no path | AWS_ENDPOINT_URL_KMS, AWS_ENDPOINT_URL, https://kms.<region>… |
/// | credentials     | static credentials            | AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN   |
/// | timeout         | limit on one call             | 5 s                                                           |
/// | connect_timeout | limit on connecting           | 2 s                                                           |
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <gale/aws/environment.hpp>
#include <gale/aws/sigv4.hpp>
#include <gale/base/error.hpp>

namespace gale::aws {

struct KmsOptions {
    std::string region{};
    /// Empty means https://kms.<region>.amazonaws.com.
    std::string endpoint_url{};
    Credentials credentials{};
    std::chrono::milliseconds timeout{5000};
    std::chrono::milliseconds connect_timeout{2000};
    /// Signing time source; empty means std::chrono::system_clock::now. Injected by tests.
    std::function<std::chrono::system_clock::time_point()> now{};
};

/// One failed KMS call, as KMS reported it. Carried inside the gale::Error message, and available structurally through
/// KmsClient::TryDecrypt for the one case callers branch on.
///
/// Error codes of every KmsClient call:
/// - kUnavailable / kTimeout: the endpoint could not be reached or did not answer (message names operation and URL);
///   also KMS 5xx answers and throttling (ThrottlingException, KMSInternalException, DependencyTimeoutException);
/// - kNotFound: NotFoundException (no such key);
/// - kInvalidArgument: every other KMS error (InvalidCiphertextException, AccessDeniedException,
///   UnrecognizedClientException, ValidationException, DisabledException, …) and a reply that is not the JSON KMS
///   sends;
/// - kInternal: signing failed (missing credentials in KmsOptions).
/// Messages read "KMS <Operation> at <endpoint>: <AWS error type>: <AWS message> (HTTP <status>)".
///
/// Ownership: owns one http::Client (one keep-alive connection). Thread-safety: all methods are const and safe to
/// call from several threads; calls are serialised on the one connection (a mutex), so use one client per thread
/// for parallel calls.
class KmsClient {
public:
    explicit KmsClient(KmsOptions options);
    ~KmsClient();
    KmsClient(KmsClient&&) noexcept;
    KmsClient& operator=(KmsClient&&) noexcept;
    KmsClient(const KmsClient&) = delete;
    KmsClient& operator=(const KmsClient&) = delete;

    /// Region, credentials and endpoint from the environment (see gale/aws/environment.hpp); errors name the
    /// missing variable.
    [[nodiscard]] static Result<KmsClient> FromEnvironment(const EnvLookup& env = ProcessEnvironment());

    /// The endpoint calls go to ("https://kms.eu-west-1.amazonaws.com").
    [[nodiscard]] const std::string& endpoint() const noexcept;

    /// Decrypts a ciphertext blob (raw bytes, not base64) and returns the plaintext bytes.
    [[nodiscard]] Result<std::string> Decrypt(std::string_view ciphertext_blob) const;

    /// Like Decrypt, but an InvalidCiphertextException answer (KMS cannot decrypt these bytes: not a KMS ciphertext,
    /// corrupted, or made for another encryption context) is nullopt instead of an error. Every other failure,
    /// including an unreachable endpoint and credential errors, is still an error.
    [[nodiscard]] Result<std::optional<std::string>> TryDecrypt(std::string_view ciphertext_blob) const;

    /// Encrypts `plaintext` (at most 4096 bytes) under `key_id` (key id, ARN or alias); returns the ciphertext blob
    /// (raw bytes).
    [[nodiscard]] Result<std::string> Encrypt(std::string_view key_id, std::string_view plaintext) const;

    /// Creates a symmetric encryption key and returns its KeyId. Meant for tests against moto or LocalStack.
    [[nodiscard]] Result<std::string> CreateKey(std::string_view description) const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

/// The configuration rule of base-python: a value that is valid base64 and that KMS decrypts is replaced by its
/// plaintext; any other value is returned unchanged.
///
/// Precisely:
/// - not strict base64 (see Base64Decode), empty, or decoding to more than 6144 bytes (KMS's ciphertext limit): the
///   value, unchanged, without calling KMS;
/// - KMS decrypts it: the plaintext;
/// - KMS answers InvalidCiphertextException: the value, unchanged ("not ours": plain values such as "true" or "abcd"
///   are valid base64 too);
/// - anything else is an error: unreachable endpoint, timeout, bad or missing credentials, AccessDenied, a disabled
///   key, throttling. A secret must never silently become its own ciphertext because KMS was down.
/// Each value that is valid base64 costs one KMS call.
[[nodiscard]] Result<std::string> DecryptIfKms(const KmsClient& kms, std::string_view value);

}  // namespace gale::aws
