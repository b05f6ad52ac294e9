// SPDX-License-Identifier: MIT
#include "store_batcher.hpp"

#include <algorithm>

namespace gale::tasks::detail {

StoreBatcher::StoreBatcher(WriteBatch write, std::size_t max_batch)
    : write_(std::move(write)), max_batch_(std::max<std::size_t>(1, max_batch)), thread_([this] { Loop(); }) {}

StoreBatcher::~StoreBatcher() {
    {
        std::lock_guard lock(mu_);
        stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
}

void StoreBatcher::Add(Item item) {
    {
        std::lock_guard lock(mu_);
        queue_.push_back(std::move(item));
    }
    cv_.notify_one();
}

void StoreBatcher::Loop() {
    std::unique_lock lock(mu_);
    for (;;) {
        cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
        if (queue_.empty()) return;  // stopping, and everything queued was written
        std::vector<Item> batch;
        if (queue_.size() <= max_batch_) {
            batch.swap(queue_);
        } else {
            const auto end = queue_.begin() + static_cast<std::ptrdiff_t>(max_batch_);
            batch.assign(std::make_move_iterator(queue_.begin()), std::make_move_iterator(end));
            queue_.erase(queue_.begin(), end);
        }
        lock.unlock();
        std::vector<Result<void>> outcomes = write_(batch);
        for (std::size_t i = 0; i < batch.size(); ++i) {
            Result<void> outcome = i < outcomes.size()
                                       ? std::move(outcomes[i])
                                       : MakeError(ErrorCode::kInternal, "result store: the batch gave no outcome");
            if (batch[i].done) batch[i].done(std::move(outcome));
        }
        lock.lock();
    }
}

}  // namespace gale::tasks::detail
