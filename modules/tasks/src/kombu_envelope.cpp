// SPDX-License-Identifier: MIT
// The envelope is untrusted input (any process that can LPUSH to the list writes it): ReadEnvelope checks every
// field's type before use and never throws; what it cannot read is marked invalid for the worker to dead-letter.
#include "kombu_envelope.hpp"

#include <charconv>

#include <openssl/evp.h>

namespace gale::tasks::redis::detail {

std::string Base64Encode(std::string_view data) {
    std::string out(4 * ((data.size() + 2) / 3), '\0');
    const int n = ::EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                    reinterpret_cast<const unsigned char*>(data.data()), static_cast<int>(data.size()));
    out.resize(static_cast<std::size_t>(n));
    return out;
}

std::optional<std::string> Base64Decode(std::string_view text) {
    if (text.size() % 4 != 0) return std::nullopt;
    for (char c : text) {
        const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
                        c == '/' || c == '=';
        if (!ok) return std::nullopt;  // EVP_DecodeBlock would skip whitespace; base64 in JSON has none
    }
    std::size_t pad = 0;
    if (!text.empty() && text.back() == '=') ++pad;
    if (text.size() >= 2 && text[text.size() - 2] == '=') ++pad;
    if (text.substr(0, text.size() - pad).find('=') != std::string_view::npos) return std::nullopt;
    std::string out(3 * text.size() / 4, '\0');
    const int n = ::EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                    reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
    if (n < 0) return std::nullopt;
    out.resize(static_cast<std::size_t>(n) - pad);
    return out;
}

nlohmann::ordered_json MakeEnvelope(const TransportMessage& m, std::string_view exchange, std::string_view routing_key,
                                    std::string_view delivery_tag) {
    nlohmann::ordered_json properties = nlohmann::ordered_json::object();
    // Celery passes correlation_id and reply_to to Producer.publish as properties; publish adds delivery_mode and
    // expiration; prepare_message delivery_info and priority; _inplace_augment_message body_encoding and the tag.
    properties["correlation_id"] = m.correlation_id;
    properties["reply_to"] = m.reply_to;
    properties["delivery_mode"] = m.delivery_mode;
    if (m.expiration) properties["expiration"] = std::to_string(m.expiration->count());
    properties["delivery_info"] = {{"exchange", exchange}, {"routing_key", routing_key}};
    properties["priority"] = m.priority;
    properties["body_encoding"] = "base64";
    properties["delivery_tag"] = delivery_tag;
    nlohmann::ordered_json envelope = nlohmann::ordered_json::object();
    envelope["body"] = Base64Encode(m.body);
    envelope["content-encoding"] = m.content_encoding;
    envelope["content-type"] = m.content_type;
    envelope["headers"] = m.headers.is_object() ? m.headers : nlohmann::ordered_json::object();
    envelope["properties"] = std::move(properties);
    return envelope;
}

namespace {

const nlohmann::ordered_json* Member(const nlohmann::ordered_json& object, const char* key) {
    if (!object.is_object()) return nullptr;
    auto it = object.find(key);
    return it == object.end() ? nullptr : &*it;
}

std::string StringOr(const nlohmann::ordered_json* v, std::string fallback = {}) {
    return v != nullptr && v->is_string() ? v->get<std::string>() : fallback;
}

bool TrueBool(const nlohmann::ordered_json* v) { return v != nullptr && v->is_boolean() && v->get<bool>(); }

Envelope Invalid(std::string_view bytes, std::string problem) {
    Envelope e;
    e.valid = false;
    e.message.body = std::string(bytes);
    e.message.content_type = std::string(kInvalidEnvelopeType);
    e.message.content_encoding = "binary";
    e.problem = std::move(problem);
    return e;
}

}  // namespace

Envelope ReadEnvelope(std::string_view bytes) {
    auto raw = nlohmann::ordered_json::parse(bytes, nullptr, /*allow_exceptions=*/false);
    if (raw.is_discarded()) return Invalid(bytes, "not JSON");
    if (!raw.is_object()) return Invalid(bytes, "not a JSON object");
    const auto* properties = Member(raw, "properties");
    if (properties == nullptr || !properties->is_object()) return Invalid(bytes, "no 'properties' object");
    const auto* tag = Member(*properties, "delivery_tag");
    if (tag == nullptr || !tag->is_string() || tag->get_ref<const std::string&>().empty()) {
        return Invalid(bytes, "no 'properties.delivery_tag' string");
    }
    Envelope e;
    e.delivery_tag = tag->get<std::string>();
    TransportMessage& m = e.message;
    const auto* body = Member(raw, "body");
    std::string body_text;
    if (body != nullptr && body->is_string()) {
        body_text = body->get<std::string>();
    } else if (body != nullptr && !body->is_null()) {
        return Invalid(bytes, "'body' is not a string");
    }
    const std::string encoding = StringOr(Member(*properties, "body_encoding"));
    if (encoding == "base64") {
        auto decoded = Base64Decode(body_text);
        if (!decoded) return Invalid(bytes, "'body' is not base64");
        m.body = std::move(*decoded);
    } else if (encoding.empty()) {
        m.body = std::move(body_text);
    } else {
        return Invalid(bytes, "unknown body_encoding '" + encoding + "'");
    }
    m.content_type = StringOr(Member(raw, "content-type"));
    m.content_encoding = StringOr(Member(raw, "content-encoding"));
    if (const auto* headers = Member(raw, "headers"); headers != nullptr && headers->is_object()) m.headers = *headers;
    m.correlation_id = StringOr(Member(*properties, "correlation_id"));
    m.reply_to = StringOr(Member(*properties, "reply_to"));
    if (const auto* p = Member(*properties, "priority"); p != nullptr && p->is_number_integer()) {
        m.priority = static_cast<int>(std::clamp<std::int64_t>(p->get<std::int64_t>(), 0, 255));
    }
    if (const auto* d = Member(*properties, "delivery_mode"); d != nullptr && d->is_number_integer()) {
        m.delivery_mode = d->get<std::int64_t>() == 1 ? 1 : 2;
    }
    if (const auto* x = Member(*properties, "expiration"); x != nullptr && x->is_string()) {
        const std::string& text = x->get_ref<const std::string&>();
        std::int64_t ms = 0;
        auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), ms);
        if (ec == std::errc() && ptr == text.data() + text.size() && ms >= 0) {
            m.expiration = std::chrono::milliseconds(ms);
        }
    }
    const auto* info = Member(*properties, "delivery_info");
    e.exchange = StringOr(info != nullptr ? Member(*info, "exchange") : nullptr);
    e.routing_key = StringOr(info != nullptr ? Member(*info, "routing_key") : nullptr);
    e.redelivered = TrueBool(info != nullptr ? Member(*info, "redelivered") : nullptr) ||
                    TrueBool(Member(m.headers, "redelivered"));
    e.raw = std::move(raw);
    e.valid = true;
    return e;
}

void MarkRedelivered(nlohmann::ordered_json& envelope) {
    if (!envelope.is_object()) return;
    auto headers = envelope.find("headers");
    auto properties = envelope.find("properties");
    // kombu sets both in one try block: a KeyError on the first leaves the second unset.
    if (headers == envelope.end() || !headers->is_object()) return;
    (*headers)["redelivered"] = true;
    if (properties == envelope.end() || !properties->is_object()) return;
    auto info = properties->find("delivery_info");
    if (info == properties->end() || !info->is_object()) return;
    (*info)["redelivered"] = true;
}

}  // namespace gale::tasks::redis::detail
