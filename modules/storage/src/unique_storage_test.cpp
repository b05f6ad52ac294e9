// SPDX-License-Identifier: MIT
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include <gale/storage/local_storage.hpp>
#include <gale/storage/unique_storage.hpp>

namespace gale::storage {
namespace {

namespace fs = std::filesystem;

TEST(UniqueName, InsertsTheHashBeforeTheLastExtensionAsSplitextDoes) {
    EXPECT_EQ(UniqueName("img/logo.png", "0123456789ab"), "img/logo.0123456789ab.png");
    EXPECT_EQ(UniqueName("a.tar.gz", "0123456789ab"), "a.tar.0123456789ab.gz");
    EXPECT_EQ(UniqueName("README", "0123456789ab"), "README.0123456789ab");
    EXPECT_EQ(UniqueName("dir.d/README", "0123456789ab"), "dir.d/README.0123456789ab");
    EXPECT_EQ(UniqueName(".htaccess", "0123456789ab"), ".htaccess.0123456789ab");
    EXPECT_EQ(UniqueName("x/.env.local", "0123456789ab"), "x/.env.0123456789ab.local");
    EXPECT_EQ(UniqueName("a.", "0123456789ab"), "a.0123456789ab.");
}

TEST(ContentHash, IsTheFirstTwelveHexOfSha256) {
    // SHA-256("abc") = ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad (FIPS 180-2).
    EXPECT_EQ(ContentHash("abc"), "ba7816bf8f01");
    EXPECT_EQ(ContentHash(""), "e3b0c44298fc");
}

class UniqueStorageTest : public ::testing::Test {
protected:
    void SetUp() override {
        std::string pattern = (fs::temp_directory_path() / "gale-unique-XXXXXX").string();
        dir_ = ::mkdtemp(pattern.data());
        auto local = LocalStorage::Create({.root = dir_ / "root"});
        ASSERT_TRUE(local);
        local_ = local->get();
        storage_ = std::make_unique<UniqueStorage>(std::move(*local));
    }
    void TearDown() override { fs::remove_all(dir_); }

    fs::path dir_;
    LocalStorage* local_ = nullptr;
    std::unique_ptr<UniqueStorage> storage_;
};

TEST_F(UniqueStorageTest, SavesUnderTheHashedNameAndSameContentIsANoOp) {
    auto first = storage_->Save("css/app.css", "body{}", {.cache_control = "no-cache"});
    ASSERT_TRUE(first) << first.error().ToString();
    EXPECT_EQ(*first, "css/app." + ContentHash("body{}") + ".css");
    EXPECT_EQ(storage_->Read(*first).value(), "body{}");
    EXPECT_EQ(storage_->ReadObject(*first).value().bytes, "body{}");  // passed to the inner storage
    EXPECT_FALSE(storage_->Exists("css/app.css").value());
    const auto before = local_->Stat(*first).value();

    auto again = storage_->Save("css/app.css", "body{}");
    ASSERT_TRUE(again);
    EXPECT_EQ(*again, *first);
    EXPECT_EQ(local_->Stat(*first).value().etag, before.etag);  // not written again

    auto changed = storage_->Save("css/app.css", "body{color:red}");
    ASSERT_TRUE(changed);
    EXPECT_NE(*changed, *first);
    EXPECT_EQ(storage_->List("css/").value().size(), 2u);
    EXPECT_NE(storage_->Describe().find("unique names over local storage "), std::string::npos);
}

TEST_F(UniqueStorageTest, SaveFileHashesTheFileAndRefusesBadSources) {
    const auto source = dir_ / "src.bin";
    std::ofstream(source, std::ios::binary) << "file content";
    auto saved = storage_->SaveFile("up/f.bin", source);
    ASSERT_TRUE(saved) << saved.error().ToString();
    EXPECT_EQ(*saved, "up/f." + ContentHash("file content") + ".bin");
    EXPECT_EQ(storage_->Save("up/f.bin", "file content").value(), *saved);  // same name from bytes
    std::ofstream(dir_ / "empty");
    EXPECT_EQ(storage_->SaveFile("e", dir_ / "empty").value(), "e." + ContentHash(""));
    EXPECT_EQ(storage_->SaveFile("x", dir_ / "missing").error().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(storage_->SaveFile("x", dir_).error().code(), ErrorCode::kInvalidArgument);
}

TEST_F(UniqueStorageTest, BadNamesAndNamesTooLongWithTheHash) {
    EXPECT_EQ(storage_->Save("../x.css", "a").error().code(), ErrorCode::kInvalidArgument);
    auto too_long = storage_->Save(std::string(250, 'a') + ".css", "a");
    ASSERT_FALSE(too_long);
    EXPECT_EQ(too_long.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(too_long.error().message().find("with its hash"), std::string::npos) << too_long.error().message();
}

}  // namespace
}  // namespace gale::storage
