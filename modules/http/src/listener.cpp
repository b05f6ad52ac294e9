// SPDX-License-Identifier: MIT
//
// Why the in-use checks: every event loop has its own SO_REUSEPORT socket so that the kernel spreads connections
// without a shared accept lock. The price is that SO_REUSEPORT lets any later socket of the same user with the
// option set join the group, and the kernel then splits connections between two unrelated processes (a forgotten
// old server, `consume` started next to `serve` without --probe-port). Two checks close that door:
//   1. before binding, a socket *without* SO_REUSEPORT binds the same address and port: the kernel refuses it if
//      anything listens there (reuseport or not, any address overlap), exactly as it would for nginx without
//      reuseport; the probe socket is closed again at once;
//   2. after listening, sock_diag lists the TCP listeners on the port: one on our address that is not one of our
//      own sockets (by inode) joined in the window between 1 and our bind. Then we close ours and fail (if two
//      processes race, both fail: better than both serving half the traffic).
//
// Closing without resets: a listening socket closed with connections in its accept queue resets them, and with
// SO_REUSEPORT each socket has its own queue. RefuseNewConnections attaches a classic BPF filter that drops bare
// SYNs (SYN set, ACK clear; the filter sees the TCP header at offset 0), so no new handshake starts while the
// final ACKs of handshakes under way still complete into the queue; the caller then drains the queue and closes.
#include "listener.hpp"

#include <arpa/inet.h>
#include <linux/filter.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include <gale/http/server.hpp>

namespace gale::http::detail {
namespace {

struct Address {
    sockaddr_storage storage{};
    socklen_t length = 0;
    int family() const { return storage.ss_family; }
    void SetPort(std::uint16_t port) {
        if (family() == AF_INET) {
            reinterpret_cast<sockaddr_in*>(&storage)->sin_port = htons(port);
        } else {
            reinterpret_cast<sockaddr_in6*>(&storage)->sin6_port = htons(port);
        }
    }
    const sockaddr* sa() const { return reinterpret_cast<const sockaddr*>(&storage); }
};

std::string ErrnoText(int err) { return std::strerror(err); }

class Fd {
public:
    explicit Fd(int fd = -1) : fd_(fd) {}
    ~Fd() {
        if (fd_ >= 0) ::close(fd_);
    }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    int get() const { return fd_; }
    int release() { return std::exchange(fd_, -1); }

private:
    int fd_;
};

void CloseAll(std::vector<int>& fds) {
    for (int fd : fds) ::close(fd);
    fds.clear();
}

// Inodes of the TCP listeners on `address` (same family, address and port) that are not in `ours`. Empty when
// sock_diag is unavailable (the pre-bind check still ran).
std::vector<ino_t> ForeignListeners(const Address& address, std::uint16_t port, const std::vector<ino_t>& ours) {
    std::vector<ino_t> foreign;
    Fd nl(::socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG));
    if (nl.get() < 0) return foreign;
    struct {
        nlmsghdr header;
        inet_diag_req_v2 request;
    } message{};
    message.header.nlmsg_len = sizeof(message);
    message.header.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    message.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    message.request.sdiag_family = static_cast<std::uint8_t>(address.family());
    message.request.sdiag_protocol = IPPROTO_TCP;
    message.request.idiag_states = 1U << TCP_LISTEN;
    if (::send(nl.get(), &message, sizeof(message), 0) < 0) return foreign;
    alignas(nlmsghdr) char buffer[16384];
    while (true) {
        ssize_t n = ::recv(nl.get(), buffer, sizeof(buffer), 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return foreign;
        auto len = static_cast<unsigned>(n);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wold-style-cast"  // the netlink macros are C
        for (auto* h = reinterpret_cast<nlmsghdr*>(buffer); NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
            if (h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR) return foreign;
            const auto* d = static_cast<const inet_diag_msg*>(NLMSG_DATA(h));
            if (ntohs(d->id.idiag_sport) != port) continue;
            bool same_address;
            if (address.family() == AF_INET) {
                const auto* v4 = reinterpret_cast<const sockaddr_in*>(&address.storage);
                same_address = std::memcmp(&d->id.idiag_src[0], &v4->sin_addr, 4) == 0;
            } else {
                const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&address.storage);
                same_address = std::memcmp(&d->id.idiag_src[0], &v6->sin6_addr, 16) == 0;
            }
            if (!same_address) continue;
            if (std::find(ours.begin(), ours.end(), d->idiag_inode) == ours.end()) foreign.push_back(d->idiag_inode);
        }
#pragma GCC diagnostic pop
    }
}

}  // namespace

