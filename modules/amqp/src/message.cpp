// SPDX-License-Identifier: MIT
#include <gale/amqp/message.hpp>

namespace gale::amqp {

const FieldValue* Find(const FieldTable& table, std::string_view key) noexcept {
    for (const auto& [k, v] : table) {
        if (k == key) return &v;
    }
    return nullptr;
}

std::optional<std::string> FindString(const FieldTable& table, std::string_view key) {
    const FieldValue* v = Find(table, key);
    if (v == nullptr) return std::nullopt;
    if (const auto* s = v->get_if<std::string>()) return *s;
    if (const auto* b = v->get_if<Bytes>()) return b->data;
    return std::nullopt;
}

}  // namespace gale::amqp
