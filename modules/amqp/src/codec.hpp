// SPDX-License-Identifier: MIT
// Conversion between gale's field tables / properties and rabbitmq-c's. Private: rabbitmq-c stays out of the
// public headers.
#pragma once

#include <amqp.h>

#include <deque>
#include <vector>

#include <gale/amqp/message.hpp>

namespace gale::amqp::detail {

/// Storage for encoded tables. The amqp_bytes_t of strings point into the FieldTable being encoded, which must
/// outlive every use of the result, as must the Arena.
class Arena {
public:
    amqp_table_entry_t* Entries(std::size_t n) { return entries_.emplace_back(n).data(); }
    amqp_field_value_t* Values(std::size_t n) { return values_.emplace_back(n).data(); }

private:
    std::deque<std::vector<amqp_table_entry_t>> entries_;
    std::deque<std::vector<amqp_field_value_t>> values_;
};

[[nodiscard]] amqp_table_t EncodeTable(const FieldTable& table, Arena& arena);
[[nodiscard]] FieldTable DecodeTable(const amqp_table_t& table);

/// basic.properties to send; `persistent_default`: delivery_mode 2 when unset. Strings point into `p`.
[[nodiscard]] amqp_basic_properties_t EncodeProperties(const Properties& p, Arena& arena, bool persistent_default);
[[nodiscard]] Properties DecodeProperties(const amqp_basic_properties_t& p);

[[nodiscard]] inline amqp_bytes_t Bytes(std::string_view s) noexcept {
    return amqp_bytes_t{s.size(), const_cast<char*>(s.data())};  // rabbitmq-c never writes through it
}
[[nodiscard]] inline std::string String(amqp_bytes_t b) {
    return b.len == 0 ? std::string() : std::string(static_cast<const char*>(b.bytes), b.len);
}

}  // namespace gale::amqp::detail
