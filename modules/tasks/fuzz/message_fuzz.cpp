// SPDX-License-Identifier: MIT
// DecodeTask on untrusted bytes: the input is split at the first NUL into headers (JSON) and body; whatever decodes
// must encode and decode again to the same request.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include <gale/tasks/message.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view input(reinterpret_cast<const char*>(data), size);
    gale::tasks::TransportMessage m;
    std::size_t nul = input.find('\0');
    if (nul != std::string_view::npos) {
        m.headers = nlohmann::ordered_json::parse(input.substr(0, nul), nullptr, /*allow_exceptions=*/false);
        if (m.headers.is_discarded()) return 0;
        m.body = std::string(input.substr(nul + 1));
    } else {
        m.headers = nlohmann::ordered_json::object();
        m.body = std::string(input);
    }
    auto r = gale::tasks::DecodeTask(m);
    if (!r) return 0;
    auto again = gale::tasks::DecodeTask(gale::tasks::EncodeTask(*r));
    if (!again || again->id != r->id || again->task != r->task || again->args != r->args ||
        again->kwargs != r->kwargs || again->retries != r->retries) {
        std::abort();
    }
    return 0;
}
