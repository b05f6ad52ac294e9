// SPDX-License-Identifier: MIT
#include <stdexcept>

#include <gtest/gtest.h>

#include <gale/base/type_name.hpp>

namespace gale {
namespace {

struct LocalError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

TEST(TypeName, DemanglesStandardAndOwnTypes) {
    EXPECT_EQ(TypeName(typeid(std::runtime_error)), "std::runtime_error");
    EXPECT_EQ(TypeName(typeid(int)), "int");
    try {
        throw LocalError("x");
    } catch (const std::exception& e) {
        EXPECT_EQ(TypeName(typeid(e)), "gale::(anonymous namespace)::LocalError");
    }
}

}  // namespace
}  // namespace gale
