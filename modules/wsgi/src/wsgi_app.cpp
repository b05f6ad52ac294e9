// SPDX-License-Identifier: MIT
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <optional>
#include <stdexcept>
#include <vector>

#include <fmt/format.h>

#include <gale/base/strings.hpp>
#include <gale/log/log.hpp>
#include <gale/wsgi/interpreter.hpp>
#include <gale/wsgi/wsgi_app.hpp>

#include "environ.hpp"
#include "input.hpp"
#include "python_ref.hpp"
#include "request_context.hpp"

namespace gale::wsgi {
namespace {

constexpr std::string_view kLogger = "gale.wsgi";

// ---- start_response and write() (PEP 3333), one object per request ----

struct StartResponseObject {
    PyObject_HEAD PyObject* status;  // str once start_response was called
    PyObject* headers;               // list of (str, str)
    bool sent;                       // the head went out: a later start_response needs exc_info and re-raises it
    std::string* written;
};

PyObject* StartResponseCall(PyObject* self_obj, PyObject* args, PyObject* kwargs) {
    auto* self = reinterpret_cast<StartResponseObject*>(self_obj);
    static const char* kKeywords[] = {"status", "headers", "exc_info", nullptr};
    PyObject* status = nullptr;
    PyObject* headers = nullptr;
    PyObject* exc_info = Py_None;
    if (PyArg_ParseTupleAndKeywords(args, kwargs, "UO!|O:start_response", const_cast<char**>(kKeywords), &status,
                                    &PyList_Type, &headers, &exc_info) == 0) {
        return nullptr;
    }
    if (exc_info != Py_None) {
        if (self->sent) {
            // PEP 3333: the head is out, so the error cannot change it: re-raise it into the app.
            PyObject *type = nullptr, *value = nullptr, *trace = nullptr;
            if (PyArg_ParseTuple(exc_info, "OOO", &type, &value, &trace) == 0) return nullptr;
            Py_INCREF(type);
            Py_INCREF(value);
            Py_INCREF(trace);
            PyErr_Restore(type, value, trace);
            return nullptr;
        }
    } else if (self->status != nullptr) {
        PyErr_SetString(PyExc_AssertionError, "start_response called a second time without exc_info");
        return nullptr;
    }
    Py_INCREF(status);
    Py_XSETREF(self->status, status);
    Py_INCREF(headers);
    Py_XSETREF(self->headers, headers);
    return PyObject_GetAttrString(self_obj, "write");
}

PyObject* StartResponseWrite(PyObject* self_obj, PyObject* data) {
    auto* self = reinterpret_cast<StartResponseObject*>(self_obj);
    if (!PyBytes_Check(data)) {
        PyErr_Format(PyExc_TypeError, "write() takes bytes, not %.100s", Py_TYPE(data)->tp_name);
        return nullptr;
    }
    if (self->status == nullptr) {
        PyErr_SetString(PyExc_AssertionError, "write() called before start_response");
        return nullptr;
    }
    self->written->append(PyBytes_AS_STRING(data), static_cast<std::size_t>(PyBytes_GET_SIZE(data)));
    Py_RETURN_NONE;
}

void StartResponseDealloc(PyObject* self_obj) {
    auto* self = reinterpret_cast<StartResponseObject*>(self_obj);
    Py_XDECREF(self->status);
    Py_XDECREF(self->headers);
    delete self->written;
    PyTypeObject* type = Py_TYPE(self_obj);
    type->tp_free(self_obj);
    Py_DECREF(type);
}

PyMethodDef kStartResponseMethods[] = {
    {"write", StartResponseWrite, METH_O, "PEP 3333's write(data) callable"},
    {nullptr, nullptr, 0, nullptr},
};

PyType_Slot kStartResponseSlots[] = {
    {Py_tp_call, reinterpret_cast<void*>(StartResponseCall)},
    {Py_tp_dealloc, reinterpret_cast<void*>(StartResponseDealloc)},
    {Py_tp_methods, kStartResponseMethods},
    {0, nullptr},
};

PyType_Spec kStartResponseSpec = {
    "gale_wsgi.StartResponse", sizeof(StartResponseObject), 0, Py_TPFLAGS_DEFAULT, kStartResponseSlots,
};

// ---- wsgi.errors: lines to gale's log ----

PyObject* LogErrors(PyObject* /*module*/, PyObject* text) {
    Py_ssize_t size = 0;
    const char* utf8 = PyUnicode_AsUTF8AndSize(text, &size);
    if (utf8 == nullptr) return nullptr;
    std::string_view rest(utf8, static_cast<std::size_t>(size));
    while (!rest.empty()) {
        auto nl = rest.find('\n');
        std::string_view line = rest.substr(0, nl);
        if (!line.empty()) log::Error("gale.wsgi.errors", line, {{"request_id", t_request_id}});
        if (nl == std::string_view::npos) break;
        rest.remove_prefix(nl + 1);
    }
    return PyLong_FromSsize_t(size);
}

PyMethodDef kLogErrorsDef = {"log_errors", LogErrors, METH_O, "writes wsgi.errors text to gale's log"};

// The parts of the bridge that are plain Python: the file wrapper (iterable where sendfile cannot be used) and the
// errors stream.
constexpr const char* kHelpers = R"PY(
class FileWrapper:
    """wsgi.file_wrapper: gale sends a regular file with sendfile(2); otherwise this iterates it."""

