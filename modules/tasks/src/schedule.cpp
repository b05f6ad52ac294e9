// SPDX-License-Identifier: MIT
// Schedules. A crontab is five bit sets over the wall clock of an absl::TimeZone (cctz: the system's zoneinfo,
// with the kind of every civil time — unique, skipped, repeated — which is what the DST rules need).
//
// NextAfter(t) for a crontab is the minimum of two searches:
//  A. the wall-clock scan: from the minute after civil(t), skip whole months, days and hours that cannot match,
//     and map each matching civil minute m to one instant f(m): unique → itself, skipped (spring forward) → the
//     instant of the change (wildcard jobs: none), repeated (fall back) → its first occurrence. f is non-decreasing in
//     m, so the first m with f(m) > t gives the answer of this search; minutes with f(m) <= t (the second pass of a
//     repeated hour, already run) are passed over.
//  B. only for "wildcard" jobs (minute or hour field starting with `*`): the second occurrences inside a repeated
//     interval, found from the zone's transitions near t, so such a job keeps running through the repeated hour.
// A is bounded: it ends at year 9999 (Parse rejects a crontab that matches no date, so a real one ends much sooner).
#include <array>
#include <bitset>
#include <cctype>
#include <cstdint>
#include <string>
#include <vector>

#include <absl/time/civil_time.h>
#include <absl/time/time.h>
#include <fmt/format.h>

#include <gale/base/strings.hpp>
#include <gale/tasks/schedule.hpp>

namespace gale::tasks {

struct Schedule::Cron {
    std::string expression;  // as written (or the expansion of an @name)
    std::string zone_name;
    absl::TimeZone zone;
    std::bitset<60> minutes;
    std::bitset<24> hours;
    std::bitset<32> days;     // 1–31
    std::bitset<13> months;   // 1–12
    std::bitset<7> weekdays;  // 0 = Sunday
    bool day_star = false;
    bool weekday_star = false;
    bool wildcard = false;  // minute or hour starts with '*': runs at both occurrences of a repeated time
    DayRule day_rule = DayRule::kEither;

    [[nodiscard]] bool DayMatches(const absl::CivilDay& d) const {
        const bool dom = days[static_cast<std::size_t>(d.day())];
        const int weekday = (static_cast<int>(absl::GetWeekday(d)) + 1) % 7;  // absl: Monday = 0
        const bool dow = weekdays[static_cast<std::size_t>(weekday)];
        if (day_rule == DayRule::kBoth || day_star || weekday_star) return dom && dow;
        return dom || dow;
    }
    [[nodiscard]] bool Matches(const absl::CivilMinute& m) const {
        return months[static_cast<std::size_t>(m.month())] && DayMatches(absl::CivilDay(m)) &&
               hours[static_cast<std::size_t>(m.hour())] && minutes[static_cast<std::size_t>(m.minute())];
    }
};

namespace {

constexpr std::int64_t kLastYear = 9999;

const std::string& UtcName() {
    static const std::string name = "UTC";
    return name;
}

struct FieldSpec {
    std::string_view name;
    int min;
    int max;                                        // the largest value a step or `*` reaches
    int max_value;                                  // the largest value one may write (7 for the day of week)
    const std::array<std::string_view, 12>* names;  // index + name_base = value; null: numbers only
    int name_base;
};

constexpr std::array<std::string_view, 12> kMonthNames = {"jan", "feb", "mar", "apr", "may", "jun",
                                                          "jul", "aug", "sep", "oct", "nov", "dec"};
constexpr std::array<std::string_view, 12> kDayNames = {"sun", "mon", "tue", "wed", "thu", "fri",
                                                        "sat", "",    "",    "",    "",    ""};

constexpr FieldSpec kFields[5] = {
    {"minute", 0, 59, 59, nullptr, 0},       {"hour", 0, 23, 23, nullptr, 0},
    {"day-of-month", 1, 31, 31, nullptr, 0}, {"month", 1, 12, 12, &kMonthNames, 1},
    {"day-of-week", 0, 6, 7, &kDayNames, 0},
};

std::string Lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

class FieldParser {
public:
    FieldParser(std::string_view expression, const FieldSpec& spec) : expression_(expression), spec_(spec) {}

