// SPDX-License-Identifier: MIT
/// @file write_turns.hpp (private)
/// @brief Fair turns at a SQLite file's write lock for the embedded queue's consumers, across processes.
///
/// Why: SQLite's busy handler sleeps (1, 2, 5, 10 … ms) and retries; it does not queue. A consumer that has just
/// committed takes the write lock again within microseconds, while the one that found the file busy sleeps, wakes
/// to find it taken again, and sleeps longer: one process could take almost every batch of a shared queue (the
/// starvation test in embedded_broker_test.cpp). Consumers therefore take turns before BEGIN IMMEDIATE, so that
/// they never wait for one another in SQLite's busy handler; publishers and result stores take the same turns
/// (GroupCommit in sqlite_support.hpp).
///
/// How: "<queue file>-turns" carries two open-file-description locks (fcntl F_OFD_SETLK: owned by this open file,
/// so two consumers in one process exclude each other too, and released by the kernel when the process dies, so a
/// crash leaves nothing held):
///  - kTurn, held exclusively for the length of one write transaction;
///  - kLine, held shared by the consumers waiting for kTurn.
/// Enter takes kLine exclusively first — it waits until everyone who was already waiting has had a turn — converts
/// that to a shared hold (atomic for fcntl locks), waits for kTurn and lets kLine go once kTurn is its own. So a
/// consumer that has just left cannot take the turn back from one that waits for it: busy consumers alternate.
///
/// Waiting: fcntl's blocking wait (F_OFD_SETLKW) cannot time out, and a stopped holder would block everyone for
/// ever, so waits try the lock and sleep on a futex word in the file's first page (mapped shared), which every
/// release increments and wakes: a waiter learns of a release at once, and an unbounded wait cannot happen — each
/// sleep ends after at most 10 ms (a release whose wake was lost, as by a process killed between its unlock and
/// its wake, costs that much) and the whole wait at the busy timeout (kUnavailable, as SQLite's busy error). The
/// word is only a hint; who holds the turn is the locks' business alone.
///
/// Thread-safety: one WriteTurns is used by one thread at a time (its consumer's). Linux only (OFD locks, futex).
#pragma once

#include <fcntl.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>

#include <fmt/format.h>

#include <gale/base/error.hpp>

namespace gale::tasks::detail {

class WriteTurns {
public:
    /// Opens (creating if needed, with the queue file's permissions) the turns file of the queue file at
    /// `db_path`. Errors: kUnavailable naming it.
    [[nodiscard]] static Result<WriteTurns> Open(const std::string& db_path) {
        WriteTurns t;
        t.path_ = db_path + "-turns";
        struct stat st {};
        const mode_t mode = ::stat(db_path.c_str(), &st) == 0 ? (st.st_mode & 0666) : 0644;
        t.fd_ = ::open(t.path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, mode);
        if (t.fd_ < 0) return t.Failed("cannot open");
        // Every opener makes it one page long (the same length: harmless when they race), then maps that page.
        if (::fstat(t.fd_, &st) != 0 || (st.st_size < kPage && ::ftruncate(t.fd_, kPage) != 0)) {
            return t.Failed("cannot size");
        }
        void* map = ::mmap(nullptr, kPage, PROT_READ | PROT_WRITE, MAP_SHARED, t.fd_, 0);
        if (map == MAP_FAILED) return t.Failed("cannot map");
        t.word_ = static_cast<std::uint32_t*>(map);
        return t;
    }

    WriteTurns(WriteTurns&& o) noexcept
        : path_(std::move(o.path_)), fd_(std::exchange(o.fd_, -1)), word_(std::exchange(o.word_, nullptr)) {}
    WriteTurns& operator=(WriteTurns&&) = delete;
    WriteTurns(const WriteTurns&) = delete;
    WriteTurns& operator=(const WriteTurns&) = delete;
    ~WriteTurns() {
        if (word_ != nullptr) ::munmap(word_, kPage);
        if (fd_ >= 0) ::close(fd_);
    }