    def __init__(self, filelike, blksize=8192):
        self.filelike = filelike
        self.blksize = blksize
        if hasattr(filelike, "close"):
            self.close = filelike.close

    def __iter__(self):
        return self

    def __next__(self):
        data = self.filelike.read(self.blksize)
        if data:
            return data
        raise StopIteration


class ErrorStream:
    """wsgi.errors: each line goes to gale's log, at error level, with the request id."""

    def write(self, text):
        return log_errors(str(text))

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def flush(self):
        pass
)PY";

std::string_view Utf8(PyObject* s) {
    Py_ssize_t size = 0;
    const char* p = PyUnicode_AsUTF8AndSize(s, &size);
    return p == nullptr ? std::string_view() : std::string_view(p, static_cast<std::size_t>(size));
}

bool IsHopByHop(std::string_view name) {
    for (std::string_view h : {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
                               "trailers", "transfer-encoding", "upgrade"}) {
        if (EqualsIgnoreCase(name, h)) return true;
    }
    return false;
}

class AppFailure : public std::runtime_error {
    using std::runtime_error::runtime_error;
};

// Calls result.close() if it has one; a raising close() is logged, not propagated.
void CloseResult(PyObject* result, std::string_view request_id) {
    if (result == nullptr) return;
    Ref close = Ref::Adopt(PyObject_GetAttrString(result, "close"));
    if (!close) {
        PyErr_Clear();
        return;
    }
    Ref r = Ref::Adopt(PyObject_CallNoArgs(close.get()));
    if (!r) {
        log::Error(kLogger, "the response iterable's close() raised",
                   {{"request_id", request_id}, {"traceback", TakePythonError()}});
    }
}

// Appends a piece of the body; false when it is not bytes (a TypeError is then pending).
bool AppendBytes(std::string& body, PyObject* item) {
    if (!PyBytes_Check(item)) {
        PyErr_Format(PyExc_TypeError, "the WSGI application yielded %.100s, not bytes", Py_TYPE(item)->tp_name);
        return false;
    }
    body.append(PyBytes_AS_STRING(item), static_cast<std::size_t>(PyBytes_GET_SIZE(item)));
    return true;
}

// The Python objects of a response still streaming. Released with the GIL: by the stream at its end, or else on
// the janitor thread (the last copy of the StreamFn may die on an event loop when the client goes away).
struct PyStream {
    Ref result;
    Ref iter;
    Ref start_response;
    std::string request_id;
    bool finished = false;

    void Finish() {  // with the GIL
        if (finished) return;
        finished = true;
        CloseResult(result.get(), request_id);
        iter = Ref();
        result = Ref();
        start_response = Ref();
    }
    ~PyStream() {
        if (finished) return;
        struct Leftover {
            Ref result, iter, start_response;
            std::string request_id;
        };
        auto* left = new Leftover{std::move(result), std::move(iter), std::move(start_response), request_id};
        RunLater([left] {
            CloseResult(left->result.get(), left->request_id);
            delete left;
        });
    }
};

}  // namespace

struct WsgiApp::Impl {
    WsgiOptions options;
    Ref app;
    Ref start_response_type;
    EnvironShared shared;

    http::Response Handle(http::Request& request);
    /// Status and headers from start_response into `response`; returns the Content-Length the app declared.
    Result<std::optional<std::uint64_t>> Convert(StartResponseObject* sr, http::Response& response);
    bool SendFile(PyObject* result, http::Response& response, std::optional<std::uint64_t> declared);
};

