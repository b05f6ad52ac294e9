// SPDX-License-Identifier: MIT
// DecodeEnvelope on arbitrary bytes must never crash; whatever it decodes must render again in the same format
// (unless it holds a non-finite float, which JSON refuses by design), and rendering must be idempotent: decoding the
// rendered bytes and rendering again gives the same bytes. A `json:` body must also read exactly as nlohmann reads it
// (the reader ReadJson replaced): same verdict, same Value down to number kinds and key order.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include <gale/pipe/wire.hpp>

#include "json_reader.hpp"
#include "json_reference.hpp"

namespace {

bool HasNonFinite(const gale::pipe::Value& v) {
    if (v.is_number_float()) return !std::isfinite(v.get<double>());
    if (v.is_structured()) {
        for (const auto& item : v) {
            if (HasNonFinite(item)) return true;
        }
    }
    return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace gale::pipe;
    const std::string_view bytes(reinterpret_cast<const char*>(data), size);
    if (bytes.starts_with("json:")) {
        const std::string_view body = bytes.substr(5);
        auto ours = detail::ReadJson(body);
        auto reference = detail::NlohmannReadJsonForTest(body);
        if (ours.has_value() != reference.has_value()) std::abort();
        if (ours && !detail::JsonDifferenceForTest(*ours, *reference).empty()) std::abort();
    }
    DecodeProblem problem = DecodeProblem::kNone;
    auto decoded = DecodeEnvelope(bytes, &problem);
    if (!decoded) {
        if (problem == DecodeProblem::kNone) std::abort();
        return 0;
    }
    if (problem != DecodeProblem::kNone) std::abort();
    const Envelope& envelope = decoded->envelope;
    (void)VersionMatches(envelope.version, 1);
    (void)KeyFor(envelope.message, "code");
    auto rendered = RenderEnvelope(decoded->format, envelope);
    if (!rendered) {
        if (decoded->format == Format::kJson && (HasNonFinite(envelope.message) || HasNonFinite(envelope.version))) {
            return 0;
        }
        std::abort();
    }
    auto again = DecodeEnvelope(*rendered);
    if (!again) std::abort();
    auto rerendered = RenderEnvelope(again->format, again->envelope);
    if (!rerendered || *rerendered != *rendered) std::abort();
    return 0;
}