    Result<int> Value(std::string_view text) const {
        if (text.empty()) return Fail(text, "is empty");
        if (std::isdigit(static_cast<unsigned char>(text[0])) != 0) {
            int v = 0;
            for (char c : text) {
                if (std::isdigit(static_cast<unsigned char>(c)) == 0) return Fail(text, "is not a number");
                v = v * 10 + (c - '0');
                if (v > 1000) break;
            }
            if (v < spec_.min || v > spec_.max_value) {
                return Fail(text, fmt::format("is outside {}-{}", spec_.min, spec_.max_value));
            }
            return v;
        }
        if (spec_.names != nullptr && text.size() >= 3) {
            const std::string prefix = Lower(text.substr(0, 3));
            for (std::size_t i = 0; i < spec_.names->size(); ++i) {
                if (!(*spec_.names)[i].empty() && (*spec_.names)[i] == prefix) {
                    return static_cast<int>(i) + spec_.name_base;
                }
            }
        }
        return Fail(
            text, spec_.names == nullptr ? "is not a number" : fmt::format("is not a number or a {} name", spec_.name));
    }

    /// Sets the bits of one field; `star` tells whether it starts with '*'.
    Result<std::vector<int>> Parse(std::string_view field) const {
        std::vector<int> values;
        std::size_t start = 0;
        while (start <= field.size()) {
            std::size_t comma = field.find(',', start);
            if (comma == std::string_view::npos) comma = field.size();
            std::string_view item = field.substr(start, comma - start);
            GALE_RETURN_IF_ERROR(Item(item, values));
            start = comma + 1;
        }
        return values;
    }

private:
    Result<void> Item(std::string_view item, std::vector<int>& values) const {
        if (item.empty()) return Fail(item, "is an empty list item");
        int step = 1;
        std::string_view range = item;
        bool stepped = false;
        if (auto slash = item.find('/'); slash != std::string_view::npos) {
            std::string_view s = item.substr(slash + 1);
            if (s.empty() || s.find_first_not_of("0123456789") != std::string_view::npos || s.size() > 4) {
                return Fail(item, "has a step that is not a number");
            }
            step = std::stoi(std::string(s));
            if (step <= 0) return Fail(item, "has a step of 0");
            range = item.substr(0, slash);
            stepped = true;
        }
        int from = spec_.min;
        int to = spec_.max;
        if (range != "*") {
            if (auto dash = range.find('-'); dash != std::string_view::npos) {
                GALE_ASSIGN_OR_RETURN(from, Value(range.substr(0, dash)));
                GALE_ASSIGN_OR_RETURN(to, Value(range.substr(dash + 1)));
            } else {
                GALE_ASSIGN_OR_RETURN(from, Value(range));
                to = stepped ? spec_.max : from;  // "5/15" is "5-max/15" (cronie, Celery)
            }
        }
        // The day of week's 7 is Sunday; "1-7" is Monday to Sunday, "7" alone Sunday.
        auto add = [&](int v) { values.push_back(spec_.max_value == 7 && v == 7 ? 0 : v); };
        if (from <= to) {
            for (int v = from; v <= to; v += step) add(v);
        } else {  // a wrapping range, as Celery's crontab reads it: fri-mon
            const int span = (spec_.max - from + 1) + (to - spec_.min + 1);
            for (int k = 0; k < span; k += step) {
                int v = from + k;
                if (v > spec_.max) v = spec_.min + (v - spec_.max - 1);
                add(v);
            }
        }
        return {};
    }

    tl::unexpected<Error> Fail(std::string_view value, std::string_view why) const {
        return MakeError(ErrorCode::kInvalidArgument,
                         fmt::format("crontab \"{}\": {}: \"{}\" {}", expression_, spec_.name, value, why));
    }

    std::string_view expression_;
    const FieldSpec& spec_;
};

std::string_view Macro(std::string_view name) {
    if (name == "@yearly" || name == "@annually") return "0 0 1 1 *";
    if (name == "@monthly") return "0 0 1 * *";
    if (name == "@weekly") return "0 0 * * 0";
    if (name == "@daily" || name == "@midnight") return "0 0 * * *";
    if (name == "@hourly") return "0 * * * *";
    return {};
}

std::string Trim(std::string_view s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front())) != 0) s.remove_prefix(1);
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())) != 0) s.remove_suffix(1);
    return std::string(s);
}

/// The instant a matching wall-clock minute runs at (see the file comment): f(m); nullopt for a skipped minute of
/// a wildcard job (its period holds in real time, and the skipped hour simply is not there).
std::optional<absl::Time> Instant(const Schedule::Cron& c, const absl::CivilMinute& m) {
    const absl::TimeZone::TimeInfo info = c.zone.At(absl::CivilSecond(m));
    switch (info.kind) {
        case absl::TimeZone::TimeInfo::SKIPPED:
            if (c.wildcard) return std::nullopt;
            return info.trans;
        case absl::TimeZone::TimeInfo::UNIQUE:
        case absl::TimeZone::TimeInfo::REPEATED:
            break;
    }
    return info.pre;
}

