// SPDX-License-Identifier: MIT
// hello: the smallest complete gale service. A visit counter in SQL, a custom health check, a migrate command,
// GET / answering a plain-text hello world (the benchmark's route), and the log pipe from producer to consumer.
// Run: `hello migrate && hello serve`, and beside it `hello consume --probe-port 8002`. With a RabbitMQ broker
// (AMQP_URL), `consume` also records the visits that arrive as AMQP messages (routing key visits.*).
//
// Tasks (Celery's wire format; `hello worker --probe-port 8003` runs them, from the embedded SQLite queue by default
// or from CELERY_BROKER_URL=redis://… / amqp://…, where Python's Celery can send and run them too):
//   hello.add(a, b)          returns a + b (`hello add 2 3` sends it and prints the result).
//   hello.record_visit(name) records one visit, exactly once: the insert and the task's completion record commit in
//                            one transaction (gale/tasks/completion.hpp), so a redelivery after a crash adds nothing.
//   POST /tasks/visits/{name} sends hello.record_visit and answers 202 with the task id; GET /tasks/{id} reads its
//                            state and result from the result backend.
// Periodic: `hello beat --probe-port 8004` sends hello.record_visit("beat") every minute (entry "visit-every-minute";
// GALE_BEAT_SCHEDULE='{"visit-every-minute": {"schedule": "every 5s"}}' changes it). Several beats may run: a lease in
// the database lets one send, and a run sent twice after a leader's crash keeps its task id, which record_visit's
// RunOnce makes harmless.
//
// The cache (gale/cache): GET /visits is a summary of the whole table, kept 10 s in the cache, which is in process by
// default and on Redis with CACHE_REDIS_HOST (then a readiness check: Redis down takes the pod out of service);
// POST /visits/{name} deletes it.
//
// Files (gale/storage): PUT and GET /files/{name}, on local disk (MEDIA_ROOT) or in S3 (ENABLE_S3_STORAGE).
//
// Sessions and CSRF (gale/sessions): GET /login (a form with its CSRF token), POST /login, GET /me, POST /logout;
// signed-cookie sessions by default, readable by a Django app with the same APP_SECRET_KEY.
//
// The database comes from the DATABASE_* environment contract (docs/environment.md): DATABASE_ENGINE=postgresql
// with DATABASE_HOST/PORT/NAME/USERNAME/PASSWORD or DATABASE_URL runs on PostgreSQL; by default it is SQLite at
// DATABASE_NAME, or, when that is unset, at $GALE_HELLO_DB (the benchmark's knob) or ./hello.db.
//
// The log pipe (django-logpipe's messages) runs on the embedded log, its own SQLite file at $GALE_HELLO_PIPE_DB or
// ./hello-pipe.db, whatever the database above is; no broker is needed:
//   POST /states/{code}   body: the state's name. `serve` sends a us-state v1 message {"code","name"} to topic
//                         "us-states" (key: the code) and answers 202 with where it went.
//   `hello consume`       consumer group "hello" saves each message into the table `states` (code, name, updated:
//                         unix time in ms) of that same file, so that the save and the offset commit are one SQLite
//                         transaction: exactly-once, even across a crash. Invalid messages are skipped; records that
//                         cannot be decoded or saved go to the log's dead-letter table.
//   GET /states/{code}    `serve` reads the table back: what the consumer has applied so far.
// Both roles create the table if it is missing, so the pipe needs no migration.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include <gale/app/app.hpp>
#include <gale/base/environment.hpp>
#include <gale/base/strings.hpp>
#include <gale/cache/memory_cache.hpp>
#include <gale/cache/redis_cache.hpp>
#include <gale/db/database.hpp>
#include <gale/db/migrator.hpp>
#include <gale/db/pool.hpp>
#include <gale/pipe/consumer.hpp>
#include <gale/pipe/embedded_log.hpp>
#include <gale/pipe/producer.hpp>
#include <gale/pipe/serializer.hpp>
#include <gale/sessions/csrf.hpp>
#include <gale/sessions/manager.hpp>
#include <gale/sessions/settings.hpp>
#include <gale/storage/environment.hpp>
#include <gale/tasks/amqp.hpp>
#include <gale/tasks/client.hpp>
#include <gale/tasks/completion.hpp>
#include <gale/tasks/redis.hpp>
#include <gale/tasks/task.hpp>

