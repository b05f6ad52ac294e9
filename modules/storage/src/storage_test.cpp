// SPDX-License-Identifier: MIT
#include <unistd.h>

#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include <gale/storage/storage.hpp>

namespace gale::storage {
namespace {

void ExpectRefused(std::string_view name, std::string_view why) {
    auto r = ValidateName(name);
    ASSERT_FALSE(r) << "accepted: " << name;
    EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(r.error().message().find(why), std::string::npos) << r.error().message();
}

TEST(ValidateName, AcceptsOrdinaryRelativeNames) {
    for (const char* name : {"a", "a.txt", "uploads/2026/photo 1.jpg", "x/y/z/.hidden", "caf\xc3\xa9.txt", "a..b",
                             "...", "a/b.c.d", "-rf", "~user"}) {
        EXPECT_TRUE(ValidateName(name)) << name;
    }
}

TEST(ValidateName, RefusesWhatCouldEscapeOrConfuse) {
    ExpectRefused("", "empty");
    ExpectRefused("/etc/passwd", "absolute");
    ExpectRefused("../secret", "'..' segment at byte 0");
    ExpectRefused("a/../../b", "'..' segment at byte 2");
    ExpectRefused("a/..", "'..' segment at byte 2");
    ExpectRefused("./a", "'.' segment at byte 0");
    ExpectRefused("a//b", "empty segment ('//') at byte 2");
    ExpectRefused("a/", "ends with '/'");
    ExpectRefused("a\\..\\b", "backslash at byte 1");
    ExpectRefused(std::string_view("a\0b", 3), "control character 0x00 at byte 1");
    ExpectRefused("a\nb", "control character 0x0a at byte 1");
    ExpectRefused("a\x7f", "control character 0x7f at byte 1");
    ExpectRefused(std::string(kMaxNameBytes + 1, 'a'), "more than the 900 allowed");
    ExpectRefused(std::string(kMaxSegmentBytes + 1, 'a'), "segment at byte 0 is 256 bytes long");
    EXPECT_TRUE(ValidateName(std::string(kMaxSegmentBytes, 'a')));
}

TEST(ValidateName, ShowsControlCharactersEscaped) {
    auto r = ValidateName("x\x01y");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message(), "storage name 'x\\x01y': control character 0x01 at byte 1");
}

TEST(LocalFile, RemovesOnlyTemporaryCopies) {
    const auto dir = std::filesystem::temp_directory_path();
    const auto kept = dir / ("gale-storage-kept-" + std::to_string(getpid()));
    const auto temp = dir / ("gale-storage-temp-" + std::to_string(getpid()));
    std::ofstream(kept) << "k";
    std::ofstream(temp) << "t";
    {
        LocalFile a(kept, false);
        LocalFile b(temp, true);
        LocalFile moved = std::move(b);
        EXPECT_TRUE(b.path().empty());
        EXPECT_EQ(moved.path(), temp);
        EXPECT_TRUE(moved.temporary());
    }
    EXPECT_TRUE(std::filesystem::exists(kept));
    EXPECT_FALSE(std::filesystem::exists(temp));
    std::filesystem::remove(kept);
}

}  // namespace
}  // namespace gale::storage
