// SPDX-License-Identifier: MIT
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <thread>

#include <fmt/format.h>

#include <gale/base/clock.hpp>
#include <gale/base/strings.hpp>
#include <gale/log/log.hpp>

namespace gale::log {
namespace {

std::atomic<Level> g_level{Level::kInfo};
std::atomic<Format> g_format{Format::kJson};
std::atomic<int> g_fd{2};

// The observer protocol (SetObserver may be followed by destroying the old observer, so a writer must never call
// one that SetObserver has already waited out):
//  - every Write reads g_observer relaxed as a hint: null means "none", the only cost of the feature;
//  - a writer announces itself (g_observer_users, seq_cst) before it loads g_observer (seq_cst); SetObserver stores
//    g_observer (seq_cst) and then waits until g_observer_users is 0. In the single total order either the writer's
//    increment comes first (SetObserver waits for it) or the store does (the writer sees the new observer).
//  - t_in_observer stops a record written by the observer from reaching it again.
std::atomic<Observer*> g_observer{nullptr};
std::atomic<int> g_observer_users{0};
thread_local bool t_in_observer = false;

void Notify(Level level, std::string_view logger, std::string_view message, std::initializer_list<Field> fields) {
    if (t_in_observer) return;
    g_observer_users.fetch_add(1, std::memory_order_seq_cst);
    if (Observer* o = g_observer.load(std::memory_order_seq_cst)) {
        t_in_observer = true;
        o->OnRecord(Record{level, logger, message, fields, SystemClock::now()});
        t_in_observer = false;
    }
    g_observer_users.fetch_sub(1, std::memory_order_release);
}

void AppendValue(std::string& out, const Field::Value& value, bool json) {
    std::visit(
        [&](const auto& v) {
            using T = std::decay_t<decltype(v)>;
            if constexpr (std::is_same_v<T, std::string_view>) {
                if (json) {
                    out += '"';
                    AppendJsonEscaped(out, v);
                    out += '"';
                } else {
                    out += v;
                }
            } else if constexpr (std::is_same_v<T, bool>) {
                out += v ? "true" : "false";
            } else if constexpr (std::is_same_v<T, double>) {
                out += fmt::format("{:.3f}", v);
            } else {
                out += fmt::format("{}", v);
            }
        },
        value);
}

}  // namespace

Result<Level> ParseLevel(std::string_view text) {
    std::string v = ToLower(text);
    if (v == "debug") return Level::kDebug;
    if (v == "info") return Level::kInfo;
    if (v == "warning" || v == "warn") return Level::kWarning;
    if (v == "error") return Level::kError;
    if (v == "off") return Level::kOff;
    return MakeError(ErrorCode::kInvalidArgument,
                     fmt::format("log level '{}' is not one of debug, info, warning, error, off", text));
}

std::string_view ToString(Level level) noexcept {
    switch (level) {
        case Level::kDebug:
            return "debug";
        case Level::kInfo:
            return "info";
        case Level::kWarning:
            return "warning";
        case Level::kError:
            return "error";
        case Level::kOff:
            return "off";
    }
    return "info";
}

std::string& ProcessLabel() {
    static auto* label = new std::string();  // never destroyed: records may be written during exit
    return *label;
}

void SetProcessLabel(std::string label) { ProcessLabel() = std::move(label); }

void SetLevel(Level level) noexcept { g_level.store(level, std::memory_order_relaxed); }
Level GetLevel() noexcept { return g_level.load(std::memory_order_relaxed); }
void SetFormat(Format format) noexcept { g_format.store(format, std::memory_order_relaxed); }
void SetOutputFd(int fd) noexcept { g_fd.store(fd, std::memory_order_relaxed); }
Format GetFormat() noexcept { return g_format.load(std::memory_order_relaxed); }

std::string FormatRecord(Format format, Level level, std::string_view logger, std::string_view message,
                         std::initializer_list<Field> fields) {
    std::string out;
    out.reserve(160);
    std::string time = FormatRfc3339(SystemClock::now());
    if (format == Format::kJson) {
        out += R"({"time":")";
        out += time;
        out += R"(","level":")";
        out += ToString(level);
        out += R"(","logger":")";
        AppendJsonEscaped(out, logger);
        if (!ProcessLabel().empty()) {
            out += R"(","process":")";
            AppendJsonEscaped(out, ProcessLabel());
        }
        out += R"(","message":")";
        AppendJsonEscaped(out, message);
        out += '"';
        for (const Field& f : fields) {
            out += ",\"";
            out += f.key;
            out += "\":";
            AppendValue(out, f.value, true);
        }
        out += "}\n";
    } else {
        out += fmt::format("{} {:<7} {:<14} {}", time, ToString(level), logger, message);
        if (!ProcessLabel().empty()) out += " process=" + ProcessLabel();
        for (const Field& f : fields) {
            out += ' ';
            out += f.key;
            out += '=';
            AppendValue(out, f.value, false);
        }
        out += '\n';
    }
    return out;
}

void Write(Level level, std::string_view logger, std::string_view message, std::initializer_list<Field> fields) {
    if (!Enabled(level)) return;
    WriteRaw(FormatRecord(g_format.load(std::memory_order_relaxed), level, logger, message, fields));
    if (g_observer.load(std::memory_order_relaxed) != nullptr) Notify(level, logger, message, fields);
}

void SetObserver(Observer* observer) noexcept {
    g_observer.store(observer, std::memory_order_seq_cst);
    while (g_observer_users.load(std::memory_order_seq_cst) != 0) std::this_thread::yield();
}

void WriteRaw(std::string_view line) {
    int fd = g_fd.load(std::memory_order_relaxed);
    const char* p = line.data();
    std::size_t left = line.size();
    while (left > 0) {
        ssize_t n = ::write(fd, p, left);
        if (n < 0) {
            if (errno == EINTR) continue;
            return;  // nowhere to report a failing log sink
        }
        p += n;
        left -= static_cast<std::size_t>(n);
    }
}

}  // namespace gale::log
