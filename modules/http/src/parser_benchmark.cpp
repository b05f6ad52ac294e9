// SPDX-License-Identifier: MIT
#include <benchmark/benchmark.h>

#include <gale/http/parser.hpp>

namespace {

void BM_ParseTypicalRequest(benchmark::State& state) {
    const std::string req =
        "GET /api/items/42?full=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: wrk\r\nAccept: */*\r\n"
        "Accept-Encoding: gzip, br\r\nConnection: keep-alive\r\nX-Request-ID: 0123456789abcdef\r\n\r\n";
    gale::http::ParsedHead head;
    gale::http::ParseLimits limits;
    for (auto _ : state) {
        auto st = gale::http::ParseRequestHead(req, limits, head);
        benchmark::DoNotOptimize(st);
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * req.size()));
}
BENCHMARK(BM_ParseTypicalRequest);

}  // namespace

BENCHMARK_MAIN();
