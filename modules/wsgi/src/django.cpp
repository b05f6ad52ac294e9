// SPDX-License-Identifier: MIT
#include <cstdio>

#include <fmt/format.h>

#include <gale/wsgi/django.hpp>
#include <gale/wsgi/interpreter.hpp>

#include "python_ref.hpp"

namespace gale::wsgi::django {
namespace {

// The Django side, in Python: what hurricane's probe handlers and management command do, as functions.
constexpr const char* kSource = R"PY(
import sys

PROBE_TAGS = ("liveness", "readiness", "startup")


def setup():
    import django
    django.setup(set_prefix=False)


def probe_tags():
    from django.core.checks.registry import registry
    return sorted(set(registry.tags_available(deployment_checks=True)) & set(PROBE_TAGS))


def run_checks(tag):
    from django.core import checks
    found = checks.run_checks(tags=[tag], include_deployment_checks=True)
    serious = [str(m) for m in found if m.is_serious() and not m.is_silenced()]
    warnings = [str(m) for m in found if not m.is_serious() and not m.is_silenced()]
    return serious, warnings


def database_engine():
    from django.conf import settings
    engine = settings.DATABASES.get("default", {}).get("ENGINE")
    return str(engine) if engine else None


def check_database():
    from django.db import connections
    connection = connections["default"]
    try:
        connection.ensure_connection()
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:
        connection.close()
        raise


def pending_migrations():
    from django.db import connections
    from django.db.migrations.executor import MigrationExecutor
    executor = MigrationExecutor(connections["default"])
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    return ["%s.%s" % (migration.app_label, migration.name) for migration, backwards in plan]


def commands():
    from django.core.management import get_commands
    return sorted(get_commands())


def run_command(argv):
    from django.core.management import execute_from_command_line
    try:
        execute_from_command_line(["gale-wsgi manage"] + list(argv))
    except SystemExit as stop:
        if stop.code is None:
            return 0
        if isinstance(stop.code, int):
            return stop.code
        print(stop.code, file=sys.stderr)
        return 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    return 0


def files(kind):
    from django.conf import settings
    root = getattr(settings, kind.upper() + "_ROOT", None)
    url = getattr(settings, kind.upper() + "_URL", None)
    if not root or not url or not str(url).startswith("/"):
        return None
    return str(root), str(url)
)PY";

PyObject* g_module = nullptr;  // the functions above; created by Setup, never freed

Result<Ref> Call(const char* function, Ref args = Ref()) {
    if (g_module == nullptr) return MakeError(ErrorCode::kInternal, "Django is not set up");
    Ref fn = Ref::Adopt(PyObject_GetAttrString(g_module, function));
    Ref result =
        fn ? Ref::Adopt(args ? PyObject_CallObject(fn.get(), args.get()) : PyObject_CallNoArgs(fn.get())) : Ref();
    if (!result) return MakeError(ErrorCode::kUnavailable, TakePythonError());
    return result;
}

std::vector<std::string> Strings(PyObject* list) {
    std::vector<std::string> out;
    Ref items = Ref::Adopt(PySequence_Fast(list, "a list"));
    if (!items) {
        PyErr_Clear();
        return out;
    }
    for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(items.get()); ++i) {
        const char* s = PyUnicode_AsUTF8(PySequence_Fast_GET_ITEM(items.get(), i));
        if (s == nullptr) {
            PyErr_Clear();
            continue;
        }
        out.emplace_back(s);
    }
    return out;
}

std::string Join(const std::vector<std::string>& items) {
    std::string out;
    for (const std::string& s : items) out += (out.empty() ? "" : "; ") + s;
    return out;
}

// The last line of a traceback: "OperationalError: could not connect…".
std::string LastLine(const std::string& traceback) {
    auto nl = traceback.rfind('\n');
    return nl == std::string::npos ? traceback : traceback.substr(nl + 1);
}

}  // namespace

