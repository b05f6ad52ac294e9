// SPDX-License-Identifier: MIT
/// @file murmur2.hpp
/// @brief Kafka's Java-compatible murmur2 hash and the default partitioner's placement of keyed records.
///
/// Private to gale::pipe. The Kafka producer lets librdkafka place records (`partitioner=murmur2_random`); this
/// function is the reference that its tests and tools check placement against.
#pragma once

#include <cstdint>
#include <string_view>

namespace gale::pipe::detail {

/// murmur2 (seed 0x9747b28c) of `data`, exactly as org.apache.kafka.common.utils.Utils.murmur2 and kafka-python's
/// `murmur2`, returned as the signed 32-bit value Java returns.
[[nodiscard]] std::int32_t Murmur2(std::string_view data) noexcept;

/// The partition Java's and kafka-python's default partitioner (and librdkafka's murmur2/murmur2_random) choose for a
/// non-null `key`: `(murmur2(key) & 0x7fffffff) % partitions`. The empty key is hashed like any other.
/// Precondition: partitions > 0.
[[nodiscard]] std::int32_t Murmur2Partition(std::string_view key, std::int32_t partitions) noexcept;

}  // namespace gale::pipe::detail
