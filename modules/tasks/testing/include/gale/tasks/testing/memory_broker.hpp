// SPDX-License-Identifier: MIT
/// @file gale/tasks/testing/memory_broker.hpp
/// @brief An in-memory Broker for tests of code that sends or runs tasks: it delivers as AMQP and Redis do (at
///        once, whatever the eta), honours prefetch and SetPrefetch, returns unsettled deliveries on Close, and can
///        be told to fail or hang its consumers' Next to test reconnects and stalls.
///
/// Ownership: consumers hold the broker's state (shared). Thread-safety: every member may be called from any
/// thread (one mutex); a consumer by one thread at a time, as BrokerConsumer says. Header-only.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <gale/tasks/broker.hpp>

namespace gale::tasks::testing {

class MemoryBroker final : public Broker {
public:
    struct Published {
        Route route;
        TransportMessage message;
    };

    MemoryBroker() : state_(std::make_shared<State>()) {}

    // gale::tasks::Broker
    std::string_view name() const noexcept override { return "memory"; }
    std::string Describe() const override { return "memory://"; }
    Result<void> Declare(const std::vector<Route>& routes) override {
        std::lock_guard lock(state_->mu);
        for (const auto& r : routes) state_->declared.push_back(r.queue);
        return {};
    }
    Result<void> Publish(const Route& route, const TransportMessage& message) override {
        {
            std::lock_guard lock(state_->mu);
            if (state_->fail_publish > 0) {
                --state_->fail_publish;
                return MakeError(ErrorCode::kUnavailable, "memory broker: publish failure (test)");
            }
            state_->queues[route.queue].push_back({message, 0});
            state_->published.push_back({route, message});
        }
        state_->cv.notify_all();
        return {};
    }
    Result<std::unique_ptr<BrokerConsumer>> Consume(const std::vector<std::string>& queues,
                                                    std::size_t prefetch) override {
        std::lock_guard lock(state_->mu);
        if (state_->fail_consume > 0) {
            --state_->fail_consume;
            return MakeError(ErrorCode::kUnavailable, "memory broker: consume failure (test)");
        }
        ++state_->consumers_opened;
        return std::unique_ptr<BrokerConsumer>(new Consumer(state_, queues, prefetch == 0 ? 1 : prefetch));
    }
    Result<std::uint64_t> QueueLength(const std::string& queue) override {
        std::lock_guard lock(state_->mu);
        auto it = state_->queues.find(queue);
        return it == state_->queues.end() ? 0 : static_cast<std::uint64_t>(it->second.size());
    }

    // --- test controls ---
    /// The next `n` Next calls (of any consumer) fail with kUnavailable, as a lost connection does.
    void FailNext(int n) {
        std::lock_guard lock(state_->mu);
        state_->fail_next = n;
    }
    void FailConsume(int n) {
        std::lock_guard lock(state_->mu);
        state_->fail_consume = n;
    }
    void FailPublish(int n) {
        std::lock_guard lock(state_->mu);
        state_->fail_publish = n;
    }
    /// While set, Next blocks (ignoring its timeout): a connection that looks alive and delivers nothing.
    void Hang(bool hang) {
        {
            std::lock_guard lock(state_->mu);
            state_->hang = hang;
        }
        state_->cv.notify_all();
    }
    /// Everything published so far, in order.
    std::vector<Published> published() const {
        std::lock_guard lock(state_->mu);
        return state_->published;
    }
    std::size_t Ready(const std::string& queue) const {
        std::lock_guard lock(state_->mu);
        auto it = state_->queues.find(queue);
        return it == state_->queues.end() ? 0 : it->second.size();
    }
    std::size_t Unsettled() const {
        std::lock_guard lock(state_->mu);
        return state_->unsettled.size();
    }
    std::uint64_t acks() const { return state_->acks.load(); }
    std::size_t last_prefetch() const { return state_->last_prefetch.load(); }
    int consumers_opened() const {
        std::lock_guard lock(state_->mu);
        return state_->consumers_opened;
    }

private:
    struct Entry {
        TransportMessage message;
        std::uint32_t deliveries;
    };
    struct Held {
        std::string queue;
        Entry entry;
        void* owner;
    };
    struct State {
        mutable std::mutex mu;
        std::condition_variable cv;
        std::map<std::string, std::deque<Entry>> queues;
        std::map<std::uint64_t, Held> unsettled;
        std::vector<Published> published;
        std::vector<std::string> declared;
        std::uint64_t next_tag = 0;
        int fail_next = 0;
        int fail_consume = 0;
        int fail_publish = 0;
        int consumers_opened = 0;
        bool hang = false;
        std::atomic<std::uint64_t> acks{0};
        std::atomic<std::size_t> last_prefetch{0};
    };

