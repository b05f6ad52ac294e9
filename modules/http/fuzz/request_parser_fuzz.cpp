// SPDX-License-Identifier: MIT
// Fuzzes the request-head parser and the chunked decoder with the same bytes: neither may crash, hang, read out
// of bounds, or report a head longer than its input.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include <gale/http/parser.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view in(reinterpret_cast<const char*>(data), size);
    gale::http::ParsedHead head;
    gale::http::ParseLimits limits;
    limits.max_head_bytes = 4096;
    limits.max_uri_bytes = 1024;
    limits.max_headers = 32;
    auto st = gale::http::ParseRequestHead(in, limits, head);
    if (st == gale::http::ParseStatus::kComplete) {
        if (head.head_length > size) std::abort();
        for (const auto& h : head.headers) {
            if (h.name.empty() || h.name.data() < in.data() || h.name.data() + h.name.size() > in.data() + size) {
                std::abort();
            }
        }
        in.remove_prefix(head.head_length);
    } else if (st == gale::http::ParseStatus::kError && head.error_status == 0) {
        std::abort();
    }
    // Feed the rest (or everything) to the chunked decoder in two pieces.
    gale::http::ChunkedDecoder decoder;
    std::string body;
    std::size_t used = 0;
    std::size_t half = in.size() / 2;
    auto r = decoder.Feed(in.substr(0, half), body, 1 << 16, used);
    if (used > half) std::abort();
    if (r == gale::http::ParseStatus::kIncomplete) {
        decoder.Feed(in.substr(half), body, 1 << 16, used);
    }
    if (body.size() > (1 << 16)) std::abort();
    return 0;
}