    /// Waits for this consumer's turn, at most `timeout`. Errors: kUnavailable (other consumers kept the turn past
    /// `timeout`), kIo (fcntl failed). On success, Leave must follow.
    [[nodiscard]] Result<void> Enter(std::chrono::milliseconds timeout) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        GALE_RETURN_IF_ERROR(Lock(F_WRLCK, kLine, deadline));
        GALE_RETURN_IF_ERROR(Lock(F_RDLCK, kLine, deadline));  // a conversion: never waits
        auto turn = Lock(F_WRLCK, kTurn, deadline);
        Release(kLine);
        return turn;
    }

    /// Ends the turn Enter began.
    void Leave() noexcept { Release(kTurn); }

    /// Whether another consumer waits for a turn or is entering (kLine is held elsewhere).
    [[nodiscard]] bool OthersWaitingForTest() const noexcept {
        struct flock fl {};
        fl.l_type = F_WRLCK;
        fl.l_whence = SEEK_SET;
        fl.l_start = kLine;
        fl.l_len = 1;
        return ::fcntl(fd_, F_OFD_GETLK, &fl) == 0 && fl.l_type != F_UNLCK;
    }

private:
    static constexpr off_t kTurn = 0;
    static constexpr off_t kLine = 1;
    static constexpr off_t kPage = 4096;
    static constexpr std::chrono::milliseconds kLongestSleep{10};

    WriteTurns() = default;

    tl::unexpected<Error> Failed(std::string_view what) const {
        return MakeError(ErrorCode::kUnavailable,
                         fmt::format("embedded queue: {} '{}': {}", what, path_, std::strerror(errno)));
    }

    [[nodiscard]] bool SetLock(short type, off_t byte) const noexcept {
        struct flock fl {};
        fl.l_type = type;
        fl.l_whence = SEEK_SET;
        fl.l_start = byte;
        fl.l_len = 1;
        int rc = 0;
        do {
            rc = ::fcntl(fd_, F_OFD_SETLK, &fl);
        } while (rc != 0 && errno == EINTR);
        return rc == 0;
    }

    std::atomic_ref<std::uint32_t> Releases() const noexcept { return std::atomic_ref<std::uint32_t>(*word_); }

    Result<void> Lock(short type, off_t byte, std::chrono::steady_clock::time_point deadline) {
        for (;;) {
            const std::uint32_t seen = Releases().load();
            if (SetLock(type, byte)) return {};
            if (errno != EAGAIN && errno != EACCES) {
                return MakeError(ErrorCode::kIo,
                                 fmt::format("embedded queue: locking '{}': {}", path_, std::strerror(errno)));
            }
            const auto now = std::chrono::steady_clock::now();
            if (now >= deadline) {
                return MakeError(ErrorCode::kUnavailable,
                                 fmt::format("embedded queue: other consumers of '{}' kept the write turn past the "
                                             "busy timeout",
                                             path_));
            }
            const auto sleep = std::min<std::chrono::nanoseconds>(deadline - now, kLongestSleep);
            const timespec ts{static_cast<time_t>(sleep.count() / 1'000'000'000),
                              static_cast<long>(sleep.count() % 1'000'000'000)};
            // Returns at a release's wake, at once if one happened since `seen`, or after `sleep`.
            (void)::syscall(SYS_futex, word_, FUTEX_WAIT, seen, &ts, nullptr, 0);
        }
    }

    void Release(off_t byte) noexcept {
        (void)SetLock(F_UNLCK, byte);
        Releases().fetch_add(1);
        (void)::syscall(SYS_futex, word_, FUTEX_WAKE, INT_MAX, nullptr, nullptr, 0);
    }

    std::string path_;
    int fd_ = -1;
    std::uint32_t* word_ = nullptr;  // the first word of the mapped page
};

}  // namespace gale::tasks::detail
