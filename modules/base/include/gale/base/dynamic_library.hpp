// SPDX-License-Identifier: MIT
/// @file gale/base/dynamic_library.hpp
/// @brief Loading an optional shared library on first use (dlopen) and resolving typed symbols from it.
///
/// gale loads the heavy client libraries (libcurl, libpq, libcrypto) only when a feature first needs them, so a
/// service that never sends a webhook, talks to PostgreSQL or decrypts a secret does not pay their resident memory
/// and start-up time. Types come from the libraries' own headers (decltype), so signatures are still compile-time
/// checked. Thread-safety: Open and Resolve are reentrant; a loaded library stays loaded for the process's life.
#pragma once

#include <initializer_list>
#include <string>

#include <gale/base/error.hpp>

namespace gale {

class DynamicLibrary {
public:
    /// Loads the first of `sonames` that exists (e.g. {"libpq.so.5"}). Error (kUnavailable) names them and says
    /// which Debian package provides them (`package`).
    [[nodiscard]] static Result<DynamicLibrary> Open(std::initializer_list<const char*> sonames, const char* package);

    /// Resolves `name` into `out` (a function pointer of the right type, e.g. decltype(&::PQstatus)). On a missing
    /// symbol, records the first error in `error` (if empty) and leaves `out` null.
    template <typename F>
    void Resolve(const char* name, F& out, std::string& error) const {
        out = reinterpret_cast<F>(Symbol(name));
        if (out == nullptr && error.empty()) error = "missing symbol " + std::string(name) + " in " + soname_;
    }

private:
    DynamicLibrary(void* handle, std::string soname) : handle_(handle), soname_(std::move(soname)) {}
    void* Symbol(const char* name) const noexcept;

    void* handle_ = nullptr;
    std::string soname_;
};

}  // namespace gale
