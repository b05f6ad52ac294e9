// SPDX-License-Identifier: MIT
// Design and invariants.
//
// Confinement. The request path is decoded one segment at a time, so an encoded '/' (%2F) can never create a segment
// boundary and a decoded `.`/`..` can never be mistaken for a name; backslashes are refused outright because some
// proxies and every Windows client treat them as separators. What reaches the file system is a relative path of plain
// names. It is opened with openat2(2) relative to the root's O_PATH descriptor with RESOLVE_BENEATH, so the kernel
// refuses any resolution (through `..` inside a symlink target, an absolute symlink, a magic /proc link) that would
// leave the root, at open time, with no window for a race. Where openat2 is missing (probed once in Create) we resolve
// with realpath(3), check the result is beneath the root, and open it with O_NOFOLLOW; a concurrent rename of a
// directory inside the root between the two calls could still redirect the open, which uses_openat2() reports.
//
// No TOCTOU. Everything the response says (type, size, validators) comes from fstat(2) of the descriptor that is then
// handed to the Response, so the bytes sent are those of the file that was checked. Files are opened O_NONBLOCK so a
// FIFO planted under the root cannot block the event loop in open(2); fstat then rejects anything but a regular file.
// O_NONBLOCK has no effect on reads of regular files, so sendfile(2) is unaffected.
//
// Validators. The ETag is strong, built from size and mtime with nanoseconds, plus the content coding, so every
// representation (identity, br, gzip) has its own. Strong tags let If-Range and If-Match work; the price is that two
// different contents written within one mtime tick with the same size would share a tag, which deploy tools that
// write files (and file systems with nanosecond timestamps) make practically impossible.
//
// Evaluation order follows RFC 9110 §13.2.2: If-Match, If-Unmodified-Since, If-None-Match, If-Modified-Since (only
// without If-None-Match), then If-Range and Range (GET only).
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#if __has_include(<linux/openat2.h>) && defined(SYS_openat2)
#include <linux/openat2.h>
#define GALE_HAVE_OPENAT2 1
#else
#define GALE_HAVE_OPENAT2 0
#endif

#include <fmt/format.h>

#include <gale/base/strings.hpp>
#include <gale/http/static_files.hpp>

#include "mime_types.hpp"

namespace gale::http {
namespace {

namespace chr = std::chrono;

constexpr int kOpenFlags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
constexpr std::string_view kImmutable = "public, max-age=31536000, immutable";
constexpr int kOpenat2Attempts = 4;  // EAGAIN means a concurrent rename raced the `..` check; retrying is safe

/// Owns a file descriptor.
class UniqueFd {
public:
    UniqueFd() = default;
    explicit UniqueFd(int fd) noexcept : fd_(fd) {}
    UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
    UniqueFd& operator=(UniqueFd&& other) noexcept {
        if (this != &other) {
            Close();
            fd_ = std::exchange(other.fd_, -1);
        }
        return *this;
    }
    UniqueFd(const UniqueFd&) = delete;
    UniqueFd& operator=(const UniqueFd&) = delete;
    ~UniqueFd() { Close(); }

