// SPDX-License-Identifier: MIT
#include "streamed_body.hpp"

#include <algorithm>
#include <utility>

#include <fmt/format.h>

namespace gale::http::detail {

Result<std::size_t> StreamedBody::Read(std::string& out, std::size_t max) {
    if (max == 0) return 0;
    std::function<void()> resume;
    std::size_t n = 0;
    {
        std::unique_lock lock(mu_);
        bool ready = cv_.wait_for(lock, timeout_, [&] { return pos_ < buf_.size() || ended_ || error_; });
        if (pos_ == buf_.size()) {
            if (error_) return tl::unexpected(*error_);
            if (ended_) return 0;
            if (!ready) {
                error_ =
                    Error(ErrorCode::kTimeout, fmt::format("no request body bytes came for {} ms", timeout_.count()));
                return tl::unexpected(*error_);
            }
        }
        n = std::min(max, buf_.size() - pos_);
        out.append(buf_, pos_, n);
        pos_ += n;
        if (pos_ == buf_.size()) {
            buf_.clear();
            pos_ = 0;
        }
        if (paused_ && buf_.size() - pos_ <= window_ / 2 && resume_) {
            paused_ = false;
            resume = resume_;
        }
    }
    if (resume) resume();
    return n;
}

void StreamedBody::SetResume(std::function<void()> resume) {
    std::lock_guard lock(mu_);
    resume_ = std::move(resume);
}

bool StreamedBody::Push(std::string_view bytes) {
    std::lock_guard lock(mu_);
    if (!bytes.empty()) {
        if (pos_ > 0 && pos_ >= buf_.size() / 2) {  // keep the buffer from growing by what was read
            buf_.erase(0, pos_);
            pos_ = 0;
        }
        buf_.append(bytes);
        cv_.notify_all();
    }
    paused_ = buf_.size() - pos_ >= window_;
    return paused_;
}

void StreamedBody::End() {
    std::lock_guard lock(mu_);
    if (error_) return;
    ended_ = true;
    cv_.notify_all();
}

void StreamedBody::Fail(Error error) {
    std::lock_guard lock(mu_);
    if (ended_ || error_) return;
    error_ = std::move(error);
    cv_.notify_all();
}

void StreamedBody::Detach(std::string_view why) {
    std::lock_guard lock(mu_);
    resume_ = nullptr;
    conn = nullptr;
    if (!ended_ && !error_) error_ = Error(ErrorCode::kCancelled, std::string(why));
    cv_.notify_all();
}

bool StreamedBody::finished() const {
    std::lock_guard lock(mu_);
    return ended_ || error_.has_value();
}

bool StreamedBody::timed_out() const {
    std::lock_guard lock(mu_);
    return error_ && error_->code() == ErrorCode::kTimeout;
}

}  // namespace gale::http::detail
