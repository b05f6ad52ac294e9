// SPDX-License-Identifier: MIT
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include <gale/storage/local_storage.hpp>

namespace gale::storage {
namespace {

namespace fs = std::filesystem;

class TempDir {
public:
    TempDir() {
        std::string pattern = (fs::temp_directory_path() / "gale-storage-XXXXXX").string();
        path_ = ::mkdtemp(pattern.data());
    }
    ~TempDir() {
        std::error_code ignored;
        fs::remove_all(path_, ignored);
    }
    const fs::path& path() const { return path_; }

private:
    fs::path path_;
};

std::string Slurp(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

class LocalStorageTest : public ::testing::Test {
protected:
    void SetUp() override {
        auto created = LocalStorage::Create({.root = dir_.path() / "media", .base_url = "/media"});
        ASSERT_TRUE(created) << created.error().ToString();
        storage_ = std::move(*created);
    }
    fs::path Root() const { return dir_.path() / "media"; }

    TempDir dir_;
    std::unique_ptr<LocalStorage> storage_;
};

TEST_F(LocalStorageTest, SavesReadsStatsAndDeletes) {
    auto saved = storage_->Save("uploads/2026/a.txt", "hello world");
    ASSERT_TRUE(saved) << saved.error().ToString();
    EXPECT_EQ(*saved, "uploads/2026/a.txt");
    EXPECT_EQ(Slurp(Root() / "uploads/2026/a.txt"), "hello world");
    EXPECT_EQ(storage_->Read("uploads/2026/a.txt").value(), "hello world");

    auto info = storage_->Stat("uploads/2026/a.txt");
    ASSERT_TRUE(info);
    EXPECT_EQ(info->name, "uploads/2026/a.txt");
    EXPECT_EQ(info->size, 11u);
    EXPECT_FALSE(info->etag.empty());
    EXPECT_LT(std::chrono::system_clock::now() - info->modified, std::chrono::minutes(1));
    auto object = storage_->ReadObject("uploads/2026/a.txt");
    ASSERT_TRUE(object) << object.error().ToString();
    EXPECT_EQ(object->bytes, "hello world");
    EXPECT_EQ(object->info.size, 11u);
    EXPECT_EQ(object->info.etag, info->etag);
    EXPECT_EQ(object->info.content_type, kDefaultContentType);

    EXPECT_TRUE(storage_->Exists("uploads/2026/a.txt").value());
    EXPECT_TRUE(storage_->Delete("uploads/2026/a.txt").value());
    EXPECT_FALSE(storage_->Delete("uploads/2026/a.txt").value());
    EXPECT_FALSE(storage_->Exists("uploads/2026/a.txt").value());
    EXPECT_FALSE(fs::exists(Root() / "uploads/2026/a.txt"));
}

TEST_F(LocalStorageTest, SaveReplacesAndChangesTheEtag) {
    ASSERT_TRUE(storage_->Save("a", "one"));
    const auto first = storage_->Stat("a").value().etag;
    ASSERT_TRUE(storage_->Save("a", "three"));
    EXPECT_EQ(storage_->Read("a").value(), "three");
    EXPECT_NE(storage_->Stat("a").value().etag, first);
}

TEST_F(LocalStorageTest, MissingObjectsAreNotFoundAndNamed) {
    for (auto r : {storage_->Read("nope.txt"), storage_->ReadRange("dir/nope.txt", 0, 3)}) {
        ASSERT_FALSE(r);
        EXPECT_EQ(r.error().code(), ErrorCode::kNotFound);
    }
    auto r = storage_->Read("dir/nope.txt");
    EXPECT_NE(r.error().message().find("local storage "), std::string::npos) << r.error().message();
    EXPECT_NE(r.error().message().find("read 'dir/nope.txt': no such object"), std::string::npos)
        << r.error().message();
    EXPECT_EQ(storage_->Stat("nope").error().code(), ErrorCode::kNotFound);
    EXPECT_EQ(storage_->ReadObject("dir/nope").error().code(), ErrorCode::kNotFound);
    EXPECT_EQ(storage_->ReadObject("../x").error().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(storage_->LocalPath("nope").error().code(), ErrorCode::kNotFound);
}

TEST_F(LocalStorageTest, RangeReadsClampAtTheEnd) {
    ASSERT_TRUE(storage_->Save("r.bin", "0123456789"));
    EXPECT_EQ(storage_->ReadRange("r.bin", 0, 4).value(), "0123");
    EXPECT_EQ(storage_->ReadRange("r.bin", 7, 100).value(), "789");
    EXPECT_EQ(storage_->ReadRange("r.bin", 3, std::nullopt).value(), "3456789");
    EXPECT_EQ(storage_->ReadRange("r.bin", 10, 5).value(), "");
    EXPECT_EQ(storage_->ReadRange("r.bin", 1000, 5).value(), "");
    EXPECT_EQ(storage_->ReadRange("r.bin", 2, 0).value(), "");
}

TEST_F(LocalStorageTest, RefusesBadNamesBeforeTouchingTheDisk) {
    const std::string outside = (dir_.path() / "outside.txt").string();
    for (const std::string& name :
         std::vector<std::string>{"../outside.txt", "a/../../outside.txt", outside, std::string("a\0b", 3), ""}) {
        auto saved = storage_->Save(name, "x");
        ASSERT_FALSE(saved) << name;
        EXPECT_EQ(saved.error().code(), ErrorCode::kInvalidArgument);
        EXPECT_EQ(storage_->Read(name).error().code(), ErrorCode::kInvalidArgument);
        EXPECT_EQ(storage_->Delete(name).error().code(), ErrorCode::kInvalidArgument);
    }
    EXPECT_FALSE(fs::exists(dir_.path() / "outside.txt"));
    EXPECT_FALSE(fs::exists(dir_.path() / "a"));
}

TEST_F(LocalStorageTest, SymlinksBeneathTheRootAreRefusedNotFollowed) {
    // A directory outside the root with a secret, and links to it planted inside the root.
    fs::create_directories(dir_.path() / "secret");
    std::ofstream(dir_.path() / "secret/key") << "s3cr3t";
    fs::create_directory_symlink(dir_.path() / "secret", Root() / "linkdir");
    fs::create_symlink(dir_.path() / "secret/key", Root() / "linkfile");

    for (const char* name : {"linkdir/key", "linkfile"}) {
        auto read = storage_->Read(name);
        ASSERT_FALSE(read) << name;
        EXPECT_EQ(read.error().code(), ErrorCode::kInvalidArgument) << read.error().message();
        EXPECT_NE(read.error().message().find("symbolic link"), std::string::npos) << read.error().message();
        EXPECT_FALSE(storage_->LocalPath(name));
    }
    // Writing through the linked directory is refused too; the secret is untouched.
    auto saved = storage_->Save("linkdir/key", "overwritten");
    ASSERT_FALSE(saved);
    EXPECT_EQ(saved.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_FALSE(storage_->Save("linkdir/new", "x"));
    EXPECT_EQ(Slurp(dir_.path() / "secret/key"), "s3cr3t");
    EXPECT_FALSE(fs::exists(dir_.path() / "secret/new"));
    // Saving over a symlink leaf replaces the link itself (rename), never the file it points to.
    ASSERT_TRUE(storage_->Save("linkfile", "mine"));
    EXPECT_FALSE(fs::is_symlink(Root() / "linkfile"));
    EXPECT_EQ(Slurp(dir_.path() / "secret/key"), "s3cr3t");
    // Delete through the directory link is refused; List does not descend into it.
    EXPECT_FALSE(storage_->Delete("linkdir/key"));
    EXPECT_TRUE(fs::exists(dir_.path() / "secret/key"));
    auto listed = storage_->List("");
    ASSERT_TRUE(listed);
    ASSERT_EQ(listed->size(), 1u);
    EXPECT_EQ((*listed)[0].name, "linkfile");
}

TEST_F(LocalStorageTest, FifosAndDirectoriesAreNotObjects) {
    ASSERT_EQ(::mkfifo((Root() / "fifo").c_str(), 0600), 0);
    auto read = storage_->Read("fifo");  // must not block
    ASSERT_FALSE(read);
    EXPECT_EQ(read.error().code(), ErrorCode::kInvalidArgument);
    ASSERT_TRUE(storage_->Save("d/x", "1"));
    EXPECT_EQ(storage_->Read("d").error().code(), ErrorCode::kInvalidArgument);
    EXPECT_FALSE(storage_->Delete("d"));
    // A file where a directory is needed.
    auto saved = storage_->Save("d/x/y", "2");
    ASSERT_FALSE(saved);
    EXPECT_NE(saved.error().message().find("'d/x' is a file, not a directory"), std::string::npos)
        << saved.error().message();
}

TEST_F(LocalStorageTest, ListsByPrefixSortedWithoutTemporaryFiles) {
    for (const char* name : {"b.txt", "a/b.txt", "a/b/c.txt", "a/bc", "a/c.txt", "ab.txt"}) {
        ASSERT_TRUE(storage_->Save(name, name));
    }
    std::ofstream(Root() / "a/.gale-tmp-0123456789abcdef") << "half";
    auto names = [&](std::string_view prefix) {
        std::vector<std::string> out;
        auto listed = storage_->List(prefix);
        EXPECT_TRUE(listed) << listed.error().ToString();
        for (const auto& info : *listed) out.push_back(info.name);
        return out;
    };
    EXPECT_EQ(names(""), (std::vector<std::string>{"a/b.txt", "a/b/c.txt", "a/bc", "a/c.txt", "ab.txt", "b.txt"}));
    EXPECT_EQ(names("a/"), (std::vector<std::string>{"a/b.txt", "a/b/c.txt", "a/bc", "a/c.txt"}));
    EXPECT_EQ(names("a/b"), (std::vector<std::string>{"a/b.txt", "a/b/c.txt", "a/bc"}));
    EXPECT_EQ(names("a/b/"), (std::vector<std::string>{"a/b/c.txt"}));
    EXPECT_EQ(names("a"), (std::vector<std::string>{"a/b.txt", "a/b/c.txt", "a/bc", "a/c.txt", "ab.txt"}));
    EXPECT_EQ(names("zzz/"), (std::vector<std::string>{}));
    EXPECT_EQ(storage_->List("../").error().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(storage_->List("/").error().code(), ErrorCode::kInvalidArgument);
}

TEST_F(LocalStorageTest, SaveFileCopiesARegularFile) {
    const auto source = dir_.path() / "source.bin";
    std::string content(3 * 1024 * 1024 + 17, '\0');
    for (std::size_t i = 0; i < content.size(); ++i) content[i] = static_cast<char>(i * 7);
    std::ofstream(source, std::ios::binary) << content;
    ASSERT_TRUE(storage_->SaveFile("big/file.bin", source));
    EXPECT_EQ(storage_->Read("big/file.bin").value(), content);
    auto missing = storage_->SaveFile("x", dir_.path() / "missing");
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(missing.error().message().find("missing"), std::string::npos);
    EXPECT_EQ(storage_->SaveFile("x", dir_.path()).error().code(), ErrorCode::kInvalidArgument);
}

TEST_F(LocalStorageTest, FailedWritesLeaveNoTemporaryFile) {
    ASSERT_TRUE(storage_->Save("ro/keep", "old"));
    ASSERT_EQ(::chmod((Root() / "ro").c_str(), 0500), 0);
    if (::geteuid() == 0) {
        // root ignores permissions; make the write fail another way: the leaf is a non-empty directory.
        ASSERT_EQ(::chmod((Root() / "ro").c_str(), 0700), 0);
        ASSERT_TRUE(storage_->Save("ro/dir/x", "1"));
        auto saved = storage_->Save("ro/dir", "new");
        ASSERT_FALSE(saved);
    } else {
        auto saved = storage_->Save("ro/keep", "new");
        ASSERT_FALSE(saved);
        EXPECT_EQ(saved.error().code(), ErrorCode::kIo);
        ASSERT_EQ(::chmod((Root() / "ro").c_str(), 0700), 0);
    }
    EXPECT_EQ(storage_->Read("ro/keep").value(), "old");
    for (const auto& entry : fs::recursive_directory_iterator(Root())) {
        EXPECT_EQ(entry.path().filename().string().rfind(".gale-tmp-", 0), std::string::npos) << entry.path();
    }
}

TEST_F(LocalStorageTest, ReadersNeverSeeHalfAFile) {
    const std::string a(256 * 1024, 'a');
    const std::string b(512 * 1024, 'b');
    ASSERT_TRUE(storage_->Save("flip", a));
    std::atomic<bool> stop{false};
    std::thread writer([&] {
        for (int i = 0; i < 40; ++i) ASSERT_TRUE(storage_->Save("flip", i % 2 ? a : b));
        stop = true;
    });
    int reads = 0;
    while (!stop) {
        auto content = storage_->Read("flip");
        ASSERT_TRUE(content) << content.error().ToString();
        ASSERT_TRUE(*content == a || *content == b) << "size " << content->size();
        ++reads;
    }
    writer.join();
    EXPECT_GT(reads, 0);
}

TEST_F(LocalStorageTest, UrlsEncodeEachSegment) {
    EXPECT_EQ(storage_->Url("a b/c&d.jpg").value(), "/media/a%20b/c%26d.jpg");
    EXPECT_EQ(storage_->Url("x.css").value(), "/media/x.css");
    EXPECT_EQ(storage_->Url("../x").error().code(), ErrorCode::kInvalidArgument);
}

TEST_F(LocalStorageTest, LocalPathIsTheFileItself) {
    ASSERT_TRUE(storage_->Save("p/q.txt", "content"));
    fs::path path;
    {
        auto local = storage_->LocalPath("p/q.txt");
        ASSERT_TRUE(local);
        EXPECT_FALSE(local->temporary());
        path = local->path();
        EXPECT_EQ(Slurp(path), "content");
    }
    EXPECT_TRUE(fs::exists(path));  // nothing deleted
}

TEST_F(LocalStorageTest, CheckSeesARemovedRoot) {
    EXPECT_TRUE(storage_->Check());
    fs::remove_all(Root());
    auto check = storage_->Check();
    ASSERT_FALSE(check);
    EXPECT_EQ(check.error().code(), ErrorCode::kUnavailable);
}

TEST(LocalStorageCreate, ErrorsNameTheRoot) {
    TempDir dir;
    std::ofstream(dir.path() / "file") << "x";
    auto created = LocalStorage::Create({.root = dir.path() / "file"});
    ASSERT_FALSE(created);
    EXPECT_EQ(created.error().code(), ErrorCode::kUnavailable);
    EXPECT_NE(created.error().message().find((dir.path() / "file").string()), std::string::npos);
    auto missing = LocalStorage::Create({.root = dir.path() / "missing", .create_root = false});
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().code(), ErrorCode::kUnavailable);
    EXPECT_EQ(LocalStorage::Create({}).error().code(), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace gale::storage
