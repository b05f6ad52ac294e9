// SPDX-License-Identifier: MIT
/// @file gale/wsgi/interpreter.hpp
/// @brief The embedded CPython interpreter: started once per process, then entered by any thread through Gil.
///
/// gale's event loops never run Python; the worker pool's threads do, each holding the GIL only while in Python.
/// Each OS thread keeps one Python thread state for its whole life, so `threading.local` data (Django's database
/// connections) survives from one request to the next on that thread. The interpreter is never finalized: the
/// process exits with it (as uWSGI and gunicorn's workers do), so a Python thread that never ends cannot hang
/// shutdown. Thread-safety: StartInterpreter once, from the main thread, before any Gil; everything else from any
/// thread.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <gale/base/error.hpp>

namespace gale::wsgi {

struct InterpreterOptions {
    /// Directories put first on sys.path, in this order (`--pythonpath`; then PYTHONPATH, as Python reads it).
    std::vector<std::string> python_path;
    /// A virtualenv whose site-packages are added (VIRTUAL_ENV), after python_path, with its .pth files.
    std::string virtual_env;
    /// sys.argv[0] (and the program name Python reports).
    std::string program = "gale-wsgi";
    /// Python's own SIGINT handler (KeyboardInterrupt), for interactive commands (`manage shell`). Off for the
    /// long-running roles, whose SIGTERM and SIGINT stay gale's.
    bool python_signal_handlers = false;
};

/// Starts CPython 3.11 (Debian's libpython3.11) with the process's environment (PYTHONPATH, PYTHONHOME,
/// PYTHONDONTWRITEBYTECODE…), adds `options`' paths, then releases the GIL. Errors: the interpreter failed to start,
/// or a path is not a directory (kInvalidArgument naming it). Calling it again is an error (kInternal).
[[nodiscard]] Result<void> StartInterpreter(const InterpreterOptions& options);
bool InterpreterStarted() noexcept;

/// Holds the GIL on this thread for its scope (re-entrant on one thread).
class Gil {
public:
    Gil() noexcept;
    ~Gil();
    Gil(const Gil&) = delete;
    Gil& operator=(const Gil&) = delete;
};

/// Runs `fn` with the GIL held on gale's one Python janitor thread, soon and in order. For work that must not run
/// on the calling thread because it may not block on the GIL (an event loop dropping the last reference to a
/// response's Python iterator). `fn` must not throw.
void RunLater(std::function<void()> fn);

/// CPython's side of a fork (os.fork's sequence): BeforeFork takes the GIL on the calling thread and runs
/// PyOS_BeforeFork (with the `os.register_at_fork` "before" hooks); the AfterFork_* functions run PyOS_AfterFork_Parent
/// or PyOS_AfterFork_Child (the child's Python then has this thread alone) and release the GIL. For App::OnFork:
/// `serve --processes` forks after the app is imported. Call them on the main thread, with no other thread in
/// Python.
void BeforeFork();
void AfterForkParent();
void AfterForkChild();

/// The pending Python exception as the traceback Python would print ("Traceback (most recent call last): …
/// ValueError: x"), without a trailing newline; clears it. Requires the GIL. "" when none is pending.
std::string TakePythonError();

}  // namespace gale::wsgi
