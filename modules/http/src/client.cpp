// SPDX-License-Identifier: MIT
//
// Design. Each Send resets the easy handle (curl_easy_reset keeps the connection pool, the DNS cache and TLS
// sessions but forgets every option) and sets all options afresh, so no setting leaks from one request into the
// next. Everything libcurl needs during the transfer (URL, body, header list, error buffer, the Transfer the
// callbacks write into) lives on Send's stack or in Impl and outlives curl_easy_perform.
//
// libcurl's callbacks are C frames: no exception may cross them. The write and header callbacks catch bad_alloc,
// note it and return a short count, which aborts the transfer with CURLE_WRITE_ERROR; Send then reports kInternal.
//
// libcurl adds headers of its own for bodies: "Content-Type: application/x-www-form-urlencoded" (wrong for almost
// every body a service sends) and, for larger bodies, "Expect: 100-continue" (a round trip many small servers never
// answer, which costs a second). Both are suppressed unless the caller sets them ("Name:" removes a header in curl).
//
// Response headers arrive line by line through the header callback, once per response in the exchange. A status
// line ("HTTP/…") starts a new response, so interim 1xx responses and proxy CONNECT replies are discarded and only
// the final response's headers remain.
//
// libcurl is loaded on first use with dlopen, not linked: libcurl and the libraries it pulls in (OpenSSL, GnuTLS,
// Kerberos, LDAP, libssh2, …) cost about 4.5 MiB of resident memory and some start-up time in every process, and
// most gale processes never send an outbound request. Only the symbols below are used; the headers still come
// from libcurl4-openssl-dev, so the types are checked at compile time.
#define CURL_DISABLE_TYPECHECK 1
#include <array>
#include <cstddef>
#include <cstring>
#include <mutex>
#include <new>
#include <string>

#include <curl/curl.h>
#include <fmt/format.h>

#include <gale/base/dynamic_library.hpp>
#include <gale/base/strings.hpp>
#include <gale/http/client.hpp>

