// SPDX-License-Identifier: MIT
/// @file listener.hpp (private)
/// @brief Listening sockets: one SO_REUSEPORT group per server that no other process can share, and closing them
///        without resetting connections the kernel already accepted.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <gale/base/error.hpp>

namespace gale::http::detail {

struct ListenerGroup {
    std::vector<int> fds;    ///< listening, non-blocking, close-on-exec
    std::uint16_t port = 0;  ///< the bound port (the one picked by the kernel when 0 was asked for)
};

/// Opens `count` listening sockets on `bind`:`port` (an IPv4 or IPv6 literal) as one SO_REUSEPORT group, so that the
/// kernel spreads connections over them. SO_REUSEPORT would also let another process of the same user join the
/// group and take a share of the connections; so before binding, the port is tried without SO_REUSEPORT (any
/// listener there, gale or not, makes that fail), and after listening, the kernel's socket table (sock_diag) is
/// searched for a listener on the same address and port that is not one of ours (a process that bound in the
/// window between). Errors: kInvalidArgument (not an address literal), kUnavailable (in use, or bind/listen
/// failed; the message names `name`, the address, the port and the system error).
[[nodiscard]] Result<ListenerGroup> OpenListenerGroup(const std::string& name, const std::string& bind,
                                                      std::uint16_t port, std::size_t count, int backlog);

/// The accept queue length of every listener.
inline constexpr int kListenBacklog = 4096;

/// The port a bound socket listens on (0 if it is not an IPv4 or IPv6 socket).
std::uint16_t BoundPort(int fd) noexcept;

/// Makes the kernel drop new connection attempts (bare SYNs) to the listener `fd`, while handshakes already under
/// way still complete into its accept queue: the first step of closing a listener without resetting a connection
/// the client already believes open. A dropped SYN is retried by the client and refused once the listener is
/// closed. Returns false if the kernel refused the socket filter (the caller then just closes).
bool RefuseNewConnections(int fd) noexcept;

/// Connections a server may hold open given the descriptor limit: the soft limit minus a reserve
/// (a quarter of it, at least 64, at most 1024) that stays free for the probe server, files, database and broker
/// connections and the log.
std::size_t DefaultMaxConnections() noexcept;

}  // namespace gale::http::detail
