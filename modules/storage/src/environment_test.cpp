// SPDX-License-Identifier: MIT
#include <stdlib.h>

#include <filesystem>
#include <map>
#include <string>

#include <gtest/gtest.h>

#include <gale/storage/environment.hpp>
#include <gale/storage/unique_storage.hpp>

namespace gale::storage {
namespace {

EnvLookup Env(std::map<std::string, std::string> vars) {
    return [vars = std::move(vars)](std::string_view name) -> std::optional<std::string> {
        auto it = vars.find(std::string(name));
        if (it == vars.end()) return std::nullopt;
        return it->second;
    };
}

const std::map<std::string, std::string> kS3 = {{"ENABLE_S3_STORAGE", "true"},  {"APPDATA_BUCKET", "my-bucket"},
                                                {"APPDATA_PREFIX", "svc/prod"}, {"AWS_REGION", "ap-southeast-2"},
                                                {"AWS_ACCESS_KEY_ID", "AKID"},  {"AWS_SECRET_ACCESS_KEY", "secret"}};

TEST(StorageSettings, LocalByDefault) {
    auto settings = StorageSettingsFromEnvironment(Env({}));
    ASSERT_TRUE(settings) << settings.error().ToString();
    EXPECT_FALSE(settings->s3);
    EXPECT_FALSE(settings->unique);
    EXPECT_EQ(settings->local_options.root, "media");
    EXPECT_EQ(settings->local_options.base_url, "/media/");
    auto custom = StorageSettingsFromEnvironment(
        Env({{"MEDIA_ROOT", "/srv/media"}, {"MEDIA_URL", "https://cdn/m/"}, {"ENABLE_S3_STORAGE", "off"}}));
    ASSERT_TRUE(custom);
    EXPECT_EQ(custom->local_options.root, "/srv/media");
    EXPECT_EQ(custom->local_options.base_url, "https://cdn/m/");
}

TEST(StorageSettings, S3FromAppdataAndAws) {
    auto vars = kS3;
    vars["AWS_ENDPOINT_URL_S3"] = "http://127.0.0.1:5000/";
    vars["S3_ADDRESSING_STYLE"] = "Path";
    auto settings = StorageSettingsFromEnvironment(Env(vars), {.visibility = Visibility::kPublic});
    ASSERT_TRUE(settings) << settings.error().ToString();
    EXPECT_TRUE(settings->s3);
    EXPECT_EQ(settings->s3_options.bucket, "my-bucket");
    EXPECT_EQ(settings->s3_options.prefix, "svc/prod");
    EXPECT_EQ(settings->s3_options.region, "ap-southeast-2");
    EXPECT_EQ(settings->s3_options.endpoint, "http://127.0.0.1:5000");
    EXPECT_EQ(settings->s3_options.credentials.access_key_id, "AKID");
    EXPECT_EQ(settings->s3_options.addressing, S3Addressing::kPath);
    EXPECT_EQ(settings->s3_options.default_visibility, Visibility::kPublic);
}

TEST(StorageSettings, ErrorsNameTheVariable) {
    auto expect = [](std::map<std::string, std::string> vars, std::string_view text) {
        auto settings = StorageSettingsFromEnvironment(Env(std::move(vars)));
        ASSERT_FALSE(settings);
        EXPECT_NE(settings.error().message().find(text), std::string::npos) << settings.error().message();
    };
    expect({{"ENABLE_S3_STORAGE", "maybe"}}, "ENABLE_S3_STORAGE");
    expect({{"ENABLE_UNIQUE_STORAGE", "2"}}, "ENABLE_UNIQUE_STORAGE");
    expect({{"ENABLE_S3_STORAGE", "1"}}, "APPDATA_BUCKET: required when ENABLE_S3_STORAGE is true");
    auto vars = kS3;
    vars["S3_ADDRESSING_STYLE"] = "sideways";
    expect(vars, "S3_ADDRESSING_STYLE: 'sideways'");
    vars = kS3;
    vars.erase("AWS_REGION");
    expect(vars, "AWS_REGION");
    vars = kS3;
    vars.erase("AWS_SECRET_ACCESS_KEY");
    expect(vars, "AWS_SECRET_ACCESS_KEY");
}

TEST(StorageFromEnvironment, BuildsTheStorageTheSettingsAskFor) {
    std::string pattern = (std::filesystem::temp_directory_path() / "gale-storage-env-XXXXXX").string();
    const std::filesystem::path dir = ::mkdtemp(pattern.data());
    auto local = StorageFromEnvironment(Env({{"MEDIA_ROOT", (dir / "m").string()}, {"ENABLE_UNIQUE_STORAGE", "yes"}}));
    ASSERT_TRUE(local) << local.error().ToString();
    EXPECT_NE(dynamic_cast<UniqueStorage*>(local->get()), nullptr);
    EXPECT_EQ((*local)->Save("a.txt", "abc").value(), "a.ba7816bf8f01.txt");
    auto check = CheckStorage(**local);
    EXPECT_EQ(check.status, health::Status::kOk) << check.message;

    auto s3 = StorageFromEnvironment(Env(kS3));
    ASSERT_TRUE(s3) << s3.error().ToString();
    auto* s3_storage = dynamic_cast<S3Storage*>(s3->get());
    ASSERT_NE(s3_storage, nullptr);
    // AWS's own endpoint and a DNS-compatible bucket: virtual-hosted.
    EXPECT_EQ(s3_storage->bucket_url(), "https://my-bucket.s3.ap-southeast-2.amazonaws.com");
    EXPECT_EQ((*s3)->Describe(), "s3 storage s3://my-bucket/svc/prod/");
    EXPECT_EQ((*s3)->Url("a b.txt", {.visibility = Visibility::kPublic}).value(),
              "https://my-bucket.s3.ap-southeast-2.amazonaws.com/svc/prod/a%20b.txt");
    std::filesystem::remove_all(dir);
}

TEST(S3StorageCreate, RefusesBadOptionsNamingThem) {
    const S3StorageOptions good{
        .bucket = "b-1", .region = "us-east-1", .credentials = {.access_key_id = "a", .secret_access_key = "s"}};
    auto expect = [](S3StorageOptions o, std::string_view text) {
        auto created = S3Storage::Create(std::move(o));
        ASSERT_FALSE(created);
        EXPECT_EQ(created.error().code(), ErrorCode::kInvalidArgument);
        EXPECT_NE(created.error().message().find(text), std::string::npos) << created.error().message();
    };
    auto o = good;
    o.bucket.clear();
    expect(o, "bucket is empty");
    o = good;
    o.bucket = "a/b";
    expect(o, "not a valid bucket name");
    o = good;
    o.part_size = 1 << 20;
    expect(o, "part_size");
    o = good;
    o.multipart_threshold = 1;
    expect(o, "multipart_threshold");
    o = good;
    o.endpoint = "ftp://x";
    expect(o, "endpoint");
    o = good;
    o.prefix = "../up";
    expect(o, "prefix");
    o = good;
    o.bucket = "My_Bucket";
    o.addressing = S3Addressing::kVirtualHosted;
    expect(o, "cannot be a host name");
    o = good;
    o.bucket = "dotted.bucket";
    auto dotted = S3Storage::Create(o);  // kAuto: dots break TLS wildcard names, so path-style
    ASSERT_TRUE(dotted);
    EXPECT_EQ((*dotted)->bucket_url(), "https://s3.us-east-1.amazonaws.com/dotted.bucket");
}

}  // namespace
}  // namespace gale::storage
