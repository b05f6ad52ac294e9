// SPDX-License-Identifier: MIT
// StoreBatcher: stores handed in from many threads are written in batches by one thread, each `done` once with its
// own outcome, and nothing queued is lost when it is destroyed.
#include "store_batcher.hpp"

#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "test_util.hpp"

namespace gale::tasks::detail {
namespace {

using namespace std::chrono_literals;
using testing::WaitFor;

StoreBatcher::Item ItemFor(std::string id, std::function<void(Result<void>)> done) {
    return {std::move(id), TaskState::kSuccess, "{}", std::move(done)};
}

TEST(StoreBatcher, GathersWhatArrivesWhileABatchIsWrittenAndAnswersEachStore) {
    std::mutex mu;
    std::vector<std::size_t> sizes;
    std::atomic<bool> hold{true}, entered{false};
    StoreBatcher batcher([&](const std::vector<StoreBatcher::Item>& batch) {
        entered.store(true);
        while (hold.load()) std::this_thread::sleep_for(1ms);  // the first batch takes its time
        {
            std::lock_guard lock(mu);
            sizes.push_back(batch.size());
        }
        std::vector<Result<void>> out;
        for (const auto& item : batch) {
            if (item.task_id == "bad") {
                out.push_back(MakeError(ErrorCode::kUnavailable, "refused"));
            } else {
                out.push_back({});
            }
        }
        return out;
    });
    std::atomic<int> ok{0}, failed{0};
    auto done = [&](Result<void> r) { (r ? ok : failed)++; };
    batcher.Add(ItemFor("first", done));
    ASSERT_TRUE(WaitFor([&] { return entered.load(); }));  // the writer has taken "first" and waits in the batch
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < 25; ++i) batcher.Add(ItemFor(t == 0 && i == 0 ? "bad" : "x", done));
        });
    }
    for (auto& t : threads) t.join();
    hold.store(false);
    ASSERT_TRUE(WaitFor([&] { return ok.load() + failed.load() == 101; }));
    EXPECT_EQ(ok.load(), 100);
    EXPECT_EQ(failed.load(), 1);
    std::lock_guard lock(mu);
    ASSERT_GE(sizes.size(), 2U);
    EXPECT_EQ(sizes[0], 1U);    // the store that found the writer idle went alone, at once
    EXPECT_EQ(sizes[1], 100U);  // the rest came while it was written: one batch
}

TEST(StoreBatcher, BatchesAreCappedAndAShortAnswerFailsTheRest) {
    std::vector<std::size_t> sizes;
    std::atomic<bool> hold{true};
    std::atomic<int> ok{0}, failed{0};
    {
        StoreBatcher batcher(
            [&](const std::vector<StoreBatcher::Item>& batch) {
                while (hold.load()) std::this_thread::sleep_for(1ms);
                sizes.push_back(batch.size());
                return std::vector<Result<void>>(batch.size() - 1);  // one outcome short
            },
            /*max_batch=*/3);
        for (int i = 0; i < 7; ++i) batcher.Add(ItemFor("x", [&](Result<void> r) { (r ? ok : failed)++; }));
        hold.store(false);
    }  // the destructor writes everything still queued before it returns
    EXPECT_EQ(ok.load() + failed.load(), 7);
    for (std::size_t s : sizes) EXPECT_LE(s, 3U);
    EXPECT_EQ(static_cast<std::size_t>(failed.load()), sizes.size());  // the last of each batch
}

}  // namespace
}  // namespace gale::tasks::detail
