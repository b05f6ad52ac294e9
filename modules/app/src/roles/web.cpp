// SPDX-License-Identifier: MIT
#include "roles/web.hpp"

#include <thread>

#include <gale/http/server.hpp>
#include <gale/http/static_files.hpp>
#include <gale/log/log.hpp>

#include "http_metrics.hpp"

namespace gale::app {
namespace {

constexpr const char* kLogger = "gale.serve";

class WebRole final : public Role {
public:
    std::string_view name() const noexcept override { return "web"; }

    Result<void> Declare(RoleContext& ctx) override {
        state_ = &ctx.state;
        const ServeOptions& o = ctx.options;
        options_ = &o;
        http::ServerOptions so;
        so.name = "app";
        so.bind = o.bind;
        so.port = o.port;
        so.loops = o.loops != 0 ? o.loops : std::max(1U, std::thread::hardware_concurrency());
        if (!o.inherited.app.empty()) {
            so.listen_fds = o.inherited.app;  // serve --processes: this process's share of the app port's sockets
            so.loops = so.listen_fds.size();
        }
        so.workers = o.workers;
        so.max_body_size = o.max_body_size;
        so.header_timeout = o.header_timeout;
        so.body_timeout = o.body_timeout;
        so.keep_alive_timeout = o.keep_alive_timeout;
        so.access_log = o.access_log;
        if (o.security_headers) {
            // A handler's own header of the same name wins over these.
            so.default_headers = {{"Strict-Transport-Security", "max-age=31536000; includeSubDomains"},
                                  {"X-Content-Type-Options", "nosniff"},
                                  {"X-Frame-Options", "DENY"},
                                  {"Referrer-Policy", "strict-origin-when-cross-origin"}};
        }
        for (const auto* m : {&o.static_mount, &o.media_mount}) {
            if (m->has_value()) GALE_RETURN_IF_ERROR(Mount(**m));
        }
        http::Server::Observer observer;
        if (ctx.registry != nullptr) metrics_ = std::make_unique<HttpMetrics>(*ctx.registry, so.loops);
        if (metrics_ != nullptr || ctx.sentry != nullptr) {
            // The metrics see every request; Sentry only 5xx answers and requests an error event waits for (two
            // relaxed loads otherwise).
            observer = [m = metrics_.get(), s = ctx.sentry](const http::RequestRecord& r) {
                if (m != nullptr) m->Observe(r);
                if (s != nullptr) s->OnRequest(r);
            };
        }
        server_ = std::make_unique<http::Server>(so, state_->router, observer);
        if (metrics::Registry* reg = ctx.registry) {
            http::Server* s = server_.get();
            (void)reg->AddCallbackGauge("gale_http_requests_in_flight", "Requests being handled.",
                                        [s] { return static_cast<double>(s->in_flight()); });
            (void)reg->AddCallbackGauge("gale_http_request_queue_length", "Requests waiting for a worker thread.",
                                        [s] { return static_cast<double>(s->queue_length()); });
            (void)reg->AddCallbackGauge("gale_http_open_connections", "Open client connections on the app port.",
                                        [s] { return static_cast<double>(s->open_connections()); });
            (void)reg->AddCallbackCounter("gale_http_internal_errors",
                                          "Events whose handling failed inside an event loop (each cost one "
                                          "connection, never the process).",
                                          [s] { return static_cast<double>(s->internal_errors()); });
        }
        return {};
    }

    http::Router* ProbeRouter() noexcept override {
        const ServeOptions& o = *options_;
        bool integrated = !o.no_probe && o.probe_port == o.port && o.port != 0;
        return integrated ? &state_->router : nullptr;
    }

    Result<void> Start() override {
        GALE_RETURN_IF_ERROR(server_->Listen());
        server_->Start();
        log::Info(kLogger, "app server listening",
                  {{"service", state_->name},
                   {"version", state_->version},
                   {"port", server_->port()},
                   {"loops", server_->options().loops},
                   {"workers", server_->options().workers},
                   {"max_connections", server_->options().max_connections},
                   {"probes", ProbeRouter() != nullptr ? "integrated" : "separate"}});
        return {};
    }

    bool WaitsForDrainDelay() const noexcept override { return true; }
    void BeginDrain() override { server_->SetDraining(); }
    void StopTaking() override { server_->StopAccepting(); }
    bool WaitIdle(std::chrono::steady_clock::time_point deadline) override {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        bool clean = server_->WaitForIdle(std::max(left, std::chrono::milliseconds(0)));
        if (!clean) {
            log::Warning(kLogger, "graceful timeout: closing remaining connections",
                         {{"open_connections", server_->open_connections()}, {"in_flight", server_->in_flight()}});
        }
        return clean;
    }
    void Stop() override {
        if (server_) server_->Stop();
    }

    std::size_t queue_length() const noexcept override { return server_ ? server_->queue_length() : 0; }
    std::int64_t stall_ms() const noexcept override { return server_ ? server_->max_loop_stall_ms() : 0; }
    std::uint64_t requests_served() const noexcept override { return server_ ? server_->requests_served() : 0; }

private:
    Result<void> Mount(const app::Mount& mount) {
        auto files = http::StaticFiles::Create({.root = mount.dir, .url_prefix = mount.url});
        if (!files) {
            return MakeError(ErrorCode::kInvalidArgument, "cannot serve files: " + files.error().ToString());
        }
        files_.push_back(std::make_unique<http::StaticFiles>(std::move(*files)));
        http::StaticFiles* f = files_.back().get();
        auto r = state_->router.Add(http::Method::kGet, mount.url + "{path...}",
                                    [f](http::Request& req) { return f->Serve(req); });
        if (!r) return tl::unexpected(r.error());
        log::Info(kLogger, "serving files", {{"url", mount.url}, {"root", f->root()}});
        return {};
    }

    App::State* state_ = nullptr;
    const ServeOptions* options_ = nullptr;
    std::vector<std::unique_ptr<http::StaticFiles>> files_;
    std::unique_ptr<HttpMetrics> metrics_;
    std::unique_ptr<http::Server> server_;
};

}  // namespace

std::unique_ptr<Role> MakeWebRole() { return std::make_unique<WebRole>(); }

}  // namespace gale::app
