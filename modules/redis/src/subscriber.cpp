// SPDX-License-Identifier: MIT
// Invariants: `channels`/`patterns` hold what the server has confirmed (and what a reconnect renews); `pending`
// holds messages read while waiting for confirmations, in arrival order, handed out by Next before anything newer.
#include <deque>
#include <set>

#include <fmt/format.h>

#include <gale/redis/subscriber.hpp>

#include "link.hpp"

namespace gale::redis {

using detail::Clock;

struct Subscriber::Impl {
    ConnectionOptions options;
    std::unique_ptr<detail::Link> link;
    std::set<std::string> channels;
    std::set<std::string> patterns;
    std::deque<PubSubMessage> pending;
    std::uint64_t reconnects = 0;

    Result<void> Ensure() {
        if (link) return {};
        GALE_ASSIGN_OR_RETURN(link, detail::Link::Open(options));
        ++reconnects;
        std::vector<std::string> c(channels.begin(), channels.end());
        std::vector<std::string> p(patterns.begin(), patterns.end());
        GALE_RETURN_IF_ERROR(Send("SUBSCRIBE", c));
        GALE_RETURN_IF_ERROR(Send("PSUBSCRIBE", p));
        return {};
    }

    // Keeps a message reply; true if `reply` was one.
    bool TakeMessage(Reply& reply) {
        if (!reply.is_array() || reply.elements.empty()) return false;
        auto& e = reply.elements;
        if (e[0].str == "message" && e.size() == 3) {
            pending.push_back({std::move(e[1].str), std::move(e[2].str), {}});
            return true;
        }
        if (e[0].str == "pmessage" && e.size() == 4) {
            pending.push_back({std::move(e[2].str), std::move(e[3].str), std::move(e[1].str)});
            return true;
        }
        return false;
    }

    // Sends `verb names…` and waits for one confirmation per name.
    Result<void> Send(std::string_view verb, const std::vector<std::string>& names) {
        if (names.empty()) return {};
        Args args{std::string(verb)};
        args.insert(args.end(), names.begin(), names.end());
        std::string out;
        detail::AppendCommand(out, args);
        const auto deadline = Clock::now() + options.command_timeout;
        auto fail = [&](const Error& e) {
            link.reset();
            return tl::unexpected(Error(e.code(), fmt::format("redis {}", verb), e));
        };
        if (auto w = link->Write(out, deadline); !w) return fail(w.error());
        std::string kind = detail::CommandName(verb);
        for (char& ch : kind) ch = static_cast<char>(ch - 'A' + 'a');
        std::size_t confirmed = 0;
        while (confirmed < names.size()) {
            auto r = link->Read(deadline);
            if (!r) return fail(r.error());
            if (r->is_error()) {
                // The server refuses in order; the stream stays in step, but the rest of this call is unconfirmed.
                link.reset();
                return tl::unexpected(ErrorFromReply(verb, r->str));
            }
            if (TakeMessage(*r)) continue;
            if (r->is_array() && !r->elements.empty() && r->elements[0].str == kind) ++confirmed;
        }
        return {};
    }
};

Subscriber::Subscriber(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Subscriber::~Subscriber() = default;

Result<std::unique_ptr<Subscriber>> Subscriber::Connect(ConnectionOptions options) {
    auto impl = std::make_unique<Impl>();
    impl->options = std::move(options);
    GALE_ASSIGN_OR_RETURN(impl->link, detail::Link::Open(impl->options));
    return std::unique_ptr<Subscriber>(new Subscriber(std::move(impl)));
}

Result<void> Subscriber::Subscribe(const std::vector<std::string>& channels) {
    GALE_RETURN_IF_ERROR(impl_->Ensure());
    GALE_RETURN_IF_ERROR(impl_->Send("SUBSCRIBE", channels));
    impl_->channels.insert(channels.begin(), channels.end());
    return {};
}

Result<void> Subscriber::PSubscribe(const std::vector<std::string>& patterns) {
    GALE_RETURN_IF_ERROR(impl_->Ensure());
    GALE_RETURN_IF_ERROR(impl_->Send("PSUBSCRIBE", patterns));
    impl_->patterns.insert(patterns.begin(), patterns.end());
    return {};
}

Result<void> Subscriber::Unsubscribe(const std::vector<std::string>& channels) {
    for (const auto& c : channels) impl_->channels.erase(c);
    GALE_RETURN_IF_ERROR(impl_->Ensure());
    return impl_->Send("UNSUBSCRIBE", channels);
}

Result<void> Subscriber::PUnsubscribe(const std::vector<std::string>& patterns) {
    for (const auto& p : patterns) impl_->patterns.erase(p);
    GALE_RETURN_IF_ERROR(impl_->Ensure());
    return impl_->Send("PUNSUBSCRIBE", patterns);
}

Result<std::optional<PubSubMessage>> Subscriber::Next(std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    for (;;) {
        if (!impl_->pending.empty()) {
            PubSubMessage m = std::move(impl_->pending.front());
            impl_->pending.pop_front();
            return std::optional<PubSubMessage>(std::move(m));
        }
        GALE_RETURN_IF_ERROR(impl_->Ensure());
        auto r = impl_->link->TryRead(deadline);
        if (!r) {
            impl_->link.reset();
            return tl::unexpected(Error(r.error().code(), "redis subscriber", r.error()));
        }
        if (!*r) return std::optional<PubSubMessage>();
        (void)impl_->TakeMessage(**r);  // confirmations of earlier calls and pongs are dropped
    }
}

std::uint64_t Subscriber::reconnects() const noexcept { return impl_->reconnects; }

}  // namespace gale::redis
