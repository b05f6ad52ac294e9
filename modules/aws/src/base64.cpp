// SPDX-License-Identifier: MIT
// Strict on input on purpose: DecryptIfKms uses "is this base64?" as its first filter, and a lenient decoder would
// send more plain configuration values to KMS.
#include <array>
#include <cstdint>

#include <gale/aws/base64.hpp>

namespace gale::aws {
namespace {

constexpr std::string_view kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

constexpr std::array<std::int8_t, 256> MakeReverse() {
    std::array<std::int8_t, 256> table{};
    for (auto& v : table) v = -1;
    for (std::size_t i = 0; i < kAlphabet.size(); ++i) {
        table[static_cast<unsigned char>(kAlphabet[i])] = static_cast<std::int8_t>(i);
    }
    return table;
}

constexpr std::array<std::int8_t, 256> kReverse = MakeReverse();

}  // namespace

std::string Base64Encode(std::string_view data) {
    std::string out;
    out.reserve((data.size() + 2) / 3 * 4);
    std::size_t i = 0;
    for (; i + 3 <= data.size(); i += 3) {
        const std::uint32_t n = static_cast<std::uint32_t>(static_cast<unsigned char>(data[i])) << 16 |
                                static_cast<std::uint32_t>(static_cast<unsigned char>(data[i + 1])) << 8 |
                                static_cast<unsigned char>(data[i + 2]);
        out.push_back(kAlphabet[n >> 18 & 63]);
        out.push_back(kAlphabet[n >> 12 & 63]);
        out.push_back(kAlphabet[n >> 6 & 63]);
        out.push_back(kAlphabet[n & 63]);
    }
    const std::size_t rest = data.size() - i;
    if (rest > 0) {
        std::uint32_t n = static_cast<std::uint32_t>(static_cast<unsigned char>(data[i])) << 16;
        if (rest == 2) n |= static_cast<std::uint32_t>(static_cast<unsigned char>(data[i + 1])) << 8;
        out.push_back(kAlphabet[n >> 18 & 63]);
        out.push_back(kAlphabet[n >> 12 & 63]);
        out.push_back(rest == 2 ? kAlphabet[n >> 6 & 63] : '=');
        out.push_back('=');
    }
    return out;
}

std::optional<std::string> Base64Decode(std::string_view text) {
    if (text.size() % 4 != 0) return std::nullopt;
    std::size_t padding = 0;
    while (padding < 2 && padding < text.size() && text[text.size() - 1 - padding] == '=') ++padding;
    std::string out;
    out.reserve(text.size() / 4 * 3);
    std::uint32_t bits = 0;
    int count = 0;
    for (std::size_t i = 0; i < text.size() - padding; ++i) {
        const std::int8_t v = kReverse[static_cast<unsigned char>(text[i])];
        if (v < 0) return std::nullopt;
        bits = bits << 6 | static_cast<std::uint32_t>(v);
        if (++count == 4) {
            out.push_back(static_cast<char>(bits >> 16 & 0xFF));
            out.push_back(static_cast<char>(bits >> 8 & 0xFF));
            out.push_back(static_cast<char>(bits & 0xFF));
            bits = 0;
            count = 0;
        }
    }
    if (count == 2) {
        if ((bits & 0xF) != 0) return std::nullopt;
        out.push_back(static_cast<char>(bits >> 4 & 0xFF));
    } else if (count == 3) {
        if ((bits & 0x3) != 0) return std::nullopt;
        out.push_back(static_cast<char>(bits >> 10 & 0xFF));
        out.push_back(static_cast<char>(bits >> 2 & 0xFF));
    } else if (count == 1) {
        return std::nullopt;
    }
    return out;
}

}  // namespace gale::aws
