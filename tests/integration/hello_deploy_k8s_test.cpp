// SPDX-License-Identifier: MIT
//
// `hello deploy k8s` as a user runs it: the real binary, its effective settings from the environment, its exit status
// and output, and the manifests it prints checked by deploy/check_manifests.py. The unit tests of the renderer
// (modules/app/src/deploy_k8s_test.cpp) take K8sInputs as given; these check that `deploy k8s` fills them from what
// the service is configured with: its database engine, whether it declares migrations, and serve's drain timing.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "harness.hpp"

namespace {

using gale::testing::integration::ReadFile;
using gale::testing::integration::TempDirTest;

#ifndef GALE_HELLO_PATH
#error "GALE_HELLO_PATH must name the hello binary"
#endif
#ifndef GALE_DEPLOY_CHECKER_PATH
#error "GALE_DEPLOY_CHECKER_PATH must name deploy/check_manifests.py"
#endif

struct Outcome {
    int exit_code = -1;
    std::string out;
    std::string err;
};

bool Has(const std::string& s, const std::string& what) { return s.find(what) != std::string::npos; }

std::size_t Count(const std::string& s, const std::string& what) {
    std::size_t n = 0;
    for (auto p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) ++n;
    return n;
}

class HelloDeployK8s : public TempDirTest {
protected:
    HelloDeployK8s() : TempDirTest("hello-deploy") {}

    /// `hello deploy k8s --image … ARGS` in a fresh directory (no dotenv files), with only PATH and `vars` in its
    /// environment (`env -i`), so nothing from the test's environment changes the settings.
    Outcome DeployK8s(const std::vector<std::string>& vars, const std::string& args) {
        std::string command = "cd '" + dir_ + "' && env -i PATH=/usr/bin:/bin";
        for (const auto& v : vars) command += " '" + v + "'";
        command += std::string(" '") + GALE_HELLO_PATH + "' deploy k8s --image registry.example.com/hello:0.1.0 " +
                   args + " > out.txt 2> err.txt";
        int status = std::system(command.c_str());
        Outcome r;
        r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        r.out = ReadFile(dir_ + "/out.txt");
        r.err = ReadFile(dir_ + "/err.txt");
        return r;
    }

