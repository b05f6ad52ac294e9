// SPDX-License-Identifier: MIT
#include <exception>

#include <gale/http/worker_pool.hpp>
#include <gale/log/log.hpp>

namespace gale::http {

WorkerPool::WorkerPool(std::size_t threads, std::size_t max_queue) : max_queue_(max_queue) {
    if (threads == 0) threads = 1;
    threads_.reserve(threads);
    for (std::size_t i = 0; i < threads; ++i) threads_.emplace_back([this] { Run(); });
}

WorkerPool::~WorkerPool() { Stop(); }

bool WorkerPool::Submit(Task task, bool wake) {
    {
        std::lock_guard lock(mu_);
        if (stopping_ || tasks_.size() >= max_queue_) return false;
        tasks_.push_back(std::move(task));
        queued_.store(tasks_.size(), std::memory_order_relaxed);
    }
    if (wake) cv_.notify_one();
    return true;
}

void WorkerPool::Wake(std::size_t n) {
    if (n >= threads_.size()) {
        cv_.notify_all();
        return;
    }
    for (std::size_t i = 0; i < n; ++i) cv_.notify_one();
}

void WorkerPool::Stop() {
    {
        std::lock_guard lock(mu_);
        if (stopping_ && threads_.empty()) return;
        stopping_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) {
        if (t.joinable()) t.join();
    }
    threads_.clear();
}

void WorkerPool::Run() {
    while (true) {
        Task task;
        {
            std::unique_lock lock(mu_);
            cv_.wait(lock, [this] { return stopping_ || !tasks_.empty(); });
            if (tasks_.empty()) return;  // stopping and drained
            task = std::move(tasks_.front());
            tasks_.pop_front();
            queued_.store(tasks_.size(), std::memory_order_relaxed);
            busy_.fetch_add(1, std::memory_order_relaxed);
        }
        try {
            task();
        } catch (const std::exception& e) {
            log::Error("gale.workers", "task threw", {{"error", e.what()}});
        } catch (...) {
            log::Error("gale.workers", "task threw a non-standard exception");
        }
        busy_.fetch_sub(1, std::memory_order_relaxed);
    }
}

}  // namespace gale::http
