// SPDX-License-Identifier: MIT
#include "gale/sentry/settings.hpp"

#include <unistd.h>

#include <charconv>
#include <cmath>

#include <fmt/format.h>

#include <gale/base/strings.hpp>
#include <gale/sentry/dsn.hpp>

namespace gale::sentry {

Result<std::optional<ReporterOptions>> ReporterOptionsFromEnvironment(const EnvLookup& lookup, std::string_view service,
                                                                      std::string_view version) {
    auto dsn_text = LookupEnv(lookup, "SENTRY_DSN");
    if (!dsn_text) return std::optional<ReporterOptions>();
    ReporterOptions o;
    GALE_ASSIGN_OR_RETURN(o.dsn, ParseDsn(*dsn_text));
    o.environment = LookupEnv(lookup, "SENTRY_ENVIRONMENT").value_or("production");
    o.release = LookupEnv(lookup, "SENTRY_RELEASE").value_or(fmt::format("{}@{}", service, version));
    if (auto rate = LookupEnv(lookup, "SENTRY_SAMPLE_RATE")) {
        double v = -1;
        auto [end, ec] = std::from_chars(rate->data(), rate->data() + rate->size(), v);
        if (ec != std::errc() || end != rate->data() + rate->size() || !std::isfinite(v) || v < 0 || v > 1) {
            return MakeError(ErrorCode::kInvalidArgument,
                             fmt::format("SENTRY_SAMPLE_RATE: '{}' is not a number from 0 to 1", *rate));
        }
        o.sample_rate = v;
    }
    if (auto max = LookupEnv(lookup, "SENTRY_MAX_EVENTS_PER_MINUTE")) {
        GALE_ASSIGN_OR_RETURN(auto n, ParseInt("SENTRY_MAX_EVENTS_PER_MINUTE", *max, 1, 100000));
        o.max_events_per_minute = static_cast<std::uint32_t>(n);
    }
    char host[256] = {};
    if (::gethostname(host, sizeof(host) - 1) == 0) o.server_name = host;
    return std::optional<ReporterOptions>(std::move(o));
}

}  // namespace gale::sentry
