// SPDX-License-Identifier: MIT
#include "environ.hpp"

#include <cctype>

#include <fmt/format.h>

#include <gale/base/strings.hpp>
#include <gale/wsgi/interpreter.hpp>

#include "input.hpp"

namespace gale::wsgi {
namespace {

// Sets environ[key] = value and drops both references; false (a Python error pending) on failure.
bool Put(PyObject* environ, const char* key, Ref value) {
    return value && PyDict_SetItemString(environ, key, value.get()) == 0;
}

}  // namespace

std::string CgiName(std::string_view header) {
    if (header.find('_') != std::string_view::npos) return {};
    bool plain = EqualsIgnoreCase(header, "content-type") || EqualsIgnoreCase(header, "content-length");
    std::string out = plain ? "" : "HTTP_";
    out.reserve(out.size() + header.size());
    for (char c : header) out += c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return out;
}

Result<Ref> BuildEnviron(const http::Request& request, const EnvironShared& shared) {
    std::optional<std::string> path = http::PercentDecode(request.path());
    if (!path) {
        return MakeError(ErrorCode::kInvalidArgument,
                         "the request path has a malformed %-escape or one that decodes to NUL");
    }
    std::string_view path_info = *path;
    std::string_view script_name;
    if (!shared.script_name.empty() && path_info.starts_with(shared.script_name) &&
        (path_info.size() == shared.script_name.size() || path_info[shared.script_name.size()] == '/')) {
        script_name = shared.script_name;
        path_info.remove_prefix(shared.script_name.size());
    }

    Ref environ = Ref::Adopt(PyDict_New());
    auto failed = [] { return MakeError(ErrorCode::kInternal, "building the WSGI environ: " + TakePythonError()); };
    if (!environ) return failed();
    PyObject* e = environ.get();

    std::string_view host = request.header("host").value_or("");
    std::string_view server_name = host;
    std::string_view server_port = "80";
    if (auto colon = host.rfind(':');
        colon != std::string_view::npos && host.find(']', colon) == std::string_view::npos) {
        server_name = host.substr(0, colon);
        server_port = host.substr(colon + 1);
    }
    if (server_name.empty()) server_name = "localhost";

    bool ok = Put(e, "REQUEST_METHOD", Latin1(request.method_name())) && Put(e, "SCRIPT_NAME", Latin1(script_name)) &&
              Put(e, "PATH_INFO", Latin1(path_info)) && Put(e, "QUERY_STRING", Latin1(request.query())) &&
              Put(e, "SERVER_NAME", Latin1(server_name)) && Put(e, "SERVER_PORT", Latin1(server_port)) &&
              Put(e, "SERVER_PROTOCOL", Latin1(request.version_minor() == 0 ? "HTTP/1.0" : "HTTP/1.1")) &&
              Put(e, "REMOTE_ADDR", Latin1(request.remote_address())) &&
              Put(e, "gale.request_id", Latin1(request.request_id()));
    if (!ok) return failed();

    for (const http::Header& h : request.headers()) {
        std::string key = CgiName(h.name);
        if (key.empty()) continue;
        PyObject* existing = PyDict_GetItemString(e, key.c_str());  // borrowed
        Ref value;
        if (existing != nullptr) {
            Ref more = Latin1(h.value);
            Ref separator = Latin1(EqualsIgnoreCase(h.name, "cookie") ? "; " : ", ");
            Ref head = more && separator ? Ref::Adopt(PyUnicode_Concat(existing, separator.get())) : Ref();
            value = head ? Ref::Adopt(PyUnicode_Concat(head.get(), more.get())) : Ref();
        } else {
            value = Latin1(h.value);
        }
        if (!Put(e, key.c_str(), std::move(value))) return failed();
    }

    ok = Put(e, "wsgi.input", NewInput(shared.input_type, request.body(), request.body_stream())) &&
         Put(e, "wsgi.version", Ref::Borrow(shared.version.get())) && Put(e, "wsgi.url_scheme", Latin1("http")) &&
         Put(e, "wsgi.errors", Ref::Borrow(shared.errors.get())) && Put(e, "wsgi.multithread", Ref::Borrow(Py_True)) &&
         Put(e, "wsgi.multiprocess", Ref::Borrow(shared.multiprocess ? Py_True : Py_False)) &&
         Put(e, "wsgi.run_once", Ref::Borrow(Py_False)) && Put(e, "wsgi.input_terminated", Ref::Borrow(Py_True)) &&
         Put(e, "wsgi.file_wrapper", Ref::Borrow(shared.file_wrapper.get()));
    if (!ok) return failed();
    return environ;
}

}  // namespace gale::wsgi
