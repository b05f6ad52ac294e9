// SPDX-License-Identifier: MIT
// Fuzzes the dotenv parser and the transcrypt decoder with the same bytes: neither may crash, hang or read out of
// bounds; a parse error must name the file and a line within the input.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include <gale/config/dotenv.hpp>
#include <gale/config/secrets.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view in(reinterpret_cast<const char*>(data), size);
    gale::config::Lookup lookup = [](std::string_view name) -> std::optional<std::string> {
        if (name == "HOME") return std::string("/home/fuzz");
        return std::nullopt;
    };
    auto entries = gale::config::ParseDotenv(in, "fuzz.env", lookup);
    if (entries) {
        for (const auto& [key, value] : *entries) {
            if (key.empty()) std::abort();
        }
    } else if (entries.error().message().rfind("fuzz.env:", 0) != 0) {
        std::abort();
    }
    auto plain = gale::config::DecryptTranscrypt(in, "pw", "fuzz.secret");
    (void)plain;
    return 0;
}
