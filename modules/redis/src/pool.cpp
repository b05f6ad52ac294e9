// SPDX-License-Identifier: MIT
#include <condition_variable>
#include <mutex>

#include <gale/redis/pool.hpp>

namespace gale::redis {

struct Pool::Impl {
    ConnectionOptions connection;
    PoolOptions options;
    std::mutex mu;
    std::condition_variable cv;
    std::vector<std::unique_ptr<Connection>> all;  // guarded by mu
    std::vector<Connection*> idle;                 // guarded by mu; most recently returned last
};

Pool::Pool(ConnectionOptions connection, PoolOptions options) : impl_(std::make_unique<Impl>()) {
    impl_->connection = std::move(connection);
    impl_->options = options;
    if (impl_->options.size == 0) impl_->options.size = 1;
}

Pool::~Pool() = default;

Pool::Lease::Lease(Lease&& other) noexcept : pool_(other.pool_), connection_(other.connection_) {
    other.pool_ = nullptr;
    other.connection_ = nullptr;
}

Pool::Lease& Pool::Lease::operator=(Lease&& other) noexcept {
    if (this != &other) {
        if (pool_ != nullptr) pool_->Release(connection_);
        pool_ = other.pool_;
        connection_ = other.connection_;
        other.pool_ = nullptr;
        other.connection_ = nullptr;
    }
    return *this;
}

Pool::Lease::~Lease() {
    if (pool_ != nullptr) pool_->Release(connection_);
}

Result<Pool::Lease> Pool::Acquire() {
    std::unique_lock lock(impl_->mu);
    const bool ok = impl_->cv.wait_for(lock, impl_->options.acquire_timeout,
                                       [&] { return !impl_->idle.empty() || impl_->all.size() < impl_->options.size; });
    if (!ok) {
        return MakeError(ErrorCode::kTimeout, "redis " + Describe(impl_->connection) + ": all " +
                                                  std::to_string(impl_->options.size) +
                                                  " pooled connections busy for " +
                                                  std::to_string(impl_->options.acquire_timeout.count()) + " ms");
    }
    if (!impl_->idle.empty()) {
        Connection* c = impl_->idle.back();
        impl_->idle.pop_back();
        return Lease(this, c);
    }
    impl_->all.push_back(Connection::Lazy(impl_->connection));
    return Lease(this, impl_->all.back().get());
}

void Pool::Release(Connection* connection) noexcept {
    {
        std::lock_guard lock(impl_->mu);
        impl_->idle.push_back(connection);
    }
    impl_->cv.notify_one();
}

Result<Reply> Pool::Command(const Args& args) {
    GALE_ASSIGN_OR_RETURN(auto lease, Acquire());
    return lease->Command(args);
}

Result<Reply> Pool::Command(std::initializer_list<std::string_view> args) {
    GALE_ASSIGN_OR_RETURN(auto lease, Acquire());
    return lease->Command(args);
}

Result<std::vector<Reply>> Pool::Pipeline(const std::vector<Args>& commands) {
    GALE_ASSIGN_OR_RETURN(auto lease, Acquire());
    return lease->Pipeline(commands);
}

Result<std::optional<std::vector<Reply>>> Pool::Transaction(const std::vector<Args>& commands) {
    GALE_ASSIGN_OR_RETURN(auto lease, Acquire());
    return lease->Transaction(commands);
}

Result<Reply> Pool::Eval(const Script& script, const std::vector<std::string>& keys,
                         const std::vector<std::string>& args) {
    GALE_ASSIGN_OR_RETURN(auto lease, Acquire());
    return lease->Eval(script, keys, args);
}

const ConnectionOptions& Pool::connection_options() const noexcept { return impl_->connection; }

}  // namespace gale::redis
