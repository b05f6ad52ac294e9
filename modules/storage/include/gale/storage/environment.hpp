// SPDX-License-Identifier: MIT
/// @file gale/storage/environment.hpp
/// @brief The storage a service's settings ask for (ixc-django-docker's ENABLE_S3_STORAGE / ENABLE_UNIQUE_STORAGE,
///        base-python's APPDATA_BUCKET / APPDATA_PREFIX, the AWS_* variables), and its health check.
///
/// | Variable              | Meaning                                                                   | Default  |
/// |-----------------------|---------------------------------------------------------------------------|----------|
/// | ENABLE_S3_STORAGE     | true: S3Storage in APPDATA_BUCKET under APPDATA_PREFIX; false: local disk  | false    |
/// | APPDATA_BUCKET        | the bucket (required with ENABLE_S3_STORAGE)                              | none     |
/// | APPDATA_PREFIX        | key prefix in the bucket                                                  | ""       |
/// | AWS_REGION, AWS_DEFAULT_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN,                 |
/// | AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL | as gale/aws/environment.hpp reads them                    |          |
/// | S3_ADDRESSING_STYLE   | auto, path or virtual (S3Addressing)                                      | auto     |
/// | MEDIA_ROOT            | the local storage's directory (relative: to the working directory)        | media    |
/// | MEDIA_URL             | the local storage's URL prefix                                            | /media/  |
/// | ENABLE_UNIQUE_STORAGE | wrap the storage in UniqueStorage (content-hash names)                    | false    |
/// Empty values count as unset. The variables are declared in gale's environment contract (group "files").
///
/// @code
///   auto media = app.AddResource(
///       "media", [](gale::app::ResourceContext&) { return gale::storage::StorageFromEnvironment(); },
///       {.check = [](gale::storage::Storage& s) { return gale::storage::CheckStorage(s); }});
/// @endcode
#pragma once

#include <memory>
#include <string>

#include <gale/base/environment.hpp>
#include <gale/base/error.hpp>
#include <gale/health/checks.hpp>
#include <gale/storage/local_storage.hpp>
#include <gale/storage/s3_storage.hpp>
#include <gale/storage/storage.hpp>

namespace gale::storage {

/// What the environment decides, before anything is opened.
struct StorageSettings {
    bool s3 = false;
    bool unique = false;
    S3StorageOptions s3_options{};        ///< when s3
    LocalStorageOptions local_options{};  ///< when not s3
};

/// What the code decides (ixc-django-docker has a public and a private storage over the same settings).
struct StorageDefaults {
    /// S3: the default visibility of uploads and URLs (kPublic: public-read objects, unsigned URLs).
    Visibility visibility = Visibility::kPrivate;
    /// S3: base of public URLs (a CDN), see S3StorageOptions::public_base_url.
    std::string public_base_url{};
};

/// Reads the variables above. Errors (kInvalidArgument, naming the variable): a boolean that is not one
/// ("ENABLE_S3_STORAGE: 'maybe' is not a boolean ..."), ENABLE_S3_STORAGE without APPDATA_BUCKET, an unknown
/// S3_ADDRESSING_STYLE; with S3, missing credentials or region (kNotFound, gale::aws's messages naming the variables).
[[nodiscard]] Result<StorageSettings> StorageSettingsFromEnvironment(const EnvLookup& lookup = {},
                                                                     const StorageDefaults& defaults = {});

/// The storage the settings describe: LocalStorage or S3Storage, wrapped in UniqueStorage with ENABLE_UNIQUE_STORAGE.
/// Nothing is sent to S3 here (Check does). Errors: StorageSettingsFromEnvironment's, then the storage's Create's.
[[nodiscard]] Result<std::unique_ptr<Storage>> StorageFromEnvironment(const EnvLookup& lookup = {},
                                                                      const StorageDefaults& defaults = {});

/// Storage::Check as a health check result: Ok("<description>") or Error(<the error's message>).
[[nodiscard]] health::CheckResult CheckStorage(Storage& storage);

}  // namespace gale::storage
