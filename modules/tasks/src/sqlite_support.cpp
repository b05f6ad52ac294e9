// SPDX-License-Identifier: MIT
#include "sqlite_support.hpp"

#include <filesystem>
#include <map>

namespace gale::tasks::detail {

void FileNotifier::Notify() {
    {
        std::lock_guard lock(mu);
        ++generation;
    }
    cv.notify_all();
}

std::shared_ptr<FileNotifier> NotifierFor(const std::string& path) {
    static std::mutex mu;
    static std::map<std::string, std::weak_ptr<FileNotifier>> registry;
    std::error_code ec;
    std::string key = std::filesystem::weakly_canonical(path, ec).string();
    if (ec) key = path;
    std::lock_guard lock(mu);
    auto& weak = registry[key];
    auto strong = weak.lock();
    if (!strong) {
        strong = std::make_shared<FileNotifier>();
        weak = strong;
    }
    return strong;
}

Result<std::unique_ptr<Checkpointer>> Checkpointer::Start(const std::string& path,
                                                          std::chrono::milliseconds busy_timeout,
                                                          std::chrono::milliseconds interval) {
    GALE_ASSIGN_OR_RETURN(auto db, db::Database::Open(path, busy_timeout));
    return std::unique_ptr<Checkpointer>(new Checkpointer(std::move(db), interval));
}

Checkpointer::Checkpointer(db::Database db, std::chrono::milliseconds interval)
    : db_(std::move(db)), interval_(interval), thread_([this] { Loop(); }) {}

Checkpointer::~Checkpointer() {
    {
        std::lock_guard lock(mu_);
        stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
}

Result<void> Checkpointer::DisableAutoCheckpoint(db::Database& db) {
    return db.ExecScript("PRAGMA wal_autocheckpoint=0");
}

void Checkpointer::Committed() {
    bool wake = false;
    {
        std::lock_guard lock(mu_);
        wake = ++commits_ == kCommitsPerCheckpoint;
    }
    if (wake) cv_.notify_one();
}

void Checkpointer::Loop() {
    std::unique_lock lock(mu_);
    for (;;) {
        // After kCommitsPerCheckpoint commits (each checkpoint syncs the file: as rare as SQLite's own, which runs
        // every 1000 pages), or `interval_` after the last checkpoint when anything was committed since.
        cv_.wait_for(lock, interval_, [&] { return stop_ || commits_ >= kCommitsPerCheckpoint; });
        if (stop_) return;
        if (commits_ == 0) {
            cv_.wait(lock, [&] { return stop_ || commits_ > 0; });  // nothing to do: sleep until a commit
            continue;
        }
        commits_ = 0;
        lock.unlock();
        // PASSIVE: copies what no reader still needs and returns; busy (another process checkpointing) is fine.
        (void)db_.ExecScript("PRAGMA wal_checkpoint(PASSIVE)");
        lock.lock();
    }
}

Result<void> GroupCommit::Run(const Work& work) {
    Pending self{&work};
    std::unique_lock lock(mu_);
    queue_.push_back(&self);
    while (!self.done) {
        if (leader_) {
            cv_.wait(lock, [&] { return self.done || !leader_; });
            continue;
        }
        leader_ = true;
        while (!queue_.empty()) {
            std::vector<Pending*> batch;
            batch.swap(queue_);
            lock.unlock();
            auto r = RunBatch(batch);
            lock.lock();
            for (Pending* p : batch) p->done = true;
            (void)r;
        }
        leader_ = false;
        cv_.notify_all();
    }
    return std::move(self.result);
}

Result<void> GroupCommit::Transaction(const std::function<Result<void>()>& body) {
    auto run = [&] {
        return db::InTransaction(
            db_, [&](db::Database&) { return body(); }, kRunOnce);
    };
    if (!turns_) return run();
    GALE_RETURN_IF_ERROR(turns_->Enter(busy_timeout_));
    auto done = run();
    turns_->Leave();
    return done;
}

Result<void> GroupCommit::RunBatch(const std::vector<Pending*>& batch) {
    bool failed = false;
    auto all = Transaction([&]() -> Result<void> {
        for (Pending* p : batch) {
            p->result = (*p->work)(db_);
            if (!p->result) {
                failed = true;
                return tl::unexpected(p->result.error());
            }
        }
        return {};
    });
    if (all) return all;
    if (!failed) {
        // BEGIN or COMMIT failed: every caller gets that error.
        for (Pending* p : batch) p->result = tl::unexpected(all.error());
        return all;
    }
    if (batch.size() == 1) return all;  // its result is already the unit's own error
    // One unit failed: run each alone, so that only it fails.
    for (Pending* p : batch) {
        p->result = Transaction([&] { return (*p->work)(db_); });
    }
    return {};
}

std::int64_t UnixMillis(std::chrono::system_clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

std::int64_t AsInt(const db::Value& v) {
    if (const auto* i = std::get_if<std::int64_t>(&v)) return *i;
    if (const auto* d = std::get_if<double>(&v)) return static_cast<std::int64_t>(*d);
    return 0;
}

std::string AsString(const db::Value& v) {
    if (const auto* s = std::get_if<std::string>(&v)) return *s;
    if (const auto* i = std::get_if<std::int64_t>(&v)) return std::to_string(*i);
    return {};
}

}  // namespace gale::tasks::detail
