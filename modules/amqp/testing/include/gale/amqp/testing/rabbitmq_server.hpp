// SPDX-License-Identifier: MIT
/// @file gale/amqp/testing/rabbitmq_server.hpp
/// @brief A throwaway RabbitMQ broker for tests: Debian's rabbitmq-server on free loopback ports, in a temp dir.
///
/// Start() makes a temp directory (data, logs, config, Erlang cookie: HOME points there), starts its own `epmd` on
/// a free loopback port (ERL_EPMD_PORT, so no system epmd is used or left behind), then
/// /usr/lib/rabbitmq/bin/rabbitmq-server (the Debian package's real script, not the /usr/sbin wrapper, which as root
/// would `su rabbitmq` and write to /var/lib/rabbitmq) with its own node name, a free AMQP port and distribution
/// port on 127.0.0.1, no plugins, a user made from rabbitmq.conf's default_user, and low disk/memory alarms off. It
/// returns once an AMQP login succeeds (about 5 s on two cores). Works as root (CI) and as any other user.
///
/// Each process runs in its own process group; Stop() sends SIGTERM to the broker's group and waits, Kill()
/// SIGKILLs it, StartAgain() starts it again on the same ports and data (durable queues and persistent messages
/// survive), and the destructor stops the broker and its epmd and deletes the directory: only what Start() started
/// is ever signalled. Start() fails, never skips, when rabbitmq-server is not installed
/// (tools/install-deps.sh test). $GALE_RABBITMQ_SERVER overrides the script's path.
///
/// Ownership: the object owns both processes and the directory. Thread-compatible. Header-only; POSIX.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gale/amqp/publisher.hpp>
#include <gale/amqp/settings.hpp>
#include <gale/base/error.hpp>

extern char** environ;

namespace gale::amqp::testing {

class RabbitMqServer {
public:
    struct Options {
        std::string username = "gale";
        std::string password = "gale-test-Pw-7c2e";
        std::chrono::seconds start_timeout{60};
        /// Also listen with TLS (amqps) on tls_port(), with a server certificate for 127.0.0.1 and localhost
        /// signed by a CA made for this broker (ca_file()); made with the openssl command line.
        bool tls = false;
    };

    [[nodiscard]] static Result<std::unique_ptr<RabbitMqServer>> Start() { return Start(Options()); }
    [[nodiscard]] static Result<std::unique_ptr<RabbitMqServer>> Start(Options options) {
        namespace fs = std::filesystem;
        std::unique_ptr<RabbitMqServer> s(new RabbitMqServer(std::move(options)));
        const char* env_script = std::getenv("GALE_RABBITMQ_SERVER");
        s->script_ =
            env_script != nullptr && *env_script != '\0' ? env_script : "/usr/lib/rabbitmq/bin/rabbitmq-server";
        if (!fs::exists(s->script_)) {
            return MakeError(ErrorCode::kNotFound, "rabbitmq fixture: " + s->script_ +
                                                       " not found: install Debian's rabbitmq-server "
                                                       "(tools/install-deps.sh test) or set GALE_RABBITMQ_SERVER");
        }
        std::string templ = (fs::temp_directory_path() / "gale-rabbitmq-XXXXXX").string();
        std::vector<char> buf(templ.begin(), templ.end());
        buf.push_back('\0');
        if (::mkdtemp(buf.data()) == nullptr) return MakeError(ErrorCode::kIo, "rabbitmq fixture: mkdtemp failed");
        s->dir_ = buf.data();
        static int counter = 0;
        s->node_ = "gale-test-" + std::to_string(::getpid()) + "-" + std::to_string(++counter) + "@localhost";
        s->port_ = FreePort();
        s->dist_port_ = FreePort();
        s->epmd_port_ = FreePort();
        if (s->options_.tls) {
            s->tls_port_ = FreePort();
            GALE_RETURN_IF_ERROR(MakeCertificates(s->dir_));
        }
        {
            std::ofstream conf(s->dir_ + "/rabbitmq.conf");
            if (s->options_.tls) {
                conf << "listeners.ssl.default = 127.0.0.1:" << s->tls_port_ << "\n"
                     << "ssl_options.cacertfile = " << s->dir_ << "/ca.pem\n"
                     << "ssl_options.certfile = " << s->dir_ << "/server.pem\n"
                     << "ssl_options.keyfile = " << s->dir_ << "/server.key\n"
                     << "ssl_options.verify = verify_none\n"
                     << "ssl_options.fail_if_no_peer_cert = false\n";
            }
            conf << "listeners.tcp.default = 127.0.0.1:" << s->port_ << "\n"
                 << "loopback_users = none\n"
                 << "default_user = " << s->options_.username << "\n"
                 << "default_pass = " << s->options_.password << "\n"
                 << "default_vhost = /\n"
                 << "disk_free_limit.absolute = 1\n"
                 << "vm_memory_high_watermark.relative = 0.95\n"
                 << "log.file.level = info\n";
            std::ofstream(s->dir_ + "/enabled_plugins") << "[].\n";
            std::ofstream(s->dir_ + "/rabbitmq-env.conf") << "";
        }
        GALE_RETURN_IF_ERROR(s->StartEpmd());
        GALE_RETURN_IF_ERROR(s->StartAgain());
        return s;
    }

