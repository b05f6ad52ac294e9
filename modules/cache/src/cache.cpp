// SPDX-License-Identifier: MIT
// Get-or-compute, the same for every cache (contract in gale/cache/cache.hpp).
//
// Invariant (under Flights::mu): a key is in `computing` exactly while one caller runs its computation; the others
// wait on its Flight, which that caller fills and signals before removing the key.
#include <condition_variable>
#include <map>
#include <mutex>

#include <gale/cache/cache.hpp>

namespace gale::cache {

struct Cache::Flights {
    struct Flight {
        bool done = false;
        std::optional<Result<std::string>> outcome;
    };
    std::mutex mu;
    std::condition_variable cv;
    std::map<std::string, std::shared_ptr<Flight>, std::less<>> computing;
};

Cache::Cache() : flights_(std::make_unique<Flights>()) {}
Cache::~Cache() = default;

Result<std::string> Cache::GetOrCompute(std::string_view key, const std::function<Result<std::string>()>& compute,
                                        Ttl ttl) {
    GALE_ASSIGN_OR_RETURN(auto cached, Get(key));
    if (cached) return std::move(*cached);
    Flights& f = *flights_;
    std::shared_ptr<Flights::Flight> flight;
    {
        std::unique_lock lock(f.mu);
        if (auto it = f.computing.find(key); it != f.computing.end()) {
            auto theirs = it->second;  // someone computes it now: wait for their result
            f.cv.wait(lock, [&] { return theirs->done; });
            return *theirs->outcome;
        }
        flight = std::make_shared<Flights::Flight>();
        f.computing.emplace(std::string(key), flight);
    }
    // Another caller may have stored it between our Get and our claim: look once more before computing.
    Result<std::string> outcome = [&]() -> Result<std::string> {
        GALE_ASSIGN_OR_RETURN(auto again, Get(key));
        if (again) return std::move(*again);
        Result<std::string> made = [&]() -> Result<std::string> {
            try {
                return compute();
            } catch (const std::exception& e) {
                return MakeError(ErrorCode::kInternal, std::string("cache: the computation threw: ") + e.what());
            }
        }();
        if (made) GALE_RETURN_IF_ERROR(Set(key, *made, ttl));
        return made;
    }();
    {
        std::lock_guard lock(f.mu);
        flight->outcome = outcome;
        flight->done = true;
        f.computing.erase(f.computing.find(key));
    }
    f.cv.notify_all();
    return outcome;
}

}  // namespace gale::cache
