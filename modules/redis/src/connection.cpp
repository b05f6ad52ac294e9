// SPDX-License-Identifier: MIT
// A Connection is a Link that may be absent: every call first makes sure there is one (reconnecting within
// connect_timeout), then does one round trip (all of its commands in one write, all replies read against one
// deadline). Any transport failure or timeout drops the Link, because the stream can no longer be trusted to be in
// step (a late reply would be taken for the next command's); the next call reconnects. Error replies are not
// transport failures: the stream is still in step and the Link stays.
#include <fmt/format.h>
#include <openssl/sha.h>

#include <gale/redis/connection.hpp>

#include "link.hpp"

namespace gale::redis {

using detail::Clock;

Script::Script(std::string source) : source_(std::move(source)) {
    unsigned char digest[SHA_DIGEST_LENGTH];
    ::SHA1(reinterpret_cast<const unsigned char*>(source_.data()), source_.size(), digest);
    sha1_.reserve(2 * SHA_DIGEST_LENGTH);
    for (unsigned char b : digest) sha1_ += fmt::format("{:02x}", b);
}

struct Connection::Impl {
    ConnectionOptions options;
    std::string where;
    std::unique_ptr<detail::Link> link;
    bool ever_connected = false;
    std::uint64_t reconnects = 0;

    Result<void> Ensure() {
        if (link) return {};
        GALE_ASSIGN_OR_RETURN(link, detail::Link::Open(options));
        if (ever_connected) ++reconnects;
        ever_connected = true;
        return {};
    }

    // Writes `out` (holding `count` commands) and reads `count` replies; `what` names the call for errors.
    Result<std::vector<Reply>> RoundTrip(const std::string& out, std::size_t count, std::string_view what,
                                         std::chrono::milliseconds extra = {}) {
        GALE_RETURN_IF_ERROR(Ensure());
        const auto deadline = Clock::now() + options.command_timeout + extra;
        auto fail = [&](const Error& e) {
            link.reset();
            return tl::unexpected(Error(e.code(), fmt::format("redis {}", what), e));
        };
        if (auto w = link->Write(out, deadline); !w) return fail(w.error());
        std::vector<Reply> replies;
        replies.reserve(count);
        for (std::size_t i = 0; i < count; ++i) {
            auto r = link->Read(deadline);
            if (!r) return fail(r.error());
            replies.push_back(std::move(*r));
        }
        return replies;
    }

