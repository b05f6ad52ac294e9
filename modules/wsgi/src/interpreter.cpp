// SPDX-License-Identifier: MIT
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <memory>
#include <mutex>
#include <thread>

#include <fmt/format.h>

#include <gale/wsgi/interpreter.hpp>

#include "python_ref.hpp"

namespace gale::wsgi {
namespace {

bool g_started = false;

// One thread state per OS thread, created by the thread's first PyGILState_Ensure (which registers it, so
// extension code calling PyGILState_Ensure on this thread finds it) and kept until the thread ends: never
// PyGILState_Release'd, which would delete it and every threading.local value with it.
struct ThreadGil {
    PyThreadState* state = nullptr;  // saved while this thread does not hold the GIL
    int depth = 0;
    bool created = false;
};
thread_local ThreadGil t_gil;

Result<void> PythonFailure(std::string_view what) {
    return MakeError(ErrorCode::kInternal, fmt::format("{}:\n{}", what, TakePythonError()));
}

class Janitor {
public:
    void Post(std::function<void()> fn) {
        {
            std::lock_guard lock(mu_);
            tasks_.push_back(std::move(fn));
            if (!thread_.joinable()) thread_ = std::thread([this] { Run(); });
        }
        cv_.notify_one();
    }

private:
    [[noreturn]] void Run() {
        for (;;) {
            std::function<void()> fn;
            {
                std::unique_lock lock(mu_);
                cv_.wait(lock, [&] { return !tasks_.empty(); });
                fn = std::move(tasks_.front());
                tasks_.pop_front();
            }
            Gil gil;
            fn();
        }
    }

    std::mutex mu_;
    std::condition_variable cv_;
    std::deque<std::function<void()>> tasks_;
    std::thread thread_;  // detached at exit: the process ends with the interpreter (never finalized)
};

Janitor& TheJanitor() {
    static auto* janitor = new Janitor();  // never destroyed: its thread lives until the process exits
    return *janitor;
}

}  // namespace

Result<void> StartInterpreter(const InterpreterOptions& options) {
    if (g_started) return MakeError(ErrorCode::kInternal, "the Python interpreter is already started");
    for (const std::string& dir : options.python_path) {
        if (std::error_code ec; !std::filesystem::is_directory(dir, ec)) {
            return MakeError(ErrorCode::kInvalidArgument, fmt::format("--pythonpath: '{}' is not a directory", dir));
        }
    }
    std::string site_packages;
    if (!options.virtual_env.empty()) {
        site_packages = options.virtual_env + "/lib/python3.11/site-packages";
        if (std::error_code ec; !std::filesystem::is_directory(site_packages, ec)) {
            return MakeError(ErrorCode::kInvalidArgument,
                             fmt::format("VIRTUAL_ENV: '{}' has no lib/python3.11/site-packages (a virtualenv made "
                                         "with Python 3.11 is needed)",
                                         options.virtual_env));
        }
    }

    PyConfig config;
    PyConfig_InitPythonConfig(&config);  // reads PYTHONPATH, PYTHONHOME… as the python3 command does
    config.install_signal_handlers = options.python_signal_handlers ? 1 : 0;
    config.parse_argv = 0;
    std::wstring program(options.program.begin(), options.program.end());
    PyStatus status = PyConfig_SetString(&config, &config.program_name, program.c_str());
    if (!PyStatus_Exception(status)) {
        wchar_t* argv[] = {program.data()};
        status = PyConfig_SetArgv(&config, 1, argv);
    }
    if (!PyStatus_Exception(status)) status = Py_InitializeFromConfig(&config);
    PyConfig_Clear(&config);
    if (PyStatus_Exception(status)) {
        return MakeError(ErrorCode::kInternal, fmt::format("the Python interpreter did not start: {}",
                                                           status.err_msg != nullptr ? status.err_msg : "unknown"));
    }
    g_started = true;
    t_gil.depth = 1;  // the main thread holds the GIL after initialisation; released at the end

    Result<void> result;
    PyObject* sys_path = PySys_GetObject("path");  // borrowed
    for (std::size_t i = options.python_path.size(); i-- > 0;) {
        Ref dir = Ref::Adopt(PyUnicode_DecodeFSDefault(options.python_path[i].c_str()));
        if (!dir || sys_path == nullptr || PyList_Insert(sys_path, 0, dir.get()) != 0) {
            result = PythonFailure("cannot extend sys.path");
            break;
        }
    }
    if (result && !site_packages.empty()) {
        // As the virtualenv's own python3 would see it: its packages (and their .pth files) right after
        // --pythonpath, ahead of the system's; the system's site-packages dropped unless its pyvenv.cfg says
        // include-system-site-packages = true.
        static constexpr const char* kVenv = R"PY(
def add(site_packages, venv, first):
    import os, site, sys
    before = list(sys.path)
    site.addsitedir(site_packages)
    added = [p for p in sys.path if p not in before]
    for p in added:
        sys.path.remove(p)
    sys.path[first:first] = added
    include_system = False
    try:
        with open(os.path.join(venv, "pyvenv.cfg")) as cfg:
            for line in cfg:
                key, _, value = line.partition("=")
                if key.strip() == "include-system-site-packages":
                    include_system = value.strip().lower() == "true"
    except OSError:
        pass
    if not include_system:
        system = set(site.getsitepackages()) | {"/usr/lib/python3/dist-packages", "/usr/local/lib/python3.11/dist-packages"}
        sys.path[:] = [p for p in sys.path if p not in system or p in added]
)PY";
        Ref module = ModuleFromSource("gale_venv", kVenv);
        PyObject* add = ModuleMember(module, "add");
        Ref added =
            add != nullptr
                ? Ref::Adopt(PyObject_CallFunction(add, "ssn", site_packages.c_str(), options.virtual_env.c_str(),
                                                   static_cast<Py_ssize_t>(options.python_path.size())))
                : Ref();
        if (!added) result = PythonFailure(fmt::format("cannot add the virtualenv's '{}'", site_packages));
    }
    t_gil.state = PyEval_SaveThread();
    t_gil.depth = 0;
    t_gil.created = true;
    return result;
}