Result<std::unique_ptr<WsgiApp>> WsgiApp::Import(std::string_view spec, WsgiOptions options) {
    if (!InterpreterStarted()) return MakeError(ErrorCode::kInternal, "the Python interpreter is not started");
    std::string_view module_name = spec;
    std::string_view attribute = "application";
    if (auto colon = spec.find(':'); colon != std::string_view::npos) {
        module_name = spec.substr(0, colon);
        attribute = spec.substr(colon + 1);
    }
    bool call = attribute.ends_with("()");
    if (call) attribute.remove_suffix(2);
    auto bad = [&](std::string_view why) {
        return MakeError(ErrorCode::kInvalidArgument, fmt::format("--app '{}': {}", spec, why));
    };
    if (module_name.empty() || attribute.empty() || attribute.find_first_of(":() ") != std::string_view::npos) {
        return bad("expected 'package.module:attribute' (or 'module:factory()')");
    }

    Gil gil;
    auto impl = std::make_unique<Impl>();
    impl->options = std::move(options);
    Ref module = Ref::Adopt(PyImport_ImportModule(std::string(module_name).c_str()));
    if (!module) return bad(fmt::format("cannot import '{}':\n{}", module_name, TakePythonError()));
    Ref object = Ref::Borrow(module.get());
    std::string_view rest = attribute;
    while (!rest.empty()) {
        auto dot = rest.find('.');
        std::string name(rest.substr(0, dot));
        object = Ref::Adopt(PyObject_GetAttrString(object.get(), name.c_str()));
        if (!object) return bad(fmt::format("no attribute '{}':\n{}", name, TakePythonError()));
        rest = dot == std::string_view::npos ? std::string_view() : rest.substr(dot + 1);
    }
    if (call) {
        object = Ref::Adopt(PyObject_CallNoArgs(object.get()));
        if (!object) return bad(fmt::format("the factory raised:\n{}", TakePythonError()));
    }
    if (PyCallable_Check(object.get()) == 0) {
        Ref type_name = Ref::Adopt(PyObject_Repr(reinterpret_cast<PyObject*>(Py_TYPE(object.get()))));
        return bad(fmt::format("the object is not callable (a {})", type_name ? Utf8(type_name.get()) : "?"));
    }
    impl->app = std::move(object);

    impl->start_response_type = Ref::Adopt(PyType_FromSpec(&kStartResponseSpec));
    Ref log_errors = Ref::Adopt(PyCFunction_New(&kLogErrorsDef, nullptr));
    Ref helpers =
        impl->start_response_type ? ModuleFromSource("gale_wsgi", kHelpers, {{"log_errors", log_errors.get()}}) : Ref();
    if (helpers) {
        impl->shared.input_type = NewInputType();
        impl->shared.file_wrapper = Ref::Borrow(ModuleMember(helpers, "FileWrapper"));
        PyObject* error_stream = ModuleMember(helpers, "ErrorStream");
        impl->shared.errors = error_stream ? Ref::Adopt(PyObject_CallNoArgs(error_stream)) : Ref();
        impl->shared.version = Ref::Adopt(Py_BuildValue("(ii)", 1, 0));
    }
    if (!impl->shared.input_type || !impl->shared.file_wrapper || !impl->shared.errors || !impl->shared.version) {
        return MakeError(ErrorCode::kInternal, "setting up the WSGI bridge failed:\n" + TakePythonError());
    }
    impl->shared.script_name = impl->options.script_name;
    impl->shared.multiprocess = impl->options.multiprocess;
    return std::unique_ptr<WsgiApp>(new WsgiApp(std::move(impl)));
}

