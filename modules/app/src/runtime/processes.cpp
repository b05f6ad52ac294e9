// SPDX-License-Identifier: MIT
//
// The sequence is documented in processes.hpp. Invariants:
//  - nothing forks once a thread exists: every fork happens before the supervisor's RunRoles (whose shutdown
//    controller starts the first thread), and each forked process starts its own threads itself;
//  - every socket is opened before the first fork, so each process only closes what is not its own;
//  - the supervisor never runs the service's checks, resources or start-up steps: it runs on a State of its own.
#include "runtime/processes.hpp"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <optional>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <gale/health/checks.hpp>
#include <gale/http/client.hpp>
#include <gale/http/server.hpp>
#include <gale/log/log.hpp>
#include <gale/metrics/merge.hpp>

#include "runtime/runner.hpp"

namespace gale::app {
namespace {

constexpr const char* kLogger = "gale.processes";
constexpr auto kPoll = std::chrono::milliseconds(100);
/// A process's probe or metrics answer takes at most this (they never wait for a check).
constexpr auto kAskTimeout = std::chrono::milliseconds(1000);
/// How long past the drain budget the supervisor waits for its processes before it kills them: their Sentry queue
/// gets kSentryBudget after their own drain, and one second more.
constexpr auto kExitMargin = kSentryBudget + std::chrono::milliseconds(1000);

std::string DescribeExit(int status) {
    if (WIFEXITED(status)) return fmt::format("exited with code {}", WEXITSTATUS(status));
    if (WIFSIGNALED(status)) {
        return fmt::format("was killed by signal {} ({})", WTERMSIG(status), ::strsignal(WTERMSIG(status)));
    }
    return "ended";
}

bool Succeeded(int status) { return WIFEXITED(status) && WEXITSTATUS(status) == 0; }

/// fork() with the service's hooks around it (after_* in reverse order, in the parent even when fork failed).
pid_t ForkWithHooks(const std::vector<ForkHooks>& hooks) {
    for (const ForkHooks& h : hooks) {
        if (h.before) h.before();
    }
    pid_t pid = ::fork();
    for (auto it = hooks.rbegin(); it != hooks.rend(); ++it) {
        const std::function<void()>& fn = pid == 0 ? it->after_child : it->after_parent;
        if (fn) fn();
    }
    return pid;
}

/// Every socket of the processes, opened before the first fork.
struct Sockets {
    std::size_t loops = 0;  // per process
    std::vector<int> app;   // processes × loops: process i has [i × loops, (i + 1) × loops)
    std::uint16_t app_port = 0;
    std::vector<int> probes;  // one per process, on 127.0.0.1
    std::vector<std::uint16_t> probe_ports;
    int public_probe = -1;  // the supervisor's (none with --no-probe)
    std::uint16_t public_probe_port = 0;

    Sockets() = default;
    Sockets(const Sockets&) = delete;
    Sockets& operator=(const Sockets&) = delete;
    Sockets(Sockets&& other) noexcept { *this = std::move(other); }
    Sockets& operator=(Sockets&& other) noexcept {
        loops = other.loops;
        app = std::exchange(other.app, {});
        app_port = other.app_port;
        probes = std::exchange(other.probes, {});
        probe_ports = std::exchange(other.probe_ports, {});
        public_probe = std::exchange(other.public_probe, -1);
        public_probe_port = other.public_probe_port;
        return *this;
    }
    ~Sockets() { CloseAllBut(std::nullopt, false); }