/// Search A of the file comment.
std::optional<absl::Time> ScanWallClock(const Schedule::Cron& c, absl::Time after) {
    absl::CivilMinute m = absl::CivilMinute(c.zone.At(after).cs) + 1;
    while (m.year() <= kLastYear) {
        if (!c.months[static_cast<std::size_t>(m.month())]) {
            m = absl::CivilMinute(absl::CivilMonth(m) + 1);
        } else if (!c.DayMatches(absl::CivilDay(m))) {
            m = absl::CivilMinute(absl::CivilDay(m) + 1);
        } else if (!c.hours[static_cast<std::size_t>(m.hour())]) {
            m = absl::CivilMinute(absl::CivilHour(m) + 1);
        } else if (!c.minutes[static_cast<std::size_t>(m.minute())]) {
            m += 1;
        } else {
            std::optional<absl::Time> t = Instant(c, m);
            if (t && *t > after) return t;
            m += 1;  // the second pass of a repeated hour (already run at the first), or skipped
        }
    }
    return std::nullopt;
}

/// Search B of the file comment: the earliest second occurrence of a matching minute after `after` and before
/// `limit`, in the repeated intervals of the transitions from a day before `after`.
std::optional<absl::Time> ScanRepeated(const Schedule::Cron& c, absl::Time after, absl::Time limit) {
    std::optional<absl::Time> best;
    absl::TimeZone::CivilTransition tr;
    absl::Time cursor = after - absl::Hours(26);
    for (int i = 0; i < 8 && c.zone.NextTransition(cursor, &tr); ++i) {
        const absl::TimeZone::TimeInfo info = c.zone.At(tr.to);
        const absl::Time at = info.trans;
        if (at >= limit) break;
        cursor = at;
        if (tr.to >= tr.from) continue;  // a gap (or a change of abbreviation only): nothing repeats
        // Wall times in [to, from) occur again from `at`: the second occurrence of minute m is at + (m - to).
        for (absl::CivilMinute m(tr.to); absl::CivilSecond(m) < tr.from; m += 1) {
            if (absl::CivilSecond(m) < tr.to || !c.Matches(m)) continue;
            const absl::Time second = at + absl::Seconds(absl::CivilSecond(m) - tr.to);
            if (second > after && second < limit && (!best || second < *best)) best = second;
        }
    }
    return best;
}

}  // namespace

Result<Schedule> Schedule::Every(std::chrono::milliseconds period) {
    if (period.count() <= 0) {
        return MakeError(ErrorCode::kInvalidArgument,
                         fmt::format("interval schedule: the period must be above 0 (got {} ms)", period.count()));
    }
    Schedule s;
    s.kind_ = Kind::kInterval;
    s.period_ = period;
    return s;
}

Schedule Schedule::At(SystemTime when) {
    Schedule s;
    s.kind_ = Kind::kOnce;
    s.at_ = when;
    return s;
}

