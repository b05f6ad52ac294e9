// SPDX-License-Identifier: MIT
/// @file gale/http/worker_pool.hpp
/// @brief A fixed-size pool of threads for handlers that may block; its queue length drives readiness.
///
/// Thread-safety: Submit, queued and busy may be called from any thread. Stop joins the threads after running
/// everything already queued; tasks submitted after Stop are rejected.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace gale::http {

class WorkerPool {
public:
    using Task = std::function<void()>;

    /// Starts `threads` workers (at least 1). `max_queue` bounds the tasks waiting for a worker.
    WorkerPool(std::size_t threads, std::size_t max_queue);
    ~WorkerPool();
    WorkerPool(const WorkerPool&) = delete;
    WorkerPool& operator=(const WorkerPool&) = delete;

    /// Queues a task. Returns false (and drops the task) if the queue is full or the pool is stopping.
    /// Tasks must not throw; an escaping exception is caught and logged. With `wake` false no sleeping worker is woken
    /// for it (a worker that finishes a task still takes it): the caller queues a batch, then calls Wake once.
    bool Submit(Task task, bool wake = true);
    /// Wakes up to `n` sleeping workers for tasks queued with Submit(task, false).
    void Wake(std::size_t n);
    /// Tasks waiting for a worker (the "request queue").
    std::size_t queued() const noexcept { return queued_.load(std::memory_order_relaxed); }
    /// Tasks running now.
    std::size_t busy() const noexcept { return busy_.load(std::memory_order_relaxed); }
    std::size_t size() const noexcept { return threads_.size(); }
    /// Runs what is queued, then joins the workers. Idempotent.
    void Stop();

private:
    void Run();

    std::size_t max_queue_;
    std::mutex mu_;
    std::condition_variable cv_;
    std::deque<Task> tasks_;
    bool stopping_ = false;
    std::atomic<std::size_t> queued_{0};
    std::atomic<std::size_t> busy_{0};
    std::vector<std::thread> threads_;
};

}  // namespace gale::http
