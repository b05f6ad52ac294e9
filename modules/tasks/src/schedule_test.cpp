// SPDX-License-Identifier: MIT
// Schedules: parsing (errors name the field and the value), next-due times of intervals, one-offs and crontabs,
// cron's day-of-month/day-of-week rule and Celery's, and the DST rules in a real zone (Europe/Vienna, 2026: spring
// forward on Sunday 29 March at 01:00Z, 02:00 CET → 03:00 CEST; fall back on Sunday 25 October at 01:00Z, 03:00 CEST
// → 02:00 CET).
#include <gtest/gtest.h>

#include <gale/tasks/schedule.hpp>

namespace gale::tasks {
namespace {

SystemTime T(const char* iso) {
    auto t = ParseIsoTime(iso);
    EXPECT_TRUE(t) << iso;
    return t ? *t : SystemTime{};
}

std::string Next(const Schedule& s, const char* after) {
    auto n = s.NextAfter(T(after));
    return n ? FormatIsoTime(*n) : "none";
}

Schedule Cron(const char* expr, const char* zone = "UTC", DayRule rule = DayRule::kEither) {
    auto s = Schedule::Crontab(expr, zone, rule);
    EXPECT_TRUE(s) << expr << ": " << s.error().message();
    return s ? *s : Schedule::At(SystemTime{});
}

std::string ParseError(const char* text, const char* zone = "UTC") {
    auto s = Schedule::Parse(text, zone);
    return s ? "parsed" : s.error().message();
}

TEST(Schedule, Interval) {
    auto s = Schedule::Parse("every 30s");
    ASSERT_TRUE(s);
    EXPECT_EQ(s->kind(), Schedule::Kind::kInterval);
    EXPECT_EQ(s->period(), std::chrono::seconds(30));
    EXPECT_EQ(Next(*s, "2026-01-01T00:00:10Z"), "2026-01-01T00:00:40+00:00");
    EXPECT_EQ(s->ToString(), "every 30s");
    EXPECT_EQ(Schedule::Parse("every 1.5h")->ToString(), "every 90m");
    EXPECT_EQ(Schedule::Parse("every 250ms")->period(), std::chrono::milliseconds(250));
    EXPECT_FALSE(Schedule::Every(std::chrono::milliseconds(0)));
    EXPECT_NE(ParseError("every 0s").find("above 0"), std::string::npos);
    EXPECT_NE(ParseError("every soon").find("every soon"), std::string::npos);
}

TEST(Schedule, Once) {
    auto s = Schedule::Parse("at 2026-12-24T18:00:00+01:00");
    ASSERT_TRUE(s);
    EXPECT_EQ(s->kind(), Schedule::Kind::kOnce);
    EXPECT_EQ(Next(*s, "2026-12-01T00:00:00Z"), "2026-12-24T17:00:00+00:00");
    EXPECT_EQ(Next(*s, "2026-12-24T17:00:00Z"), "none");  // strictly after
    EXPECT_EQ(s->ToString(), "at 2026-12-24T17:00:00+00:00");
    EXPECT_NE(ParseError("at christmas").find("not an ISO 8601 time"), std::string::npos);
}

TEST(Schedule, CrontabFields) {
    EXPECT_EQ(Next(Cron("*/15 * * * *"), "2026-01-01T10:07:00Z"), "2026-01-01T10:15:00+00:00");
    EXPECT_EQ(Next(Cron("*/15 * * * *"), "2026-01-01T10:15:00Z"), "2026-01-01T10:30:00+00:00");  // strictly after
    EXPECT_EQ(Next(Cron("1,13,30-45,50-59/2 * * * *"), "2026-01-01T10:46:00Z"), "2026-01-01T10:50:00+00:00");
    EXPECT_EQ(Next(Cron("5/20 * * * *"), "2026-01-01T10:26:00Z"), "2026-01-01T10:45:00+00:00");  // 5-59/20
    // Names, in full or abbreviated, any case; Thursday 1 January 2026.
    EXPECT_EQ(Next(Cron("0 9 * jan-mar MON-fri"), "2026-01-02T12:00:00Z"), "2026-01-05T09:00:00+00:00");
    EXPECT_EQ(Next(Cron("0 9 * * saturday"), "2026-01-01T00:00:00Z"), "2026-01-03T09:00:00+00:00");
    EXPECT_EQ(Next(Cron("0 9 * * 7"), "2026-01-01T00:00:00Z"), "2026-01-04T09:00:00+00:00");        // 7 is Sunday
    EXPECT_EQ(Next(Cron("0 9 * * fri-mon"), "2026-01-05T10:00:00Z"), "2026-01-09T09:00:00+00:00");  // wraps
    EXPECT_EQ(Next(Cron("0 0 29 2 *"), "2026-01-01T00:00:00Z"), "2028-02-29T00:00:00+00:00");
    EXPECT_EQ(Next(Cron("@daily"), "2026-01-01T10:00:00Z"), "2026-01-02T00:00:00+00:00");
    EXPECT_EQ(Cron("@hourly").ToString(), "0 * * * *");
    EXPECT_EQ(Next(Cron("0 12 * * *", "Asia/Kolkata"), "2026-01-01T00:00:00Z"), "2026-01-01T06:30:00+00:00");
}

TEST(Schedule, DayOfMonthOrDayOfWeekAsCron) {
    // man 5 crontab: "30 4 1,15 * 5" runs on the 1st, the 15th and every Friday. Friday 1 May 2026.
    Schedule cron = Cron("30 4 1,15 * 5");
    EXPECT_EQ(Next(cron, "2026-05-01T05:00:00Z"), "2026-05-08T04:30:00+00:00");  // a Friday
    EXPECT_EQ(Next(cron, "2026-05-12T00:00:00Z"), "2026-05-15T04:30:00+00:00");  // the 15th
    EXPECT_EQ(Next(cron, "2026-06-13T00:00:00Z"), "2026-06-15T04:30:00+00:00");  // the 15th, a Monday
    // With a `*`-field the other one decides alone (and both must match): days 1, 11, 21, 31 that are Fridays.
    EXPECT_EQ(Next(Cron("0 0 */10 * 5"), "2026-01-01T00:00:00Z"), "2026-05-01T00:00:00+00:00");
    // Celery's crontab (DayRule::kBoth): both, always.
    Schedule celery = Cron("30 4 1,15 * 5", "UTC", DayRule::kBoth);
    EXPECT_EQ(Next(celery, "2026-05-01T05:00:00Z"), "2026-05-15T04:30:00+00:00");  // Friday the 15th
}

TEST(Schedule, CrontabErrorsNameTheFieldAndTheValue) {
    EXPECT_EQ(ParseError("61 * * * *"), "crontab \"61 * * * *\": minute: \"61\" is outside 0-59");
    EXPECT_EQ(ParseError("0 24 * * *"), "crontab \"0 24 * * *\": hour: \"24\" is outside 0-23");
    EXPECT_EQ(ParseError("0 0 0 * *"), "crontab \"0 0 0 * *\": day-of-month: \"0\" is outside 1-31");
    EXPECT_EQ(ParseError("0 0 * foo *"), "crontab \"0 0 * foo *\": month: \"foo\" is not a number or a month name");
    EXPECT_EQ(ParseError("0 0 * * funday"),
              "crontab \"0 0 * * funday\": day-of-week: \"funday\" is not a number or a day-of-week name");
    EXPECT_EQ(ParseError("*/0 * * * *"), "crontab \"*/0 * * * *\": minute: \"*/0\" has a step of 0");
    EXPECT_EQ(ParseError("1,,2 * * * *"), "crontab \"1,,2 * * * *\": minute: \"\" is an empty list item");
    EXPECT_EQ(ParseError("* * * *"),
              "crontab \"* * * *\": expected 5 fields (minute hour day-of-month month day-of-week), got 4");
    EXPECT_NE(ParseError("@fortnightly").find("unknown name"), std::string::npos);
    EXPECT_NE(ParseError("0 0 30 2 *").find("matches no date"), std::string::npos);
    EXPECT_EQ(ParseError("0 0 * * *", "Mars/Olympus"),
              "crontab \"0 0 * * *\": unknown time zone \"Mars/Olympus\" (an IANA name such as Europe/Vienna, from "
              "the system's zoneinfo: Debian's tzdata)");
}

TEST(Schedule, FixedTimeJobAcrossDaylightSavingTime) {
    Schedule s = Cron("30 2 * * *", "Europe/Vienna");
    EXPECT_EQ(s.time_zone(), "Europe/Vienna");
    // An ordinary winter day: 02:30 CET.
    EXPECT_EQ(Next(s, "2026-03-27T12:00:00Z"), "2026-03-28T01:30:00+00:00");
    // Spring forward: 02:30 does not exist; it runs at the change (03:00 CEST = 01:00Z), once.
    EXPECT_EQ(Next(s, "2026-03-28T12:00:00Z"), "2026-03-29T01:00:00+00:00");
    EXPECT_EQ(Next(s, "2026-03-29T01:00:00Z"), "2026-03-30T00:30:00+00:00");  // then 02:30 CEST
    // Skipped minutes that all match run as one, at the change.
    Schedule quarter = Cron("0,15,30,45 2 * * *", "Europe/Vienna");
    EXPECT_EQ(Next(quarter, "2026-03-29T00:50:00Z"), "2026-03-29T01:00:00+00:00");
    EXPECT_EQ(Next(quarter, "2026-03-29T01:00:00Z"), "2026-03-30T00:00:00+00:00");
    // Fall back: 02:30 occurs twice (00:30Z CEST, 01:30Z CET); it runs at the first only.
    EXPECT_EQ(Next(s, "2026-10-24T12:00:00Z"), "2026-10-25T00:30:00+00:00");
    EXPECT_EQ(Next(s, "2026-10-25T00:30:00Z"), "2026-10-26T01:30:00+00:00");  // the next day, 02:30 CET
    EXPECT_EQ(Next(s, "2026-10-25T01:10:00Z"), "2026-10-26T01:30:00+00:00");  // from inside the second pass
}

TEST(Schedule, WildcardJobKeepsItsPeriodAcrossDaylightSavingTime) {
    Schedule hourly = Cron("30 * * * *", "Europe/Vienna");
    // Spring forward: 01:30 CET, then 03:30 CEST (the 02:30 that does not exist has no run), one real hour apart.
    EXPECT_EQ(Next(hourly, "2026-03-29T00:00:00Z"), "2026-03-29T00:30:00+00:00");
    EXPECT_EQ(Next(hourly, "2026-03-29T00:30:00Z"), "2026-03-29T01:30:00+00:00");
    // Fall back: 02:30 CEST, 02:30 CET, 03:30 CET: every real hour.
    EXPECT_EQ(Next(hourly, "2026-10-25T00:00:00Z"), "2026-10-25T00:30:00+00:00");
    EXPECT_EQ(Next(hourly, "2026-10-25T00:30:00Z"), "2026-10-25T01:30:00+00:00");
    EXPECT_EQ(Next(hourly, "2026-10-25T01:30:00Z"), "2026-10-25T02:30:00+00:00");

    Schedule quarter = Cron("*/15 * * * *", "Europe/Vienna");
    EXPECT_EQ(Next(quarter, "2026-03-29T00:45:00Z"), "2026-03-29T01:00:00+00:00");  // 01:45 CET → 03:00 CEST
    EXPECT_EQ(Next(quarter, "2026-10-25T00:45:00Z"), "2026-10-25T01:00:00+00:00");  // 02:45 CEST → 02:00 CET
    EXPECT_EQ(Next(quarter, "2026-10-25T00:59:00Z"), "2026-10-25T01:00:00+00:00");
    EXPECT_EQ(Next(quarter, "2026-10-25T01:50:00Z"), "2026-10-25T02:00:00+00:00");  // 02:50 CET → 03:00 CET
}

}  // namespace
}  // namespace gale::tasks
