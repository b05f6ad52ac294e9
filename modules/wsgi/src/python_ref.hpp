// SPDX-License-Identifier: MIT
/// @file python_ref.hpp
/// @brief An owned reference to a Python object (internal to gale::wsgi). Every operation requires the GIL.
#pragma once

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <initializer_list>
#include <string_view>
#include <utility>

namespace gale::wsgi {

class Ref {
public:
    Ref() noexcept = default;
    /// Adopts a new reference (what most of the C-API returns); null is allowed (an error is pending).
    static Ref Adopt(PyObject* o) noexcept { return Ref(o); }
    /// Takes a new reference to a borrowed object.
    static Ref Borrow(PyObject* o) noexcept {
        Py_XINCREF(o);
        return Ref(o);
    }
    Ref(const Ref&) = delete;
    Ref& operator=(const Ref&) = delete;
    Ref(Ref&& other) noexcept : p_(std::exchange(other.p_, nullptr)) {}
    Ref& operator=(Ref&& other) noexcept {
        if (this != &other) {
            Py_XDECREF(p_);
            p_ = std::exchange(other.p_, nullptr);
        }
        return *this;
    }
    ~Ref() { Py_XDECREF(p_); }

    PyObject* get() const noexcept { return p_; }
    explicit operator bool() const noexcept { return p_ != nullptr; }
    /// Gives the reference away (to a C-API call that steals it).
    PyObject* release() noexcept { return std::exchange(p_, nullptr); }

private:
    explicit Ref(PyObject* o) noexcept : p_(o) {}
    PyObject* p_ = nullptr;
};

/// A str from text that is Latin-1 by PEP 3333's rule (every byte one code point): never fails on bytes.
inline Ref Latin1(std::string_view text) noexcept {
    return Ref::Adopt(PyUnicode_DecodeLatin1(text.data(), static_cast<Py_ssize_t>(text.size()), nullptr));
}

/// A name and a borrowed object to put into a module's namespace.
struct ModuleEntry {
    const char* name;
    PyObject* object;
};

/// A new module `name` with Python's builtins and `entries` in its namespace, then `source` run in it: gale's
/// Python-side helpers. Null with the Python error pending if any step failed (a null entry counts as failed).
inline Ref ModuleFromSource(const char* name, const char* source, std::initializer_list<ModuleEntry> entries = {}) {
    Ref module = Ref::Adopt(PyModule_New(name));
    PyObject* dict = module ? PyModule_GetDict(module.get()) : nullptr;  // borrowed
    if (dict == nullptr || PyDict_SetItemString(dict, "__builtins__", PyEval_GetBuiltins()) != 0) return {};
    for (const ModuleEntry& entry : entries) {
        if (entry.object == nullptr || PyDict_SetItemString(dict, entry.name, entry.object) != 0) return {};
    }
    Ref ran = Ref::Adopt(PyRun_String(source, Py_file_input, dict, dict));
    return ran ? std::move(module) : Ref();
}

/// A function (or other attribute) of a module, borrowed; null if it has none.
inline PyObject* ModuleMember(const Ref& module, const char* name) {
    return module ? PyDict_GetItemString(PyModule_GetDict(module.get()), name) : nullptr;
}

}  // namespace gale::wsgi
