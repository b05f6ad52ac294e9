// SPDX-License-Identifier: MIT
/// @file gale/db/testing/postgres_server.hpp
/// @brief A throwaway PostgreSQL server for tests: its own cluster in a temp dir, on 127.0.0.1 and a free port.
///
/// Start() runs initdb into a fresh temp directory and `pg_ctl start` with the server listening on 127.0.0.1 (a free
/// port) and its unix socket inside that directory, then creates a database owned by a password-authenticated user
/// (TCP connections use scram-sha-256; the local socket trusts the `postgres` superuser, for setup only). When the
/// test runs as root, the server commands run as the `postgres` OS user (initdb refuses root) through
/// `runuser -u postgres --`, and the directory is chowned to it. The destructor stops only this cluster
/// (`pg_ctl stop -m fast`) and deletes the directory. The server binaries come from $GALE_PG_BINDIR or the newest
/// /usr/lib/postgresql/<version>/bin (Debian's `postgresql` package); Start() fails, it does not skip, without them.
///
/// Ownership: the object owns the server process and the directory. Thread-compatible: call Restart/Stop/StartAgain
/// from one thread (connections from any thread are fine). Header-only; needs POSIX and a shell.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <system_error>
#include <vector>

#include <gale/base/error.hpp>
#include <gale/db/database.hpp>

namespace gale::db::testing {

class PostgresServer {
public:
    struct Options {
        std::string database = "gale_test";
        std::string username = "gale";
        std::string password = "gale-test-Pw-4e1b9";
    };

    /// Creates and starts a cluster. Errors (kUnavailable) carry the failing command and the tail of its log.
    [[nodiscard]] static Result<std::unique_ptr<PostgresServer>> Start() { return Start(Options()); }
    [[nodiscard]] static Result<std::unique_ptr<PostgresServer>> Start(Options options) {
        std::unique_ptr<PostgresServer> s(new PostgresServer(std::move(options)));
        if (auto bin = FindBinDir()) {
            s->bin_ = *bin;
        } else {
            return tl::unexpected(bin.error());
        }
        std::string templ = (std::filesystem::temp_directory_path() / "gale-pg-XXXXXX").string();
        std::vector<char> buf(templ.begin(), templ.end());
        buf.push_back('\0');
        if (::mkdtemp(buf.data()) == nullptr) return MakeError(ErrorCode::kIo, "postgres fixture: mkdtemp failed");
        s->dir_ = buf.data();
        if (::geteuid() == 0) {
            const passwd* pw = ::getpwnam("postgres");
            if (pw == nullptr) {
                return MakeError(ErrorCode::kUnavailable,
                                 "postgres fixture: running as root but there is no 'postgres' OS user to run the "
                                 "server as (install Debian's postgresql package)");
            }
            if (::chown(s->dir_.c_str(), pw->pw_uid, pw->pw_gid) != 0) {
                return MakeError(ErrorCode::kIo, "postgres fixture: cannot chown " + s->dir_);
            }
            s->as_ = "runuser -u postgres -- ";
        }
        GALE_RETURN_IF_ERROR(s->Server("initdb -D '" + s->data() +
                                           "' -U postgres -E UTF8 --no-locale --no-sync --auth-local=trust "
                                           "--auth-host=scram-sha-256",
                                       "initdb"));
        // The port is free when probed; another process could take it before the server binds, so retry.
        Result<void> started = MakeError(ErrorCode::kUnavailable, "not started");
        for (int attempt = 0; attempt < 3 && !started; ++attempt) {
            s->port_ = FreePort();
            started = s->StartAgain();
        }
        GALE_RETURN_IF_ERROR(started);
        const Options& o = s->options_;
        GALE_RETURN_IF_ERROR(s->Server("psql -X -q -v ON_ERROR_STOP=1 -h '" + s->dir_ + "' -p " +
                                           std::to_string(s->port_) + " -U postgres -d postgres -c \"CREATE ROLE " +
                                           o.username + " LOGIN PASSWORD '" + o.password + "'\" -c \"CREATE DATABASE " +
                                           o.database + " OWNER " + o.username + "\"",
                                       "psql (create role and database)"));
        return s;
    }

    ~PostgresServer() {
        if (running_) (void)Stop();
        if (!dir_.empty()) {
            std::error_code ec;
            std::filesystem::remove_all(dir_, ec);
        }
    }
    PostgresServer(const PostgresServer&) = delete;
    PostgresServer& operator=(const PostgresServer&) = delete;

