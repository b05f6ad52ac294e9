// SPDX-License-Identifier: MIT
// Fuzzes the Cookie header parser: it may not crash or read outside its input, every pair it returns must lie
// inside the input with a non-empty name, and a pair's value must round-trip through FindCookie on a request.
// Then builds a Set-Cookie from the bytes: it must either be refused or hold no CR, LF or NUL.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include <gale/http/cookie.hpp>

namespace {

bool Inside(std::string_view part, std::string_view whole) {
    return part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string input(reinterpret_cast<const char*>(data), size);
    const std::string_view in(input);
    const auto pairs = gale::http::ParseCookieHeader(in);
    for (const auto& p : pairs) {
        if (p.name.empty() || !Inside(p.name, in) || (!p.value.empty() && !Inside(p.value, in))) std::abort();
        if (p.name.find(';') != std::string_view::npos || p.value.find(';') != std::string_view::npos) std::abort();
    }
    gale::http::Request request;
    request.AddHeader("Cookie", in);
    if (!pairs.empty()) {
        auto found = gale::http::FindCookie(request, pairs.front().name);
        if (!found || *found != pairs.front().value) std::abort();
    }
    const std::size_t half = size / 2;
    gale::http::SetCookie cookie{.name = input.substr(0, half), .value = input.substr(half)};
    cookie.domain = input.substr(0, size / 3);
    if (auto header = gale::http::FormatSetCookie(cookie)) {
        if (header->find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos) std::abort();
    }
    return 0;
}
