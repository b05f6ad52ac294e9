// SPDX-License-Identifier: MIT
#include "murmur2.hpp"

#include <string>

#include <gtest/gtest.h>

namespace gale::pipe::detail {
namespace {

// The vectors of Kafka's own UtilsTest.testMurmur2 (Java), which kafka-python's tests reproduce.
TEST(Murmur2Test, MatchesJavaKafkaVectors) {
    EXPECT_EQ(Murmur2("21"), -973932308);
    EXPECT_EQ(Murmur2("foobar"), -790332482);
    EXPECT_EQ(Murmur2("a-little-bit-long-string"), -985981536);
    EXPECT_EQ(Murmur2("a-little-bit-longer-string"), -1486304829);
    EXPECT_EQ(Murmur2("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8"), -58897971);
    EXPECT_EQ(Murmur2("abc"), 479470107);
}

// django-logpipe spec §1.9, verified against kafka-python.
TEST(Murmur2Test, PartitionsMatchDjangoLogpipe) {
    EXPECT_EQ(Murmur2Partition("NY", 12), 3);
    EXPECT_EQ(Murmur2Partition("", 12), 9);
    EXPECT_EQ(Murmur2Partition("", 2), 1);
}

TEST(Murmur2Test, HashesBytesNotCharacters) {
    // Bytes >= 0x80 must be taken as unsigned (Java masks with 0xff): UTF-8 keys place like kafka-python's.
    const std::string key = "K\xc3\xb6ln";
    EXPECT_NE(Murmur2(key), Murmur2("Koln"));
}

}  // namespace
}  // namespace gale::pipe::detail