namespace gale::http {
namespace {

struct CurlApi {
    std::string load_error;  // empty when every symbol was found
    CURLcode (*global_init)(long) = nullptr;
    CURL* (*easy_init)() = nullptr;
    void (*easy_cleanup)(CURL*) = nullptr;
    void (*easy_reset)(CURL*) = nullptr;
    CURLcode (*easy_setopt)(CURL*, CURLoption, ...) = nullptr;
    CURLcode (*easy_perform)(CURL*) = nullptr;
    CURLcode (*easy_getinfo)(CURL*, CURLINFO, ...) = nullptr;
    const char* (*easy_strerror)(CURLcode) = nullptr;
    curl_slist* (*slist_append)(curl_slist*, const char*) = nullptr;
    void (*slist_free_all)(curl_slist*) = nullptr;
};

const CurlApi& Curl() {
    static const CurlApi api = [] {
        CurlApi a;
        auto lib = DynamicLibrary::Open({"libcurl.so.4", "libcurl-gnutls.so.4"}, "libcurl4");
        if (!lib) {
            a.load_error = lib.error().message();
            return a;
        }
        lib->Resolve("curl_global_init", a.global_init, a.load_error);
        lib->Resolve("curl_easy_init", a.easy_init, a.load_error);
        lib->Resolve("curl_easy_cleanup", a.easy_cleanup, a.load_error);
        lib->Resolve("curl_easy_reset", a.easy_reset, a.load_error);
        lib->Resolve("curl_easy_setopt", a.easy_setopt, a.load_error);
        lib->Resolve("curl_easy_perform", a.easy_perform, a.load_error);
        lib->Resolve("curl_easy_getinfo", a.easy_getinfo, a.load_error);
        lib->Resolve("curl_easy_strerror", a.easy_strerror, a.load_error);
        lib->Resolve("curl_slist_append", a.slist_append, a.load_error);
        lib->Resolve("curl_slist_free_all", a.slist_free_all, a.load_error);
        return a;  // the library stays loaded for the life of the process
    }();
    return api;
}

CURLcode GlobalInit() {
    static std::once_flag once;
    static CURLcode result = CURLE_OK;
    std::call_once(
        once, [] { result = Curl().load_error.empty() ? Curl().global_init(CURL_GLOBAL_DEFAULT) : CURLE_FAILED_INIT; });
    return result;
}

// tchar per RFC 9110 section 5.6.2.
bool IsTokenChar(char c) noexcept {
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
    return std::strchr("!#$%&'*+-.^_`|~", c) != nullptr && c != '\0';
}

bool IsToken(std::string_view s) noexcept {
    if (s.empty()) return false;
    for (char c : s) {
        if (!IsTokenChar(c)) return false;
    }
    return true;
}

bool IsSafeHeaderValue(std::string_view s) noexcept {
    return s.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

std::string_view TrimOws(std::string_view s) noexcept {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) {
        s.remove_suffix(1);
    }
    return s;
}

ErrorCode Classify(CURLcode code) noexcept {
    switch (code) {
        case CURLE_URL_MALFORMAT:
        case CURLE_UNSUPPORTED_PROTOCOL:
            return ErrorCode::kInvalidArgument;
        case CURLE_OPERATION_TIMEDOUT:
            return ErrorCode::kTimeout;
        case CURLE_OUT_OF_MEMORY:
        case CURLE_FAILED_INIT:
        case CURLE_BAD_FUNCTION_ARGUMENT:
        case CURLE_UNKNOWN_OPTION:
        case CURLE_NOT_BUILT_IN:
            return ErrorCode::kInternal;
        default:
            return ErrorCode::kUnavailable;
    }
}

// What the callbacks fill in during one transfer.
struct Transfer {
    ClientResponse response;
    bool out_of_memory = false;
    const std::atomic<bool>* cancel = nullptr;
};

int Progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
    const auto* transfer = static_cast<const Transfer*>(user);
    return transfer->cancel != nullptr && transfer->cancel->load(std::memory_order_relaxed) ? 1 : 0;
}

std::size_t WriteBody(char* data, std::size_t size, std::size_t count, void* user) {
    auto* transfer = static_cast<Transfer*>(user);
    try {
        transfer->response.body.append(data, size * count);
    } catch (const std::bad_alloc&) {
        transfer->out_of_memory = true;
        return 0;
    }
    return size * count;
}

std::size_t WriteHeader(char* data, std::size_t size, std::size_t count, void* user) {
    auto* transfer = static_cast<Transfer*>(user);
    std::string_view line(data, size * count);
    auto& headers = transfer->response.headers;
    try {
        if (line.starts_with("HTTP/")) {
            headers.clear();
        } else if (!line.empty() && (line.front() == ' ' || line.front() == '\t')) {
            // Obsolete line folding (RFC 9112 section 5.2): a continuation of the previous value.
            std::string_view more = TrimOws(line);
            if (!headers.empty() && !more.empty()) {
                headers.back().second += ' ';
                headers.back().second += more;
            }
        } else if (auto colon = line.find(':'); colon != std::string_view::npos && colon > 0) {
            headers.emplace_back(std::string(line.substr(0, colon)), std::string(TrimOws(line.substr(colon + 1))));
        }
    } catch (const std::bad_alloc&) {
        transfer->out_of_memory = true;
        return 0;
    }
    return size * count;
}

void FreeSlist(curl_slist* list) noexcept { Curl().slist_free_all(list); }
using SlistPtr = std::unique_ptr<curl_slist, decltype(&FreeSlist)>;

// Appends one line to a header list; false on allocation failure (the old list is kept either way).
bool Append(SlistPtr& list, const std::string& line) {
    curl_slist* grown = Curl().slist_append(list.get(), line.c_str());
    if (grown == nullptr) return false;
    static_cast<void>(list.release());
    list.reset(grown);
    return true;
}

}  // namespace

struct Client::Impl {
    CURL* handle = nullptr;
    CURLcode init_result = CURLE_OK;
    std::array<char, CURL_ERROR_SIZE> error_buffer{};

    Impl() {
        init_result = GlobalInit();
        if (init_result == CURLE_OK) handle = Curl().easy_init();
    }
    ~Impl() {
        if (handle != nullptr) Curl().easy_cleanup(handle);
    }
    Impl(const Impl&) = delete;
    Impl& operator=(const Impl&) = delete;
};

Client::Client() : impl_(std::make_unique<Impl>()) {}
Client::~Client() = default;
Client::Client(Client&& other) noexcept = default;
Client& Client::operator=(Client&& other) noexcept = default;