WsgiApp::WsgiApp(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

void WsgiApp::SetMultiprocess(bool value) noexcept { impl_->shared.multiprocess = value; }

WsgiApp::~WsgiApp() {
    if (impl_ && InterpreterStarted()) {
        Gil gil;
        impl_.reset();
    }
}

http::Response WsgiApp::Handle(http::Request& request) { return impl_->Handle(request); }

Result<std::optional<std::uint64_t>> WsgiApp::Impl::Convert(StartResponseObject* sr, http::Response& response) {
    if (sr->status == nullptr) {
        return MakeError(ErrorCode::kInvalidArgument, "the application returned without calling start_response");
    }
    std::string_view status = Utf8(sr->status);
    int code = 0;
    auto [end, ec] = std::from_chars(status.data(), status.data() + status.size(), code);
    if (ec != std::errc() || end != status.data() + 3 || code < 100 || code > 599 ||
        (status.size() > 3 && status[3] != ' ')) {
        return MakeError(ErrorCode::kInvalidArgument,
                         fmt::format("start_response: status '{}' is not '<3 digits> <reason>'", status));
    }
    response.set_status(code);
    // The app's own phrase goes on the status line ("299 Custom", "404 No Such Note"): a status line split by CR or
    // LF, or one with another control character, is the app's error.
    if (status.size() > 4 && status.substr(4) != http::ReasonPhrase(code) &&
        !response.set_reason(std::string(status.substr(4)))) {
        return MakeError(ErrorCode::kInvalidArgument,
                         fmt::format("start_response: status {:?} has a control character in its reason phrase",
                                     std::string(status)));
    }
    std::optional<std::uint64_t> declared;
    Py_ssize_t count = PyList_GET_SIZE(sr->headers);
    for (Py_ssize_t i = 0; i < count; ++i) {
        PyObject* pair = PyList_GET_ITEM(sr->headers, i);  // borrowed
        if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2 || !PyUnicode_Check(PyTuple_GET_ITEM(pair, 0)) ||
            !PyUnicode_Check(PyTuple_GET_ITEM(pair, 1))) {
            return MakeError(ErrorCode::kInvalidArgument,
                             fmt::format("start_response: header {} is not a (str, str) tuple", i));
        }
        Ref name = Ref::Adopt(PyUnicode_AsLatin1String(PyTuple_GET_ITEM(pair, 0)));
        Ref value = name ? Ref::Adopt(PyUnicode_AsLatin1String(PyTuple_GET_ITEM(pair, 1))) : Ref();
        if (!value) {
            PyErr_Clear();
            return MakeError(ErrorCode::kInvalidArgument,
                             fmt::format("start_response: header {} is not Latin-1 text (PEP 3333)", i));
        }
        std::string_view n(PyBytes_AS_STRING(name.get()), static_cast<std::size_t>(PyBytes_GET_SIZE(name.get())));
        std::string_view v(PyBytes_AS_STRING(value.get()), static_cast<std::size_t>(PyBytes_GET_SIZE(value.get())));
        if (IsHopByHop(n)) {
            return MakeError(ErrorCode::kInvalidArgument,
                             fmt::format("start_response: '{}' is a hop-by-hop header, which PEP 3333 leaves to "
                                         "the server",
                                         n));
        }
        if (EqualsIgnoreCase(n, "content-length")) {
            std::uint64_t length = 0;
            auto [p, e] = std::from_chars(v.data(), v.data() + v.size(), length);
            if (e != std::errc() || p != v.data() + v.size()) {
                return MakeError(ErrorCode::kInvalidArgument,
                                 fmt::format("start_response: Content-Length '{}' is not a number", v));
            }
            declared = length;  // the server frames what is sent
            continue;
        }
        response.AddHeader(std::string(n), std::string(v));
    }
    return declared;
}

bool WsgiApp::Impl::SendFile(PyObject* result, http::Response& response, std::optional<std::uint64_t> declared) {
    Ref filelike = Ref::Adopt(PyObject_GetAttrString(result, "filelike"));
    Ref fileno = filelike ? Ref::Adopt(PyObject_CallMethod(filelike.get(), "fileno", nullptr)) : Ref();
    Ref tell = fileno ? Ref::Adopt(PyObject_CallMethod(filelike.get(), "tell", nullptr)) : Ref();
    if (!tell) {
        PyErr_Clear();  // not a real file (BytesIO…): iterate it instead
        return false;
    }
    long fd = PyLong_AsLong(fileno.get());
    long long position = PyLong_AsLongLong(tell.get());
    struct stat st {};
    if (PyErr_Occurred() != nullptr || fd < 0 || position < 0 || ::fstat(static_cast<int>(fd), &st) != 0 ||
        !S_ISREG(st.st_mode)) {
        PyErr_Clear();
        return false;
    }
    int copy = ::fcntl(static_cast<int>(fd), F_DUPFD_CLOEXEC, 0);
    if (copy < 0) return false;
    auto offset = static_cast<std::uint64_t>(position);
    auto size = static_cast<std::uint64_t>(st.st_size);
    std::uint64_t length = offset < size ? size - offset : 0;
    if (declared) length = std::min(length, *declared);
    response.SetFile({.fd = copy, .offset = offset, .length = length});
    return true;
}

