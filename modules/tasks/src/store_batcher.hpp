// SPDX-License-Identifier: MIT
/// @file store_batcher.hpp (private)
/// @brief What the batching result backends share: stores from many task threads, written by one writer thread in
///        batches, so that a batch costs one transaction (embedded) or one pipeline (Redis) however many tasks
///        finished meanwhile (ResultBackend::StoreAsync).
///
/// A store that finds the writer idle is written at once, alone: batching adds no wait, it only gathers what
/// arrives while a batch is being written. Each item's `done` is called exactly once, on the writer thread, with
/// its own outcome. The destructor writes whatever is still queued, then joins the thread. Thread-safe.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gale/tasks/result_backend.hpp>

namespace gale::tasks::detail {

class StoreBatcher {
public:
    struct Item {
        std::string task_id;
        TaskState state = TaskState::kPending;
        std::string meta;  ///< the serialized meta document, as the backend writes it
        ResultBackend::StoreDone done;
    };
    /// Writes a batch (never empty); returns one outcome per item, in order (a shorter answer fails the rest).
    using WriteBatch = std::function<std::vector<Result<void>>(const std::vector<Item>& batch)>;

    explicit StoreBatcher(WriteBatch write, std::size_t max_batch = 256);
    ~StoreBatcher();
    StoreBatcher(const StoreBatcher&) = delete;
    StoreBatcher& operator=(const StoreBatcher&) = delete;

    void Add(Item item);

private:
    void Loop();

    const WriteBatch write_;
    const std::size_t max_batch_;
    std::mutex mu_;
    std::condition_variable cv_;
    std::vector<Item> queue_;  // under mu_
    bool stop_ = false;        // under mu_
    std::thread thread_;
};

}  // namespace gale::tasks::detail
