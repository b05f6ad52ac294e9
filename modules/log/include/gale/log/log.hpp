// SPDX-License-Identifier: MIT
/// @file gale/log/log.hpp
/// @brief Structured logging: one JSON object per line (default) or a readable line (`--debug`).
///
/// Thread-safety: every function may be called from any thread. Each record is formatted into one buffer and
/// written with a single write(2), so lines from different threads never interleave.
#pragma once

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <variant>

#include <gale/base/error.hpp>

namespace gale::log {

enum class Level { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3, kOff = 4 };
enum class Format { kJson, kText };

/// One key/value pair of a record. Keys must be plain identifiers (they are not escaped).
struct Field {
    using Value = std::variant<std::string_view, std::int64_t, double, bool>;
    std::string_view key;
    Value value;

    Field(std::string_view k, std::string_view v) : key(k), value(v) {}
    Field(std::string_view k, const std::string& v) : key(k), value(std::string_view(v)) {}
    Field(std::string_view k, const char* v) : key(k), value(std::string_view(v)) {}
    Field(std::string_view k, double v) : key(k), value(v) {}
    Field(std::string_view k, bool v) : key(k), value(v) {}
    template <typename I>
    requires std::is_integral_v<I> Field(std::string_view k, I v) : key(k), value(static_cast<std::int64_t>(v)) {}
};

/// Parses "debug", "info", "warning" (or "warn"), "error", "off"; case-insensitive.
[[nodiscard]] Result<Level> ParseLevel(std::string_view text);
std::string_view ToString(Level level) noexcept;

void SetLevel(Level level) noexcept;
Level GetLevel() noexcept;
void SetFormat(Format format) noexcept;
Format GetFormat() noexcept;
/// Where records go; default 2 (stderr). The fd is not owned.
void SetOutputFd(int fd) noexcept;

/// Every record from now on carries `"process":"<label>"` (text format: `process=<label>`), right after the
/// logger: which process of `serve --processes` wrote it. Call it before other threads start (not thread-safe).
void SetProcessLabel(std::string label);

inline bool Enabled(Level level) noexcept { return level >= GetLevel(); }

/// Writes one record if `level` is enabled. `logger` names the source ("gale.server", "gale.access").
void Write(Level level, std::string_view logger, std::string_view message, std::initializer_list<Field> fields = {});

/// Writes already formatted records (whole lines) with one write(2); used for buffered access logs.
void WriteRaw(std::string_view lines);

/// One record as an Observer sees it. Every view points into the caller's memory and is valid only during the
/// OnRecord call: an observer that keeps anything copies it.
struct Record {
    Level level;
    std::string_view logger;
    std::string_view message;
    std::initializer_list<Field> fields;
    std::chrono::system_clock::time_point time;
};

/// Sees every record Write writes (after it is written), e.g. to report errors elsewhere (gale::sentry). Not the
/// lines of WriteRaw (access logs), and not records below the level (they are not formatted at all).
///
/// OnRecord is called on the thread that logged, possibly on many threads at once, so it must be thread-safe; it
/// must be quick (it runs inside every log call) and must not throw. Records it writes itself are written but not
/// passed back to it (no recursion on the same thread).
class Observer {
public:
    virtual ~Observer() = default;
    virtual void OnRecord(const Record& record) noexcept = 0;
};

/// Installs `observer` (nullptr: none), replacing the previous one; the observer is not owned. Returns once no
/// thread is still inside the previous observer's OnRecord, so the caller may destroy that one afterwards. Must not
/// be called from inside OnRecord. With no observer installed, Write pays one relaxed atomic load for it.
void SetObserver(Observer* observer) noexcept;

/// Formats a record without writing it (used by tests and by Write).
std::string FormatRecord(Format format, Level level, std::string_view logger, std::string_view message,
                         std::initializer_list<Field> fields);

inline void Debug(std::string_view logger, std::string_view msg, std::initializer_list<Field> f = {}) {
    if (Enabled(Level::kDebug)) Write(Level::kDebug, logger, msg, f);
}
inline void Info(std::string_view logger, std::string_view msg, std::initializer_list<Field> f = {}) {
    if (Enabled(Level::kInfo)) Write(Level::kInfo, logger, msg, f);
}
inline void Warning(std::string_view logger, std::string_view msg, std::initializer_list<Field> f = {}) {
    if (Enabled(Level::kWarning)) Write(Level::kWarning, logger, msg, f);
}
inline void Error(std::string_view logger, std::string_view msg, std::initializer_list<Field> f = {}) {
    if (Enabled(Level::kError)) Write(Level::kError, logger, msg, f);
}

}  // namespace gale::log