    ~RabbitMqServer() {
        if (pid_ > 0) (void)Stop();
        if (epmd_pid_ > 0) {
            ::kill(-epmd_pid_, SIGKILL);
            ::waitpid(epmd_pid_, nullptr, 0);
        }
        if (!dir_.empty()) {
            std::error_code ec;
            std::filesystem::remove_all(dir_, ec);
        }
    }
    RabbitMqServer(const RabbitMqServer&) = delete;
    RabbitMqServer& operator=(const RabbitMqServer&) = delete;

    /// Options for the test user on 127.0.0.1, vhost "/", short timeouts.
    [[nodiscard]] ConnectionOptions connection_options() const {
        ConnectionOptions o;
        o.host = "127.0.0.1";
        o.port = port_;
        o.username = options_.username;
        o.password = options_.password;
        o.connect_timeout = std::chrono::seconds(5);
        o.source = "the test broker";
        return o;
    }
    /// amqp://user:password@127.0.0.1:port/%2F
    [[nodiscard]] std::string url() const {
        return "amqp://" + options_.username + ":" + options_.password + "@127.0.0.1:" + std::to_string(port_) + "/%2F";
    }
    [[nodiscard]] int port() const noexcept { return port_; }
    /// The amqps port (Options::tls), 0 without TLS.
    [[nodiscard]] int tls_port() const noexcept { return tls_port_; }
    /// The CA that signed the broker's certificate (Options::tls).
    [[nodiscard]] std::string ca_file() const { return dir_ + "/ca.pem"; }
    [[nodiscard]] const std::string& dir() const noexcept { return dir_; }
    [[nodiscard]] bool running() const noexcept { return pid_ > 0; }

    /// Graceful stop: SIGTERM to the broker's process group, then waits for it (SIGKILL after 60 s).
    [[nodiscard]] Result<void> Stop() { return Signal(SIGTERM, std::chrono::seconds(60)); }
    /// SIGKILL to the broker's process group.
    [[nodiscard]] Result<void> Kill() { return Signal(SIGKILL, std::chrono::seconds(10)); }

    /// Starts the broker (again) on the same ports and data; returns once it accepts an AMQP login.
    [[nodiscard]] Result<void> StartAgain() {
        std::vector<std::string> env;
        for (char** e = environ; *e != nullptr; ++e) {
            std::string_view kv(*e);
            if (kv.starts_with("RABBITMQ_") || kv.starts_with("ERL_") || kv.starts_with("HOME=")) continue;
            env.emplace_back(kv);
        }
        const std::string d = dir_;
        for (const std::string& kv : std::vector<std::string>{
                 "HOME=" + d,
                 "RABBITMQ_NODENAME=" + node_,
                 "RABBITMQ_NODE_IP_ADDRESS=127.0.0.1",
                 "RABBITMQ_NODE_PORT=" + std::to_string(port_),
                 "RABBITMQ_DIST_PORT=" + std::to_string(dist_port_),
                 "ERL_EPMD_PORT=" + std::to_string(epmd_port_),
                 "ERL_EPMD_ADDRESS=127.0.0.1",
                 "RABBITMQ_MNESIA_BASE=" + d + "/mnesia",
                 "RABBITMQ_LOG_BASE=" + d + "/log",
                 "RABBITMQ_CONFIG_FILE=" + d + "/rabbitmq.conf",
                 "RABBITMQ_ADVANCED_CONFIG_FILE=" + d + "/advanced.config",
                 "RABBITMQ_ENABLED_PLUGINS_FILE=" + d + "/enabled_plugins",
                 "RABBITMQ_CONF_ENV_FILE=" + d + "/rabbitmq-env.conf",
                 "RABBITMQ_PID_FILE=" + d + "/rabbitmq.pid",
                 "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS=-kernel inet_dist_use_interface {127,0,0,1}",
             }) {
            env.push_back(kv);
        }
        GALE_ASSIGN_OR_RETURN(pid_, Spawn({script_}, env, dir_ + "/server.out"));
        return WaitReady();
    }

    /// The last `bytes` of the broker's console output and log, for failure messages.
    [[nodiscard]] std::string LogTail(std::size_t bytes = 3000) const {
        std::string out;
        for (const auto& name : {std::string("/server.out"), "/log/" + node_ + ".log"}) {
            std::ifstream in(dir_ + name);
            std::stringstream ss;
            ss << in.rdbuf();
            std::string text = ss.str();
            if (text.size() > bytes) text = text.substr(text.size() - bytes);
            out += "--- " + name + "\n" + text + "\n";
        }
        return out;
    }

