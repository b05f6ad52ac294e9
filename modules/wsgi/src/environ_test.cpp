// SPDX-License-Identifier: MIT
#include "environ.hpp"

#include <gtest/gtest.h>

namespace gale::wsgi {
namespace {

TEST(CgiName, HeadersBecomeCgiVariables) {
    EXPECT_EQ(CgiName("Content-Type"), "CONTENT_TYPE");
    EXPECT_EQ(CgiName("content-length"), "CONTENT_LENGTH");
    EXPECT_EQ(CgiName("X-Api-Key"), "HTTP_X_API_KEY");
    EXPECT_EQ(CgiName("host"), "HTTP_HOST");
}

TEST(CgiName, NamesWithUnderscoresAreDropped) {
    EXPECT_EQ(CgiName("X_Forwarded_For"), "");
    EXPECT_EQ(CgiName("Content_Type"), "");
}

}  // namespace
}  // namespace gale::wsgi