    [[nodiscard]] int Release() noexcept { return std::exchange(fd_, -1); }

private:
    void Close() noexcept {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
    }
    int fd_ = -1;
};

/// An open regular file and what fstat said about it.
struct OpenedFile {
    UniqueFd fd;
    struct stat st {};
};

/// Takes the result of an open: 0 if `fd` is a regular file (now owned by `out`), else an errno value.
int AdoptRegularFile(int fd, OpenedFile& out) {
    if (fd < 0) return errno;
    out.fd = UniqueFd(fd);
    if (::fstat(fd, &out.st) != 0) return errno;
    if (!S_ISREG(out.st.st_mode)) return ENOENT;
    return 0;
}

std::string ErrnoText(int err) { return std::error_code(err, std::generic_category()).message(); }

int StatusForErrno(int err) noexcept {
    switch (err) {
        case EACCES:
        case EPERM:
            return 403;
        case EMFILE:
        case ENFILE:
        case ENOMEM:
            return 503;
        case ENOENT:
        case ENOTDIR:
        case EISDIR:
        case ELOOP:
        case EXDEV:  // openat2: the path would leave the root
        case ENAMETOOLONG:
        case ENXIO:
        case ENODEV:
            return 404;
        default:
            return 500;
    }
}

/// A short text response for errors; the reason phrase is the body.
Response PlainResponse(int status) {
    Response r = Response::Text(status, fmt::format("{}\n", ReasonPhrase(status)));
    r.AddHeader("X-Content-Type-Options", "nosniff");
    return r;
}

// --- Request path ---

enum class PathCheck { kOk, kBadRequest, kNotFound };

/// Decodes the part of the request path after the prefix into a relative path of plain names joined by '/'.
/// Bad requests win over not-found so the answer does not depend on where in the path the problem is.
PathCheck DecodeRelativePath(std::string_view raw, std::string& out) {
    bool not_found = false;
    std::size_t start = 0;
    while (true) {
        std::size_t slash = raw.find('/', start);
        std::string_view segment =
            raw.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
        std::optional<std::string> name = PercentDecode(segment);  // rejects bad escapes and NUL
        if (!name) return PathCheck::kBadRequest;
        if (name->find_first_of("/\\") != std::string::npos) return PathCheck::kBadRequest;
        if (*name == "." || *name == "..") return PathCheck::kBadRequest;
        if (name->empty() || name->front() == '.') {
            not_found = true;  // "a//b", a trailing '/', or a dot file
        } else {
            if (!out.empty()) out += '/';
            out += *name;
        }
        if (slash == std::string_view::npos) break;
        start = slash + 1;
    }
    return not_found || out.empty() ? PathCheck::kNotFound : PathCheck::kOk;
}

// --- Header values ---

std::string_view TrimOws(std::string_view s) noexcept {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

std::size_t CountHeaders(const Request& req, std::string_view name) noexcept {
    return static_cast<std::size_t>(std::count_if(req.headers().begin(), req.headers().end(),
                                                  [&](const Header& h) { return EqualsIgnoreCase(h.name, name); }));
}

/// True if any entity-tag in the (possibly repeated) header `name` matches `etag` (our tag, strong, quoted); `*`
/// matches any. Weak comparison ignores W/; strong comparison requires both tags to be strong. A malformed list stops
/// the scan: what was matched before counts, the rest does not.
bool EtagListMatches(const Request& req, std::string_view name, std::string_view etag, bool strong) noexcept {
    for (const Header& h : req.headers()) {
        if (!EqualsIgnoreCase(h.name, name)) continue;
        std::string_view v = h.value;
        std::size_t pos = 0;
        while (true) {
            while (pos < v.size() && (v[pos] == ' ' || v[pos] == '\t' || v[pos] == ',')) ++pos;
            if (pos >= v.size()) break;
            if (v[pos] == '*') return true;
            bool weak = false;
            if (v.substr(pos, 2) == "W/") {
                weak = true;
                pos += 2;
            }
            if (pos >= v.size() || v[pos] != '"') break;
            std::size_t close = v.find('"', pos + 1);
            if (close == std::string_view::npos) break;
            std::string_view tag = v.substr(pos, close - pos + 1);
            pos = close + 1;
            if (tag == etag && !(strong && weak)) return true;
        }
    }
    return false;
}

/// A qvalue ("0", "0.5", "1.000") in thousandths; nullopt if malformed.
std::optional<int> ParseQValue(std::string_view s) noexcept {
    if (s.empty() || (s[0] != '0' && s[0] != '1')) return std::nullopt;
    int whole = s[0] - '0';
    if (s.size() == 1) return whole * 1000;
    if (s[1] != '.' || s.size() > 5) return std::nullopt;
    int frac = 0;
    int scale = 100;
    for (char c : s.substr(2)) {
        if (c < '0' || c > '9') return std::nullopt;
        frac += (c - '0') * scale;
        scale /= 10;
    }
    if (whole == 1 && frac != 0) return std::nullopt;
    return whole * 1000 + frac;
}

enum class Coding { kIdentity, kBrotli, kGzip };

/// Picks the content coding among the available siblings: the highest q wins, br on a tie; q=0 means "not
/// acceptable" and codings not named take the q of `*` (RFC 9110 §12.5.3). No Accept-Encoding: identity.
Coding ChooseCoding(const Request& req, bool has_br, bool has_gz) noexcept {
    int q_br = -1;
    int q_gz = -1;
    int q_any = -1;
    for (const Header& h : req.headers()) {
        if (!EqualsIgnoreCase(h.name, "Accept-Encoding")) continue;
        std::string_view rest = h.value;
        while (!rest.empty()) {
            std::size_t comma = rest.find(',');
            std::string_view element = rest.substr(0, comma);
            rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
            std::size_t semi = element.find(';');
            std::string_view coding = TrimOws(element.substr(0, semi));
            if (coding.empty()) continue;
            int q = 1000;
            std::string_view params = semi == std::string_view::npos ? std::string_view() : element.substr(semi + 1);
            while (!params.empty()) {
                std::size_t next = params.find(';');
                std::string_view param = TrimOws(params.substr(0, next));
                params = next == std::string_view::npos ? std::string_view() : params.substr(next + 1);
                if (param.size() >= 2 && (param[0] == 'q' || param[0] == 'Q') && param[1] == '=') {
                    q = ParseQValue(TrimOws(param.substr(2))).value_or(0);  // unreadable: assume not acceptable
                }
            }
            if (EqualsIgnoreCase(coding, "br")) {
                q_br = q;
            } else if (EqualsIgnoreCase(coding, "gzip") || EqualsIgnoreCase(coding, "x-gzip")) {
                q_gz = q;
            } else if (coding == "*") {
                q_any = q;
            }
        }
    }
    int br = has_br ? (q_br >= 0 ? q_br : std::max(q_any, 0)) : 0;
    int gz = has_gz ? (q_gz >= 0 ? q_gz : std::max(q_any, 0)) : 0;
    if (br > 0 && br >= gz) return Coding::kBrotli;
    if (gz > 0) return Coding::kGzip;
    return Coding::kIdentity;
}

// --- Ranges ---

struct ByteRange {
    std::uint64_t first = 0;
    std::uint64_t last = 0;
};

enum class RangeResult { kIgnore, kUnsatisfiable, kSatisfiable };

/// Digits as a number, saturating at the maximum (a huge first-pos is unsatisfiable, not malformed).
std::optional<std::uint64_t> ParseRangeNumber(std::string_view s) noexcept {
    if (s.empty()) return std::nullopt;
    constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();
    std::uint64_t value = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return std::nullopt;
        auto digit = static_cast<std::uint64_t>(c - '0');
        value = value > (kMax - digit) / 10 ? kMax : value * 10 + digit;
    }
    return value;
}

/// Parses a Range value for a representation of `size` bytes. Only a single byte range is honoured; other units,
/// several ranges and malformed values give kIgnore (the caller sends the whole file: RFC 9110 §14.2 allows it).
RangeResult ParseRange(std::string_view value, std::uint64_t size, ByteRange& out) noexcept {
    value = TrimOws(value);
    std::size_t eq = value.find('=');
    if (eq == std::string_view::npos || !EqualsIgnoreCase(value.substr(0, eq), "bytes")) return RangeResult::kIgnore;
    std::string_view spec = TrimOws(value.substr(eq + 1));
    if (spec.find(',') != std::string_view::npos) return RangeResult::kIgnore;
    std::size_t dash = spec.find('-');
    if (dash == std::string_view::npos) return RangeResult::kIgnore;
    std::string_view first_text = spec.substr(0, dash);
    std::string_view last_text = spec.substr(dash + 1);
    if (first_text.empty()) {  // "-n": the last n bytes
        std::optional<std::uint64_t> suffix = ParseRangeNumber(last_text);
        if (!suffix) return RangeResult::kIgnore;
        if (*suffix == 0 || size == 0) return RangeResult::kUnsatisfiable;
        out = {size - std::min(*suffix, size), size - 1};
        return RangeResult::kSatisfiable;
    }
    std::optional<std::uint64_t> first = ParseRangeNumber(first_text);
    if (!first) return RangeResult::kIgnore;
    std::uint64_t last = std::numeric_limits<std::uint64_t>::max();
    if (!last_text.empty()) {
        std::optional<std::uint64_t> parsed = ParseRangeNumber(last_text);
        if (!parsed || *parsed < *first) return RangeResult::kIgnore;
        last = *parsed;
    }
    if (*first >= size) return RangeResult::kUnsatisfiable;
    out = {*first, std::min(last, size - 1)};
    return RangeResult::kSatisfiable;
}

// --- HTTP dates (RFC 9110 §5.6.7) ---

constexpr std::array<std::string_view, 7> kDayNames = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
constexpr std::array<std::string_view, 7> kLongDayNames = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                                           "Thursday", "Friday", "Saturday"};
constexpr std::array<std::string_view, 12> kMonthNames = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

/// IMF-fixdate, the only format we send: "Sun, 06 Nov 1994 08:49:37 GMT".
std::string FormatHttpDate(std::int64_t unix_seconds) {
    chr::sys_seconds time{chr::seconds(unix_seconds)};
    chr::sys_days day = chr::floor<chr::days>(time);
    chr::year_month_day ymd{day};
    chr::hh_mm_ss<chr::seconds> hms{time - day};
    return fmt::format("{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT", kDayNames[chr::weekday(day).c_encoding()],
                       static_cast<unsigned>(ymd.day()), kMonthNames[static_cast<unsigned>(ymd.month()) - 1],
                       static_cast<int>(ymd.year()), hms.hours().count(), hms.minutes().count(), hms.seconds().count());
}

/// `n` digits at `pos`, or -1.
int Digits(std::string_view s, std::size_t pos, std::size_t n) noexcept {
    if (pos + n > s.size()) return -1;
    int value = 0;
    for (std::size_t i = pos; i < pos + n; ++i) {
        if (s[i] < '0' || s[i] > '9') return -1;
        value = value * 10 + (s[i] - '0');
    }
    return value;
}

/// 1..12, or 0.
unsigned MonthNumber(std::string_view s) noexcept {
    for (std::size_t i = 0; i < kMonthNames.size(); ++i) {
        if (s == kMonthNames[i]) return static_cast<unsigned>(i + 1);
    }
    return 0;
}

template <std::size_t N>
bool OneOf(std::string_view s, const std::array<std::string_view, N>& names) noexcept {
    return std::find(names.begin(), names.end(), s) != names.end();
}

/// Seconds since the epoch for a calendar date and "hh:mm:ss" at `time_pos` of `s`; nullopt if invalid.
std::optional<std::int64_t> ToUnixSeconds(int year, unsigned month, int day, std::string_view s,
                                          std::size_t time_pos) noexcept {
    int hour = Digits(s, time_pos, 2);
    int minute = Digits(s, time_pos + 3, 2);
    int second = Digits(s, time_pos + 6, 2);
    if (s.substr(time_pos + 2, 1) != ":" || s.substr(time_pos + 5, 1) != ":") return std::nullopt;
    if (year < 0 || day < 1 || hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 60) {
        return std::nullopt;
    }
    chr::year_month_day ymd{chr::year(year), chr::month(month), chr::day(static_cast<unsigned>(day))};
    if (!ymd.ok()) return std::nullopt;
    chr::sys_seconds time = chr::sys_days(ymd) + chr::hours(hour) + chr::minutes(minute) + chr::seconds(second);
    return time.time_since_epoch().count();
}

/// Parses the three HTTP-date formats recipients must accept: IMF-fixdate, RFC 850 and asctime.
std::optional<std::int64_t> ParseHttpDate(std::string_view s) noexcept {
    s = TrimOws(s);
    // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT"
    if (s.size() == 29 && s[3] == ',') {
        if (!OneOf(s.substr(0, 3), kDayNames) || s[4] != ' ' || s[7] != ' ' || s[11] != ' ' || s[16] != ' ' ||
            s.substr(25) != " GMT") {
            return std::nullopt;
        }
        return ToUnixSeconds(Digits(s, 12, 4), MonthNumber(s.substr(8, 3)), Digits(s, 5, 2), s, 17);
    }
    // RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT"
    std::size_t comma = s.find(',');
    if (comma != std::string_view::npos && comma > 3) {
        std::string_view rest = s.substr(comma + 1);
        if (!OneOf(s.substr(0, comma), kLongDayNames) || rest.size() != 23 || rest[0] != ' ' || rest[3] != '-' ||
            rest[7] != '-' || rest[10] != ' ' || rest.substr(19) != " GMT") {
            return std::nullopt;
        }
        int yy = Digits(rest, 8, 2);
        if (yy < 0) return std::nullopt;
        int year = yy < 70 ? 2000 + yy : 1900 + yy;  // RFC 9110 asks for "no more than 50 years in the future"
        return ToUnixSeconds(year, MonthNumber(rest.substr(4, 3)), Digits(rest, 1, 2), rest, 11);
    }
    // asctime: "Sun Nov  6 08:49:37 1994"
    if (s.size() == 24 && OneOf(s.substr(0, 3), kDayNames) && s[3] == ' ' && s[7] == ' ' && s[10] == ' ' &&
        s[19] == ' ') {
        int day = s[8] == ' ' ? Digits(s, 9, 1) : Digits(s, 8, 2);
        return ToUnixSeconds(Digits(s, 20, 4), MonthNumber(s.substr(4, 3)), day, s, 11);
    }
    return std::nullopt;
}

/// If-Range (RFC 9110 §13.1.5): true if absent, or if it names the current representation by a strong validator.
/// A date counts only if it equals Last-Modified and that is at least a second old (so it is a strong validator).
bool IfRangeHolds(const Request& req, std::string_view etag, std::int64_t mtime) {
    std::optional<std::string_view> header = req.header("If-Range");
    if (!header) return true;
    std::string_view value = TrimOws(*header);
    if (value.starts_with("W/")) return false;
    if (value.starts_with('"')) return value == etag;
    std::optional<std::int64_t> date = ParseHttpDate(value);
    auto now = chr::duration_cast<chr::seconds>(chr::system_clock::now().time_since_epoch()).count();
    return date && *date == mtime && now - mtime >= 1;
}

}  // namespace