    /// A port no one listens on now (for "unreachable broker" tests).
    // A CA and a server certificate (CN 127.0.0.1, SAN IP:127.0.0.1 and DNS:localhost) in `dir`, with openssl.
    static Result<void> MakeCertificates(const std::string& dir) {
        const std::string d = "'" + dir + "'";
        const std::string script =
            "set -e; cd " + d +
            "; openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=gale-test-ca -keyout ca.key -out ca.pem"
            " 2>/dev/null; openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout server.key -out server.csr"
            " 2>/dev/null; printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n' > san.ext; openssl x509 -req -in"
            " server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile san.ext -out server.pem"
            " 2>/dev/null; chmod 0644 server.key";
        if (std::system(("/bin/sh -c \"" + script + "\"").c_str()) != 0) {
            return MakeError(ErrorCode::kIo,
                             "rabbitmq fixture: openssl could not make the test certificates in " + dir);
        }
        return {};
    }

    static int FreePort() {
        int fd = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof addr;
        int port = 0;
        if (fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
            ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
            port = ntohs(addr.sin_port);
        }
        if (fd >= 0) ::close(fd);
        return port;
    }

private:
    explicit RabbitMqServer(Options options) : options_(std::move(options)) {}

    /// posix_spawn in a new process group, stdout+stderr to `out`.
    static Result<pid_t> Spawn(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                               const std::string& out) {
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
        posix_spawn_file_actions_addopen(&fa, 1, out.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
        posix_spawn_file_actions_adddup2(&fa, 1, 2);
        posix_spawnattr_t attr;
        posix_spawnattr_init(&attr);
        posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
        posix_spawnattr_setpgroup(&attr, 0);
        std::vector<char*> a;
        for (const auto& s : argv) a.push_back(const_cast<char*>(s.c_str()));
        a.push_back(nullptr);
        std::vector<char*> e;
        for (const auto& s : env) e.push_back(const_cast<char*>(s.c_str()));
        e.push_back(nullptr);
        pid_t pid = 0;
        const int rc = ::posix_spawn(&pid, argv[0].c_str(), &fa, &attr, a.data(), e.data());
        posix_spawn_file_actions_destroy(&fa);
        posix_spawnattr_destroy(&attr);
        if (rc != 0) return MakeError(ErrorCode::kIo, "rabbitmq fixture: cannot spawn " + argv[0]);
        return pid;
    }

    Result<void> StartEpmd() {
        std::string epmd = "/usr/bin/epmd";
        if (!std::filesystem::exists(epmd)) {
            return MakeError(ErrorCode::kNotFound, "rabbitmq fixture: /usr/bin/epmd not found (Debian erlang-base)");
        }
        std::vector<std::string> env;
        for (char** e = environ; *e != nullptr; ++e) env.emplace_back(*e);
        env.push_back("ERL_EPMD_ADDRESS=127.0.0.1");
        GALE_ASSIGN_OR_RETURN(epmd_pid_, Spawn({epmd, "-port", std::to_string(epmd_port_)}, env, dir_ + "/epmd.out"));
        return {};
    }

    Result<void> WaitReady() {
        const auto deadline = std::chrono::steady_clock::now() + options_.start_timeout;
        std::string last = "no attempt";
        while (std::chrono::steady_clock::now() < deadline) {
            int status = 0;
            if (::waitpid(pid_, &status, WNOHANG) == pid_) {
                pid_ = 0;
                return MakeError(ErrorCode::kUnavailable,
                                 "rabbitmq fixture: rabbitmq-server exited during start-up:\n" + LogTail());
            }
            if (PortOpen()) {
                auto p = Publisher::Connect(connection_options());
                if (p) return {};
                last = p.error().ToString();
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
        return MakeError(ErrorCode::kTimeout, "rabbitmq fixture: no AMQP login within " +
                                                  std::to_string(options_.start_timeout.count()) + " s (" + last +
                                                  "):\n" + LogTail());
    }

    bool PortOpen() const {
        int fd = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        addr.sin_port = htons(static_cast<std::uint16_t>(port_));
        const bool ok = fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
        if (fd >= 0) ::close(fd);
        return ok;
    }

    Result<void> Signal(int sig, std::chrono::seconds wait) {
        if (pid_ <= 0) return {};
        ::kill(-pid_, sig);
        const auto deadline = std::chrono::steady_clock::now() + wait;
        for (;;) {
            int status = 0;
            if (::waitpid(pid_, &status, WNOHANG) == pid_) break;
            if (std::chrono::steady_clock::now() > deadline) {
                ::kill(-pid_, SIGKILL);
                ::waitpid(pid_, &status, 0);
                break;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        // The script's children (beam.smp, erl_child_setup) are in the same group; make sure none is left.
        ::kill(-pid_, SIGKILL);
        pid_ = 0;
        // Until the listener is gone, a restart on the same port would fail.
        for (int i = 0; i < 250 && PortOpen(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
        return {};
    }

    Options options_;
    std::string script_;
    std::string dir_;
    std::string node_;
    int port_ = 0;
    int tls_port_ = 0;
    int dist_port_ = 0;
    int epmd_port_ = 0;
    pid_t pid_ = 0;
    pid_t epmd_pid_ = 0;
};

}  // namespace gale::amqp::testing
