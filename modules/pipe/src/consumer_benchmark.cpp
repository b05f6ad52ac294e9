// SPDX-License-Identifier: MIT
// CPU cost per record of the consume path without any transport: a backend that hands out copies of one
// django-logpipe envelope (as KafkaConsumer::Poll builds a Record per message) and whose Commit does nothing, driven
// by Consumer::RunOnce with a TypedHandler (decode, dispatch, Validate, Save, commit bookkeeping, counters).
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <benchmark/benchmark.h>

#include <gale/pipe/consumer.hpp>
#include <gale/pipe/serializer.hpp>
#include <gale/pipe/wire.hpp>

#include "json_reader.hpp"

namespace bench {
struct UsState {
    std::string code;
    std::string name;
};
GALE_PIPE_DEFINE_MESSAGE(UsState, code, name)
}  // namespace bench

namespace {

constexpr const char* kEnvelope = R"(json:{"type":"us-state","version":1,"message":{"code":"NY","name":"New York"}})";

class RepeatBackend final : public gale::pipe::ConsumerBackend {
public:
    gale::Result<std::optional<gale::pipe::Record>> Poll(std::chrono::milliseconds) override {
        gale::pipe::Record record;
        record.topic = "states";
        record.partition = std::to_string(offset_ % 12);
        record.offset = std::to_string(offset_++);
        record.key = "key-17";
        record.value = kEnvelope;
        return record;
    }
    gale::Result<void> Commit(const gale::pipe::Record&) override {
        ++commits_;
        return {};
    }
    std::int64_t commits_ = 0;

private:
    std::int64_t offset_ = 0;
};

void BM_DecodeEnvelope(benchmark::State& state) {
    const std::string value = kEnvelope;
    for (auto _ : state) {
        auto decoded = gale::pipe::DecodeEnvelope(value);
        benchmark::DoNotOptimize(decoded);
    }
}
BENCHMARK(BM_DecodeEnvelope);

// The JSON body alone, by the reader DecodeEnvelope uses and by nlohmann's parse, which it replaced.
void BM_ReadJsonEnvelope(benchmark::State& state) {
    const std::string body(std::string_view(kEnvelope).substr(5));
    for (auto _ : state) {
        auto value = gale::pipe::detail::ReadJson(body);
        benchmark::DoNotOptimize(value);
    }
}
BENCHMARK(BM_ReadJsonEnvelope);

void BM_NlohmannParseEnvelope(benchmark::State& state) {
    const std::string body(std::string_view(kEnvelope).substr(5));
    for (auto _ : state) {
        auto value = gale::pipe::Value::parse(body.begin(), body.end());
        benchmark::DoNotOptimize(value);
    }
}
BENCHMARK(BM_NlohmannParseEnvelope);

void BM_ConsumeRecord(benchmark::State& state) {
    RepeatBackend backend;
    gale::pipe::ConsumerOptions options;
    options.batch_size = static_cast<std::size_t>(state.range(0));
    gale::pipe::Consumer consumer("states", backend, options);
    std::uint64_t saved = 0;
    consumer.Register(gale::pipe::MakeHandler<bench::UsState>(
        gale::pipe::TypedSerializer<bench::UsState>("us-state", 1, "code"),
        [&saved](const bench::UsState&) -> gale::Result<void> {
            ++saved;
            return {};
        },
        [](const bench::UsState& s) -> gale::Result<void> {
            if (s.code.size() != 2) return gale::MakeError(gale::ErrorCode::kInvalidArgument, "bad code");
            return {};
        }));
    std::int64_t records = 0;
    for (auto _ : state) {
        auto handled = consumer.RunOnce(std::chrono::milliseconds(0));
        if (!handled) state.SkipWithError(handled.error().ToString().c_str());
        records += static_cast<std::int64_t>(*handled);
    }
    if (saved != static_cast<std::uint64_t>(records)) state.SkipWithError("not every record was saved");
    state.SetItemsProcessed(records);
}
BENCHMARK(BM_ConsumeRecord)->Arg(1)->Arg(256);

}  // namespace

BENCHMARK_MAIN();