Result<void> Setup() {
    Gil gil;
    if (g_module == nullptr) {
        Ref module = ModuleFromSource("gale_django", kSource);
        if (!module)
            return MakeError(ErrorCode::kInternal, "loading gale's Django support failed:\n" + TakePythonError());
        g_module = module.release();
    }
    auto done = Call("setup");
    if (!done) {
        return MakeError(
            ErrorCode::kInvalidArgument,
            fmt::format(
                "Django did not start (DJANGO_SETTINGS_MODULE={}):\n{}",
                std::getenv("DJANGO_SETTINGS_MODULE") != nullptr ? std::getenv("DJANGO_SETTINGS_MODULE") : "(unset)",
                done.error().message()));
    }
    return {};
}

std::vector<std::string> ProbeTags() {
    Gil gil;
    auto tags = Call("probe_tags");
    return tags ? Strings(tags->get()) : std::vector<std::string>{};
}

health::CheckResult RunChecks(const std::string& tag) {
    Gil gil;
    auto found = Call("run_checks", Ref::Adopt(Py_BuildValue("(s)", tag.c_str())));
    if (!found) return health::CheckResult::Error("the checks raised: " + LastLine(found.error().message()));
    PyObject* serious = nullptr;
    PyObject* warnings = nullptr;
    if (PyArg_ParseTuple(found->get(), "OO", &serious, &warnings) == 0) {
        return health::CheckResult::Error(TakePythonError());
    }
    std::vector<std::string> errors = Strings(serious);
    if (!errors.empty()) return health::CheckResult::Error(Join(errors));
    std::vector<std::string> warned = Strings(warnings);
    if (!warned.empty()) return health::CheckResult::Warning(Join(warned));
    return health::CheckResult::Ok();
}

std::optional<std::string> DatabaseEngine() {
    Gil gil;
    auto engine = Call("database_engine");
    if (!engine || engine->get() == Py_None) return std::nullopt;
    const char* name = PyUnicode_AsUTF8(engine->get());
    if (name == nullptr) {
        PyErr_Clear();
        return std::nullopt;
    }
    return std::string(name);
}

health::CheckResult CheckDatabase() {
    Gil gil;
    auto ok = Call("check_database");
    if (!ok) return health::CheckResult::Error("database error: " + LastLine(ok.error().message()));
    return health::CheckResult::Ok();
}

Result<std::vector<std::string>> PendingMigrations() {
    Gil gil;
    auto pending = Call("pending_migrations");
    if (!pending) return MakeError(ErrorCode::kUnavailable, LastLine(pending.error().message()));
    return Strings(pending->get());
}

std::vector<std::string> Commands() {
    Gil gil;
    auto names = Call("commands");
    return names ? Strings(names->get()) : std::vector<std::string>{};
}

int RunCommand(const std::vector<std::string>& args) {
    Gil gil;
    Ref list = Ref::Adopt(PyList_New(0));
    for (const std::string& a : args) {
        Ref item = Ref::Adopt(PyUnicode_DecodeFSDefault(a.c_str()));
        if (!item || PyList_Append(list.get(), item.get()) != 0) {
            std::fprintf(stderr, "%s\n", TakePythonError().c_str());
            return 2;
        }
    }
    auto code = Call("run_command", Ref::Adopt(Py_BuildValue("(O)", list.get())));
    if (!code) {
        std::fprintf(stderr, "%s\n", code.error().message().c_str());
        return 1;
    }
    long value = PyLong_AsLong(code->get());
    if (PyErr_Occurred() != nullptr) {
        PyErr_Clear();
        return 1;
    }
    return static_cast<int>(value);
}

std::optional<FilesSetting> Files(const std::string& kind) {
    Gil gil;
    auto found = Call("files", Ref::Adopt(Py_BuildValue("(s)", kind.c_str())));
    if (!found || found->get() == Py_None) return std::nullopt;
    const char* root = nullptr;
    const char* url = nullptr;
    if (PyArg_ParseTuple(found->get(), "ss", &root, &url) == 0) {
        PyErr_Clear();
        return std::nullopt;
    }
    return FilesSetting{root, url};
}

}  // namespace gale::wsgi::django