Result<ListenerGroup> OpenListenerGroup(const std::string& name, const std::string& bind, std::uint16_t port,
                                        std::size_t count, int backlog) {
    Address address;
    auto* v4 = reinterpret_cast<sockaddr_in*>(&address.storage);
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&address.storage);
    if (inet_pton(AF_INET, bind.c_str(), &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        address.length = sizeof(sockaddr_in);
    } else if (inet_pton(AF_INET6, bind.c_str(), &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        address.length = sizeof(sockaddr_in6);
    } else {
        return MakeError(ErrorCode::kInvalidArgument, fmt::format("--bind: '{}' is not an IPv4 or IPv6 address", bind));
    }
    auto in_use = [&](std::uint16_t p, const std::string& detail) {
        return MakeError(ErrorCode::kUnavailable,
                         fmt::format("{} server: cannot listen on {}:{}: {}", name, bind, p, detail));
    };
    int one = 1;

    // Check 1: nothing may listen there already (see the design note).
    if (port != 0) {
        Fd probe(::socket(address.family(), SOCK_STREAM | SOCK_CLOEXEC, 0));
        if (probe.get() < 0) return MakeError(ErrorCode::kIo, fmt::format("socket(): {}", ErrnoText(errno)));
        setsockopt(probe.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        address.SetPort(port);
        if (::bind(probe.get(), address.sa(), address.length) != 0) {
            int err = errno;
            if (err == EADDRINUSE) return in_use(port, "address already in use (by another process)");
            return in_use(port, ErrnoText(err));
        }
    }

    ListenerGroup group;
    std::vector<ino_t> inodes;
    for (std::size_t i = 0; i < count; ++i) {
        int fd = ::socket(address.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            int err = errno;
            CloseAll(group.fds);
            return MakeError(ErrorCode::kIo, fmt::format("socket(): {}", ErrnoText(err)));
        }
        group.fds.push_back(fd);
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
        address.SetPort(port);
        if (::bind(fd, address.sa(), address.length) != 0 || ::listen(fd, backlog) != 0) {
            int err = errno;
            CloseAll(group.fds);
            return in_use(port, ErrnoText(err));
        }
        if (port == 0) port = BoundPort(fd);
        struct stat st {};
        if (fstat(fd, &st) == 0) inodes.push_back(st.st_ino);
    }

    // Check 2: a listener that joined our group between check 1 and our bind.
    if (auto foreign = ForeignListeners(address, port, inodes); !foreign.empty()) {
        CloseAll(group.fds);
        return in_use(port, "another process listens on the same port (SO_REUSEPORT)");
    }
    group.port = port;
    return group;
}

std::uint16_t BoundPort(int fd) noexcept {
    sockaddr_storage got{};
    socklen_t got_len = sizeof(got);
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&got), &got_len) != 0) return 0;
    if (got.ss_family == AF_INET) return ntohs(reinterpret_cast<sockaddr_in*>(&got)->sin_port);
    if (got.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&got)->sin6_port);
    return 0;
}

bool RefuseNewConnections(int fd) noexcept {
    // ldb [13] (TCP flags); and #(SYN|ACK); jeq #SYN → drop (ret 0), else keep the whole packet.
    static sock_filter code[] = {
        BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 13),          BPF_STMT(BPF_ALU | BPF_AND | BPF_K, 0x12),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x02, 0, 1), BPF_STMT(BPF_RET | BPF_K, 0),
        BPF_STMT(BPF_RET | BPF_K, 0xffffffff),
    };
    sock_fprog program{static_cast<unsigned short>(sizeof(code) / sizeof(code[0])), code};
    return setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &program, sizeof(program)) == 0;
}

std::size_t DefaultMaxConnections() noexcept {
    rlimit limit{};
    if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return 1 << 20;
    auto soft = static_cast<std::size_t>(limit.rlim_cur);
    std::size_t reserve = std::clamp<std::size_t>(soft / 4, 64, 1024);
    return soft > reserve + 16 ? soft - reserve : 16;
}

}  // namespace gale::http::detail

namespace gale::http {

Result<Listeners> OpenListeners(const std::string& name, const std::string& bind, std::uint16_t port,
                                std::size_t count) {
    GALE_ASSIGN_OR_RETURN(detail::ListenerGroup group,
                          detail::OpenListenerGroup(name, bind, port, count, detail::kListenBacklog));
    return Listeners{.fds = std::move(group.fds), .port = group.port};
}

std::uint64_t RaiseOpenFileLimit() noexcept {
    rlimit limit{};
    if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return 0;
    if (limit.rlim_cur < limit.rlim_max) {
        rlimit raised = limit;
        raised.rlim_cur = limit.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &raised) == 0) limit = raised;
    }
    return static_cast<std::uint64_t>(limit.rlim_cur);
}

}  // namespace gale::http
