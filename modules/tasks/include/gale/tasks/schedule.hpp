// SPDX-License-Identifier: MIT
/// @file gale/tasks/schedule.hpp
/// @brief When a periodic task is due: a fixed interval, a five-field crontab in an IANA time zone, or one time.
///
/// @code
///   auto every = gale::tasks::Schedule::Every(std::chrono::seconds(30));
///   auto nightly = gale::tasks::Schedule::Crontab("30 2 * * mon-fri", "Europe/Vienna");
///   auto once = gale::tasks::Schedule::Parse("at 2026-12-24T18:00:00Z");
///   std::optional<SystemTime> next = nightly->NextAfter(std::chrono::system_clock::now());
/// @endcode
///
/// Text forms (Parse, and GALE_BEAT_SCHEDULE in beat.hpp):
///
/// | form | meaning |
/// |---|---|
/// | `every 30s`, `every 500ms`, `every 1.5h` | a fixed interval (ParseDuration's units; above 0) |
/// | `m h dom mon dow` | a crontab (fields below) |
/// | `@yearly` `@monthly` `@weekly` `@daily` `@hourly` | `0 0 1 1 *`, `0 0 1 * *`, `0 0 * * 0`, `0 0 * * *`, … |
/// | `at 2026-12-24T18:00:00Z` | once, at an ISO 8601 time (with a zone or offset, else UTC) |
///
/// Crontab fields: minute 0–59, hour 0–23, day of month 1–31, month 1–12 or jan–dec, day of week 0–7 (0 and 7 are
/// Sunday) or sun–sat; `@annually` = `@yearly`, `@midnight` = `@daily`, `@hourly` = `0 * * * *`.
/// Crontab fields accept, comma-separated: `*`, `N`, `A-B`, `*/S`, `A-B/S` and `A/S` (= `A-max/S`). Names are
/// case-insensitive and may be written in full (`monday`, `january`: the first three letters count, as Celery's
/// crontab reads them). A range may wrap like Celery's (`fri-mon` = fri, sat, sun, mon).
///
/// Day of month and day of week (DayRule): Vixie cron (and POSIX) run a job when EITHER field matches if both are
/// restricted, and when both match if either starts with `*` — `30 4 1,15 * 5` runs on the 1st, the 15th and every
/// Friday. Celery's crontab requires BOTH (celery#4307, open): `0 22 1-7 * sat` is the first Saturday of the month
/// there. gale follows cron by default, since the text is a crontab line (what crontab.guru and `man 5 crontab`
/// say); DayRule::kBoth gives Celery's meaning for schedules ported from a Celery beat_schedule.
///
/// Time zones and daylight saving time: a crontab is read in its zone's wall clock (the zone data is the system's,
/// /usr/share/zoneinfo, Debian's tzdata). Fixed-time jobs (minute and hour fields both without `*`, e.g. `30 2 * *
/// *`): on a spring-forward day a wall time that does not exist (02:30 in Europe/Vienna on the last Sunday of March)
/// runs at the instant of the change (03:00 CEST), once, however many skipped minutes match — a daily 02:30 job
/// runs every day, never twice; on a fall-back day a wall time that occurs twice (02:30 on the last Sunday of
/// October) runs once, at its first occurrence (02:30 CEST). Wildcard jobs (minute or hour field starting with `*`:
/// `*/15 * * * *`, `30 * * * *`) keep their period in real time: the skipped hour has no runs, and the repeated
/// hour runs at both occurrences. These are Vixie cron's rules for its fixed-time and wildcard jobs, except that
/// cron runs several skipped fixed-time jobs one after another after the change where gale runs them as one.
///
/// Value type: copies share the immutable parsed crontab and time zone. Thread-safe: every const member may be called
/// from any number of threads.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <gale/base/error.hpp>
#include <gale/tasks/message.hpp>

namespace gale::tasks {

/// How a crontab combines day of month and day of week when both are restricted (see the file comment).
enum class DayRule {
    kEither,  ///< Vixie cron / POSIX: either field matches (when neither starts with `*`)
    kBoth,    ///< Celery's crontab: both must match
};

class Schedule {
public:
    enum class Kind { kInterval, kCrontab, kOnce };

    /// Every `period`. Errors (kInvalidArgument): a period of 0 or less.
    [[nodiscard]] static Result<Schedule> Every(std::chrono::milliseconds period);
    /// A five-field crontab (or an `@daily`-style name) evaluated in `time_zone` (an IANA name such as
    /// "Europe/Vienna", or "UTC"). Errors (kInvalidArgument) quote the expression and name the field and the value
    /// ("crontab \"61 * * * *\": minute: 61 is outside 0-59"); an unknown time zone names it; a crontab that matches
    /// no date at all ("0 0 30 2 *") is an error too.
    [[nodiscard]] static Result<Schedule> Crontab(std::string_view expression, std::string_view time_zone = "UTC",
                                                  DayRule day_rule = DayRule::kEither);
    /// Once, at `when`.
    [[nodiscard]] static Schedule At(SystemTime when);
    /// One of the text forms in the file comment; `time_zone` applies to a crontab only. Errors as above, and for a
    /// text that is none of the forms.
    [[nodiscard]] static Result<Schedule> Parse(std::string_view text, std::string_view time_zone = "UTC",
                                                DayRule day_rule = DayRule::kEither);

    /// The first due time strictly after `time`: interval: `time` + period; crontab: the next matching minute (see
    /// the DST rules above); once: the time if it is after `time`. nullopt when there is none (a one-off already
    /// past; a crontab beyond the year 9999).
    [[nodiscard]] std::optional<SystemTime> NextAfter(SystemTime time) const;

    [[nodiscard]] Kind kind() const noexcept { return kind_; }
    /// The interval (kInterval), else 0.
    [[nodiscard]] std::chrono::milliseconds period() const noexcept { return period_; }
    /// The one-off time (kOnce), else the epoch.
    [[nodiscard]] SystemTime at() const noexcept { return at_; }
    /// The crontab's zone name (kCrontab), else "UTC".
    [[nodiscard]] const std::string& time_zone() const noexcept;
    /// A text form that Parse reads back to the same schedule (with time_zone() for a crontab): "every 30s",
    /// "30 2 * * mon-fri" (as written, names expanded from `@daily`), "at 2026-12-24T18:00:00+00:00".
    [[nodiscard]] std::string ToString() const;

    struct Cron;  ///< the parsed crontab and its zone (private; defined in src/)

private:
    Schedule() = default;
    Kind kind_ = Kind::kInterval;
    std::chrono::milliseconds period_{0};
    SystemTime at_{};
    std::shared_ptr<const Cron> cron_{};
};

}  // namespace gale::tasks