    Result<Reply> One(const std::string& out, const std::string& name, std::chrono::milliseconds extra = {}) {
        GALE_ASSIGN_OR_RETURN(auto replies, RoundTrip(out, 1, name, extra));
        Reply& reply = replies.front();
        if (reply.is_error()) return tl::unexpected(ErrorFromReply(name, reply.str));
        return std::move(reply);
    }
};

Connection::Connection(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Connection::~Connection() = default;

std::unique_ptr<Connection> Connection::Lazy(ConnectionOptions options) {
    auto impl = std::make_unique<Impl>();
    impl->where = Describe(options);
    impl->options = std::move(options);
    return std::unique_ptr<Connection>(new Connection(std::move(impl)));
}

Result<std::unique_ptr<Connection>> Connection::Connect(ConnectionOptions options) {
    auto c = Lazy(std::move(options));
    GALE_RETURN_IF_ERROR(c->impl_->Ensure());
    return c;
}

Result<Reply> Connection::Command(const Args& args) {
    if (args.empty()) return MakeError(ErrorCode::kInvalidArgument, "redis: a command needs a name");
    std::string out;
    detail::AppendCommand(out, args);
    return impl_->One(out, detail::CommandName(args.front()));
}

Result<Reply> Connection::Command(std::initializer_list<std::string_view> args) {
    if (args.size() == 0) return MakeError(ErrorCode::kInvalidArgument, "redis: a command needs a name");
    std::string out;
    detail::AppendCommand(out, args);
    return impl_->One(out, detail::CommandName(*args.begin()));
}

Result<std::vector<Reply>> Connection::Pipeline(const std::vector<Args>& commands) {
    if (commands.empty()) return std::vector<Reply>();
    std::string out;
    for (const Args& a : commands) {
        if (a.empty()) return MakeError(ErrorCode::kInvalidArgument, "redis pipeline: a command needs a name");
        detail::AppendCommand(out, a);
    }
    return impl_->RoundTrip(out, commands.size(),
                            fmt::format("pipeline of {} ({}…)", commands.size(), detail::CommandName(commands[0][0])));
}

Result<std::optional<std::vector<Reply>>> Connection::Transaction(const std::vector<Args>& commands) {
    std::string out;
    detail::AppendCommand(out, {"MULTI"});
    for (const Args& a : commands) {
        if (a.empty()) return MakeError(ErrorCode::kInvalidArgument, "redis MULTI: a command needs a name");
        detail::AppendCommand(out, a);
    }
    detail::AppendCommand(out, {"EXEC"});
    GALE_ASSIGN_OR_RETURN(auto replies, impl_->RoundTrip(out, commands.size() + 2, "MULTI/EXEC"));
    if (replies.front().is_error()) return tl::unexpected(ErrorFromReply("MULTI", replies.front().str));
    Reply& exec = replies.back();
    if (exec.is_error()) {
        std::string refusal;
        for (std::size_t i = 0; i < commands.size(); ++i) {
            if (replies[i + 1].is_error()) {
                refusal = fmt::format(" ({}: {})", detail::CommandName(commands[i][0]), replies[i + 1].str);
                break;
            }
        }
        return tl::unexpected(ErrorFromReply("EXEC", exec.str + refusal));
    }
    if (exec.is_nil()) return std::optional<std::vector<Reply>>();
    if (!exec.is_array() || exec.elements.size() != commands.size()) {
        impl_->link.reset();
        return MakeError(ErrorCode::kInternal, fmt::format("redis EXEC: expected {} replies, got a {} reply",
                                                           commands.size(), ToString(exec.type)));
    }
    return std::optional<std::vector<Reply>>(std::move(exec.elements));
}

Result<std::optional<Popped>> Connection::BlockingPop(const std::vector<std::string>& keys,
                                                      std::chrono::milliseconds timeout) {
    if (keys.empty()) return MakeError(ErrorCode::kInvalidArgument, "redis BRPOP: no keys");
    if (timeout <= std::chrono::milliseconds(0)) {
        return MakeError(ErrorCode::kInvalidArgument, "redis BRPOP: the timeout must be above 0 (0 blocks forever)");
    }
    Args args;
    args.reserve(keys.size() + 2);
    args.emplace_back("BRPOP");
    args.insert(args.end(), keys.begin(), keys.end());
    // Redis 6+ takes a decimal timeout in seconds.
    args.push_back(fmt::format("{}.{:03}", timeout.count() / 1000, timeout.count() % 1000));
    std::string out;
    detail::AppendCommand(out, args);
    GALE_ASSIGN_OR_RETURN(auto reply, impl_->One(out, "BRPOP", timeout));
    if (reply.is_nil()) return std::optional<Popped>();
    if (!reply.is_array() || reply.elements.size() != 2) {
        return MakeError(ErrorCode::kInternal,
                         fmt::format("redis BRPOP: expected [key, value], got a {} reply", ToString(reply.type)));
    }
    return std::optional<Popped>(Popped{std::move(reply.elements[0].str), std::move(reply.elements[1].str)});
}

Result<Reply> Connection::Eval(const Script& script, const std::vector<std::string>& keys,
                               const std::vector<std::string>& args) {
    auto build = [&](std::string_view verb, const std::string& body) {
        Args a;
        a.reserve(3 + keys.size() + args.size());
        a.emplace_back(verb);
        a.push_back(body);
        a.push_back(std::to_string(keys.size()));
        a.insert(a.end(), keys.begin(), keys.end());
        a.insert(a.end(), args.begin(), args.end());
        std::string out;
        detail::AppendCommand(out, a);
        return out;
    };
    GALE_ASSIGN_OR_RETURN(auto replies, impl_->RoundTrip(build("EVALSHA", script.sha1()), 1, "EVALSHA"));
    Reply& reply = replies.front();
    if (reply.is_error() && reply.str.starts_with("NOSCRIPT"))
        return impl_->One(build("EVAL", script.source()), "EVAL");
    if (reply.is_error()) return tl::unexpected(ErrorFromReply("EVAL", reply.str));
    return std::move(reply);
}

void Connection::Close() { impl_->link.reset(); }
bool Connection::connected() const noexcept { return impl_->link != nullptr; }
std::uint64_t Connection::reconnects() const noexcept { return impl_->reconnects; }
const ConnectionOptions& Connection::options() const noexcept { return impl_->options; }

}  // namespace gale::redis
