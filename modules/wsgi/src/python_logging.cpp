// SPDX-License-Identifier: MIT
#include <gale/log/log.hpp>
#include <gale/wsgi/interpreter.hpp>
#include <gale/wsgi/python_logging.hpp>

#include "python_ref.hpp"
#include "request_context.hpp"

namespace gale::wsgi {
namespace {

// emit(levelno, name, message, traceback-or-None)
PyObject* Emit(PyObject* /*module*/, PyObject* args) {
    int level = 0;
    const char* name = nullptr;
    const char* message = nullptr;
    const char* traceback = nullptr;
    if (PyArg_ParseTuple(args, "issz", &level, &name, &message, &traceback) == 0) return nullptr;
    log::Level gale_level = level >= 40   ? log::Level::kError
                            : level >= 30 ? log::Level::kWarning
                            : level >= 20 ? log::Level::kInfo
                                          : log::Level::kDebug;
    if (!log::Enabled(gale_level)) Py_RETURN_NONE;
    std::string_view tb = traceback != nullptr ? traceback : "";
    if (!t_request_id.empty() && !tb.empty()) {
        log::Write(gale_level, name, message, {{"request_id", t_request_id}, {"traceback", tb}});
    } else if (!t_request_id.empty()) {
        log::Write(gale_level, name, message, {{"request_id", t_request_id}});
    } else if (!tb.empty()) {
        log::Write(gale_level, name, message, {{"traceback", tb}});
    } else {
        log::Write(gale_level, name, message);
    }
    Py_RETURN_NONE;
}

PyMethodDef kEmitDef = {"emit", Emit, METH_VARARGS, "writes a logging record to gale's log"};

constexpr const char* kSource = R"PY(
import logging


class GaleHandler(logging.Handler):
    def emit(self, record):
        try:
            traceback = None
            if record.exc_info:
                traceback = logging.Formatter().formatException(record.exc_info)
            elif record.exc_text:
                traceback = record.exc_text
            if record.stack_info:
                traceback = (traceback + "\n" if traceback else "") + record.stack_info
            gale_emit(record.levelno, record.name, record.getMessage(), traceback)
        except Exception:
            self.handleError(record)


def install():
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(GaleHandler())
        return True
    return False
)PY";

}  // namespace

Result<void> RoutePythonLogging() {
    Gil gil;
    Ref emit = Ref::Adopt(PyCFunction_New(&kEmitDef, nullptr));
    Ref module = ModuleFromSource("gale_logging", kSource, {{"gale_emit", emit.get()}});
    PyObject* install = ModuleMember(module, "install");
    Ref installed = install != nullptr ? Ref::Adopt(PyObject_CallNoArgs(install)) : Ref();
    if (!installed)
        return MakeError(ErrorCode::kInternal, "routing Python's logging to gale failed:\n" + TakePythonError());
    module.release();  // kept for the process's life: the handler's functions live in its dict
    return {};
}

}  // namespace gale::wsgi
