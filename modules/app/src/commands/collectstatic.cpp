// SPDX-License-Identifier: MIT
#include "collectstatic.hpp"

#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>

#include <gale/base/environment.hpp>
#include <gale/base/strings.hpp>
#include <gale/staticfiles/collect.hpp>
#include <gale/storage/local_storage.hpp>

namespace gale::app::detail {
namespace {

struct Flags {
    bool noinput = false;  // accepted for Django: the command never asks
    bool dry_run = false;
    bool no_compress = false;
    bool list = false;
    int verbosity = 1;
};

int Collect(const Flags& flags, const EnvLookup& lookup) {
    auto root = LookupEnv(lookup, "STATIC_ROOT");
    auto sources = LookupEnv(lookup, "STATIC_SOURCE_DIRS");
    if (!root || !sources) {
        std::fprintf(stderr,
                     "collectstatic: %s is not set (STATIC_ROOT: the directory to write; STATIC_SOURCE_DIRS: "
                     "the directories to read)\n",
                     !root ? "STATIC_ROOT" : "STATIC_SOURCE_DIRS");
        return 2;
    }
    staticfiles::CollectOptions options;
    for (auto& dir : SplitList(*sources)) options.sources.emplace_back(std::move(dir));
    if (auto url = LookupEnv(lookup, "STATIC_URL")) options.static_url = std::move(*url);
    options.gzip = options.brotli = !flags.no_compress;
    options.dry_run = flags.dry_run;
    if (flags.list || flags.verbosity >= 2) {
        options.on_file = [](std::string_view name, std::string_view hashed) {
            std::printf("'%.*s' -> '%.*s'\n", static_cast<int>(name.size()), name.data(),
                        static_cast<int>(hashed.size()), hashed.data());
        };
    }
    storage::LocalStorageOptions local;
    local.root = *root;  // created when missing, even by a dry run (which then leaves it empty)
    auto destination = storage::LocalStorage::Create(std::move(local));
    if (!destination) {
        std::fprintf(stderr, "collectstatic: STATIC_ROOT: %s\n", destination.error().message().c_str());
        return 1;
    }
    auto report = staticfiles::CollectStatic(options, **destination);
    if (!report) {
        std::fprintf(stderr, "collectstatic: %s\n", report.error().message().c_str());
        return 1;
    }
    if (flags.verbosity >= 1) {
        std::printf("%zu static file%s %s '%s', %zu post-processed; %zu .gz and %zu .br files%s.\n", report->files,
                    report->files == 1 ? "" : "s", flags.dry_run ? "would be copied to" : "copied to",
                    (*destination)->root().c_str(), report->paths.size(), report->gzipped, report->brotli,
                    flags.dry_run ? " (dry run: nothing written)" : "");
    }
    return 0;
}

}  // namespace

CommandEntry CollectStaticCommand(const EnvLookup& lookup) {
    CommandFn fn = [lookup](const Args& args) -> int {
        CLI::App cli(
            "copy STATIC_SOURCE_DIRS into STATIC_ROOT with content-hashed names, staticfiles.json and "
            ".gz/.br files",
            "collectstatic");
        Flags flags;
        cli.add_flag("--noinput,--no-input", flags.noinput, "accepted for Django (the command never asks)");
        cli.add_flag("-n,--dry-run", flags.dry_run, "read, hash and report; write nothing");
        cli.add_flag("--no-compress", flags.no_compress, "no .gz and .br files");
        cli.add_flag("-l,--list", flags.list, "print each file's hashed name");
        cli.add_option("-v,--verbosity", flags.verbosity, "0: quiet, 1: a summary (default), 2 and 3: each file too")
            ->check(CLI::Range(0, 3));
        try {
            cli.parse(std::vector<std::string>(args.rbegin(), args.rend()));  // CLI11 takes them last first
        } catch (const CLI::ParseError& e) {
            const int code = cli.exit(e);
            return code == 0 ? 0 : 2;
        }
        return Collect(flags, lookup);
    };
    return {"collectstatic",
            "copy STATIC_SOURCE_DIRS into STATIC_ROOT: Django's hashed names, staticfiles.json, .gz/.br (built in)",
            std::move(fn)};
}

}  // namespace gale::app::detail