    /// Options for the test user and database over TCP (engine postgresql, 127.0.0.1, the port, password set).
    [[nodiscard]] ConnectionOptions connection_options() const {
        ConnectionOptions o;
        o.engine = Engine::kPostgresql;
        o.host = "127.0.0.1";
        o.port = port_;
        o.name = options_.database;
        o.username = options_.username;
        o.password = options_.password;
        o.connect_timeout = std::chrono::seconds(5);
        return o;
    }
    /// The same as a URL: postgresql://user:password@127.0.0.1:port/database.
    [[nodiscard]] std::string url() const {
        return "postgresql://" + options_.username + ":" + options_.password + "@127.0.0.1:" + std::to_string(port_) +
               "/" + options_.database;
    }
    [[nodiscard]] int port() const noexcept { return port_; }
    [[nodiscard]] const Options& options() const noexcept { return options_; }
    [[nodiscard]] const std::string& dir() const noexcept { return dir_; }

    /// `pg_ctl restart -m fast`: terminates every session; returns once the server accepts connections again.
    [[nodiscard]] Result<void> Restart() {
        return Server("pg_ctl -D '" + data() + "' -l '" + dir_ + "/server.log' -w -t 60 -m fast restart",
                      "pg_ctl restart");
    }
    /// `pg_ctl stop -m fast` (this cluster only).
    [[nodiscard]] Result<void> Stop() {
        auto r = Server("pg_ctl -D '" + data() + "' -w -t 60 -m fast stop", "pg_ctl stop");
        if (r) running_ = false;
        return r;
    }
    /// Starts the cluster again after Stop(), on the same port.
    [[nodiscard]] Result<void> StartAgain() {
        auto r =
            Server("pg_ctl -D '" + data() + "' -l '" + dir_ +
                       "/server.log' -w -t 60 -o \"-c listen_addresses=127.0.0.1 -c port=" + std::to_string(port_) +
                       " -c unix_socket_directories='" + dir_ +
                       "' -c fsync=off -c synchronous_commit=off -c full_page_writes=off\" start",
                   "pg_ctl start");
        if (r) running_ = true;
        return r;
    }

    /// $GALE_PG_BINDIR, else the newest /usr/lib/postgresql/<version>/bin holding initdb and pg_ctl.
    [[nodiscard]] static Result<std::string> FindBinDir() {
        namespace fs = std::filesystem;
        if (const char* env = std::getenv("GALE_PG_BINDIR"); env != nullptr && *env != '\0') {
            if (fs::exists(fs::path(env) / "initdb")) return std::string(env);
            return MakeError(ErrorCode::kNotFound, std::string("GALE_PG_BINDIR=") + env + " has no initdb");
        }
        std::string best;
        int best_version = -1;
        std::error_code ec;
        for (const auto& entry : fs::directory_iterator("/usr/lib/postgresql", ec)) {
            fs::path bin = entry.path() / "bin";
            int version = std::atoi(entry.path().filename().c_str());
            if (version > best_version && fs::exists(bin / "initdb", ec) && fs::exists(bin / "pg_ctl", ec)) {
                best = bin.string();
                best_version = version;
            }
        }
        if (best.empty()) {
            return MakeError(ErrorCode::kNotFound,
                             "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin: install Debian's "
                             "postgresql package (tools/install-deps.sh test) or set GALE_PG_BINDIR");
        }
        return best;
    }

private:
    explicit PostgresServer(Options options) : options_(std::move(options)) {}

    std::string data() const { return dir_ + "/data"; }

    static int FreePort() {
        int fd = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        addr.sin_port = 0;
        socklen_t len = sizeof addr;
        int port = 0;
        if (fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
            ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
            port = ntohs(addr.sin_port);
        }
        if (fd >= 0) ::close(fd);
        return port;
    }

    /// Runs a server binary (as the postgres user when root) from dir_, output to dir_/cmd.log.
    Result<void> Server(const std::string& command, const std::string& what) const {
        std::string log = dir_ + "/cmd.log";
        std::string full =
            "cd '" + dir_ + "' && " + as_ + "'" + bin_ + "'/" + command + " >'" + log + "' 2>&1 </dev/null";
        int rc = std::system(full.c_str());
        if (rc == 0) return {};
        std::ifstream in(log);
        std::stringstream tail;
        tail << in.rdbuf();
        std::string text = tail.str();
        if (text.size() > 2000) text = text.substr(text.size() - 2000);
        std::ifstream server_log(dir_ + "/server.log");
        std::stringstream slog;
        slog << server_log.rdbuf();
        std::string stext = slog.str();
        if (stext.size() > 2000) stext = stext.substr(stext.size() - 2000);
        return MakeError(ErrorCode::kUnavailable, "postgres fixture: " + what + " failed (exit " + std::to_string(rc) +
                                                      "): " + text + "\nserver.log: " + stext);
    }

    Options options_;
    std::string bin_;
    std::string dir_;
    std::string as_;  // "runuser -u postgres -- " when root
    int port_ = 0;
    bool running_ = false;
};

}  // namespace gale::db::testing
