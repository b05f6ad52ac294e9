// SPDX-License-Identifier: MIT
// Fuzzes the dotenv parser and the transcrypt decoder with the same bytes: neither may crash, hang or read out of
// bounds; a parse error must name the file and a line within the input; no value may exceed
// kMaxDotenvValueBytes and all values together not kMaxDotenvTotalBytes, however the input nests `${…}` (so the
// fuzzer cannot make the parser allocate more than a small multiple of those limits). The lookup offers one value at
// the per-value limit, so that short inputs reach the bounds.
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
        if (name == "BIG") return std::string(gale::config::kMaxDotenvValueBytes, 'b');
        return std::nullopt;
    };
    auto entries = gale::config::ParseDotenv(in, "fuzz.env", lookup);
    if (entries) {
        std::size_t total = 0;
        for (const auto& [key, value] : *entries) {
            if (key.empty() || value.size() > gale::config::kMaxDotenvValueBytes) std::abort();
            total += value.size();
        }
        if (total > gale::config::kMaxDotenvTotalBytes) std::abort();
    } else if (entries.error().message().rfind("fuzz.env:", 0) != 0) {
        std::abort();
    }
    auto plain = gale::config::DecryptTranscrypt(in, "pw", "fuzz.secret");
    (void)plain;
    return 0;
}
