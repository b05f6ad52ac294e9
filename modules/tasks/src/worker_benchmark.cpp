// SPDX-License-Identifier: MIT
// CPU per message of the pieces of the embedded path: the codec, the queue alone (claim + ack, no worker), and the
// worker's hand-off on the in-memory broker (no SQLite). bench/tasks_bench.cpp measures the whole.
#include <cstdio>
#include <filesystem>

#include <benchmark/benchmark.h>

#include <gale/tasks/embedded_broker.hpp>
#include <gale/tasks/testing/memory_broker.hpp>
#include <gale/tasks/worker.hpp>

namespace {

gale::tasks::TaskRequest AddRequest() {
    gale::tasks::TaskRequest r;
    r.task = "hello.add";
    r.id = gale::tasks::NewTaskId();
    r.root_id = r.id;
    r.args = nlohmann::json::array({2, 3});
    return r;
}

void BM_EncodeTask(benchmark::State& state) {
    const auto r = AddRequest();
    for (auto _ : state) benchmark::DoNotOptimize(gale::tasks::EncodeTask(r));
}
BENCHMARK(BM_EncodeTask);

void BM_DecodeTask(benchmark::State& state) {
    const auto m = gale::tasks::EncodeTask(AddRequest());
    for (auto _ : state) benchmark::DoNotOptimize(gale::tasks::DecodeTask(m));
}
BENCHMARK(BM_DecodeTask);

std::string FreshPath(const char* name) {
    std::string p = (std::filesystem::temp_directory_path() / name).string();
    for (const char* s : {"", "-wal", "-shm"}) std::filesystem::remove(p + s);
    return p;
}

// The queue alone: publish a batch, then claim and ack every message through one consumer.
void BM_EmbeddedClaimAck(benchmark::State& state) {
    const std::string path = FreshPath("gale-tasks-benchmark.db");
    auto broker = std::move(*gale::tasks::EmbeddedBroker::Open(path));
    const auto message = gale::tasks::EncodeTask(AddRequest());
    std::vector<gale::tasks::TransportMessage> batch(1000, message);
    auto consumer = std::move(*broker->Consume({"celery"}, static_cast<std::size_t>(state.range(0))));
    std::int64_t n = 0;
    for (auto _ : state) {
        state.PauseTiming();
        (void)broker->PublishMany({.queue = "celery"}, batch);
        state.ResumeTiming();
        for (std::size_t i = 0; i < batch.size(); ++i) {
            auto d = consumer->Next(std::chrono::milliseconds(100));
            if (!d || !*d) {
                state.SkipWithError("no delivery");
                return;
            }
            (void)consumer->Ack(**d);
            ++n;
        }
    }
    state.SetItemsProcessed(n);
}
BENCHMARK(BM_EmbeddedClaimAck)->Arg(8)->Arg(64)->Arg(256)->Unit(benchmark::kMillisecond);

// The worker without SQLite: no-op tasks through the in-memory broker.
void BM_WorkerNoopOnMemoryBroker(benchmark::State& state) {
    gale::tasks::testing::MemoryBroker broker;
    gale::tasks::TaskRegistry registry;
    (void)registry.Add("hello.add", [](gale::tasks::TaskContext&) -> gale::Result<nlohmann::json> { return nullptr; });
    gale::tasks::TaskClient client(broker, nullptr);
    gale::tasks::Worker worker(broker, registry, nullptr, client,
                               {.concurrency = static_cast<std::size_t>(state.range(0)), .prefetch_multiplier = 16});
    (void)worker.Start();
    const auto message = gale::tasks::EncodeTask(AddRequest());
    std::uint64_t done = 0;
    for (auto _ : state) {
        state.PauseTiming();
        for (int i = 0; i < 1000; ++i) (void)broker.Publish({.queue = "celery"}, message);
        state.ResumeTiming();
        done += 1000;
        while (worker.Stats().outcomes[static_cast<std::size_t>(gale::tasks::TaskOutcome::kSucceeded)] < done) {
        }
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(done));
    worker.Stop();
}
BENCHMARK(BM_WorkerNoopOnMemoryBroker)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