namespace {

bool IsSet(const char* name) {
    const char* v = std::getenv(name);
    return v != nullptr && *v != '\0';
}

gale::Result<gale::db::ConnectionOptions> DatabaseOptions() {
    auto options = gale::db::OptionsFromEnvironment();
    if (options && options->engine == gale::db::Engine::kSqlite && !IsSet("DATABASE_NAME") && !IsSet("DATABASE_URL")) {
        options->sqlite_path = IsSet("GALE_HELLO_DB") ? std::getenv("GALE_HELLO_DB") : "hello.db";
    }
    return options;
}

// The engines disagree on auto-increment keys (SQLite: INTEGER PRIMARY KEY is the rowid; PostgreSQL: an identity
// column) and on time defaults, so each engine has its own DDL under the same migration id. The SQLite text is
// unchanged from before PostgreSQL support, so existing databases are not affected.
const std::vector<gale::db::Migration> kSqliteMigrations = {
    {"0001_create_visits",
     "CREATE TABLE visits (id INTEGER PRIMARY KEY, name TEXT NOT NULL, "
     "at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')))"},
};
const std::vector<gale::db::Migration> kPostgresqlMigrations = {
    {"0001_create_visits",
     "CREATE TABLE visits (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name TEXT NOT NULL, "
     "at TIMESTAMPTZ NOT NULL DEFAULT now())"},
};

const std::vector<gale::db::Migration>& Migrations(gale::db::Engine engine) {
    return engine == gale::db::Engine::kPostgresql ? kPostgresqlMigrations : kSqliteMigrations;
}

// --- the log pipe -------------------------------------------------------------------------------------------------

/// A US state as the us-state v1 message carries it: {"code":"NY","name":"New York"}.
struct UsState {
    std::string code;  // two upper-case letters; the record key, so one state's messages keep their order
    std::string name;
};
GALE_PIPE_DEFINE_MESSAGE(UsState, code, name)  // fields go on the wire in this order

const gale::pipe::TypedSerializer<UsState> kStates("us-state", /*version=*/1, /*key_field=*/"code");
constexpr const char* kStatesTopic = "us-states";
constexpr std::size_t kMaxNameBytes = 100;

std::string PipePath() { return IsSet("GALE_HELLO_PIPE_DB") ? std::getenv("GALE_HELLO_PIPE_DB") : "hello-pipe.db"; }

/// Opens the embedded log and creates the consumer's table in the same file. IF NOT EXISTS: `serve` and `consume`
/// may open it in either order, and GET /states answers 404 (not an error) before anything was consumed.
gale::Result<gale::pipe::EmbeddedLog> OpenPipe() {
    auto log = gale::pipe::EmbeddedLog::Open(PipePath());
    if (!log) return log;
    GALE_RETURN_IF_ERROR(log->database().ExecScript(
        "CREATE TABLE IF NOT EXISTS states (code TEXT PRIMARY KEY, name TEXT NOT NULL, updated INTEGER NOT NULL)"));
    return log;
}

bool IsAsciiLetter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsUpperAsciiLetter(char c) { return c >= 'A' && c <= 'Z'; }

/// The code from a URL, upper-cased ("ny" → "NY"); nullopt unless it is two ASCII letters.
std::optional<std::string> StateCode(std::string_view text) {
    if (text.size() != 2 || !IsAsciiLetter(text[0]) || !IsAsciiLetter(text[1])) return std::nullopt;
    std::string code(text);
    for (char& c : code) c = static_cast<char>(c & ~0x20);  // ASCII letters only: clear the lower-case bit
    return code;
}

/// Why `name` cannot be sent, or "" if it can. Invalid UTF-8 is refused by the producer itself (also a 400).
std::string NameProblem(std::string_view name) {
    if (name.empty()) return "the request body must be the state's name; it is empty";
    if (name.size() > kMaxNameBytes) return "the name is longer than " + std::to_string(kMaxNameBytes) + " bytes";
    for (unsigned char c : name) {
        if (c < 0x20 || c == 0x7f) return "the name contains a control character (a trailing newline?)";
    }
    return {};
}

/// The consumer's check of each received message (a failure is logged, counted and skipped, as django-logpipe
/// does): other producers may write to the topic, so the rules are checked again on this side.
gale::Result<void> ValidateState(const UsState& state) {
    if (state.code.size() != 2 || !IsUpperAsciiLetter(state.code[0]) || !IsUpperAsciiLetter(state.code[1])) {
        return gale::MakeError(gale::ErrorCode::kInvalidArgument, "field 'code': must be two upper-case letters");
    }
    if (state.name.empty()) return gale::MakeError(gale::ErrorCode::kInvalidArgument, "field 'name': empty");
    return {};
}

std::int64_t UnixMillis() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

/// What `serve` needs of the pipe: a producer of us-states, on its own connection to the log, and the log's other
/// connection, used here only to read the states table. Thread-safe: the request handlers share one.
struct StatesClient {
    StatesClient(gale::pipe::EmbeddedLog l, std::unique_ptr<gale::pipe::ProducerBackend> b)
        : log(std::move(l)), backend(std::move(b)), producer(kStatesTopic, kStates, *backend) {}
    gale::pipe::EmbeddedLog log;
    std::unique_ptr<gale::pipe::ProducerBackend> backend;
    gale::pipe::TypedProducer<UsState> producer;  // borrows *backend (declared after it, so destroyed before it)
};

/// The `consume` role's consumer: group "hello" reads us-states from the beginning (or its committed offset) and
/// writes each state through the log's own connection, inside the transaction that commits the offset.
gale::Result<gale::app::ConsumerSpec> MakeStatesConsumer(const gale::config::Settings& /*settings*/) {
    auto log = OpenPipe();
    if (!log) return tl::unexpected(log.error());
    struct KeepAlive {
        gale::pipe::EmbeddedLog log;
        std::unique_ptr<gale::pipe::DeadLetterSink> dead_letters;  // borrowed by the consumer
    };
    auto keep = std::make_shared<KeepAlive>(KeepAlive{*log, log->DeadLetters()});

    gale::app::ConsumerSpec spec;
    spec.keep_alive = keep;
    spec.backend = log->Consumer("hello", kStatesTopic);
    spec.consumer = std::make_unique<gale::pipe::Consumer>(
        kStatesTopic, *spec.backend,
        gale::pipe::ConsumerOptions{.transaction = log->Transaction(), .dead_letters = keep->dead_letters.get()});

    // django-logpipe's lookup_instance + save: find the state's current name, then insert or update it. Both run in
    // the consumer's transaction, so the row cannot change between the two.
    gale::db::Database db = log->database();
    auto lookup = [db](const UsState& state) mutable -> gale::Result<std::optional<std::string>> {
        GALE_ASSIGN_OR_RETURN(auto rows, db.Query("SELECT name FROM states WHERE code = ?", {state.code}));
        if (rows.empty()) return std::optional<std::string>();
        return std::get<std::string>(rows[0][0]);
    };
    auto save = [db](const UsState& state, const std::optional<std::string>& current) mutable -> gale::Result<void> {
        auto written = current ? db.Execute("UPDATE states SET name = ?, updated = ? WHERE code = ?",
                                            {state.name, UnixMillis(), state.code})
                               : db.Execute("INSERT INTO states (code, name, updated) VALUES (?, ?, ?)",
                                            {state.code, state.name, UnixMillis()});
        if (!written) return tl::unexpected(written.error());
        return {};
    };
    spec.consumer->Register(gale::pipe::MakeLookupHandler<std::string>(kStates, lookup, save, ValidateState));
    return spec;
}

}  // namespace