    /// Closes what `process` does not own (every socket for std::nullopt); `keep_public` keeps the supervisor's.
    void CloseAllBut(std::optional<std::size_t> process, bool keep_public) {
        for (std::size_t i = 0; i < app.size(); ++i) {
            if (process && i / loops == *process) continue;
            if (app[i] >= 0) ::close(app[i]);
            app[i] = -1;
        }
        for (std::size_t i = 0; i < probes.size(); ++i) {
            if (process && i == *process) continue;
            if (probes[i] >= 0) ::close(probes[i]);
            probes[i] = -1;
        }
        if (!keep_public && public_probe >= 0) ::close(public_probe);
        if (!keep_public) public_probe = -1;
    }
};

Result<Sockets> OpenSockets(const ServeOptions& o) {
    Sockets s;
    const std::size_t n = o.processes;
    const std::size_t cores = std::max(1U, std::thread::hardware_concurrency());
    s.loops = o.loops != 0 ? o.loops : std::max<std::size_t>(1, cores / n);
    GALE_ASSIGN_OR_RETURN(http::Listeners app, http::OpenListeners("app", o.bind, o.port, n * s.loops));
    s.app = std::move(app.fds);
    s.app_port = app.port;
    for (std::size_t i = 0; i < n; ++i) {
        GALE_ASSIGN_OR_RETURN(http::Listeners probe, http::OpenListeners("probe", "127.0.0.1", 0, 1));
        s.probes.push_back(probe.fds.front());
        s.probe_ports.push_back(probe.port);
    }
    if (!o.no_probe) {
        GALE_ASSIGN_OR_RETURN(http::Listeners probe, http::OpenListeners("probe", o.bind, o.probe_port, 1));
        s.public_probe = probe.fds.front();
        s.public_probe_port = probe.port;
    }
    return s;
}

/// Waits for `pid` to end, passing SIGTERM and SIGINT on to it (they are blocked here: sigtimedwait takes them).
/// Returns whether one arrived.
bool WaitPassingSignals(pid_t pid, int& status) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    bool signalled = false;
    for (;;) {
        pid_t r = ::waitpid(pid, &status, WNOHANG);
        if (r == pid) return signalled;
        if (r < 0 && errno != EINTR) {
            status = 0;
            return signalled;
        }
        timespec poll{0, std::chrono::nanoseconds(kPoll).count()};
        int sig = ::sigtimedwait(&set, nullptr, &poll);
        if (sig > 0) {
            signalled = true;
            ::kill(pid, sig);
        }
    }
}

struct Process {
    std::size_t index = 0;
    pid_t pid = -1;
    std::uint16_t probe_port = 0;
    bool exited = false;  // guarded by Supervisor::mu_, as status and signalled
    int status = 0;
    bool signalled = false;
};

/// The supervisor's role: its probes are those of every process, its metrics theirs merged; it passes the drain
/// on and waits for them.
class Supervisor final : public Role {
public:
    Supervisor(std::vector<Process> processes, const ServeOptions& o) : processes_(std::move(processes)), options_(o) {}
    ~Supervisor() override { Stop(); }

    std::string_view name() const noexcept override { return "processes"; }

    Result<void> Declare(RoleContext& ctx) override {
        shutdown_ = &ctx.shutdown;
        registry_ = ctx.registry;
        checks_ = &ctx.state.checks;
        const struct {
            const char* name;
            std::uint8_t tag;
            const std::string& path;
        } kProbes[] = {{"startup", health::kStartup, options_.startup_probe},
                       {"readiness", health::kReadiness, options_.readiness_probe},
                       {"liveness", health::kLiveness, options_.liveness_probe}};
        for (std::size_t i = 0; i < processes_.size(); ++i) {
            for (const auto& probe : kProbes) {
                std::string path = probe.path;
                GALE_RETURN_IF_ERROR(ctx.state.checks.Add(fmt::format("process-{}-{}", i, probe.name),
                                                          [this, i, path] { return Ask(i, path); },
                                                          {.tags = probe.tag, .timeout = 2 * kAskTimeout}));
            }
        }
        if (registry_ != nullptr) {
            GALE_RETURN_IF_ERROR(registry_->AddCallbackGauge(
                "gale_processes", "Processes serving the app port that are running (serve --processes).", [this] {
                    std::lock_guard lock(mu_);
                    double n = 0;
                    for (const Process& p : processes_) n += p.exited ? 0 : 1;
                    return n;
                }));
        }
        reaper_ = std::thread([this] { Reap(); });
        return {};
    }

    Result<void> Start() override {
        std::vector<bool> up(processes_.size(), false);
        std::size_t waiting = processes_.size();
        while (waiting > 0 && !shutdown_->requested()) {
            for (std::size_t i = 0; i < processes_.size(); ++i) {
                if (up[i]) continue;
                {
                    std::lock_guard lock(mu_);
                    const Process& p = processes_[i];
                    if (p.exited) {
                        bool invalid = WIFEXITED(p.status) && WEXITSTATUS(p.status) == 2;
                        return MakeError(
                            invalid ? ErrorCode::kInvalidArgument : ErrorCode::kUnavailable,
                            fmt::format("process {} (pid {}) {} during start-up", i, p.pid, DescribeExit(p.status)));
                    }
                }
                if (Ask(i, options_.startup_probe).status == health::Status::kOk) {
                    up[i] = true;
                    --waiting;
                }
            }
            if (waiting > 0) shutdown_->WaitFor(kPoll);
        }
        // A first result for every check, so that the probes answer from the start (they never wait for one).
        if (waiting == 0) (void)checks_->Run(0);
        started_.store(true);
        log::Info(kLogger, "every process is serving",
                  {{"processes", static_cast<std::uint64_t>(processes_.size())}, {"started", waiting == 0}});
        return {};
    }

