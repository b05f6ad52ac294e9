// SPDX-License-Identifier: MIT
#include "input.hpp"

#include <algorithm>
#include <limits>
#include <utility>

namespace gale::wsgi {
namespace {

// What one read(-1) or readline asks the stream for at a time.
constexpr std::size_t kChunk = 64 * 1024;

struct InputState {
    std::string buf;  // bytes from the stream not yet returned start at pos
    std::size_t pos = 0;
    std::shared_ptr<http::BodyStream> stream;  // null once the body ended (or when it was all buffered)
    bool eof = false;

    std::size_t available() const { return buf.size() - pos; }
};

struct InputObject {
    PyObject_HEAD InputState* state;
};

InputState& StateOf(PyObject* self) { return *reinterpret_cast<InputObject*>(self)->state; }

// Up to `want` more bytes from the stream into the buffer, waiting with the GIL released. False with OSError set when
// the body cannot be read; at the body's end sets eof.
bool Fill(InputState& s, std::size_t want) {
    if (s.eof) return true;
    if (!s.stream) {
        s.eof = true;
        return true;
    }
    std::shared_ptr<http::BodyStream> stream = s.stream;  // alive while another thread may run
    std::string got;
    PyThreadState* saved = PyEval_SaveThread();
    Result<std::size_t> n = stream->Read(got, want);
    PyEval_RestoreThread(saved);
    if (!n) {
        PyErr_Format(PyExc_OSError, "request body: %s", n.error().message().c_str());
        return false;
    }
    if (*n == 0) {
        s.eof = true;
        s.stream.reset();
        return true;
    }
    if (s.pos > 0) {
        s.buf.erase(0, s.pos);
        s.pos = 0;
    }
    s.buf.append(got);
    return true;
}

// The next n buffered bytes as bytes.
PyObject* Take(InputState& s, std::size_t n) {
    PyObject* out = PyBytes_FromStringAndSize(s.buf.data() + s.pos, static_cast<Py_ssize_t>(n));
    s.pos += n;
    if (s.pos == s.buf.size()) {
        s.buf.clear();
        s.pos = 0;
    }
    return out;
}

// A size argument: absent, None or negative mean "no limit" (SIZE_MAX). False with TypeError set otherwise.
bool SizeArg(PyObject* args, const char* format, std::size_t& size) {
    PyObject* arg = nullptr;
    if (PyArg_ParseTuple(args, format, &arg) == 0) return false;
    size = std::numeric_limits<std::size_t>::max();
    if (arg == nullptr || arg == Py_None) return true;
    Py_ssize_t n = PyNumber_AsSsize_t(arg, PyExc_OverflowError);
    if (n == -1 && PyErr_Occurred() != nullptr) return false;
    if (n >= 0) size = static_cast<std::size_t>(n);
    return true;
}

PyObject* ReadLine(InputState& s, std::size_t limit) {
    std::size_t scanned = 0;  // of the available bytes, these have no '\n'
    while (true) {
        std::size_t nl = s.buf.find('\n', s.pos + scanned);
        if (nl != std::string::npos && nl - s.pos < limit) return Take(s, nl - s.pos + 1);
        if (s.available() >= limit) return Take(s, limit);
        if (s.eof) return Take(s, s.available());
        scanned = s.available();
        if (!Fill(s, kChunk)) return nullptr;
    }
}

PyObject* InputRead(PyObject* self, PyObject* args) {
    std::size_t size = 0;
    if (!SizeArg(args, "|O:read", size)) return nullptr;
    InputState& s = StateOf(self);
    while (s.available() < size && !s.eof) {
        if (!Fill(s, std::min(kChunk, size - s.available()))) return nullptr;
    }
    return Take(s, std::min(size, s.available()));
}

PyObject* InputReadLine(PyObject* self, PyObject* args) {
    std::size_t size = 0;
    if (!SizeArg(args, "|O:readline", size)) return nullptr;
    return ReadLine(StateOf(self), size);
}

PyObject* InputReadLines(PyObject* self, PyObject* args) {
    std::size_t hint = 0;
    if (!SizeArg(args, "|O:readlines", hint)) return nullptr;
    Ref lines = Ref::Adopt(PyList_New(0));
    if (!lines) return nullptr;
    std::size_t total = 0;
    while (total < hint) {
        Ref line = Ref::Adopt(ReadLine(StateOf(self), std::numeric_limits<std::size_t>::max()));
        if (!line) return nullptr;
        if (PyBytes_GET_SIZE(line.get()) == 0) break;
        total += static_cast<std::size_t>(PyBytes_GET_SIZE(line.get()));
        if (PyList_Append(lines.get(), line.get()) != 0) return nullptr;
    }
    return lines.release();
}

PyObject* InputNext(PyObject* self) {
    PyObject* line = ReadLine(StateOf(self), std::numeric_limits<std::size_t>::max());
    if (line != nullptr && PyBytes_GET_SIZE(line) == 0) {
        Py_DECREF(line);
        return nullptr;  // StopIteration
    }
    return line;
}

void InputDealloc(PyObject* self) {
    delete reinterpret_cast<InputObject*>(self)->state;
    PyTypeObject* type = Py_TYPE(self);
    type->tp_free(self);
    Py_DECREF(type);
}

PyMethodDef kInputMethods[] = {
    {"read", InputRead, METH_VARARGS, "read(size=-1): up to size bytes of the body, fewer only at its end"},
    {"readline", InputReadLine, METH_VARARGS, "readline(size=-1): the next line, with its b'\\n'"},
    {"readlines", InputReadLines, METH_VARARGS, "readlines(hint=-1): the remaining lines"},
    {nullptr, nullptr, 0, nullptr},
};

PyType_Slot kInputSlots[] = {
    {Py_tp_dealloc, reinterpret_cast<void*>(InputDealloc)},
    {Py_tp_iter, reinterpret_cast<void*>(PyObject_SelfIter)},
    {Py_tp_iternext, reinterpret_cast<void*>(InputNext)},
    {Py_tp_methods, kInputMethods},
    {0, nullptr},
};

PyType_Spec kInputSpec = {
    "gale_wsgi.Input", sizeof(InputObject), 0, Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION, kInputSlots,
};

}  // namespace

Ref NewInputType() { return Ref::Adopt(PyType_FromSpec(&kInputSpec)); }

Ref NewInput(const Ref& type, std::string buffered, std::shared_ptr<http::BodyStream> stream) {
    auto* t = reinterpret_cast<PyTypeObject*>(type.get());
    Ref input = Ref::Adopt(t->tp_alloc(t, 0));
    if (!input) return input;
    auto* state = new InputState();
    state->buf = std::move(buffered);
    state->stream = std::move(stream);
    state->eof = !state->stream;
    reinterpret_cast<InputObject*>(input.get())->state = state;
    return input;
}

}  // namespace gale::wsgi
