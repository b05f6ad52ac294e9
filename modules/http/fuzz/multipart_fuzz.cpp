// SPDX-License-Identifier: MIT
// Fuzzes the multipart/form-data parser. The first byte picks a chunk size; the rest is the body (boundary "XyZ").
// Invariants: no crash, hang or out-of-bounds read; the parts, their bytes and the outcome (success or the exact
// error) are the same whether the body is fed whole, in chunks of the chosen size or one byte at a time; a field's
// bytes never exceed the field limit; the callbacks come in order. The same bytes are also tried as a Content-Type.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <gale/http/multipart.hpp>

namespace {

struct Part {
    std::string name;
    std::optional<std::string> filename;
    std::string content_type;
    std::string body;
    bool ended = false;
    bool operator==(const Part&) const = default;
};

class Recorder : public gale::http::MultipartSink {
public:
    gale::Result<void> OnPartBegin(const gale::http::MultipartPart& part) override {
        if (!parts.empty() && !parts.back().ended) std::abort();
        if (part.index != parts.size() + 1) std::abort();
        parts.push_back({part.name, part.filename, part.content_type, "", false});
        return {};
    }
    gale::Result<void> OnPartData(std::string_view bytes) override {
        if (bytes.empty() || parts.empty() || parts.back().ended) std::abort();
        parts.back().body.append(bytes);
        return {};
    }
    gale::Result<void> OnPartEnd() override {
        if (parts.empty() || parts.back().ended) std::abort();
        parts.back().ended = true;
        return {};
    }
    std::vector<Part> parts;
};

struct Outcome {
    std::vector<Part> parts;
    std::string error;
    bool operator==(const Outcome&) const = default;
};

constexpr gale::http::MultipartLimits kLimits{
    .max_parts = 64, .max_header_bytes = 512, .max_field_bytes = 256, .max_total_bytes = 1 << 20};

Outcome Run(std::string_view body, std::size_t step) {
    Recorder rec;
    gale::http::MultipartParser parser("XyZ", rec, kLimits);
    Outcome out;
    for (std::size_t i = 0; i < body.size(); i += step) {
        gale::Result<void> r = parser.Feed(body.substr(i, step));
        if (!r) {
            out.error = r.error().ToString();
            break;
        }
    }
    if (out.error.empty()) {
        gale::Result<void> r = parser.Finish();
        if (!r) out.error = r.error().ToString();
    }
    // A failed parse may stop at a different byte, but only after the same complete parts; what was reported of
    // the part in progress must be a prefix of what the other feeding reports.
    for (const Part& p : rec.parts) {
        if (!p.filename && p.body.size() > kLimits.max_field_bytes) std::abort();
    }
    if (rec.parts.size() > kLimits.max_parts) std::abort();
    out.parts = std::move(rec.parts);
    return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    std::string_view all(reinterpret_cast<const char*>(data), size);
    (void)gale::http::MultipartBoundary(all);
    std::size_t step = static_cast<unsigned char>(all[0]) % 16 + 1;
    std::string_view body = all.substr(1);
    Outcome whole = Run(body, body.size() + 1);
    Outcome chunked = Run(body, step);
    Outcome bytewise = Run(body, 1);
    if (whole.error.empty() || chunked.error.empty() || bytewise.error.empty()) {
        // Success must be unanimous and identical.
        if (!(whole == chunked) || !(whole == bytewise)) std::abort();
    } else if (whole.error != chunked.error || whole.error != bytewise.error) {
        std::abort();
    }
    return 0;
}