    bool WaitsForDrainDelay() const noexcept override { return true; }
    void BeginDrain() override { SignalAll(SIGTERM, /*once=*/true); }
    void StopTaking() override {}  // each process closes its own listeners after its drain delay
    bool WaitIdle(std::chrono::steady_clock::time_point deadline) override {
        std::unique_lock lock(mu_);
        return cv_.wait_until(lock, deadline + kExitMargin, [this] { return AllExited(); });
    }
    void Stop() override {
        if (stopped_) return;
        stopped_ = true;
        SignalAll(SIGTERM, /*once=*/true);
        {
            std::unique_lock lock(mu_);
            if (!cv_.wait_for(lock, kExitMargin, [this] { return AllExited(); })) {
                for (Process& p : processes_) {
                    if (p.exited) continue;
                    log::Error(kLogger, "a process did not exit in time; killing it",
                               {{"index", static_cast<std::uint64_t>(p.index)}, {"pid", p.pid}});
                    ::kill(p.pid, SIGKILL);
                }
            }
        }
        if (reaper_.joinable()) reaper_.join();
    }

    int exit_code() const noexcept override { return failed_.load() ? 1 : 0; }

    std::function<std::string(metrics::Format)> MetricsRenderer() override {
        if (registry_ == nullptr) return {};
        return [this](metrics::Format format) {
            std::vector<metrics::SourceExposition> sources;
            sources.push_back({"supervisor", registry_->Render(format)});
            http::Client client;
            for (std::size_t i = 0; i < processes_.size(); ++i) {
                std::uint16_t port = 0;
                {
                    std::lock_guard lock(mu_);
                    if (processes_[i].exited) continue;
                    port = processes_[i].probe_port;
                }
                auto r = client.Send({.url = fmt::format("http://127.0.0.1:{}{}", port, options_.metrics_path),
                                      .headers = {{"Accept", std::string(metrics::ContentType(format))}},
                                      .timeout = 2 * kAskTimeout});
                if (r && r->status == 200) {
                    sources.push_back({std::to_string(i), std::move(r->body)});
                } else {
                    log::Warning(kLogger, "a process's metrics were not scraped",
                                 {{"index", static_cast<std::uint64_t>(i)},
                                  {"error", r ? fmt::format("status {}", r->status) : r.error().ToString()}});
                }
            }
            return metrics::MergeExpositions("process", sources, format);
        };
    }

private:
    /// Process i's answer at `path` of its loopback probe port: ok for 200, else its reason.
    health::CheckResult Ask(std::size_t i, const std::string& path) {
        std::uint16_t port = 0;
        {
            std::lock_guard lock(mu_);
            const Process& p = processes_[i];
            if (p.exited) return health::CheckResult::Error(fmt::format("process {} {}", i, DescribeExit(p.status)));
            port = p.probe_port;
        }
        http::Client client;
        auto r = client.Send({.url = fmt::format("http://127.0.0.1:{}{}", port, path),
                              .timeout = kAskTimeout,
                              .connect_timeout = kAskTimeout});
        if (!r) return health::CheckResult::Error(fmt::format("process {}: {}", i, r.error().message()));
        if (r->status == 200) return health::CheckResult::Ok();
        auto body = nlohmann::json::parse(r->body, nullptr, /*allow_exceptions=*/false);
        std::string reason = body.is_object() && body.contains("reason") && body["reason"].is_string()
                                 ? body["reason"].get<std::string>()
                                 : fmt::format("status {}", r->status);
        return health::CheckResult::Error(fmt::format("process {}: {}", i, reason));
    }

    bool AllExited() const {
        for (const Process& p : processes_) {
            if (!p.exited) return false;
        }
        return true;
    }

    void SignalAll(int sig, bool once) {
        std::lock_guard lock(mu_);
        draining_ = true;
        for (Process& p : processes_) {
            if (p.exited || (once && p.signalled)) continue;
            p.signalled = true;
            ::kill(p.pid, sig);
        }
    }

    void Reap() {
        for (;;) {
            int status = 0;
            pid_t pid = ::waitpid(-1, &status, 0);
            if (pid < 0) {
                if (errno == EINTR) continue;
                return;  // ECHILD: none left
            }
            std::unique_lock lock(mu_);
            Process* p = nullptr;
            for (Process& candidate : processes_) {
                if (candidate.pid == pid) p = &candidate;
            }
            if (p == nullptr) continue;
            p->exited = true;
            p->status = status;
            bool unexpected = !draining_;
            if (unexpected || !Succeeded(status)) failed_.store(true);
            std::size_t index = p->index;
            cv_.notify_all();
            lock.unlock();
            log::Write(unexpected || !Succeeded(status) ? log::Level::kError : log::Level::kInfo, kLogger,
                       unexpected ? "a process ended while serving; stopping the others" : "process exited",
                       {{"index", static_cast<std::uint64_t>(index)}, {"pid", pid}, {"exit", DescribeExit(status)}});
            // During start-up, Start reports it (and start-up fails); afterwards the whole drains and exits 1.
            if (unexpected && started_.load()) {
                shutdown_->Request(lifecycle::StopReason::kRequested,
                                   fmt::format("process {} {}", index, DescribeExit(status)));
            }
        }
    }

