// SPDX-License-Identifier: MIT
// gale and a Django service on one database, started in either order (issue 8), on SQLite and on a real PostgreSQL:
// Django is a real one (Debian's python3-django, driven through manage.py) with a stand-in for django-logpipe whose
// migrations leave django-logpipe's schema (modules/pipe/testing/django). Nothing here skips: without Django,
// psycopg2 or PostgreSQL the tests fail, naming the package (tools/install-deps.sh test installs them).
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <gale/db/database.hpp>
#include <gale/db/testing/postgres_server.hpp>
#include <gale/pipe/kafka.hpp>
#include <gale/pipe/kinesis.hpp>
#include <gale/pipe/logpipe_schema.hpp>

namespace gale::pipe {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

struct ManageRun {
    int status = -1;
    std::string output;  // stdout and stderr
};

/// `manage.py ARGS` of the stand-in project against `django_db` (GALE_DJANGO_DB, see its README).
ManageRun Manage(const std::string& django_db, const std::string& args) {
    const std::string command = "cd '" GALE_PIPE_DJANGO_PROJECT "' && GALE_DJANGO_DB='" + django_db +
                                "' '" GALE_DJANGO_PYTHON "' manage.py " + args + " 2>&1";
    ManageRun run;
    FILE* pipe = ::popen(command.c_str(), "r");
    if (pipe == nullptr) return run;
    std::array<char, 4096> buffer{};
    std::size_t n = 0;
    while ((n = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0) run.output.append(buffer.data(), n);
    const int status = ::pclose(pipe);
    run.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return run;
}

/// Fails the test unless Debian's Django (and psycopg2 for PostgreSQL) can be imported.
void ExpectDjango(bool postgresql) {
    const std::string modules = postgresql ? "django, psycopg2" : "django";
    const std::string command = "'" GALE_DJANGO_PYTHON "' -c 'import " + modules + "' 2>&1";
    ASSERT_EQ(std::system(command.c_str()), 0)
        << GALE_DJANGO_PYTHON " cannot import " << modules
        << ": install Debian's python3-django and python3-psycopg2 (tools/install-deps.sh test)";
}

/// The tables' shape as both engines describe it: columns (name, type, nullability) and unique indexes (name,
/// columns), one line each, sorted — what Django and gale must agree on.
std::string SchemaOf(db::Database& database) {
    std::vector<std::string> lines;
    const auto text = [](const db::Value& v) {
        if (const auto* s = std::get_if<std::string>(&v)) return *s;
        if (const auto* i = std::get_if<std::int64_t>(&v)) return std::to_string(*i);
        return std::string("null");
    };
    for (const std::string table : {"logpipe_kafkaoffset", "logpipe_kinesisoffset"}) {
        if (database.engine() == db::Engine::kPostgresql) {
            auto columns = database.Query(
                "SELECT column_name, data_type, character_maximum_length, is_nullable FROM information_schema.columns "
                "WHERE table_name = ? AND table_schema = current_schema()",
                {table});
            EXPECT_TRUE(columns) << columns.error().ToString();
            for (const auto& row : columns.value_or(std::vector<db::Row>{})) {
                lines.push_back(table + " column " + text(row[0]) + " " + text(row[1]) + "(" + text(row[2]) + ") " +
                                text(row[3]));
            }
            auto indexes = database.Query(
                "SELECT i.relname, pg_get_indexdef(x.indexrelid) FROM pg_index x JOIN pg_class i ON i.oid = "
                "x.indexrelid WHERE x.indrelid = to_regclass(?) AND x.indisunique AND NOT x.indisprimary",
                {"\"" + table + "\""});
            EXPECT_TRUE(indexes) << indexes.error().ToString();
            for (const auto& row : indexes.value_or(std::vector<db::Row>{})) {
                std::string definition = text(row[1]);
                definition = definition.substr(definition.find(" USING "));
                lines.push_back(table + " unique " + text(row[0]) + definition);
            }
        } else {
            auto columns = database.Query("SELECT name, type, \"notnull\", pk FROM pragma_table_info('" + table + "')");
            EXPECT_TRUE(columns) << columns.error().ToString();
            for (const auto& row : columns.value_or(std::vector<db::Row>{})) {
                lines.push_back(table + " column " + text(row[0]) + " " + text(row[1]) + " notnull=" + text(row[2]) +
                                " pk=" + text(row[3]));
            }
            auto indexes = database.Query("SELECT l.name, group_concat(i.name) FROM pragma_index_list('" + table +
                                          "') l, pragma_index_info(l.name) i WHERE l.\"unique\" GROUP BY l.name");
            EXPECT_TRUE(indexes) << indexes.error().ToString();
            for (const auto& row : indexes.value_or(std::vector<db::Row>{})) {
                lines.push_back(table + " unique " + text(row[0]) + " (" + text(row[1]) + ")");
            }
        }
    }
    std::sort(lines.begin(), lines.end());
    std::string out;
    for (const auto& line : lines) out += line + "\n";
    return out;
}

/// One fresh database per test: a SQLite file, or the PostgreSQL test database emptied (one server per suite).
class LogpipeSchemaTest : public ::testing::TestWithParam<db::Engine> {
protected:
    static void TearDownTestSuite() { server_.reset(); }

    void SetUp() override {
        const bool postgresql = GetParam() == db::Engine::kPostgresql;
        ASSERT_NO_FATAL_FAILURE(ExpectDjango(postgresql));
        char pattern[] = "/tmp/gale-logpipe-schema-XXXXXX";
        ASSERT_NE(::mkdtemp(pattern), nullptr);
        dir_ = pattern;
        if (postgresql) {
            if (!server_) {
                auto server = db::testing::PostgresServer::Start();
                ASSERT_TRUE(server) << server.error().ToString();
                server_ = std::move(*server);
            }
            auto database = db::Database::Connect(server_->connection_options());
            ASSERT_TRUE(database) << database.error().ToString();
            ASSERT_TRUE(database->ExecScript("DROP SCHEMA public CASCADE; CREATE SCHEMA public;"));
            database_ = std::move(*database);
            django_db_ = server_->url();
        } else {
            auto database = db::Database::Open(dir_ + "/shared.db");
            ASSERT_TRUE(database) << database.error().ToString();
            database_ = std::move(*database);
            django_db_ = "sqlite:" + dir_ + "/shared.db";
        }
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }

    /// The schema Django's own `migrate` makes, in a database of its own (same engine).
    std::string DjangoSchema() {
        std::string django_db;
        std::optional<db::Database> database;
        if (GetParam() == db::Engine::kPostgresql) {
            // A second database on the same server, owned by the test user.
            EXPECT_TRUE(database_->ExecScript("SELECT 1"));
            auto admin = std::system(("'" + db::testing::PostgresServer::FindBinDir().value() + "/psql' -X -q -h '" +
                                      server_->dir() + "' -p " + std::to_string(server_->port()) +
                                      " -U postgres -d postgres -c 'DROP DATABASE IF EXISTS django_only' -c "
                                      "'CREATE DATABASE django_only OWNER " +
                                      server_->options().username + "' >/dev/null 2>&1")
                                         .c_str());
            EXPECT_EQ(admin, 0);
            auto options = server_->connection_options();
            options.name = "django_only";
            database = db::Database::Connect(options).value();
            django_db = server_->url();
            django_db = django_db.substr(0, django_db.rfind('/')) + "/django_only";
        } else {
            database = db::Database::Open(dir_ + "/django-only.db").value();
            django_db = "sqlite:" + dir_ + "/django-only.db";
        }
        const ManageRun migrate = Manage(django_db, "migrate");
        EXPECT_EQ(migrate.status, 0) << migrate.output;
        return SchemaOf(*database);
    }

    static std::unique_ptr<db::testing::PostgresServer> server_;
    std::string dir_;
    std::optional<db::Database> database_;
    std::string django_db_;
};

std::unique_ptr<db::testing::PostgresServer> LogpipeSchemaTest::server_;

// Order A: gale's Kafka consumer starts first and creates its offset table; the Django service deploys next and
// migrates (issue 8: "index logpipe_offset_topic_partition_8988af52_uniq already exists"), then its ORM uses both
// tables and gale reads what Django wrote.
TEST_P(LogpipeSchemaTest, GaleFirstThenDjangoMigratesAndUsesTheTables) {
    KafkaOffsetStore store(*database_);
    auto created = store.EnsureTable();
    ASSERT_TRUE(created) << created.error().ToString();
    ASSERT_TRUE(store.Store("users", 0, 5));

    const ManageRun migrate = Manage(django_db_, "migrate");
    ASSERT_EQ(migrate.status, 0) << migrate.output;
    EXPECT_THAT(migrate.output, HasSubstr("Applying contenttypes.0001_initial... OK"));
    EXPECT_THAT(migrate.output, Not(HasSubstr("Applying logpipe")));  // recorded by gale, as if applied
    const ManageRun shown = Manage(django_db_, "showmigrations logpipe");
    ASSERT_EQ(shown.status, 0) << shown.output;
    for (const auto name : kLogpipeMigrations) EXPECT_THAT(shown.output, HasSubstr("[X] " + std::string(name)));

    const ManageRun orm =
        Manage(django_db_,
               "logpipe_offsets --set-kafka users 1 7 --set-kinesis us-east-1 orders shardId-000000000000 "
               "49590338271490256608559692538361571095921575989136588898");
    ASSERT_EQ(orm.status, 0) << orm.output;
    EXPECT_THAT(orm.output, HasSubstr(R"("kafka": [["users", 0, 5], ["users", 1, 7]])"));
    EXPECT_THAT(orm.output, HasSubstr(R"(["us-east-1", "orders", "shardId-000000000000", )"
                                      R"("49590338271490256608559692538361571095921575989136588898"]])"));
    EXPECT_EQ(store.Load("users", 1).value(), std::optional<std::int64_t>(7));

    // The same tables, columns and index names as Django's own migrate makes; on PostgreSQL gale's offset is bigint
    // (the one deliberate difference).
    std::string ours = SchemaOf(*database_);
    const std::string bigint = "logpipe_kafkaoffset column offset bigint";
    if (const auto at = ours.find(bigint); at != std::string::npos) {
        ours.replace(at, bigint.size(), "logpipe_kafkaoffset column offset integer");
    }
    EXPECT_EQ(ours, DjangoSchema());

    // A second start changes nothing.
    EXPECT_EQ(EnsureLogpipeSchema(*database_).value(), LogpipeSchema::kExisting);
}

// Order A through the Kinesis consumer's entry point: it creates both tables too, so that Django's belief (the app
// is migrated) holds for the Kafka table as well.
TEST_P(LogpipeSchemaTest, KinesisFirstCreatesTheWholeAppSchema) {
    auto created = EnsureKinesisOffsetTable(*database_);
    ASSERT_TRUE(created) << created.error().ToString();
    const ManageRun migrate = Manage(django_db_, "migrate");
    ASSERT_EQ(migrate.status, 0) << migrate.output;
    const ManageRun orm =
        Manage(django_db_, "logpipe_offsets --set-kafka users 0 1 --set-kinesis us-east-1 s shard-1 42");
    ASSERT_EQ(orm.status, 0) << orm.output;
    EXPECT_THAT(orm.output,
                HasSubstr(R"({"kafka": [["users", 0, 1]], "kinesis": [["us-east-1", "s", "shard-1", "42"]]})"));
}

// Order B: Django migrates first and stores an offset; gale then uses Django's tables unchanged, resumes from that
// offset and commits its own into them, which Django reads.
TEST_P(LogpipeSchemaTest, DjangoFirstThenGaleConsumesAndCommitsIntoItsTables) {
    const ManageRun migrate = Manage(django_db_, "migrate");
    ASSERT_EQ(migrate.status, 0) << migrate.output;
    ASSERT_EQ(Manage(django_db_, "logpipe_offsets --set-kafka states 0 1").status, 0);
    const std::string before = SchemaOf(*database_);
    EXPECT_EQ(EnsureLogpipeSchema(*database_).value(), LogpipeSchema::kExisting);
    ASSERT_TRUE(EnsureKinesisOffsetTable(*database_));

    // librdkafka's mock cluster: one partition with three records; Django's offset 1 means "read from offset 1".
    char errstr[256];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "0", errstr, sizeof errstr);
    rd_kafka_t* handle = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    ASSERT_NE(handle, nullptr) << errstr;
    rd_kafka_mock_cluster_t* cluster = rd_kafka_mock_cluster_new(handle, 1);
    ASSERT_EQ(rd_kafka_mock_topic_create(cluster, "states", 1, 1), RD_KAFKA_RESP_ERR_NO_ERROR);
    {
        KafkaOptions options;
        options.bootstrap_servers = rd_kafka_mock_cluster_bootstraps(cluster);
        options.database = *database_;
        options.config["log_level"] = "3";
        auto producer = KafkaProducer::Create(options);
        ASSERT_TRUE(producer) << producer.error().ToString();
        for (const char* value : {"zero", "one", "two"}) ASSERT_TRUE((*producer)->Send("states", "k", value));
        auto consumer = KafkaConsumer::Create("states", options);
        ASSERT_TRUE(consumer) << consumer.error().ToString();
        std::vector<std::string> seen;
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (seen.size() < 2 && std::chrono::steady_clock::now() < deadline) {
            auto record = (*consumer)->Poll(std::chrono::milliseconds(200));
            ASSERT_TRUE(record) << record.error().ToString();
            if (!*record) continue;
            seen.push_back((*record)->value);
            ASSERT_TRUE((*consumer)->Commit(**record));
        }
        EXPECT_EQ(seen, (std::vector<std::string>{"one", "two"}));
    }
    rd_kafka_mock_cluster_destroy(cluster);
    rd_kafka_destroy(handle);

    const ManageRun orm = Manage(django_db_, "logpipe_offsets");
    ASSERT_EQ(orm.status, 0) << orm.output;
    EXPECT_THAT(orm.output, HasSubstr(R"("kafka": [["states", 0, 3]])"));
    EXPECT_EQ(SchemaOf(*database_), before);  // Django's tables, untouched
    const ManageRun again = Manage(django_db_, "migrate");
    ASSERT_EQ(again.status, 0) << again.output;
    EXPECT_THAT(again.output, HasSubstr("No migrations to apply."));
}

// The state a gale before this fix left (its tables, no django_migrations rows): adopted, so Django migrates.
TEST_P(LogpipeSchemaTest, TablesOfAnOlderGaleAreAdopted) {
    const bool postgresql = GetParam() == db::Engine::kPostgresql;
    ASSERT_TRUE(database_->ExecScript(
        std::string(R"(CREATE TABLE "logpipe_kafkaoffset" ("id" )") +
        (postgresql ? "serial NOT NULL PRIMARY KEY" : "integer NOT NULL PRIMARY KEY AUTOINCREMENT") +
        R"(, "topic" varchar(200) NOT NULL, "partition" integer NOT NULL, "offset" bigint NOT NULL);)"
        R"(CREATE UNIQUE INDEX "logpipe_offset_topic_partition_8988af52_uniq" ON "logpipe_kafkaoffset" )"
        R"(("topic", "partition");)"
        R"(INSERT INTO "logpipe_kafkaoffset" ("topic", "partition", "offset") VALUES ('users', 0, 9);)"));
    EXPECT_EQ(EnsureLogpipeSchema(*database_).value(), LogpipeSchema::kAdopted);
    const ManageRun migrate = Manage(django_db_, "migrate");
    ASSERT_EQ(migrate.status, 0) << migrate.output;
    const ManageRun orm = Manage(django_db_, "logpipe_offsets");
    EXPECT_THAT(orm.output, HasSubstr(R"({"kafka": [["users", 0, 9]], "kinesis": []})"));
}

// Django with an old django-logpipe (migrations up to 0004, no `region`): gale says what to run instead of guessing.
TEST_P(LogpipeSchemaTest, IncompleteDjangoMigrationsNameTheCommandToRun) {
    const ManageRun migrate = Manage(django_db_, "migrate logpipe 0004_auto_20170502_1403");
    ASSERT_EQ(migrate.status, 0) << migrate.output;
    auto refused = EnsureLogpipeSchema(*database_);
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_THAT(refused.error().message(), HasSubstr("missing: 0005_auto_20180917_1348"));
    EXPECT_THAT(refused.error().message(), HasSubstr("Run `python manage.py migrate logpipe` in the Django service"));
    EXPECT_FALSE(KafkaOffsetStore(*database_).EnsureTable());
    // Once Django has migrated, gale starts.
    ASSERT_EQ(Manage(django_db_, "migrate").status, 0);
    EXPECT_EQ(EnsureLogpipeSchema(*database_).value(), LogpipeSchema::kExisting);
}

// A table of the same name that neither gale nor Django made is refused, naming the columns, and nothing is written.
TEST_P(LogpipeSchemaTest, AForeignTableIsRefused) {
    ASSERT_TRUE(database_->ExecScript(R"(CREATE TABLE "logpipe_kinesisoffset" ("id" integer, "stream" text))"));
    auto refused = EnsureLogpipeSchema(*database_);
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_THAT(
        refused.error().message(),
        HasSubstr("table \"logpipe_kinesisoffset\" exists without the column(s) shard, sequence_number, region"));
    auto migrations =
        database_->Query("SELECT count(*) FROM " +
                         std::string(GetParam() == db::Engine::kPostgresql
                                         ? "pg_class WHERE relname IN ('django_migrations', 'logpipe_kafkaoffset')"
                                         : "sqlite_master WHERE name IN ('django_migrations', 'logpipe_kafkaoffset')"));
    ASSERT_TRUE(migrations);
    EXPECT_EQ((*migrations)[0][0], db::Value(std::int64_t{0}));
}

INSTANTIATE_TEST_SUITE_P(Engines, LogpipeSchemaTest, ::testing::Values(db::Engine::kSqlite, db::Engine::kPostgresql),
                         [](const ::testing::TestParamInfo<db::Engine>& engine) {
                             return std::string(db::ToString(engine.param));
                         });

}  // namespace
}  // namespace gale::pipe
