// SPDX-License-Identifier: MIT
/// @file gale/pipe/logpipe_schema.hpp
/// @brief django-logpipe's offset tables (`logpipe_kafkaoffset`, `logpipe_kinesisoffset`) in a database that a
///        Django service may share, created so that either of the two can start first.
///
/// The tables belong to the Django app `logpipe`, whose migrations 0001–0006 create them. Django decides what to
/// migrate from its `django_migrations` table alone: tables that gale created without a word there made a later
/// `manage.py migrate` fail (`index logpipe_offset_topic_partition_8988af52_uniq already exists`, issue 8). So gale
/// creates the app's whole final schema (both tables, whatever backend asked) and records the six migrations as
/// applied, as `migrate` would have left them, in one transaction; and where Django was first, gale uses its tables
/// as they are. Thread-safety: as gale::db::Database (the function takes the database's write lock while it
/// creates: SQLite `BEGIN IMMEDIATE`, PostgreSQL an advisory transaction lock).
#pragma once

#include <array>
#include <string_view>

#include <gale/base/error.hpp>
#include <gale/db/database.hpp>

namespace gale::pipe {

/// django-logpipe's migrations, in order (app label `logpipe`), as `django_migrations.name` holds them.
inline constexpr std::array<std::string_view, 6> kLogpipeMigrations = {
    "0001_initial",
    "0002_auto_20170427_1451",
    "0003_auto_20170427_1703",
    "0004_auto_20170502_1403",
    "0005_auto_20180917_1348",
    "0006_alter_kafkaoffset_options_and_more",
};

/// What EnsureLogpipeSchema found and did.
enum class LogpipeSchema {
    kCreated,   ///< nothing was there: gale created both tables and recorded 0001–0006 in django_migrations
    kAdopted,   ///< tables (made by a gale before issue 8) but no migration rows: gale recorded them, made what lacked
    kExisting,  ///< Django's migrations (0005 at least) were recorded: used as they are (a missing table re-created)
};

/// Makes sure both offset tables exist with the schema django-logpipe's migrations leave (column names, types as
/// Django makes them per engine, the unique indexes `logpipe_offset_topic_partition_8988af52_uniq` and
/// `logpipe_kinesisoffset_region_stream_shard_18abe976_uniq`), and that a Django service sharing the database sees
/// the app `logpipe` as migrated:
///
/// | found | does |
/// |---|---|
/// | no logpipe table, no logpipe row in django_migrations | creates `django_migrations` if missing (Django's DDL),
/// both tables, and rows for 0001–0006 — one transaction → kCreated | | rows for 0001–0005 (Django migrated first) |
/// nothing, or creates a table that is missing → kExisting | | one or both tables, no rows (an older gale made them) |
/// checks their columns, creates what lacks, records the rows → kAdopted | | some rows but not 0001–0005 (an old
/// django-logpipe, before 0.3) | nothing: kInvalidArgument naming the missing migrations and the command to run | | a
/// table without the columns gale needs | nothing: kInvalidArgument naming the table and the columns |
///
/// On PostgreSQL, `logpipe_kafkaoffset.offset` is `bigint` where Django's is `integer`, so offsets above 2^31-1 fit;
/// Django reads and writes it as well. Errors: kInvalidArgument as above (the message says exactly what to run
/// in the Django service), the database's errors (the transaction is rolled back).
[[nodiscard]] Result<LogpipeSchema> EnsureLogpipeSchema(db::Database& database);

}  // namespace gale::pipe
