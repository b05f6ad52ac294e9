// SPDX-License-Identifier: MIT
/// @file gale/http/client.hpp
/// @brief A blocking HTTP/1.1 client (libcurl underneath) for webhooks and calls to other services.
///
/// One Client wraps one libcurl easy handle and reuses it, so keep-alive connections, DNS results and TLS sessions
/// carry over from one Send to the next. A Client is move-only and **not thread-safe**: use one per thread (or guard
/// it with a mutex). Transport failures are returned as gale::Error values; an HTTP response with any status,
/// including 4xx and 5xx, is a successful Send.
///
/// What the client does on every request: it never raises signals (CURLOPT_NOSIGNAL, so it is safe in threaded
/// programs), speaks only http and https, does not follow redirects (a 3xx is returned as is), honours the usual
/// proxy environment variables (`http_proxy`, `https_proxy`, `no_proxy`), sends no `Expect: 100-continue`, and sends
/// a `Content-Type` only when the request names one. The response body is read whole into memory.
///
/// libcurl is initialised once per process (curl_global_init, behind std::call_once) by the first Client and is
/// never cleaned up. The public header does not include curl's headers.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <gale/base/error.hpp>

namespace gale::http {

/// What to send. Plain value; the Client does not keep it after Send returns.
struct ClientRequest {
    /// An HTTP method token (RFC 9110): "GET", "POST", "PUT", "DELETE", "HEAD", …; case-sensitive, sent as given.
    std::string method = "GET";
    /// Absolute http:// or https:// URL.
    std::string url{};
    /// Extra request headers, sent in order. Names must be HTTP tokens; values must not contain CR, LF or NUL.
    /// An empty value is sent as an empty header.
    std::vector<std::pair<std::string, std::string>> headers{};
    /// Request body. Sent (with Content-Length) whenever it is non-empty, and always for POST. Ignored for HEAD.
    std::string body{};
    /// Limit on the whole exchange: connect, send, wait and read. Must be positive.
    std::chrono::milliseconds timeout{5000};
    /// Limit on name resolution plus the TCP (and TLS) connect. Must be positive.
    std::chrono::milliseconds connect_timeout{2000};
    /// When set and it becomes true, the exchange is abandoned (kCancelled) within about a second (libcurl looks
    /// at it at least once a second, and at every piece of data). Must outlive Send.
    const std::atomic<bool>* cancel = nullptr;
};

/// What came back: the final response (interim 1xx responses are skipped).
struct ClientResponse {
    int status = 0;
    /// Response headers in the order received, names as sent by the server (compare case-insensitively).
    std::vector<std::pair<std::string, std::string>> headers{};
    std::string body{};
};

/// A blocking HTTP client over one reused libcurl easy handle.
///
/// Ownership: owns its handle and any pooled connections; closes them on destruction. Move-only; a moved-from
/// Client may only be destroyed or assigned to (Send on it returns kInternal).
/// Thread-safety: none. One thread at a time may call Send.
class Client {
public:
    Client();
    ~Client();
    Client(Client&& other) noexcept;
    Client& operator=(Client&& other) noexcept;
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;

    /// Performs one request and blocks until the response is read, an error occurs or `request.timeout` passes.
    ///
    /// Returns the response for any HTTP status. Errors, each with a message of the form
    /// "<METHOD> <url>: <curl's error text>" where the URL is passed through RedactUrl:
    /// - kInvalidArgument: malformed or non-http(s) URL, bad method token, bad header, non-positive timeout;
    /// - kTimeout: the timeout or connect_timeout passed;
    /// - kUnavailable: the peer could not be reached or the exchange broke (refused, reset, DNS failure, TLS
    ///   failure, empty reply);
    /// - kCancelled: `request.cancel` became true;
    /// - kInternal: out of memory, libcurl could not be initialised, or the Client was moved from.
    [[nodiscard]] Result<ClientResponse> Send(const ClientRequest& request);

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

/// A URL made safe for logs and error messages: user-info ("user:password@") is removed, a query string is
/// replaced by "?<redacted>" and a fragment is dropped. "https://u:p@h:8/a?token=x" gives "https://h:8/a?<redacted>".
/// The path is kept, so do not rely on this for URLs that carry a secret in their path.
std::string RedactUrl(std::string_view url);

}  // namespace gale::http