int main(int argc, char** argv) {
    using gale::http::Request;
    using gale::http::Response;
    namespace health = gale::health;

    gale::app::App app("hello", "0.1.0");
    // The Redis and RabbitMQ transports for tasks (CELERY_BROKER_URL=redis://… / amqp://…, rpc:// results).
    gale::tasks::redis::Install();
    gale::tasks::amqp::Install();
    // The database (a pool: on SQLite one writer and DATABASE_POOL_SIZE readers, on PostgreSQL that many connections)
    // and the pipe's producer are resources (gale/app/resource.hpp): created on first use (so `hello --help` needs no
    // writable directory), shared by every handler, consumer, task and command, checked for readiness, closed at exit.
    auto database =
        app.AddResource("database",
                        [](gale::app::ResourceContext& ctx) -> gale::Result<std::shared_ptr<gale::db::Pool>> {
                            GALE_ASSIGN_OR_RETURN(auto options, DatabaseOptions());
                            GALE_ASSIGN_OR_RETURN(auto pool_options, gale::db::PoolOptionsFromEnvironment());
                            pool_options.metrics = &ctx.metrics;  // gale_db_pool_* {pool="default"}
                            GALE_ASSIGN_OR_RETURN(auto pool, gale::db::Pool::Open(options, pool_options));
                            // hello.record_visit's completion records (gale/tasks/completion.hpp) live beside the
                            // visits.
                            GALE_RETURN_IF_ERROR(pool->Transact(gale::tasks::EnsureCompletionTable));
                            return pool;
                        },
                        {.check =
                             [](gale::db::Pool& pool) {
                                 auto conn = pool.Acquire(gale::db::Access::kRead);
                                 if (!conn) return health::CheckResult::Error(conn.error().message());
                                 auto r = (*conn)->Query("SELECT COUNT(*) FROM visits");
                                 if (!r) return health::CheckResult::Error(r.error().message());
                                 return health::CheckResult::Ok("visits table readable");
                             },
                         .check_options = {.tags = health::kReadiness | health::kStartup}});

    // The cache: in process by default; on Redis with CACHE_REDIS_HOST (shared by every pod, so a write on one pod
    // invalidates the summary for all). Redis down fails readiness through the PING check, and the routes that need
    // the cache answer 503 meanwhile; the memory cache needs no check.
    const bool redis_cache = gale::LookupEnv({}, "CACHE_REDIS_HOST").has_value();
    auto cache = app.AddResource(
        "cache",
        [redis_cache](gale::app::ResourceContext& ctx) -> gale::Result<std::shared_ptr<gale::cache::Cache>> {
            if (redis_cache) {
                GALE_ASSIGN_OR_RETURN(auto options, gale::cache::RedisCacheOptionsFromEnvironment());
                options.key_prefix = "hello:";
                return std::shared_ptr<gale::cache::Cache>(std::make_shared<gale::cache::RedisCache>(options));
            }
            return std::shared_ptr<gale::cache::Cache>(
                std::make_shared<gale::cache::MemoryCache>(gale::cache::MemoryCacheOptions{.metrics = &ctx.metrics}));
        },
        {.check =
             [](gale::cache::Cache& c) {
                 auto* redis = dynamic_cast<gale::cache::RedisCache*>(&c);
                 if (redis == nullptr) return health::CheckResult::Ok("in process");
                 auto pinged = redis->Ping();
                 if (!pinged) return health::CheckResult::Error(pinged.error().ToString());
                 return health::CheckResult::Ok("redis answers PING");
             },
         .check_options = {.tags = redis_cache ? std::uint8_t{health::kReadiness} : std::uint8_t{0}}});
    constexpr std::string_view kSummaryKey = "visits-summary";

    // Files (gale/storage): PUT /files/{name} keeps the body, GET /files/{name} gives it back with its type. On local
    // disk under MEDIA_ROOT (default ./media); in S3 with ENABLE_S3_STORAGE=true (APPDATA_BUCKET under
    // APPDATA_PREFIX, the AWS_* credentials). Readiness checks it (a writable root, or HEAD on the bucket).
    auto files =
        app.AddResource("files",
                        [](gale::app::ResourceContext&) -> gale::Result<std::shared_ptr<gale::storage::Storage>> {
                            GALE_ASSIGN_OR_RETURN(auto storage, gale::storage::StorageFromEnvironment());
                            return std::shared_ptr<gale::storage::Storage>(std::move(storage));
                        },
                        {.check = [](gale::storage::Storage& s) { return gale::storage::CheckStorage(s); },
                         .check_options = {.tags = health::kReadiness | health::kStartup}});

    app.Get("/", [](Request&) { return Response::Text(200, "Hello, world!\n"); }, {.inline_handler = true});

    // Handlers return Result<Response>: a database error is answered with its status (503, 500) and the request id;
    // its text goes to the log, not to the client.
    app.Post("/visits/{name}", [database, cache, kSummaryKey](Request& req) -> gale::Result<Response> {
        GALE_ASSIGN_OR_RETURN(auto pool, database.get());
        const std::string name(req.param("name"));
        // RETURNING works on both engines (SQLite >= 3.35), unlike last_insert_id.
        GALE_ASSIGN_OR_RETURN(auto rows, pool->Transact([&](gale::db::Database& tx) {
            return tx.Query("INSERT INTO visits (name) VALUES (?) RETURNING id", {name});
        }));
        // The visit is recorded whatever the cache says: with the cache down, GET /visits answers 503 until it is
        // back, and the summary it then computes is fresh.
        if (auto c = cache.get(); c) (void)(*c)->Delete(kSummaryKey);
        return Response::Json(201, nlohmann::ordered_json{{"id", std::get<std::int64_t>(rows[0][0])}});
    });

    app.Get("/visits/{name}", [database](Request& req) -> gale::Result<Response> {
        GALE_ASSIGN_OR_RETURN(auto pool, database.get());
        const std::string name(req.param("name"));
        GALE_ASSIGN_OR_RETURN(auto conn, pool->Acquire(gale::db::Access::kRead));  // a reader: never waits for writes
        GALE_ASSIGN_OR_RETURN(auto rows, conn->Query("SELECT COUNT(*) FROM visits WHERE name = ?", {name}));
        // The name is the client's: not valid UTF-8, it is sent with U+FFFD in place of the bad bytes.
        return Response::Json(200,
                              nlohmann::ordered_json{{"name", name}, {"visits", std::get<std::int64_t>(rows[0][0])}});
    });

    // The summary of every visit: an aggregate over the whole table, computed once per 10 s (or after a visit) and
    // shared through the cache; concurrent requests in one process wait for one computation (GetOrCompute).
    app.Get("/visits", [database, cache, kSummaryKey](Request&) -> gale::Result<Response> {
        GALE_ASSIGN_OR_RETURN(auto c, cache.get());
        GALE_ASSIGN_OR_RETURN(auto body,
                              c->GetOrCompute(
                                  kSummaryKey,
                                  [&]() -> gale::Result<std::string> {
                                      GALE_ASSIGN_OR_RETURN(auto pool, database.get());
                                      GALE_ASSIGN_OR_RETURN(auto conn, pool->Acquire(gale::db::Access::kRead));
                                      GALE_ASSIGN_OR_RETURN(
                                          auto rows, conn->Query("SELECT COUNT(*), COUNT(DISTINCT name) FROM visits"));
                                      return nlohmann::ordered_json{{"visits", std::get<std::int64_t>(rows[0][0])},
                                                                    {"names", std::get<std::int64_t>(rows[0][1])}}
                                                 .dump() +
                                             "\n";
                                  },
                                  std::chrono::seconds(10)));
        return Response::Json(200, body);
    });

    // A name the storage refuses (`..`, an absolute path, a NUL) is a 400 naming the problem; a missing file a 404.
    app.Put("/files/{name...}", [files](Request& req) -> gale::Result<Response> {
        GALE_ASSIGN_OR_RETURN(auto storage, files.get());
        gale::storage::SaveOptions options;
        options.content_type = std::string(req.header("Content-Type").value_or(""));
        GALE_ASSIGN_OR_RETURN(auto stored, storage->Save(req.param("name"), req.body(), options));
        GALE_ASSIGN_OR_RETURN(auto url, storage->Url(stored));
        return Response::Json(201, nlohmann::ordered_json{{"name", stored}, {"url", url}});
    });
    // The type is the uploader's: nosniff and a sandbox keep an uploaded page or script from running as this site's.
    app.Get("/files/{name...}", [files](Request& req) -> gale::Result<Response> {
        GALE_ASSIGN_OR_RETURN(auto storage, files.get());
        GALE_ASSIGN_OR_RETURN(auto object, storage->ReadObject(req.param("name")));  // one request, one version
        Response response = Response::Text(200, std::move(object.bytes), object.info.content_type);
        response.SetHeader("X-Content-Type-Options", "nosniff");
        response.SetHeader("Content-Security-Policy", "default-src 'none'; sandbox");
        return response;
    });

    // Sessions and CSRF (gale/sessions), in Django's formats: GET /login renders a form with a CSRF token (and sets
    // the csrftoken cookie), POST /login needs that token, rotates the session key and the CSRF secret (no session
    // fixation) and keeps the name in the session; GET /me reads it; POST /logout (CSRF too) ends the session. The
    // session is a signed cookie by default (SESSION_BACKEND=redis or database keeps it server-side) and needs
    // APP_SECRET_KEY: without one these routes answer 503 and the log (and Sentry) says why. Both are resources, read
    // once the settings are loaded, so the profile's secure cookies apply and a bad SESSION_*/CSRF_* value is a 503
    // naming it; neither is a readiness check (the production profile already refuses to start without the key).
    auto sessions = app.AddResource(
        "sessions", [](gale::app::ResourceContext&) { return gale::sessions::SessionManagerFromEnvironment(); },
        {.check_options = {.tags = 0}});
    auto csrf = app.AddResource(
        "csrf", [](gale::app::ResourceContext&) { return gale::sessions::csrf::OptionsFromEnvironment(); },
        {.check_options = {.tags = 0}});
    using gale::sessions::Session;
    using gale::sessions::csrf::Csrf;

    app.Get("/login", gale::sessions::csrf::Protect(csrf, [](Request&, Csrf& c) -> gale::Result<Response> {
                return Response::Text(200,
                                      "<!doctype html><form method=post action=/login>"
                                      "<input type=hidden name=csrfmiddlewaretoken value=\"" +
                                          c.Token() +
                                          "\"><input name=name placeholder=name><button>log in</button></form>\n",
                                      "text/html; charset=utf-8");
            }));
    app.Post("/login", gale::sessions::csrf::ProtectWithSession(
                           csrf, sessions, [](Request& req, Session& s, Csrf& c) -> gale::Result<Response> {
                               const std::string name = gale::http::FormValue(req.body(), "name").value_or("");
                               if (name.empty() || name.size() > kMaxNameBytes) {
                                   return Response::Text(400, "the form needs a name of 1 to 100 bytes\n");
                               }
                               s.Rotate();  // Django's login(): a new session key and a new CSRF secret
                               c.Rotate();
                               s.Set("user", name);
                               return Response::Json(200, nlohmann::ordered_json{{"user", name}});
                           }));
    app.Get("/me", gale::sessions::WithSession(sessions, [](Request&, Session& s) -> gale::Result<Response> {
                auto user = s.Get<std::string>("user", "");
                if (user.empty()) return Response::Text(401, "not logged in: GET /login, then POST its form\n");
                return Response::Json(200, nlohmann::ordered_json{{"user", user}});
            }));
    app.Post("/logout", gale::sessions::csrf::ProtectWithSession(
                            csrf, sessions, [](Request&, Session& s, Csrf&) -> gale::Result<Response> {
                                s.Flush();  // the stored session deleted, the cookie with it
                                return Response::Text(200, "logged out\n");
                            }));

    // The `serve` side of the pipe, a resource like the database (a health check of its own is not needed: the
    // database's covers the file system, and a failure to open the log fails the requests that need it).
    auto states = app.AddResource("states",
                                  [](gale::app::ResourceContext&) -> gale::Result<std::unique_ptr<StatesClient>> {
                                      GALE_ASSIGN_OR_RETURN(auto log, OpenPipe());
                                      GALE_ASSIGN_OR_RETURN(auto backend, log.Producer());
                                      return std::make_unique<StatesClient>(std::move(log), std::move(backend));
                                  },
                                  {.check_options = {.tags = 0}});

    app.Post("/states/{code}", [states](Request& req) -> gale::Result<Response> {
        auto code = StateCode(req.param("code"));
        if (!code) return Response::Text(400, "the state code must be two ASCII letters, e.g. NY\n");
        if (auto problem = NameProblem(req.body()); !problem.empty()) return Response::Text(400, problem + "\n");
        GALE_ASSIGN_OR_RETURN(auto s, states.get());
        auto sent = s->producer.Send(UsState{*code, req.body()});
        if (!sent && sent.error().code() == gale::ErrorCode::kInvalidArgument) {
            // The message cannot be rendered: the name is not valid UTF-8. The client's fault, and its text is safe.
            return Response::Text(400, "name: " + sent.error().message() + "\n");
        }
        if (!sent) return tl::unexpected(sent.error());
        // Accepted, not yet applied: `hello consume` applies it (partition and offset are strings in every backend).
        return Response::Json(
            202,
            nlohmann::ordered_json{{"topic", sent->topic}, {"partition", sent->partition}, {"offset", sent->offset}});
    });

    app.Get("/states/{code}", [states](Request& req) -> gale::Result<Response> {
        auto code = StateCode(req.param("code"));
        if (!code) return Response::Text(400, "the state code must be two ASCII letters, e.g. NY\n");
        GALE_ASSIGN_OR_RETURN(auto s, states.get());
        GALE_ASSIGN_OR_RETURN(auto rows, s->log.database().Query("SELECT name FROM states WHERE code = ?", {*code}));
        if (rows.empty()) return Response::Text(404, "no state " + *code + " (yet: is `hello consume` running?)\n");
        return Response::Json(200,
                              nlohmann::ordered_json{{"code", *code}, {"name", std::get<std::string>(rows[0][0])}});
    });

    app.Consumer("us-states", MakeStatesConsumer);

    // An AMQP consumer (django-hurricane's `consume`), run by `hello consume` when a broker is configured
    // (AMQP_URL=amqp://guest:guest@localhost:5672/%2F): a message with routing key visits.* whose body is a name
    // records one visit for that name, in the table GET /visits/{name} reads.
    app.AmqpConsumer(
        {.name = "hello.visits",
         .exchange = {.name = "hello", .type = gale::amqp::ExchangeType::kTopic},
         .routing_keys = {"visits.#"}},
        [database](const gale::amqp::Message& message) -> gale::Result<void> {
            if (message.body.empty() || message.body.size() > kMaxNameBytes) {
                // Permanent: dead-lettered at once with this reason, not retried.
                return gale::MakeError(gale::ErrorCode::kInvalidArgument, "the body must be a name of 1 to 100 bytes");
            }
            GALE_ASSIGN_OR_RETURN(auto pool, database.get());
            GALE_ASSIGN_OR_RETURN(auto conn, pool->Acquire());
            GALE_RETURN_IF_ERROR(conn->Execute("INSERT INTO visits (name) VALUES (?)", {std::string(message.body)}));
            return {};
        });

    app.Task("hello.add", gale::tasks::Typed(
                              [](std::int64_t a, std::int64_t b) -> gale::Result<std::int64_t> {
                                  std::int64_t sum = 0;
                                  if (__builtin_add_overflow(a, b, &sum)) {
                                      return gale::MakeError(gale::ErrorCode::kInvalidArgument,
                                                             "a + b does not fit in 64 bits");
                                  }
                                  return sum;
                              },
                              {"a", "b"}));
    app.Task("hello.record_visit",
             gale::tasks::Typed(
                 [database](gale::tasks::TaskContext& ctx, const std::string& name) -> gale::Result<nlohmann::json> {
                     if (name.empty() || name.size() > kMaxNameBytes) {
                         return gale::MakeError(gale::ErrorCode::kInvalidArgument, "name: 1 to 100 bytes");
                     }
                     // The transaction needs a connection of its own for its span: a lease from the pool.
                     GALE_ASSIGN_OR_RETURN(auto pool, database.get());
                     GALE_ASSIGN_OR_RETURN(auto conn, pool->Acquire());
                     return gale::tasks::RunOnce(
                         *conn, ctx, [&](gale::db::Database& tx) -> gale::Result<nlohmann::json> {
                             GALE_ASSIGN_OR_RETURN(
                                 auto rows, tx.Query("INSERT INTO visits (name) VALUES (?) RETURNING id", {name}));
                             return nlohmann::json{{"id", std::get<std::int64_t>(rows[0][0])}, {"name", name}};
                         });
                 },
                 {"name"}));

    app.Periodic("visit-every-minute", "hello.record_visit", "every 60s", {"beat"});

    app.Post("/tasks/visits/{name}", [&app](Request& req) -> gale::Result<Response> {
        GALE_ASSIGN_OR_RETURN(auto* client, app.tasks());
        GALE_ASSIGN_OR_RETURN(auto id, client->Send("hello.record_visit", {std::string(req.param("name"))}));
        return Response::Json(202, nlohmann::json{{"task_id", id}});
    });

    app.Get("/tasks/{id}", [&app](Request& req) -> gale::Result<Response> {
        GALE_ASSIGN_OR_RETURN(auto* client, app.tasks());
        auto result = client->Get(std::string(req.param("id")));
        if (!result && result.error().code() == gale::ErrorCode::kInvalidArgument) {
            return Response::Text(404, "results are disabled (CELERY_RESULT_BACKEND=disabled, or none set)\n");
        }
        if (!result) return tl::unexpected(result.error());
        return Response::Json(200, nlohmann::ordered_json{{"task_id", result->task_id},
                                                          {"state", gale::tasks::ToString(result->state)},
                                                          {"result", result->result}});
    });

    app.Command("add", "send hello.add(A, B) to the workers and print its result (waits up to 10 s)",
                [&](const gale::app::Args& args) {
                    if (args.size() != 2) {
                        std::fprintf(stderr, "add: expected two integers, e.g. `hello add 2 3`\n");
                        return 2;
                    }
                    constexpr std::int64_t kLimit = std::int64_t{1} << 52;  // exact in a Python float, and no overflow
                    auto a = gale::ParseInt("add: A", args[0], -kLimit, kLimit);
                    auto b = gale::ParseInt("add: B", args[1], -kLimit, kLimit);
                    if (!a || !b) {
                        std::fprintf(stderr, "%s\n", (!a ? a : b).error().message().c_str());
                        return 2;
                    }
                    auto client = app.tasks();
                    if (!client) {
                        std::fprintf(stderr, "add: %s\n", client.error().message().c_str());
                        return 1;
                    }
                    auto id = (*client)->Send("hello.add", {*a, *b});
                    if (!id) {
                        std::fprintf(stderr, "add: %s\n", id.error().message().c_str());
                        return 1;
                    }
                    auto result = (*client)->Wait(*id, std::chrono::seconds(10));
                    if (!result) {
                        std::fprintf(stderr, "add: task %s: %s (is `hello worker` running?)\n", id->c_str(),
                                     result.error().message().c_str());
                        return 1;
                    }
                    if (result->state != gale::tasks::TaskState::kSuccess) {
                        std::fprintf(stderr, "add: task %s: %s %s\n", id->c_str(),
                                     std::string(gale::tasks::ToString(result->state)).c_str(),
                                     result->result.dump().c_str());
                        return 1;
                    }
                    std::printf("%s\n", result->result.dump().c_str());
                    return 0;
                });

    app.Check("disk", [] { return health::CheckResult::Ok(); }, {.tags = health::kLiveness});

    app.Command("migrate", "create or update the database tables", [database](const gale::app::Args&) {
        auto conn = database.get().and_then([](auto pool) { return pool->Acquire(); });
        if (!conn) {
            std::fprintf(stderr, "migrate: %s\n", conn.error().message().c_str());
            return 1;
        }
        gale::db::Migrator m(**conn, Migrations((*conn)->engine()));
        auto applied = m.Apply();
        if (!applied) {
            std::fprintf(stderr, "migrate: %s\n", applied.error().ToString().c_str());
            return 1;
        }
        std::printf("applied %zu migration(s)\n", *applied);
        return 0;
    });

    app.Migrations([database]() -> gale::Result<std::vector<std::string>> {
        GALE_ASSIGN_OR_RETURN(auto pool, database.get());
        GALE_ASSIGN_OR_RETURN(auto conn, pool->Acquire(gale::db::Access::kRead));
        return gale::db::Migrator(*conn, Migrations(pool->engine())).Pending();
    });

    return app.Run(argc, argv);
}
