// SPDX-License-Identifier: MIT
// ReadEnvelope on untrusted bytes (anything an LPUSH can put in a queue's list): it must never throw or crash; what
// it reads as valid must survive the round trip gale makes of it (re-dumped into `unacked`, marked redelivered,
// read again: same tag, body and headers), and a valid envelope's message must survive MakeEnvelope + ReadEnvelope.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "kombu_envelope.hpp"
#include "py_json.hpp"

namespace d = gale::tasks::redis::detail;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view input(reinterpret_cast<const char*>(data), size);
    d::Envelope e = d::ReadEnvelope(input);
    if (!e.valid) {
        if (e.message.body != input) std::abort();
        return 0;
    }
    nlohmann::ordered_json raw = e.raw;
    d::MarkRedelivered(raw);
    d::Envelope again = d::ReadEnvelope(gale::tasks::detail::PythonJson(raw));
    if (!again.valid || again.delivery_tag != e.delivery_tag || again.message.body != e.message.body) std::abort();
    d::Envelope made = d::ReadEnvelope(
        gale::tasks::detail::PythonJson(d::MakeEnvelope(e.message, e.exchange, e.routing_key, e.delivery_tag)));
    if (!made.valid || made.message.body != e.message.body || made.message.headers != e.message.headers ||
        made.exchange != e.exchange || made.routing_key != e.routing_key) {
        std::abort();
    }
    return 0;
}
