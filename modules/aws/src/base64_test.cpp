// SPDX-License-Identifier: MIT
#include <string>

#include <gtest/gtest.h>

#include <gale/aws/base64.hpp>

namespace gale::aws {
namespace {

TEST(Base64, Rfc4648Vectors) {
    const std::pair<const char*, const char*> vectors[] = {{"", ""},
                                                           {"f", "Zg=="},
                                                           {"fo", "Zm8="},
                                                           {"foo", "Zm9v"},
                                                           {"foob", "Zm9vYg=="},
                                                           {"fooba", "Zm9vYmE="},
                                                           {"foobar", "Zm9vYmFy"}};
    for (const auto& [plain, encoded] : vectors) {
        EXPECT_EQ(Base64Encode(plain), encoded);
        EXPECT_EQ(Base64Decode(encoded), std::string(plain));
    }
    const std::string binary("\x00\xff\x10\x80", 4);
    EXPECT_EQ(Base64Decode(Base64Encode(binary)), binary);
}

TEST(Base64, RejectsWhatIsNotStrictBase64) {
    for (const char* text : {"Zg", "Zg=", "Zm9v YmFy", "Zm9v\n",
                             "Zh==", "Zm9=", "====", "Z===", "Zm9v_-==", "hello world", "postgres://u:p@h/db", "a=b"}) {
        EXPECT_EQ(Base64Decode(text), std::nullopt) << text;
    }
}

}  // namespace
}  // namespace gale::aws
