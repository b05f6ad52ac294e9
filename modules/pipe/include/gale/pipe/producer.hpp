// SPDX-License-Identifier: MIT
/// @file gale/pipe/producer.hpp
/// @brief Sends typed messages to a topic in django-logpipe's wire format (DRFProducer / PydanticProducer).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include <gale/base/error.hpp>
#include <gale/pipe/backend.hpp>
#include <gale/pipe/serializer.hpp>
#include <gale/pipe/wire.hpp>

namespace gale::pipe {

/// One topic's producer: renders the envelope {type, version, message[, producer]}, computes the key from the
/// serializer's key field and hands both to the backend, synchronously.
///
/// Ownership: does not own the backend, which must outlive the producer. Thread-safety: Send is const and keeps no
/// state of its own, so a Producer is as thread-safe as its backend (one thread per backend unless the backend says
/// otherwise).
class Producer {
public:
    /// `format`: what django-logpipe's DEFAULT_FORMAT chooses (json). `producer_id` non-empty adds the "producer"
    /// key to every envelope (django-logpipe's PRODUCER_ID, since 1.3.0).
    Producer(std::string topic, ProducerBackend& backend, Format format = Format::kJson, std::string producer_id = {});

    /// Sends `value` as a message of the serializer's type and version. Nothing is validated (as in
    /// django-logpipe). Errors: kInvalidArgument (the message cannot be rendered: NaN in JSON, invalid UTF-8),
    /// kNotFound (the key field is not in the message), and whatever the backend returns (unavailable, timeout).
    /// Logs "Sent message with type …" at debug on success; errors are returned, not logged.
    template <typename T>
    [[nodiscard]] Result<RecordMetadata> Send(const TypedSerializer<T>& serializer, const T& value) const {
        return SendMessage(serializer.type(), serializer.version(), serializer.key_field(),
                           serializer.ToMessage(value));
    }

    /// The untyped form: sends an already built message (a map, for a key field to be found in it). Same errors.
    [[nodiscard]] Result<RecordMetadata> SendMessage(std::string_view type, std::int64_t version,
                                                     std::string_view key_field, Value message) const;

    [[nodiscard]] const std::string& topic() const noexcept { return topic_; }
    [[nodiscard]] Format format() const noexcept { return format_; }
    [[nodiscard]] const std::string& producer_id() const noexcept { return producer_id_; }

private:
    std::string topic_;
    ProducerBackend& backend_;
    Format format_;
    std::string producer_id_;
};

/// django-logpipe's `Producer(topic, serializer_class)`: a Producer bound to one serializer, so that sending is
/// `producer.Send(value)`. Same ownership, thread-safety and errors as Producer.
template <typename T>
class TypedProducer {
public:
    TypedProducer(std::string topic, TypedSerializer<T> serializer, ProducerBackend& backend,
                  Format format = Format::kJson, std::string producer_id = {})
        : producer_(std::move(topic), backend, format, std::move(producer_id)), serializer_(std::move(serializer)) {}

    [[nodiscard]] Result<RecordMetadata> Send(const T& value) const { return producer_.Send(serializer_, value); }

    [[nodiscard]] const Producer& producer() const noexcept { return producer_; }
    [[nodiscard]] const TypedSerializer<T>& serializer() const noexcept { return serializer_; }

private:
    Producer producer_;
    TypedSerializer<T> serializer_;
};

}  // namespace gale::pipe