bool InterpreterStarted() noexcept { return g_started; }

Gil::Gil() noexcept {
    ThreadGil& t = t_gil;
    if (t.depth++ > 0) return;
    if (!t.created) {
        PyGILState_Ensure();  // creates and registers this thread's state, and takes the GIL
        t.created = true;
        return;
    }
    PyEval_RestoreThread(t.state);
}

Gil::~Gil() {
    ThreadGil& t = t_gil;
    if (--t.depth > 0) return;
    t.state = PyEval_SaveThread();
}

void RunLater(std::function<void()> fn) { TheJanitor().Post(std::move(fn)); }

namespace {
std::unique_ptr<Gil> g_fork_gil;  // held from BeforeFork to AfterFork*, on the forking thread
}  // namespace

void BeforeFork() {
    g_fork_gil = std::make_unique<Gil>();
    PyOS_BeforeFork();
}

void AfterForkParent() {
    PyOS_AfterFork_Parent();
    g_fork_gil.reset();
}

void AfterForkChild() {
    PyOS_AfterFork_Child();
    g_fork_gil.reset();
}

std::string TakePythonError() {
    if (PyErr_Occurred() == nullptr) return {};
    PyObject *type = nullptr, *value = nullptr, *trace = nullptr;
    PyErr_Fetch(&type, &value, &trace);
    PyErr_NormalizeException(&type, &value, &trace);
    if (trace != nullptr && value != nullptr) PyException_SetTraceback(value, trace);
    Ref t = Ref::Adopt(type), v = Ref::Adopt(value), tb = Ref::Adopt(trace);
    std::string text;
    Ref module = Ref::Adopt(PyImport_ImportModule("traceback"));
    Ref lines = module ? Ref::Adopt(PyObject_CallMethod(module.get(), "format_exception", "OOO", t ? t.get() : Py_None,
                                                        v ? v.get() : Py_None, tb ? tb.get() : Py_None))
                       : Ref();
    Ref joined = lines ? Ref::Adopt(PyUnicode_Join(Ref::Adopt(PyUnicode_FromString("")).get(), lines.get())) : Ref();
    const char* utf8 = joined ? PyUnicode_AsUTF8(joined.get()) : nullptr;
    if (utf8 != nullptr) {
        text = utf8;
    } else {
        PyErr_Clear();
        Ref repr = v ? Ref::Adopt(PyObject_Str(v.get())) : Ref();
        const char* r = repr ? PyUnicode_AsUTF8(repr.get()) : nullptr;
        text = r != nullptr ? r : "(an exception that cannot be formatted)";
        PyErr_Clear();
    }
    while (!text.empty() && text.back() == '\n') text.pop_back();
    return text;
}

}  // namespace gale::wsgi

// The interpreter is never finalized (see the header), so what Python and its extension modules (OpenSSL under
// _hashlib and _ssl) allocated is still held at exit: not a leak for LeakSanitizer to report in the ASan build
// (an unused hook elsewhere).
extern "C" const char* __lsan_default_suppressions() {
    return "leak:libpython3.11\nleak:lib-dynload\nleak:libcrypto.so\nleak:libssl.so\nleak:libsqlite3.so\nleak:libpq."
           "so\n";
}
extern "C" const char* __lsan_default_options() { return "print_suppressions=0"; }
