// SPDX-License-Identifier: MIT
// The mapping of AMQP field kinds is stated in gale/amqp/message.hpp. Encoding copies nothing: entries point at the
// caller's strings. Integers go out as I (32-bit) when they fit, else l, as pika writes them, so that a Python
// consumer sees plain ints; RabbitMQ itself accepts every kind.
#include "codec.hpp"

#include <cmath>
#include <limits>

namespace gale::amqp::detail {
namespace {

amqp_field_value_t EncodeValue(const FieldValue& v, Arena& arena);

amqp_array_t EncodeArray(const FieldArray& a, Arena& arena) {
    amqp_array_t out{static_cast<int>(a.size()), a.empty() ? nullptr : arena.Values(a.size())};
    for (std::size_t i = 0; i < a.size(); ++i) out.entries[i] = EncodeValue(a[i], arena);
    return out;
}

amqp_field_value_t EncodeValue(const FieldValue& v, Arena& arena) {
    amqp_field_value_t out{};
    std::visit(
        [&](const auto& x) {
            using T = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<T, std::monostate>) {
                out.kind = AMQP_FIELD_KIND_VOID;
            } else if constexpr (std::is_same_v<T, bool>) {
                out.kind = AMQP_FIELD_KIND_BOOLEAN;
                out.value.boolean = x ? 1 : 0;
            } else if constexpr (std::is_same_v<T, std::int64_t>) {
                if (x >= std::numeric_limits<std::int32_t>::min() && x <= std::numeric_limits<std::int32_t>::max()) {
                    out.kind = AMQP_FIELD_KIND_I32;
                    out.value.i32 = static_cast<std::int32_t>(x);
                } else {
                    out.kind = AMQP_FIELD_KIND_I64;
                    out.value.i64 = x;
                }
            } else if constexpr (std::is_same_v<T, double>) {
                out.kind = AMQP_FIELD_KIND_F64;
                out.value.f64 = x;
            } else if constexpr (std::is_same_v<T, std::string>) {
                out.kind = AMQP_FIELD_KIND_UTF8;
                out.value.bytes = Bytes(x);
            } else if constexpr (std::is_same_v<T, gale::amqp::Bytes>) {
                out.kind = AMQP_FIELD_KIND_BYTES;
                out.value.bytes = Bytes(x.data);
            } else if constexpr (std::is_same_v<T, Timestamp>) {
                out.kind = AMQP_FIELD_KIND_TIMESTAMP;
                out.value.u64 = x.seconds;
            } else if constexpr (std::is_same_v<T, FieldArray>) {
                out.kind = AMQP_FIELD_KIND_ARRAY;
                out.value.array = EncodeArray(x, arena);
            } else {
                out.kind = AMQP_FIELD_KIND_TABLE;
                out.value.table = EncodeTable(x, arena);
            }
        },
        v.value());
    return out;
}

FieldValue DecodeValue(const amqp_field_value_t& v) {
    switch (v.kind) {
        case AMQP_FIELD_KIND_BOOLEAN:
            return FieldValue(v.value.boolean != 0);
        case AMQP_FIELD_KIND_I8:
            return FieldValue(v.value.i8);
        case AMQP_FIELD_KIND_U8:
            return FieldValue(v.value.u8);
        case AMQP_FIELD_KIND_I16:
            return FieldValue(v.value.i16);
        case AMQP_FIELD_KIND_U16:
            return FieldValue(v.value.u16);
        case AMQP_FIELD_KIND_I32:
            return FieldValue(v.value.i32);
        case AMQP_FIELD_KIND_U32:
            return FieldValue(v.value.u32);
        case AMQP_FIELD_KIND_I64:
            return FieldValue(v.value.i64);
        case AMQP_FIELD_KIND_U64:
            if (v.value.u64 > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
                return FieldValue(static_cast<double>(v.value.u64));
            }
            return FieldValue(static_cast<std::int64_t>(v.value.u64));
        case AMQP_FIELD_KIND_F32:
            return FieldValue(static_cast<double>(v.value.f32));
        case AMQP_FIELD_KIND_F64:
            return FieldValue(v.value.f64);
        case AMQP_FIELD_KIND_DECIMAL:
            return FieldValue(static_cast<double>(v.value.decimal.value) /
                              std::pow(10.0, static_cast<double>(v.value.decimal.decimals)));
        case AMQP_FIELD_KIND_UTF8:
            return FieldValue(String(v.value.bytes));
        case AMQP_FIELD_KIND_BYTES:
            return FieldValue(gale::amqp::Bytes{String(v.value.bytes)});
        case AMQP_FIELD_KIND_TIMESTAMP:
            return FieldValue(Timestamp{v.value.u64});
        case AMQP_FIELD_KIND_ARRAY: {
            FieldArray a;
            a.reserve(static_cast<std::size_t>(v.value.array.num_entries));
            for (int i = 0; i < v.value.array.num_entries; ++i) a.push_back(DecodeValue(v.value.array.entries[i]));
            return FieldValue(std::move(a));
        }
        case AMQP_FIELD_KIND_TABLE:
            return FieldValue(DecodeTable(v.value.table));
        default:
            return FieldValue();
    }
}

}  // namespace

