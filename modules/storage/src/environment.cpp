// SPDX-License-Identifier: MIT
#include <string>
#include <utility>

#include <fmt/format.h>

#include <gale/aws/environment.hpp>
#include <gale/base/strings.hpp>
#include <gale/storage/environment.hpp>
#include <gale/storage/unique_storage.hpp>

namespace gale::storage {

Result<StorageSettings> StorageSettingsFromEnvironment(const EnvLookup& lookup, const StorageDefaults& defaults) {
    auto get = [&](std::string_view name) { return LookupEnv(lookup, name); };
    auto flag = [&](std::string_view name) -> Result<bool> {
        auto value = get(name);
        if (!value) return false;
        return ParseBool(name, *value);
    };
    StorageSettings out;
    GALE_ASSIGN_OR_RETURN(out.s3, flag("ENABLE_S3_STORAGE"));
    GALE_ASSIGN_OR_RETURN(out.unique, flag("ENABLE_UNIQUE_STORAGE"));
    if (!out.s3) {
        out.local_options.root = get("MEDIA_ROOT").value_or("media");
        out.local_options.base_url = get("MEDIA_URL").value_or("/media/");
        return out;
    }
    auto bucket = get("APPDATA_BUCKET");
    if (!bucket) {
        return MakeError(ErrorCode::kInvalidArgument, "APPDATA_BUCKET: required when ENABLE_S3_STORAGE is true");
    }
    S3StorageOptions& s3 = out.s3_options;
    s3.bucket = *bucket;
    s3.prefix = get("APPDATA_PREFIX").value_or("");
    const aws::EnvLookup aws_lookup = lookup ? lookup : aws::ProcessEnvironment();
    GALE_ASSIGN_OR_RETURN(s3.region, aws::RegionFromEnvironment(aws_lookup));
    GALE_ASSIGN_OR_RETURN(s3.credentials, aws::CredentialsFromEnvironment(aws_lookup));
    s3.endpoint = aws::EndpointFromEnvironment("s3", aws_lookup).value_or("");
    if (auto style = get("S3_ADDRESSING_STYLE")) {
        const std::string lower = ToLower(*style);
        if (lower == "auto") {
            s3.addressing = S3Addressing::kAuto;
        } else if (lower == "path") {
            s3.addressing = S3Addressing::kPath;
        } else if (lower == "virtual") {
            s3.addressing = S3Addressing::kVirtualHosted;
        } else {
            return MakeError(ErrorCode::kInvalidArgument,
                             fmt::format("S3_ADDRESSING_STYLE: '{}' is not one of auto, path, virtual", *style));
        }
    }
    s3.default_visibility = defaults.visibility;
    s3.public_base_url = defaults.public_base_url;
    return out;
}

Result<std::unique_ptr<Storage>> StorageFromEnvironment(const EnvLookup& lookup, const StorageDefaults& defaults) {
    GALE_ASSIGN_OR_RETURN(auto settings, StorageSettingsFromEnvironment(lookup, defaults));
    std::unique_ptr<Storage> storage;
    if (settings.s3) {
        GALE_ASSIGN_OR_RETURN(storage, S3Storage::Create(std::move(settings.s3_options)));
    } else {
        GALE_ASSIGN_OR_RETURN(storage, LocalStorage::Create(std::move(settings.local_options)));
    }
    if (settings.unique) storage = std::make_unique<UniqueStorage>(std::move(storage));
    return storage;
}

health::CheckResult CheckStorage(Storage& storage) {
    auto checked = storage.Check();
    if (!checked) return health::CheckResult::Error(checked.error().ToString());
    return health::CheckResult::Ok(storage.Describe());
}

}  // namespace gale::storage