    std::vector<Process> processes_;
    const ServeOptions& options_;
    lifecycle::ShutdownController* shutdown_ = nullptr;
    metrics::Registry* registry_ = nullptr;
    health::CheckRegistry* checks_ = nullptr;
    mutable std::mutex mu_;
    std::condition_variable cv_;
    bool draining_ = false;  // guarded by mu_
    std::atomic<bool> started_{false};
    std::atomic<bool> failed_{false};
    bool stopped_ = false;
    std::thread reaper_;
};

}  // namespace

int RunProcesses(App::State& state, const ServeOptions& o, const RoleFactory& make_roles, char** argv,
                 std::string_view logger) {
    lifecycle::BlockShutdownSignals();  // forwarded by hand until the supervisor's runner watches them
    for (const auto& err : state.registration_errors) log::Error(logger, "invalid declaration", {{"error", err}});
    if (!state.registration_errors.empty()) return 2;
    (void)http::RaiseOpenFileLimit();  // before the forks: every process inherits it
    auto sockets = OpenSockets(o);
    if (!sockets) {
        int code = sockets.error().code() == ErrorCode::kInvalidArgument ? 2 : 1;
        return FailStartupBeforeRoles(state, o, logger, code, "processes", sockets.error().ToString());
    }
    log::Info(logger, "serving with several processes",
              {{"processes", static_cast<std::uint64_t>(o.processes)},
               {"loops_per_process", static_cast<std::uint64_t>(sockets->loops)},
               {"port", sockets->app_port},
               {"probe_port", sockets->public_probe_port}});

    // The start-up steps, once, in a process of their own.
    if (!o.commands.empty() || o.check_migrations) {
        pid_t pid = ForkWithHooks(state.fork_hooks);
        if (pid < 0) {
            return FailStartupBeforeRoles(state, o, logger, 1, "start-up steps",
                                          fmt::format("fork: {}", std::strerror(errno)));
        }
        if (pid == 0) {
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);
            sockets->CloseAllBut(std::nullopt, false);
            log::SetProcessLabel("steps");
            return RunStartupStepsAlone(state, o, logger);
        }
        int status = 0;
        if (WaitPassingSignals(pid, status)) {
            log::Info(logger, "stopped during the start-up steps");
            return 0;
        }
        // The steps' process logged the failure and sent startup/failed.
        if (!Succeeded(status)) return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
    }

    const pid_t supervisor_pid = ::getpid();
    std::vector<Process> processes;
    for (std::size_t i = 0; i < o.processes; ++i) {
        pid_t pid = ForkWithHooks(state.fork_hooks);
        if (pid < 0) {
            int err = errno;
            for (const Process& p : processes) ::kill(p.pid, SIGKILL);
            return FailStartupBeforeRoles(state, o, logger, 1, "processes",
                                          fmt::format("fork of process {}: {}", i, std::strerror(err)));
        }
        if (pid == 0) {
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (::getppid() != supervisor_pid) ::_exit(1);  // the supervisor died before prctl
            log::SetProcessLabel(std::to_string(i));
            ServeOptions co = o;
            auto first = sockets->app.begin() + static_cast<std::ptrdiff_t>(i * sockets->loops);
            co.inherited.app.assign(first, first + static_cast<std::ptrdiff_t>(sockets->loops));
            co.inherited.probe = sockets->probes[i];
            sockets->CloseAllBut(i, false);
            sockets->app.clear();  // now owned by the servers
            sockets->probes.clear();
            co.processes = 1;
            co.probe_port = 0;  // the probes are on the inherited loopback socket, never on the app port
            co.no_probe = false;
            co.commands.clear();
            co.check_migrations = false;
            co.webhook_urls.clear();
            co.autoreload = false;
            return RunRoles(state, co, make_roles(), argv, logger);
        }
        processes.push_back({.index = i, .pid = pid, .probe_port = sockets->probe_ports[i]});
    }

    // The supervisor: a State of its own (no checks, resources or metrics of the service), the public probe port.
    sockets->CloseAllBut(std::nullopt, /*keep_public=*/true);
    ServeOptions so = o;
    so.commands.clear();
    so.check_migrations = false;
    so.inherited.probe = std::exchange(sockets->public_probe, -1);
    log::SetProcessLabel("supervisor");
    App::State supervisor;
    supervisor.name = state.name;
    supervisor.version = state.version;
    std::vector<std::unique_ptr<Role>> roles;
    roles.push_back(std::make_unique<Supervisor>(std::move(processes), so));
    return RunRoles(supervisor, so, std::move(roles), argv, logger);
}

}  // namespace gale::app
