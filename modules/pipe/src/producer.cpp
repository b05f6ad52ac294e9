// SPDX-License-Identifier: MIT
// The producer is a thin composition: KeyFor + RenderEnvelope + ProducerBackend::Send, in django-logpipe's order
// (the key is computed before rendering, so a missing key field fails before any bytes are built).
#include <utility>

#include <fmt/format.h>

#include <gale/log/log.hpp>
#include <gale/pipe/producer.hpp>

namespace gale::pipe {

Producer::Producer(std::string topic, ProducerBackend& backend, Format format, std::string producer_id)
    : topic_(std::move(topic)), backend_(backend), format_(format), producer_id_(std::move(producer_id)) {}

Result<RecordMetadata> Producer::SendMessage(std::string_view type, std::int64_t version, std::string_view key_field,
                                             Value message) const {
    GALE_ASSIGN_OR_RETURN(std::string key, KeyFor(message, key_field));
    Envelope envelope;
    envelope.type = std::string(type);
    envelope.version = version;
    envelope.message = std::move(message);
    envelope.producer = producer_id_;
    GALE_ASSIGN_OR_RETURN(std::string value, RenderEnvelope(format_, envelope));
    GALE_ASSIGN_OR_RETURN(RecordMetadata metadata, backend_.Send(topic_, key, value));
    if (log::Enabled(log::Level::kDebug)) {
        log::Debug("gale.pipe.producer",
                   fmt::format("Sent message with type \"{}\", key \"{}\" to topic \"{}\"", type, key, topic_),
                   {{"topic", topic_}, {"partition", metadata.partition}, {"offset", metadata.offset}});
    }
    return metadata;
}

}  // namespace gale::pipe
