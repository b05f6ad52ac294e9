// SPDX-License-Identifier: MIT
/// @file gale/metrics/exposition.hpp
/// @brief Exposition formats: content negotiation and Content-Type for the /metrics endpoint.
#pragma once

#include <string_view>

namespace gale::metrics {

/// Text exposition formats.
enum class Format {
    kPrometheus,   ///< Prometheus text format 0.0.4
    kOpenMetrics,  ///< OpenMetrics 1.0.0 text format
};

/// Chooses the format for a scrape from its Accept header. Returns kOpenMetrics only when a media range
/// `application/openmetrics-text` (any version) is accepted with a q-value > 0 that is not lower than that of an
/// explicit `text/plain` range; everything else, including an empty or malformed header, gets kPrometheus. A
/// range whose q parameter is not a number in [0, 1] is ignored.
/// Prometheus' own header (`application/openmetrics-text;version=1.0.0,…,text/plain;version=0.0.4;q=0.5,*/*;q=0.1`)
/// yields kOpenMetrics.
[[nodiscard]] Format NegotiateFormat(std::string_view accept_header) noexcept;

/// The Content-Type header value for a response body in `format`:
/// "text/plain; version=0.0.4; charset=utf-8" or "application/openmetrics-text; version=1.0.0; charset=utf-8".
[[nodiscard]] std::string_view ContentType(Format format) noexcept;

}  // namespace gale::metrics