// The hex run must mix digits and letters so that date stamps (`photo-20240101.jpg`) do not count: a false positive
// would pin a mutable file in caches for a year. The one exception is Django's own form, exactly 12 lower-case hex
// digits after a '.', which gale's collectstatic writes too: an md5 prefix is all digits for 1 name in 280, and such
// a name must be immutable as well (a 12-digit `.YYYYMMDDhhmm.` stamp also matches; such names are not reused).
bool HasContentHash(std::string_view name) noexcept {
    std::size_t dot = name.rfind('.');
    if (dot == std::string_view::npos || dot == 0) return false;
    std::string_view stem = name.substr(0, dot);
    std::size_t sep = stem.find_last_of(".-");
    if (sep == std::string_view::npos) return false;
    std::string_view hash = stem.substr(sep + 1);
    if (hash.size() < 8) return false;
    if (hash.size() == 12 && stem[sep] == '.' && std::all_of(hash.begin(), hash.end(), [](char c) {
            return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
        })) {
        return true;
    }
    bool digit = false;
    bool letter = false;
    for (char c : hash) {
        if (c >= '0' && c <= '9') {
            digit = true;
        } else if ((c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')) {
            letter = true;
        } else {
            return false;
        }
    }
    return digit && letter;
}

// --- StaticFiles ---

StaticFiles::StaticFiles(Options options, std::string root, int root_fd, bool use_openat2) noexcept
    : options_(std::move(options)), root_(std::move(root)), root_fd_(root_fd), use_openat2_(use_openat2) {}

StaticFiles::StaticFiles(StaticFiles&& other) noexcept
    : options_(std::move(other.options_)),
      root_(std::move(other.root_)),
      root_fd_(std::exchange(other.root_fd_, -1)),
      use_openat2_(other.use_openat2_) {}

StaticFiles& StaticFiles::operator=(StaticFiles&& other) noexcept {
    if (this != &other) {
        if (root_fd_ >= 0) ::close(root_fd_);
        options_ = std::move(other.options_);
        root_ = std::move(other.root_);
        root_fd_ = std::exchange(other.root_fd_, -1);
        use_openat2_ = other.use_openat2_;
    }
    return *this;
}

StaticFiles::~StaticFiles() {
    if (root_fd_ >= 0) ::close(root_fd_);
}

Result<StaticFiles> StaticFiles::Create(Options options) {
    if (options.url_prefix.empty() || options.url_prefix.front() != '/') {
        return MakeError(ErrorCode::kInvalidArgument,
                         fmt::format("static files: url_prefix '{}' must start with '/'", options.url_prefix));
    }
    if (options.url_prefix.back() != '/') options.url_prefix += '/';
    if (options.max_age.count() < 0) {
        return MakeError(ErrorCode::kInvalidArgument,
                         fmt::format("static files: max_age {}s is negative", options.max_age.count()));
    }
    std::unique_ptr<char, decltype(&std::free)> resolved(::realpath(options.root.c_str(), nullptr), &std::free);
    if (!resolved) {
        int err = errno;
        return MakeError(err == ENOENT ? ErrorCode::kNotFound : ErrorCode::kIo,
                         fmt::format("static files root '{}': {}", options.root, ErrnoText(err)));
    }
    std::string root(resolved.get());
    int root_fd = ::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (root_fd < 0) {
        int err = errno;
        if (err == ENOTDIR) {
            return MakeError(ErrorCode::kInvalidArgument,
                             fmt::format("static files root '{}' is not a directory", options.root));
        }
        return MakeError(ErrorCode::kIo, fmt::format("static files root '{}': {}", options.root, ErrnoText(err)));
    }
    bool use_openat2 = false;
#if GALE_HAVE_OPENAT2
    // Probe once: ENOSYS before Linux 5.6, EPERM from seccomp profiles that predate the syscall. Either way (and for
    // any other failure) the realpath fallback is still correct, only racier.
    open_how how{};
    how.flags = static_cast<std::uint64_t>(O_PATH | O_DIRECTORY | O_CLOEXEC);
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
    long probe = ::syscall(SYS_openat2, root_fd, ".", &how, sizeof how);
    if (probe >= 0) {
        ::close(static_cast<int>(probe));
        use_openat2 = true;
    }
#endif
    return StaticFiles(std::move(options), std::move(root), root_fd, use_openat2);
}

bool StaticFiles::Matches(std::string_view path) const noexcept { return path.starts_with(options_.url_prefix); }

int StaticFiles::OpenBeneath(const std::string& relative) const {
#if GALE_HAVE_OPENAT2
    if (use_openat2_) {
        open_how how{};
        how.flags = static_cast<std::uint64_t>(kOpenFlags);
        how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
        long fd = -1;
        for (int attempt = 0; attempt < kOpenat2Attempts; ++attempt) {
            fd = ::syscall(SYS_openat2, root_fd_, relative.c_str(), &how, sizeof how);
            if (fd >= 0 || (errno != EAGAIN && errno != EINTR)) break;
        }
        return static_cast<int>(fd);
    }
#endif
    std::string path = root_ == "/" ? root_ + relative : root_ + "/" + relative;
    std::unique_ptr<char, decltype(&std::free)> resolved(::realpath(path.c_str(), nullptr), &std::free);
    if (!resolved) return -1;
    std::string_view real(resolved.get());
    bool beneath = root_ == "/" || (real.starts_with(root_) && real.size() > root_.size() && real[root_.size()] == '/');
    if (!beneath) {
        errno = EXDEV;
        return -1;
    }
    // The resolved path has no symlinks left; O_NOFOLLOW refuses one swapped in for the last component since.
    int fd = -1;
    do {
        fd = ::open(resolved.get(), kOpenFlags | O_NOFOLLOW);
    } while (fd < 0 && errno == EINTR);
    return fd;
}

Response StaticFiles::Serve(const Request& req) const {
    if (req.method() != Method::kGet && req.method() != Method::kHead) {
        Response r = PlainResponse(405);
        r.AddHeader("Allow", "GET, HEAD");
        return r;
    }
    std::string_view path = req.path();
    if (!Matches(path)) return PlainResponse(404);
    std::string relative;
    switch (DecodeRelativePath(path.substr(options_.url_prefix.size()), relative)) {
        case PathCheck::kOk:
            break;
        case PathCheck::kBadRequest:
            return PlainResponse(400);
        case PathCheck::kNotFound:
            return PlainResponse(404);
    }

    OpenedFile identity;
    if (int err = AdoptRegularFile(OpenBeneath(relative), identity); err != 0) {
        return PlainResponse(StatusForErrno(err));
    }
    // Siblings are looked up even when they will not be sent: their existence alone makes the response vary.
    OpenedFile brotli;
    OpenedFile gzip;
    bool has_br = AdoptRegularFile(OpenBeneath(relative + ".br"), brotli) == 0;
    bool has_gz = AdoptRegularFile(OpenBeneath(relative + ".gz"), gzip) == 0;
    bool has_range = CountHeaders(req, "Range") > 0;
    Coding coding = has_range || !(has_br || has_gz) ? Coding::kIdentity : ChooseCoding(req, has_br, has_gz);
    OpenedFile& chosen = coding == Coding::kBrotli ? brotli : coding == Coding::kGzip ? gzip : identity;
    std::string_view etag_suffix = coding == Coding::kBrotli ? "-br" : coding == Coding::kGzip ? "-gz" : "";

    const struct stat& st = chosen.st;
    auto size = static_cast<std::uint64_t>(st.st_size);
    std::int64_t mtime = st.st_mtim.tv_sec;
    std::string etag = fmt::format("\"{:x}-{:x}-{:x}{}\"", size, mtime, st.st_mtim.tv_nsec, etag_suffix);
    std::string last_modified = FormatHttpDate(mtime);
    std::string_view name = std::string_view(relative).substr(relative.rfind('/') + 1);  // npos + 1 == 0
    std::string cache_control = options_.immutable_hashed && HasContentHash(name)
                                    ? std::string(kImmutable)
                                    : fmt::format("public, max-age={}", options_.max_age.count());
    auto add_cache_headers = [&](Response& r) {
        r.AddHeader("ETag", etag);
        r.AddHeader("Last-Modified", last_modified);
        r.AddHeader("Cache-Control", cache_control);
        if (has_br || has_gz) r.AddHeader("Vary", "Accept-Encoding");
    };

    // Preconditions, RFC 9110 §13.2.2.
    if (CountHeaders(req, "If-Match") > 0) {
        if (!EtagListMatches(req, "If-Match", etag, /*strong=*/true)) return PlainResponse(412);
    } else if (std::optional<std::string_view> since = req.header("If-Unmodified-Since")) {
        std::optional<std::int64_t> date = ParseHttpDate(*since);
        if (date && mtime > *date) return PlainResponse(412);
    }
    bool not_modified = false;
    if (CountHeaders(req, "If-None-Match") > 0) {
        not_modified = EtagListMatches(req, "If-None-Match", etag, /*strong=*/false);
    } else if (std::optional<std::string_view> since = req.header("If-Modified-Since")) {
        std::optional<std::int64_t> date = ParseHttpDate(*since);
        not_modified = date && mtime <= *date;
    }
    if (not_modified) {
        Response r(304);
        add_cache_headers(r);
        return r;
    }

    Response r(200);
    r.AddHeader("Content-Type", std::string(detail::ContentTypeForPath(relative)));
    if (coding == Coding::kIdentity) {
        r.AddHeader("Accept-Ranges", "bytes");
    } else {
        r.AddHeader("Content-Encoding", coding == Coding::kBrotli ? "br" : "gzip");
    }
    add_cache_headers(r);
    r.AddHeader("X-Content-Type-Options", "nosniff");

    std::uint64_t offset = 0;
    std::uint64_t length = size;
    // Range is defined for GET only (RFC 9110 §14.2); a repeated Range header is as good as malformed.
    if (req.method() == Method::kGet && CountHeaders(req, "Range") == 1 && IfRangeHolds(req, etag, mtime)) {
        ByteRange range;
        switch (ParseRange(*req.header("Range"), size, range)) {
            case RangeResult::kIgnore:
                break;
            case RangeResult::kUnsatisfiable: {
                Response unsatisfiable = PlainResponse(416);
                unsatisfiable.AddHeader("Content-Range", fmt::format("bytes */{}", size));
                unsatisfiable.AddHeader("Accept-Ranges", "bytes");
                return unsatisfiable;
            }
            case RangeResult::kSatisfiable:
                r.set_status(206);
                r.AddHeader("Content-Range", fmt::format("bytes {}-{}/{}", range.first, range.last, size));
                offset = range.first;
                length = range.last - range.first + 1;
                break;
        }
    }
    r.SetFile(FileBody{chosen.fd.Release(), offset, length});
    return r;
}

}  // namespace gale::http
