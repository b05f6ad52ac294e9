// SPDX-License-Identifier: MIT
// Hot-path costs: Counter::Inc and Histogram::Observe from 1 to 8 threads on one shared metric (sharded: the
// per-thread cost should stay flat), against a single shared atomic for comparison; a cached-reference update
// versus a WithLabels lookup per call; and a scrape.
#include <atomic>

#include <benchmark/benchmark.h>

#include <gale/metrics/registry.hpp>

namespace gale::metrics {
namespace {

void CounterInc(benchmark::State& state) {
    static Counter counter;
    for (auto _ : state) counter.Inc();
    benchmark::DoNotOptimize(counter.Value());
}
BENCHMARK(CounterInc)->ThreadRange(1, 8)->UseRealTime();

// Baseline: what an unsharded counter costs when threads share its cache line.
void SharedAtomicFetchAdd(benchmark::State& state) {
    static std::atomic<double> value{0};
    for (auto _ : state) value.fetch_add(1.0, std::memory_order_relaxed);
    benchmark::DoNotOptimize(value.load());
}
BENCHMARK(SharedAtomicFetchAdd)->ThreadRange(1, 8)->UseRealTime();

void HistogramObserve(benchmark::State& state) {
    static Histogram histogram(DefaultBuckets());
    double v = 0;
    for (auto _ : state) {
        histogram.Observe(v);
        v = v < 10 ? v + 0.013 : 0;  // walk through all buckets
    }
    benchmark::DoNotOptimize(histogram.Collect().count);
}
BENCHMARK(HistogramObserve)->ThreadRange(1, 8)->UseRealTime();

Registry& SharedRegistry() {
    static Registry registry;
    return registry;
}

void FamilyWithLabelsLookup(benchmark::State& state) {
    static Family<Counter>* family =
        SharedRegistry().AddCounter("bench_requests", "Requests.", {"method", "code"}).value();
    for (auto _ : state) family->WithLabels({"GET", "200"}).Inc();
}
BENCHMARK(FamilyWithLabelsLookup)->ThreadRange(1, 8)->UseRealTime();

void RenderPrometheus(benchmark::State& state) {
    Registry registry;
    Family<Counter>* requests = registry.AddCounter("requests", "Requests.", {"route", "code"}).value();
    Family<Histogram>* latency = registry.AddHistogram("latency_seconds", "L.", {"route"}, DefaultBuckets()).value();
    for (int route = 0; route < 50; ++route) {
        latency->WithLabels({std::to_string(route)}).Observe(0.1);
        for (const char* code : {"200", "404", "500"}) requests->WithLabels({std::to_string(route), code}).Inc();
    }
    for (auto _ : state) benchmark::DoNotOptimize(registry.Render(Format::kPrometheus));
}
BENCHMARK(RenderPrometheus);

}  // namespace
}  // namespace gale::metrics

BENCHMARK_MAIN();