    class Consumer final : public BrokerConsumer {
    public:
        Consumer(std::shared_ptr<State> s, std::vector<std::string> queues, std::size_t prefetch)
            : s_(std::move(s)), queues_(std::move(queues)), prefetch_(prefetch) {
            s_->last_prefetch.store(prefetch);
        }
        ~Consumer() override { Close(); }

        Result<std::optional<Delivery>> Next(std::chrono::milliseconds timeout) override {
            std::unique_lock lock(s_->mu);
            if (closed_) return MakeError(ErrorCode::kCancelled, "memory broker: consumer closed");
            s_->cv.wait(lock, [&] { return !s_->hang; });
            if (s_->fail_next > 0) {
                --s_->fail_next;
                lock.unlock();
                Close();
                return MakeError(ErrorCode::kUnavailable, "memory broker: connection lost (test)");
            }
            const auto deadline = std::chrono::steady_clock::now() + timeout;
            for (;;) {
                if (!cancelled_ && mine_ < prefetch_) {
                    for (std::size_t k = 0; k < queues_.size(); ++k) {
                        const std::string qname = queues_[(turn_ + k) % queues_.size()];
                        auto& q = s_->queues[qname];
                        if (q.empty()) continue;
                        Entry e = std::move(q.front());
                        q.pop_front();
                        ++e.deliveries;
                        turn_ = (turn_ + k + 1) % queues_.size();
                        const std::uint64_t tag = ++s_->next_tag;
                        Delivery d;
                        d.message = e.message;
                        d.queue = qname;
                        d.routing_key = d.queue;
                        d.tag = std::to_string(tag);
                        d.delivery_count = e.deliveries;
                        d.redelivered = e.deliveries > 1;
                        s_->unsettled[tag] = Held{d.queue, std::move(e), this};
                        ++mine_;
                        return std::optional<Delivery>(std::move(d));
                    }
                }
                if (std::chrono::steady_clock::now() >= deadline) return std::optional<Delivery>();
                s_->cv.wait_until(lock, deadline);
                if (closed_) return MakeError(ErrorCode::kCancelled, "memory broker: consumer closed");
            }
        }
        Result<void> Ack(const Delivery& d) override { return Settle(d, false); }
        Result<void> Reject(const Delivery& d, bool requeue) override { return Settle(d, requeue); }
        Result<void> SetPrefetch(std::size_t prefetch) override {
            std::lock_guard lock(s_->mu);
            prefetch_ = prefetch == 0 ? 1 : prefetch;
            s_->last_prefetch.store(prefetch_);
            s_->cv.notify_all();
            return {};
        }
        void Cancel() override {
            std::lock_guard lock(s_->mu);
            cancelled_ = true;
        }
        void Close() override {
            {
                std::lock_guard lock(s_->mu);
                if (closed_) return;
                closed_ = true;
                for (auto it = s_->unsettled.begin(); it != s_->unsettled.end();) {
                    if (it->second.owner == this) {
                        s_->queues[it->second.queue].push_front(std::move(it->second.entry));
                        it = s_->unsettled.erase(it);
                    } else {
                        ++it;
                    }
                }
            }
            s_->cv.notify_all();
        }

    private:
        Result<void> Settle(const Delivery& d, bool requeue) {
            {
                std::lock_guard lock(s_->mu);
                auto it = s_->unsettled.find(std::stoull(d.tag));
                if (it == s_->unsettled.end() || it->second.owner != this) {
                    return MakeError(ErrorCode::kInvalidArgument, "memory broker: unknown delivery " + d.tag);
                }
                if (requeue) s_->queues[it->second.queue].push_back(std::move(it->second.entry));
                s_->unsettled.erase(it);
                --mine_;
                if (!requeue) s_->acks.fetch_add(1);
            }
            s_->cv.notify_all();
            return {};
        }

        std::shared_ptr<State> s_;
        std::vector<std::string> queues_;
        std::size_t prefetch_;
        std::size_t mine_ = 0;
        std::size_t turn_ = 0;
        bool cancelled_ = false;
        bool closed_ = false;
    };

    std::shared_ptr<State> state_;
};

}  // namespace gale::tasks::testing