amqp_table_t EncodeTable(const FieldTable& table, Arena& arena) {
    amqp_table_t out{static_cast<int>(table.size()), table.empty() ? nullptr : arena.Entries(table.size())};
    for (std::size_t i = 0; i < table.size(); ++i) {
        out.entries[i].key = Bytes(table[i].first);
        out.entries[i].value = EncodeValue(table[i].second, arena);
    }
    return out;
}

FieldTable DecodeTable(const amqp_table_t& table) {
    FieldTable out;
    out.reserve(static_cast<std::size_t>(table.num_entries));
    for (int i = 0; i < table.num_entries; ++i) {
        out.emplace_back(String(table.entries[i].key), DecodeValue(table.entries[i].value));
    }
    return out;
}

amqp_basic_properties_t EncodeProperties(const Properties& p, Arena& arena, bool persistent_default) {
    amqp_basic_properties_t out{};
    out._flags = 0;
    auto str = [&](const std::string& s, amqp_bytes_t& field, amqp_flags_t flag) {
        if (s.empty()) return;
        field = Bytes(s);
        out._flags |= flag;
    };
    str(p.content_type, out.content_type, AMQP_BASIC_CONTENT_TYPE_FLAG);
    str(p.content_encoding, out.content_encoding, AMQP_BASIC_CONTENT_ENCODING_FLAG);
    str(p.correlation_id, out.correlation_id, AMQP_BASIC_CORRELATION_ID_FLAG);
    str(p.reply_to, out.reply_to, AMQP_BASIC_REPLY_TO_FLAG);
    str(p.expiration, out.expiration, AMQP_BASIC_EXPIRATION_FLAG);
    str(p.message_id, out.message_id, AMQP_BASIC_MESSAGE_ID_FLAG);
    str(p.type, out.type, AMQP_BASIC_TYPE_FLAG);
    str(p.user_id, out.user_id, AMQP_BASIC_USER_ID_FLAG);
    str(p.app_id, out.app_id, AMQP_BASIC_APP_ID_FLAG);
    if (p.delivery_mode || persistent_default) {
        out.delivery_mode = p.delivery_mode.value_or(AMQP_DELIVERY_PERSISTENT);
        out._flags |= AMQP_BASIC_DELIVERY_MODE_FLAG;
    }
    if (p.priority) {
        out.priority = *p.priority;
        out._flags |= AMQP_BASIC_PRIORITY_FLAG;
    }
    if (p.timestamp) {
        out.timestamp = *p.timestamp;
        out._flags |= AMQP_BASIC_TIMESTAMP_FLAG;
    }
    if (!p.headers.empty()) {
        out.headers = EncodeTable(p.headers, arena);
        out._flags |= AMQP_BASIC_HEADERS_FLAG;
    }
    return out;
}

Properties DecodeProperties(const amqp_basic_properties_t& p) {
    Properties out;
    auto str = [&](amqp_bytes_t field, amqp_flags_t flag, std::string& into) {
        if ((p._flags & flag) != 0) into = String(field);
    };
    str(p.content_type, AMQP_BASIC_CONTENT_TYPE_FLAG, out.content_type);
    str(p.content_encoding, AMQP_BASIC_CONTENT_ENCODING_FLAG, out.content_encoding);
    str(p.correlation_id, AMQP_BASIC_CORRELATION_ID_FLAG, out.correlation_id);
    str(p.reply_to, AMQP_BASIC_REPLY_TO_FLAG, out.reply_to);
    str(p.expiration, AMQP_BASIC_EXPIRATION_FLAG, out.expiration);
    str(p.message_id, AMQP_BASIC_MESSAGE_ID_FLAG, out.message_id);
    str(p.type, AMQP_BASIC_TYPE_FLAG, out.type);
    str(p.user_id, AMQP_BASIC_USER_ID_FLAG, out.user_id);
    str(p.app_id, AMQP_BASIC_APP_ID_FLAG, out.app_id);
    if ((p._flags & AMQP_BASIC_DELIVERY_MODE_FLAG) != 0) out.delivery_mode = p.delivery_mode;
    if ((p._flags & AMQP_BASIC_PRIORITY_FLAG) != 0) out.priority = p.priority;
    if ((p._flags & AMQP_BASIC_TIMESTAMP_FLAG) != 0) out.timestamp = p.timestamp;
    if ((p._flags & AMQP_BASIC_HEADERS_FLAG) != 0) out.headers = DecodeTable(p.headers);
    return out;
}

}  // namespace gale::amqp::detail
