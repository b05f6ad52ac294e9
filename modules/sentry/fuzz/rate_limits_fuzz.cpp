// SPDX-License-Identifier: MIT
// Fuzzes what the sentry module reads from outside: Sentry's rate-limit headers (input split at the first newline
// into Retry-After and X-Sentry-Rate-Limits), and the scrubbers that read request data (query strings, header
// values, log text) and the DSN parser with the same bytes. None may crash or hang; a limit never ends before the
// response that set it, and never more than a day after it; scrubbing never grows text by more than the filtered
// marker per input byte.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include <gale/sentry/dsn.hpp>
#include <gale/sentry/rate_limit.hpp>
#include <gale/sentry/scrub.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace gale::sentry;
    std::string_view in(reinterpret_cast<const char*>(data), size);
    std::size_t nl = in.find('\n');
    std::string_view retry_after = in.substr(0, nl);
    std::string_view header = nl == std::string_view::npos ? std::string_view() : in.substr(nl + 1);
    const SteadyTime now{std::chrono::hours(1000)};
    RateLimits limits;
    limits.Update(429, retry_after, header.empty() ? std::nullopt : std::optional(header), now);
    for (std::string_view c : {"", "error", "default", "transaction"}) {
        SteadyTime until = limits.LimitedUntil(c);
        if (until != SteadyTime{} && (until < now || until > now + std::chrono::hours(24) + std::chrono::seconds(1))) {
            std::abort();
        }
    }
    const std::size_t bound = (size + 1) * (kFiltered.size() + 1);
    if (ScrubQueryString(in).size() > bound) std::abort();
    if (ScrubText(in).size() > bound) std::abort();
    (void)IsSensitiveKey(in);
    (void)ParseDsn(in);
    return 0;
}