http::Response WsgiApp::Impl::Handle(http::Request& request) {
    Gil gil;
    RequestScope scope(request.request_id());
    auto fail = [&](std::string_view what, std::string detail) {
        log::Error(kLogger, what, {{"request_id", request.request_id()}, {"traceback", detail}});
        return http::Response::Text(500, "Internal Server Error\n");
    };

    Result<Ref> environ = BuildEnviron(request, shared);
    if (!environ) {
        if (environ.error().code() == ErrorCode::kInvalidArgument) {
            return http::Response::Text(400, environ.error().message() + "\n");
        }
        return fail("building the WSGI environ failed; answering 500", environ.error().message());
    }
    auto* type = reinterpret_cast<PyTypeObject*>(start_response_type.get());
    Ref sr_ref = Ref::Adopt(type->tp_alloc(type, 0));
    if (!sr_ref) return fail("allocating start_response failed; answering 500", TakePythonError());
    auto* sr = reinterpret_cast<StartResponseObject*>(sr_ref.get());
    sr->written = new std::string();

    Ref result = Ref::Adopt(PyObject_CallFunctionObjArgs(app.get(), environ->get(), sr_ref.get(), nullptr));
    if (!result) return fail("the WSGI application raised; answering 500", TakePythonError());

    http::Response response;
    std::string body = std::move(*sr->written);
    sr->written->clear();
    // Closes the iterable on every way out of this function except a stream, which takes it over.
    struct Closer {
        Ref* result;
        std::string_view id;
        ~Closer() {
            if (*result) CloseResult(result->get(), id);
        }
    } closer{&result, request.request_id()};

    if (PyList_CheckExact(result.get()) || PyTuple_CheckExact(result.get())) {
        Ref items = Ref::Adopt(PySequence_Fast(result.get(), "a list"));
        Py_ssize_t n = items ? PySequence_Fast_GET_SIZE(items.get()) : 0;
        PyObject** all = items ? PySequence_Fast_ITEMS(items.get()) : nullptr;
        for (Py_ssize_t i = 0; i < n; ++i) {
            if (!AppendBytes(body, all[i]))
                return fail("the WSGI response is invalid; answering 500", TakePythonError());
        }
    } else if (Py_TYPE(result.get()) == reinterpret_cast<PyTypeObject*>(shared.file_wrapper.get()) && body.empty()) {
        auto declared = Convert(sr, response);
        if (!declared) return fail("the WSGI response is invalid; answering 500", declared.error().message());
        if (SendFile(result.get(), response, *declared)) return response;
        response = http::Response();
    }
    if (!PyList_CheckExact(result.get()) && !PyTuple_CheckExact(result.get())) {
        Ref iter = Ref::Adopt(PyObject_GetIter(result.get()));
        if (!iter) return fail("the WSGI application returned a non-iterable; answering 500", TakePythonError());
        for (;;) {
            Ref item = Ref::Adopt(PyIter_Next(iter.get()));
            if (!item) {
                if (PyErr_Occurred() != nullptr) {
                    return fail("the WSGI application raised; answering 500", TakePythonError());
                }
                break;  // exhausted: the whole body is here
            }
            if (!AppendBytes(body, item.get())) {
                return fail("the WSGI response is invalid; answering 500", TakePythonError());
            }
            if (body.size() > options.buffer_bytes) {
                // Longer than the buffer: stream the rest as the app produces it.
                if (auto converted = Convert(sr, response); !converted) {
                    return fail("the WSGI response is invalid; answering 500", converted.error().message());
                }
                sr->sent = true;
                auto stream = std::make_shared<PyStream>();
                stream->result = std::move(result);
                stream->iter = std::move(iter);
                stream->start_response = std::move(sr_ref);
                stream->request_id = std::string(request.request_id());
                auto first = std::make_shared<std::string>(std::move(body));
                response.SetStream([stream, first](std::string& chunk) {
                    if (!first->empty()) {
                        chunk = std::move(*first);
                        first->clear();
                        return true;
                    }
                    Gil stream_gil;
                    RequestScope stream_scope(stream->request_id);
                    auto* writer = reinterpret_cast<StartResponseObject*>(stream->start_response.get());
                    if (writer != nullptr && !writer->written->empty()) {
                        chunk = std::move(*writer->written);
                        writer->written->clear();
                        return true;
                    }
                    Ref next = stream->iter ? Ref::Adopt(PyIter_Next(stream->iter.get())) : Ref();
                    if (next && AppendBytes(chunk, next.get())) return true;
                    std::string error = PyErr_Occurred() != nullptr ? TakePythonError() : std::string();
                    stream->Finish();
                    if (error.empty()) return false;
                    log::Error(kLogger, "the WSGI application raised while streaming; cutting the response",
                               {{"request_id", stream->request_id}, {"traceback", error}});
                    throw AppFailure("the WSGI application raised while streaming");
                });
                return response;
            }
        }
    }
    auto declared = Convert(sr, response);
    if (!declared) return fail("the WSGI response is invalid; answering 500", declared.error().message());
    // Never more than the app declared (PEP 3333).
    if (*declared && **declared < body.size()) body.resize(static_cast<std::size_t>(**declared));
    response.set_body(std::move(body));
    return response;
}

}  // namespace gale::wsgi
