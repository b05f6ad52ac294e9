// SPDX-License-Identifier: MIT
/// @file streamed_body.hpp (private)
/// @brief The server's BodyStream: an event loop pushes decoded body bytes in, a worker thread reads them out.
///
/// The loop stops reading the socket once `window` bytes wait unread (Push says so) and the reader asks it to go on
/// (the `resume` callback, run on the reader's thread) when it has taken the buffer below half the window, so TCP
/// holds back a client that sends faster than the handler reads. Thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include <gale/base/error.hpp>
#include <gale/http/message.hpp>

namespace gale::http {

struct Connection;

namespace detail {

class StreamedBody final : public BodyStream {
public:
    /// `timeout`: how long a Read waits for a byte before failing with kTimeout.
    StreamedBody(std::size_t window, std::chrono::milliseconds timeout) : window_(window), timeout_(timeout) {}

    Result<std::size_t> Read(std::string& out, std::size_t max) override;

    // ---- the loop's side ----
    /// Sets what a reader calls, on its own thread, to have the loop read again after Push returned true. Replaces
    /// an earlier one; Detach clears it.
    void SetResume(std::function<void()> resume);
    /// Adds decoded body bytes. Returns true when the unread bytes reach the window: the loop stops reading the
    /// socket until resume is called.
    bool Push(std::string_view bytes);
    /// The body is complete: a Read past its bytes returns 0.
    void End();
    /// The body cannot be complete: a Read past the bytes already here returns this error. The first one stays.
    void Fail(Error error);
    /// The loop lets go (the request is over or the connection closed): a body not ended fails with `why`
    /// (kCancelled) and resume is never called again.
    void Detach(std::string_view why);
    /// End or Fail was called.
    bool finished() const;
    /// A Read gave up waiting for a byte (kTimeout): the client's fault, whatever the handler answered.
    bool timed_out() const;

    /// The connection feeding this body; read and written on its loop's thread only (null once detached).
    Connection* conn = nullptr;

private:
    const std::size_t window_;
    const std::chrono::milliseconds timeout_;
    mutable std::mutex mu_;
    std::condition_variable cv_;
    std::string buf_;
    std::size_t pos_ = 0;  // bytes of buf_ already read
    bool ended_ = false;
    std::optional<Error> error_;
    bool paused_ = false;  // Push returned true and resume was not called since
    std::function<void()> resume_;
};

}  // namespace detail
}  // namespace gale::http
