// SPDX-License-Identifier: MIT
// Java's Utils.murmur2: 4-byte little-endian blocks, the tail mixed in with fall-through, then the final avalanche.
// All arithmetic is on uint32_t (wrapping, like Java's int multiplication); `>>>` is a logical shift.
#include "murmur2.hpp"

namespace gale::pipe::detail {

std::int32_t Murmur2(std::string_view data) noexcept {
    constexpr std::uint32_t kSeed = 0x9747b28cU;
    constexpr std::uint32_t kM = 0x5bd1e995U;
    constexpr int kR = 24;
    const auto length = static_cast<std::uint32_t>(data.size());
    const auto* bytes = reinterpret_cast<const unsigned char*>(data.data());

    std::uint32_t h = kSeed ^ length;
    const std::size_t blocks = data.size() / 4;
    for (std::size_t i = 0; i < blocks; ++i) {
        const std::size_t i4 = i * 4;
        std::uint32_t k = static_cast<std::uint32_t>(bytes[i4]) | (static_cast<std::uint32_t>(bytes[i4 + 1]) << 8) |
                          (static_cast<std::uint32_t>(bytes[i4 + 2]) << 16) |
                          (static_cast<std::uint32_t>(bytes[i4 + 3]) << 24);
        k *= kM;
        k ^= k >> kR;
        k *= kM;
        h *= kM;
        h ^= k;
    }
    const std::size_t tail = blocks * 4;
    switch (data.size() % 4) {
        case 3:
            h ^= static_cast<std::uint32_t>(bytes[tail + 2]) << 16;
            [[fallthrough]];
        case 2:
            h ^= static_cast<std::uint32_t>(bytes[tail + 1]) << 8;
            [[fallthrough]];
        case 1:
            h ^= static_cast<std::uint32_t>(bytes[tail]);
            h *= kM;
            break;
        default:
            break;
    }
    h ^= h >> 13;
    h *= kM;
    h ^= h >> 15;
    return static_cast<std::int32_t>(h);
}

std::int32_t Murmur2Partition(std::string_view key, std::int32_t partitions) noexcept {
    const auto positive = static_cast<std::uint32_t>(Murmur2(key)) & 0x7fffffffU;
    return static_cast<std::int32_t>(positive % static_cast<std::uint32_t>(partitions));
}

}  // namespace gale::pipe::detail
