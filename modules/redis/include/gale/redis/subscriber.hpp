// SPDX-License-Identifier: MIT
/// @file gale/redis/subscriber.hpp
/// @brief Subscriber: Redis pub/sub (SUBSCRIBE / PSUBSCRIBE) on a connection of its own.
///
/// A subscribed connection only receives, so a Subscriber owns its own socket and never shares it with commands.
/// Subscribe/PSubscribe/Unsubscribe/PUnsubscribe return once the server has confirmed every channel (within
/// command_timeout), so a PUBLISH sent after Subscribe returned is received. Messages that arrive while waiting for
/// a confirmation are kept for Next.
///
/// Pub/sub is at most once: what is published while the connection is down is lost. When the connection breaks,
/// the call that finds it returns kUnavailable; the next call reconnects and subscribes again to every channel and
/// pattern (kUnavailable while the server stays away). A caller that must not miss a state change re-reads the
/// state after a kUnavailable (the Celery result backend does GET again).
///
/// Ownership: owns one socket. Thread-safety: thread-compatible (one thread at a time).
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <gale/base/error.hpp>
#include <gale/redis/options.hpp>

namespace gale::redis {

struct PubSubMessage {
    std::string channel{};
    std::string payload{};
    std::string pattern{};  ///< the PSUBSCRIBE pattern that matched; empty for SUBSCRIBE
};

class Subscriber {
public:
    /// Connects now. Errors: as Connection::Connect.
    [[nodiscard]] static Result<std::unique_ptr<Subscriber>> Connect(ConnectionOptions options);
    ~Subscriber();
    Subscriber(const Subscriber&) = delete;
    Subscriber& operator=(const Subscriber&) = delete;

    [[nodiscard]] Result<void> Subscribe(const std::vector<std::string>& channels);
    [[nodiscard]] Result<void> PSubscribe(const std::vector<std::string>& patterns);
    [[nodiscard]] Result<void> Unsubscribe(const std::vector<std::string>& channels);
    [[nodiscard]] Result<void> PUnsubscribe(const std::vector<std::string>& patterns);

    /// The next message, or nullopt when none arrived within `timeout` (0: only what is already here). Errors:
    /// kUnavailable (connection lost, or reconnecting failed), kInternal (not RESP; the connection is closed).
    [[nodiscard]] Result<std::optional<PubSubMessage>> Next(std::chrono::milliseconds timeout);

    /// How many times the connection was opened again (each time, every subscription was renewed).
    [[nodiscard]] std::uint64_t reconnects() const noexcept;

private:
    struct Impl;
    explicit Subscriber(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace gale::redis