Result<ClientResponse> Client::Send(const ClientRequest& request) {
    const std::string url = RedactUrl(request.url);
    auto fail = [&](ErrorCode code, std::string_view what) {
        return MakeError(code, fmt::format("{} {}: {}", request.method, url, what));
    };

    if (!impl_) return fail(ErrorCode::kInternal, "the client was moved from");
    if (!Curl().load_error.empty()) return fail(ErrorCode::kUnavailable, Curl().load_error);
    if (impl_->init_result != CURLE_OK) {
        return fail(ErrorCode::kInternal,
                    fmt::format("curl_global_init failed: {}", Curl().easy_strerror(impl_->init_result)));
    }
    if (impl_->handle == nullptr) return fail(ErrorCode::kInternal, "curl_easy_init failed");
    if (!IsToken(request.method)) return fail(ErrorCode::kInvalidArgument, "the method is not an HTTP token");
    if (request.timeout.count() <= 0 || request.connect_timeout.count() <= 0) {
        return fail(ErrorCode::kInvalidArgument, "timeout and connect_timeout must be positive");
    }

    SlistPtr header_list(nullptr, &FreeSlist);
    bool has_content_type = false;
    bool has_expect = false;
    for (const auto& [name, value] : request.headers) {
        if (!IsToken(name)) {
            return fail(ErrorCode::kInvalidArgument, fmt::format("header name '{}' is not an HTTP token", name));
        }
        if (!IsSafeHeaderValue(value)) {
            return fail(ErrorCode::kInvalidArgument,
                        fmt::format("the value of header '{}' contains CR, LF or NUL", name));
        }
        has_content_type = has_content_type || EqualsIgnoreCase(name, "Content-Type");
        has_expect = has_expect || EqualsIgnoreCase(name, "Expect");
        // curl sends "Name;" as a header with an empty value ("Name:" would remove the header instead).
        std::string line = value.empty() ? name + ";" : fmt::format("{}: {}", name, value);
        if (!Append(header_list, line)) return fail(ErrorCode::kInternal, "out of memory");
    }
    if (!has_content_type && !Append(header_list, "Content-Type:")) return fail(ErrorCode::kInternal, "out of memory");
    if (!has_expect && !Append(header_list, "Expect:")) return fail(ErrorCode::kInternal, "out of memory");

    CURL* h = impl_->handle;
    Curl().easy_reset(h);
    impl_->error_buffer[0] = '\0';
    Transfer transfer;

    CURLcode rc = CURLE_OK;
    auto set = [&](CURLoption option, auto value) {
        if (rc == CURLE_OK) rc = Curl().easy_setopt(h, option, value);
    };
    set(CURLOPT_ERRORBUFFER, impl_->error_buffer.data());
    set(CURLOPT_NOSIGNAL, 1L);
    set(CURLOPT_URL, request.url.c_str());
#if LIBCURL_VERSION_NUM >= 0x075500
    set(CURLOPT_PROTOCOLS_STR, "http,https");
#else
    set(CURLOPT_PROTOCOLS, static_cast<long>(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    set(CURLOPT_FOLLOWLOCATION, 0L);
    set(CURLOPT_TIMEOUT_MS, static_cast<long>(request.timeout.count()));
    set(CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(request.connect_timeout.count()));
    set(CURLOPT_HTTPHEADER, header_list.get());
    set(CURLOPT_WRITEFUNCTION, &WriteBody);
    set(CURLOPT_WRITEDATA, static_cast<void*>(&transfer));
    set(CURLOPT_HEADERFUNCTION, &WriteHeader);
    set(CURLOPT_HEADERDATA, static_cast<void*>(&transfer));
    if (request.cancel != nullptr) {
        transfer.cancel = request.cancel;
        set(CURLOPT_XFERINFOFUNCTION, &Progress);
        set(CURLOPT_XFERINFODATA, static_cast<void*>(&transfer));
        set(CURLOPT_NOPROGRESS, 0L);
    }
    if (request.method == "HEAD") {
        set(CURLOPT_NOBODY, 1L);
    } else if (request.method == "GET" && request.body.empty()) {
        set(CURLOPT_HTTPGET, 1L);
    } else {
        if (!request.body.empty() || request.method == "POST") {
            set(CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
            set(CURLOPT_POSTFIELDS, request.body.data());
        }
        if (request.method != "POST") set(CURLOPT_CUSTOMREQUEST, request.method.c_str());
    }
    if (rc != CURLE_OK) return fail(Classify(rc), Curl().easy_strerror(rc));

    rc = Curl().easy_perform(h);
    if (transfer.out_of_memory) return fail(ErrorCode::kInternal, "out of memory while reading the response");
    if (rc == CURLE_ABORTED_BY_CALLBACK && transfer.cancel != nullptr) return fail(ErrorCode::kCancelled, "cancelled");
    if (rc != CURLE_OK) {
        const char* detail = impl_->error_buffer[0] != '\0' ? impl_->error_buffer.data() : Curl().easy_strerror(rc);
        return fail(Classify(rc), detail);
    }
    long status = 0;
    Curl().easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    transfer.response.status = static_cast<int>(status);
    return std::move(transfer.response);
}

std::string RedactUrl(std::string_view url) {
    std::string_view rest = url;
    std::string out;
    if (auto scheme_end = rest.find("://"); scheme_end != std::string_view::npos) {
        out.append(rest.substr(0, scheme_end + 3));
        rest.remove_prefix(scheme_end + 3);
        std::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
        if (auto at = authority.rfind('@'); at != std::string_view::npos) rest.remove_prefix(at + 1);
    }
    rest = rest.substr(0, rest.find('#'));
    if (auto query = rest.find('?'); query != std::string_view::npos) {
        out.append(rest.substr(0, query));
        out.append("?<redacted>");
    } else {
        out.append(rest);
    }
    return out;
}

}  // namespace gale::http
