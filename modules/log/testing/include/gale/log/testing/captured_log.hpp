// SPDX-License-Identifier: MIT
/// @file gale/log/testing/captured_log.hpp
/// @brief For tests: gale's log goes to a temporary file while a CapturedLog lives; Text() and Lines() read what
///        was written so far (Lines: one JSON record per line, the default format).
/// Thread-safety: one CapturedLog at a time (it redirects the process's log); reading while others write is fine.
#pragma once

#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <gale/log/log.hpp>

namespace gale::log::testing {

class CapturedLog {
public:
    CapturedLog() : file_(std::tmpfile()) { SetOutputFd(fileno(file_)); }
    ~CapturedLog() {
        SetOutputFd(2);
        std::fclose(file_);
    }
    CapturedLog(const CapturedLog&) = delete;
    CapturedLog& operator=(const CapturedLog&) = delete;

    std::string Text() const {
        // pread leaves the shared file offset alone, so records written later still append.
        std::string text;
        char buf[8192];
        for (ssize_t n; (n = pread(fileno(file_), buf, sizeof(buf), static_cast<off_t>(text.size()))) > 0;) {
            text.append(buf, static_cast<std::size_t>(n));
        }
        return text;
    }
    /// The records as JSON; a line that is not JSON (text format) is skipped.
    std::vector<nlohmann::json> Lines() const {
        const std::string text = Text();
        std::vector<nlohmann::json> lines;
        for (std::size_t start = 0, end; (end = text.find('\n', start)) != std::string::npos; start = end + 1) {
            auto record = nlohmann::json::parse(text.substr(start, end - start), nullptr, /*allow_exceptions=*/false);
            if (!record.is_discarded()) lines.push_back(std::move(record));
        }
        return lines;
    }

private:
    std::FILE* file_;
};

}  // namespace gale::log::testing
