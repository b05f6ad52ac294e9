// SPDX-License-Identifier: MIT
#include "backoff.hpp"

#include <gtest/gtest.h>

namespace gale::amqp::detail {
namespace {

using std::chrono::milliseconds;

TEST(AmqpBackoff, DoublesFromInitialUpToTheCap) {
    EXPECT_EQ(Backoff(1, milliseconds(100), milliseconds(5000)), milliseconds(100));
    EXPECT_EQ(Backoff(2, milliseconds(100), milliseconds(5000)), milliseconds(200));
    EXPECT_EQ(Backoff(4, milliseconds(100), milliseconds(5000)), milliseconds(800));
    EXPECT_EQ(Backoff(7, milliseconds(100), milliseconds(5000)), milliseconds(5000));
    EXPECT_EQ(Backoff(1000, milliseconds(100), milliseconds(5000)), milliseconds(5000));  // no overflow
}

TEST(AmqpBackoff, JitterStaysBetweenHalfAndWhole) {
    EXPECT_EQ(Jitter(milliseconds(1000), 0.0), milliseconds(500));
    EXPECT_EQ(Jitter(milliseconds(1000), 0.5), milliseconds(750));
    EXPECT_EQ(Jitter(milliseconds(1000), 0.999), milliseconds(999));
    EXPECT_EQ(Jitter(milliseconds(1000), 7.0), milliseconds(1000));  // clamped
}

}  // namespace
}  // namespace gale::amqp::detail
