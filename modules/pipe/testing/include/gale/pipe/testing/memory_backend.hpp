// SPDX-License-Identifier: MIT
/// @file gale/pipe/testing/memory_backend.hpp
/// @brief An in-process log that is both a ProducerBackend and a ConsumerBackend, for tests (django-logpipe's dummy
///        backend, with commits and restarts).
///
/// Model: one append-only vector of records for every topic, one partition "0", offsets per topic from 0 (as in
/// Kafka). The consumer side reads one topic (or all, if constructed with an empty topic): Poll hands out the next
/// record after its read position and never waits (the timeout is ignored: tests stay sleep-free); Commit records
/// progress; RestartForTest moves the read position back to just after the last commit, as a consumer that crashed
/// and came back would see it. Failures can be injected for the next Send, Poll or Commit.
///
/// Thread-safety: every member is guarded by one mutex, so a test may produce on one thread and consume on another.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <gale/base/error.hpp>
#include <gale/pipe/backend.hpp>

namespace gale::pipe::testing {

class MemoryBackend final : public ProducerBackend, public ConsumerBackend {
public:
    /// `consume_topic`: the topic Poll reads; empty reads every topic in append order.
    explicit MemoryBackend(std::string consume_topic = {}) : consume_topic_(std::move(consume_topic)) {}

    // gale::pipe::ProducerBackend
    [[nodiscard]] Result<RecordMetadata> Send(const std::string& topic, const std::string& key,
                                              const std::string& value) override {
        std::lock_guard lock(mu_);
        if (send_error_) return TakeError(send_error_);
        return AppendLocked(topic, key, value);
    }

    // gale::pipe::ConsumerBackend
    [[nodiscard]] Result<std::optional<Record>> Poll(std::chrono::milliseconds /*timeout*/) override {
        std::lock_guard lock(mu_);
        ++polls_;
        if (poll_error_) return TakeError(poll_error_);
        while (position_ < log_.size() && !Mine(log_[position_])) ++position_;
        if (position_ == log_.size()) return std::optional<Record>();
        return std::optional<Record>(log_[position_++]);
    }
    /// Errors: kInvalidArgument if `record` was never handed out by Poll (unknown, or beyond the read position).
    [[nodiscard]] Result<void> Commit(const Record& record) override {
        std::lock_guard lock(mu_);
        if (commit_error_) return TakeError(commit_error_);
        for (std::size_t i = 0; i < position_; ++i) {
            if (log_[i].topic == record.topic && log_[i].partition == record.partition &&
                log_[i].offset == record.offset) {
                if (i + 1 > committed_) committed_ = i + 1;
                commits_.push_back(record);
                return {};
            }
        }
        return MakeError(ErrorCode::kInvalidArgument,
                         "commit of a record not polled: " + record.topic + "/" + record.offset);
    }
    /// Counts the call (commit_all_calls), then commits one by one as the default does.
    [[nodiscard]] Result<void> CommitAll(std::span<const Record* const> records) override {
        {
            std::lock_guard lock(mu_);
            ++commit_all_calls_;
        }
        return ConsumerBackend::CommitAll(records);
    }
    /// Records of the consumed topic after the last commit.
    std::optional<std::int64_t> Lag() override {
        std::lock_guard lock(mu_);
        std::int64_t lag = 0;
        for (std::size_t i = committed_; i < log_.size(); ++i) lag += Mine(log_[i]) ? 1 : 0;
        return lag;
    }

    // ---- test controls ----

    /// Appends a raw record value (bypassing any producer), e.g. undecodable bytes. Returns its metadata.
    RecordMetadata Append(const std::string& topic, const std::string& key, const std::string& value) {
        std::lock_guard lock(mu_);
        return AppendLocked(topic, key, value);
    }
    /// The next Send / Poll / Commit fails with `error` (once).
    void FailNextSend(Error error) { Set(send_error_, std::move(error)); }
    void FailNextPoll(Error error) { Set(poll_error_, std::move(error)); }
    void FailNextCommit(Error error) { Set(commit_error_, std::move(error)); }
    /// The timestamp given to records appended from now on (default 0).
    void SetTimestampMs(std::int64_t ms) {
        std::lock_guard lock(mu_);
        timestamp_ms_ = ms;
    }
    /// A consumer restart: Poll resumes just after the last committed record.
    void RestartForTest() {
        std::lock_guard lock(mu_);
        position_ = committed_;
    }

    /// Every record sent or appended, every topic, in order.
    std::vector<Record> records() const {
        std::lock_guard lock(mu_);
        return log_;
    }
    /// Every successful Commit call's record, in order.
    std::vector<Record> commits() const {
        std::lock_guard lock(mu_);
        return commits_;
    }
    /// Number of records (all topics) up to and including the last committed one.
    std::size_t committed_count() const {
        std::lock_guard lock(mu_);
        return committed_;
    }
    std::size_t polls() const {
        std::lock_guard lock(mu_);
        return polls_;
    }
    std::size_t commit_all_calls() const {
        std::lock_guard lock(mu_);
        return commit_all_calls_;
    }

private:
    RecordMetadata AppendLocked(const std::string& topic, const std::string& key, const std::string& value) {
        Record r;
        r.topic = topic;
        r.partition = "0";
        r.offset = std::to_string(next_offset_[topic]++);
        r.timestamp_ms = timestamp_ms_;
        r.key = key;
        r.value = value;
        log_.push_back(r);
        return RecordMetadata{r.topic, r.partition, r.offset};
    }
    bool Mine(const Record& r) const { return consume_topic_.empty() || r.topic == consume_topic_; }
    static tl::unexpected<Error> TakeError(std::optional<Error>& slot) {
        Error e = std::move(*slot);
        slot.reset();
        return tl::unexpected<Error>(std::move(e));
    }
    void Set(std::optional<Error>& slot, Error error) {
        std::lock_guard lock(mu_);
        slot = std::move(error);
    }

    mutable std::mutex mu_;
    std::string consume_topic_;
    std::vector<Record> log_;
    std::map<std::string, std::int64_t> next_offset_;
    std::size_t position_ = 0;   // index into log_ of the next record Poll considers
    std::size_t committed_ = 0;  // index into log_ just after the last committed record
    std::vector<Record> commits_;
    std::optional<Error> send_error_;
    std::optional<Error> poll_error_;
    std::optional<Error> commit_error_;
    std::int64_t timestamp_ms_ = 0;
    std::size_t polls_ = 0;
    std::size_t commit_all_calls_ = 0;
};

}  // namespace gale::pipe::testing