    /// deploy/check_manifests.py on `yaml`: its exit status and output. Debian's python3-kubernetes is in
    /// /usr/bin/python3's path (GALE_DEPLOY_PYTHON overrides).
    Outcome Check(const std::string& yaml) {
        std::ofstream(dir_ + "/manifests.yaml") << yaml;
        const char* py = std::getenv("GALE_DEPLOY_PYTHON");
        std::string command = std::string("'") + (py != nullptr && *py != '\0' ? py : "/usr/bin/python3") + "' '" +
                              GALE_DEPLOY_CHECKER_PATH + "' < '" + (dir_ + "/manifests.yaml") + "' > '" +
                              (dir_ + "/check.txt") + "' 2>&1";
        int status = std::system(command.c_str());
        Outcome r;
        r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        r.out = ReadFile(dir_ + "/check.txt");
        return r;
    }
};

/// The case: hello on its default database (SQLite) with a migration Job. Refused, naming the setting.
TEST_F(HelloDeployK8s, SqliteIsRefusedNamingTheSetting) {
    for (const char* modes : {"WEB,TASK", "WEB", "WEB,TASK,CONSUME"}) {
        Outcome r = DeployK8s({}, std::string("--modes ") + modes);
        EXPECT_EQ(r.exit_code, 2) << modes << "\n" << r.out << r.err;
        EXPECT_TRUE(r.out.empty()) << "no manifests on stdout when refusing: " << r.out;
        EXPECT_TRUE(Has(r.err,
                        "hello: cannot render manifests:\n  DATABASE_ENGINE: sqlite, but the service keeps "
                        "tables (it declares migrations)"))
            << r.err;
        EXPECT_TRUE(Has(r.err, "render for a database server: DATABASE_ENGINE=postgresql")) << r.err;
    }
    Outcome file = DeployK8s({"DATABASE_NAME=/data/hello.db"}, "--modes WEB,TASK");
    EXPECT_EQ(file.exit_code, 2) << file.err;
    Outcome bad = DeployK8s({"DATABASE_ENGINE=mysql"}, "--modes WEB,TASK");
    EXPECT_EQ(bad.exit_code, 2) << bad.err;
    EXPECT_EQ(bad.err, "hello: DATABASE_ENGINE: 'mysql' is not one of sqlite, postgresql\n");
}

/// On PostgreSQL the rendering needs only the engine (the server's address goes into the ConfigMap later); every
/// workload is pinned to it and the pods wait for the Job's migrations.
TEST_F(HelloDeployK8s, PostgresqlRendersManifestsThatPassTheSchemaCheck) {
    for (const char* engine :
         {"DATABASE_ENGINE=postgresql", "DATABASE_URL=postgresql://hello:Pw-not-rendered-7f3@db:5432/hello"}) {
        Outcome r = DeployK8s({engine}, "--modes WEB,TASK,CONSUME");
        ASSERT_EQ(r.exit_code, 0) << engine << "\n" << r.err;
        EXPECT_FALSE(Has(r.out, "Pw-not-rendered-7f3")) << "the URL's password is not rendered";
        EXPECT_EQ(Count(r.out, "name: \"DATABASE_ENGINE\"\n              value: \"postgresql\"\n"), 3U)
            << "WEB, TASK and CONSUME\n"
            << r.out;
        EXPECT_EQ(Count(r.out, "DATABASE_ENGINE"), 3U) << "not in the ConfigMap\n" << r.out;
        EXPECT_TRUE(Has(r.out, "name: \"GALE_CHECK_MIGRATIONS\"\n              value: \"true\"")) << r.out;
        Outcome check = Check(r.out);
        EXPECT_EQ(check.exit_code, 0) << check.out << r.out;
        EXPECT_TRUE(Has(check.out, "ok: ")) << check.out;
    }
}

/// A service whose migrations are in a database it configures itself (gale-wsgi and Django's DATABASES) names it in
/// the pod template's annotation gale.dev/migrations-database; the checker then judges that one, not DATABASE_ENGINE.
TEST_F(HelloDeployK8s, TheCheckerJudgesTheDatabaseThePodsAnnotationNames) {
    Outcome r = DeployK8s({"DATABASE_ENGINE=postgresql"}, "--modes WEB,TASK");
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto replace_all = [](std::string s, const std::string& from, const std::string& to) {
        for (auto p = s.find(from); p != std::string::npos; p = s.find(from, p + to.size()))
            s.replace(p, from.size(), to);
        return s;
    };
    // gale's own engine back to SQLite: a pod waiting for migrations in its own file is refused…
    std::string on_sqlite = replace_all(r.out, "value: \"postgresql\"", "value: \"sqlite\"");
    Outcome refused = Check(on_sqlite);
    EXPECT_EQ(refused.exit_code, 1) << refused.out;
    EXPECT_TRUE(Has(refused.out, "GALE_CHECK_MIGRATIONS waits for migrations in DATABASE_ENGINE=sqlite"))
        << refused.out;
    // …unless its migrations are in a database server the annotation names…
    const std::string path_line = "        prometheus.io/path: \"/metrics\"\n";
    ASSERT_TRUE(Has(on_sqlite, path_line)) << on_sqlite;
    Outcome own = Check(replace_all(
        on_sqlite, path_line, path_line + "        gale.dev/migrations-database: \"django.db.backends.postgresql\"\n"));
    EXPECT_EQ(own.exit_code, 0) << own.out;
    // …and a file it names is refused as well.
    Outcome own_file = Check(replace_all(
        r.out, path_line, path_line + "        gale.dev/migrations-database: \"django.db.backends.sqlite3\"\n"));
    EXPECT_EQ(own_file.exit_code, 1) << own_file.out;
    EXPECT_TRUE(Has(own_file.out, "gale.dev/migrations-database='django.db.backends.sqlite3', a file")) << own_file.out;
}

/// The readiness probe and the grace period follow serve's effective drain delay and graceful timeout.
TEST_F(HelloDeployK8s, ProbeTimingFollowsServesDrainSettings) {
    Outcome defaults = DeployK8s({"DATABASE_ENGINE=postgresql"}, "--modes WEB");
    ASSERT_EQ(defaults.exit_code, 0) << defaults.err;
    EXPECT_TRUE(Has(defaults.out,
                    "readinessProbe:\n            httpGet:\n              path: \"/ready\"\n"
                    "              port: \"metrics\"\n            periodSeconds: 2\n"
                    "            timeoutSeconds: 1\n            failureThreshold: 2\n"))
        << defaults.out;

    Outcome slow = DeployK8s({"DATABASE_ENGINE=postgresql", "GALE_DRAIN_DELAY=12s", "GALE_GRACEFUL_TIMEOUT=45s"},
                             "--modes WEB,TASK");
    ASSERT_EQ(slow.exit_code, 0) << slow.err;
    EXPECT_TRUE(Has(slow.out,
                    "            periodSeconds: 5\n            timeoutSeconds: 1\n"
                    "            failureThreshold: 2\n"))
        << slow.out;
    EXPECT_TRUE(Has(slow.out, "terminationGracePeriodSeconds: 62\n")) << slow.out;  // 12 + 45 + 2 webhooks + 3
    EXPECT_TRUE(Has(slow.out, "name: \"GALE_DRAIN_DELAY\"\n              value: \"12000ms\"")) << slow.out;
    Outcome check = Check(slow.out);
    EXPECT_EQ(check.exit_code, 0) << check.out;

    Outcome quick = DeployK8s({"DATABASE_ENGINE=postgresql", "GALE_DRAIN_DELAY=1s"}, "--modes WEB");
    EXPECT_EQ(quick.exit_code, 2) << quick.out << quick.err;
    EXPECT_TRUE(Has(quick.err, "set --drain-delay (GALE_DRAIN_DELAY) to at least 2s")) << quick.err;
}

}  // namespace