Result<Schedule> Schedule::Crontab(std::string_view expression, std::string_view time_zone, DayRule day_rule) {
    auto cron = std::make_shared<Cron>();
    cron->expression = Trim(expression);
    if (!cron->expression.empty() && cron->expression[0] == '@') {
        std::string_view expanded = Macro(Lower(cron->expression));
        if (expanded.empty()) {
            return MakeError(ErrorCode::kInvalidArgument,
                             fmt::format("crontab \"{}\": unknown name (known: @yearly, @annually, @monthly, @weekly, "
                                         "@daily, @midnight, @hourly)",
                                         cron->expression));
        }
        cron->expression = std::string(expanded);
    }
    std::vector<std::string> fields = SplitWhitespace(cron->expression);
    if (fields.size() != 5) {
        return MakeError(ErrorCode::kInvalidArgument,
                         fmt::format("crontab \"{}\": expected 5 fields (minute hour day-of-month month day-of-week), "
                                     "got {}",
                                     cron->expression, fields.size()));
    }
    for (std::size_t i = 0; i < 5; ++i) {
        FieldParser parser(cron->expression, kFields[i]);
        GALE_ASSIGN_OR_RETURN(std::vector<int> values, parser.Parse(fields[i]));
        for (int v : values) {
            const auto b = static_cast<std::size_t>(v);
            switch (i) {
                case 0:
                    cron->minutes.set(b);
                    break;
                case 1:
                    cron->hours.set(b);
                    break;
                case 2:
                    cron->days.set(b);
                    break;
                case 3:
                    cron->months.set(b);
                    break;
                default:
                    cron->weekdays.set(b);
                    break;
            }
        }
    }
    cron->day_star = fields[2][0] == '*';
    cron->weekday_star = fields[4][0] == '*';
    cron->wildcard = fields[0][0] == '*' || fields[1][0] == '*';
    cron->day_rule = day_rule;
    cron->zone_name = std::string(time_zone);
    if (cron->zone_name.empty()) cron->zone_name = "UTC";
    if (!absl::LoadTimeZone(cron->zone_name, &cron->zone)) {
        return MakeError(ErrorCode::kInvalidArgument,
                         fmt::format("crontab \"{}\": unknown time zone \"{}\" (an IANA name such as Europe/Vienna, "
                                     "from the system's zoneinfo: Debian's tzdata)",
                                     cron->expression, cron->zone_name));
    }
    Schedule s;
    s.kind_ = Kind::kCrontab;
    s.cron_ = std::move(cron);
    // A crontab whose day of month never falls in its months ("0 0 30 2 *") finds nothing up to the year 9999 (a
    // few hundred thousand cheap steps, once, at parse time) rather than looping at every tick.
    if (!ScanWallClock(*s.cron_, absl::FromCivil(absl::CivilSecond(1970, 1, 1), absl::UTCTimeZone()))) {
        return MakeError(
            ErrorCode::kInvalidArgument,
            fmt::format("crontab \"{}\": matches no date (day-of-month and month never meet)", s.cron_->expression));
    }
    return s;
}

Result<Schedule> Schedule::Parse(std::string_view text, std::string_view time_zone, DayRule day_rule) {
    std::string t = Trim(text);
    std::string lower = Lower(t);
    if (lower.rfind("every ", 0) == 0 || lower == "every") {
        std::string value = Trim(std::string_view(t).substr(5));
        if (value.empty()) return MakeError(ErrorCode::kInvalidArgument, "schedule \"every\": no interval");
        auto period = ParseDuration(fmt::format("schedule \"{}\"", t), value);
        if (!period) return tl::unexpected(period.error());
        return Every(*period);
    }
    if (lower.rfind("at ", 0) == 0) {
        auto when = ParseIsoTime(Trim(std::string_view(t).substr(3)));
        if (!when) {
            return MakeError(ErrorCode::kInvalidArgument,
                             fmt::format("schedule \"{}\": not an ISO 8601 time: {}", t, when.error().message()));
        }
        return At(*when);
    }
    if (t.empty()) {
        return MakeError(ErrorCode::kInvalidArgument,
                         "schedule \"\": empty (expected \"every 30s\", a crontab such as \"*/5 * * * *\", or \"at "
                         "2026-12-24T18:00:00Z\")");
    }
    return Crontab(t, time_zone, day_rule);
}

std::optional<SystemTime> Schedule::NextAfter(SystemTime time) const {
    switch (kind_) {
        case Kind::kInterval:
            return time + period_;
        case Kind::kOnce:
            if (at_ > time) return at_;
            return std::nullopt;
        case Kind::kCrontab:
            break;
    }
    const absl::Time after = absl::FromChrono(time);
    std::optional<absl::Time> a = ScanWallClock(*cron_, after);
    if (cron_->wildcard) {
        const absl::Time limit = a ? *a : absl::InfiniteFuture();
        if (auto b = ScanRepeated(*cron_, after, limit)) a = b;
    }
    if (!a) return std::nullopt;
    return std::chrono::time_point_cast<SystemTime::duration>(absl::ToChronoTime(*a));
}

const std::string& Schedule::time_zone() const noexcept { return cron_ ? cron_->zone_name : UtcName(); }

std::string Schedule::ToString() const {
    switch (kind_) {
        case Kind::kInterval: {
            const auto ms = period_.count();
            if (ms % 3'600'000 == 0) return fmt::format("every {}h", ms / 3'600'000);
            if (ms % 60'000 == 0) return fmt::format("every {}m", ms / 60'000);
            if (ms % 1000 == 0) return fmt::format("every {}s", ms / 1000);
            return fmt::format("every {}ms", ms);
        }
        case Kind::kOnce:
            return "at " + FormatIsoTime(at_);
        case Kind::kCrontab:
            break;
    }
    return cron_->expression;
}

}  // namespace gale::tasks
