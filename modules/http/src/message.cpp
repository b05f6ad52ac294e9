// SPDX-License-Identifier: MIT
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <gale/base/strings.hpp>
#include <gale/http/message.hpp>

#include "field_chars.hpp"

namespace gale::http {
namespace {

bool IsSafeHeaderText(std::string_view s) noexcept {
    for (char c : s) {
        if (c == '\r' || c == '\n' || c == '\0') return false;
    }
    return true;
}

}  // namespace

Method ParseMethod(std::string_view t) noexcept {
    switch (t.size()) {
        case 3:
            if (t == "GET") return Method::kGet;
            if (t == "PUT") return Method::kPut;
            break;
        case 4:
            if (t == "HEAD") return Method::kHead;
            if (t == "POST") return Method::kPost;
            break;
        case 5:
            if (t == "PATCH") return Method::kPatch;
            if (t == "TRACE") return Method::kTrace;
            break;
        case 6:
            if (t == "DELETE") return Method::kDelete;
            break;
        case 7:
            if (t == "OPTIONS") return Method::kOptions;
            if (t == "CONNECT") return Method::kConnect;
            break;
        default:
            break;
    }
    return Method::kOther;
}

std::string_view ToString(Method m) noexcept {
    switch (m) {
        case Method::kGet:
            return "GET";
        case Method::kHead:
            return "HEAD";
        case Method::kPost:
            return "POST";
        case Method::kPut:
            return "PUT";
        case Method::kDelete:
            return "DELETE";
        case Method::kPatch:
            return "PATCH";
        case Method::kOptions:
            return "OPTIONS";
        case Method::kConnect:
            return "CONNECT";
        case Method::kTrace:
            return "TRACE";
        case Method::kOther:
            return "OTHER";
    }
    return "OTHER";
}

std::optional<std::string> PercentDecode(std::string_view text) {
    auto out = ::gale::PercentDecode(text);
    if (!out || out->find('\0') != std::string::npos) return std::nullopt;
    return out;
}

// --- Request ---

std::optional<std::string_view> Request::header(std::string_view name) const noexcept {
    for (const Header& h : headers_) {
        if (EqualsIgnoreCase(h.name, name)) return h.value;
    }
    return std::nullopt;
}

std::string_view Request::param(std::string_view name) const noexcept {
    for (const auto& [k, v] : params_) {
        if (k == name) return v;
    }
    return {};
}

std::optional<std::string> FormValue(std::string_view form, std::string_view name) {
    while (!form.empty()) {
        std::size_t amp = form.find('&');
        std::string_view pair = form.substr(0, amp);
        form = amp == std::string_view::npos ? std::string_view() : form.substr(amp + 1);
        std::size_t eq = pair.find('=');
        std::string_view key = pair.substr(0, eq);
        if (key != name) continue;
        std::string value(eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1));
        for (char& c : value) {
            if (c == '+') c = ' ';
        }
        return PercentDecode(value);
    }
    return std::nullopt;
}

std::optional<std::string> Request::query_param(std::string_view name) const { return FormValue(query_, name); }

void Request::Reset() {
    method_ = Method::kGet;
    method_name_ = {};
    target_ = path_ = query_ = {};
    version_minor_ = 1;
    head_.clear();
    headers_.clear();
    body_.clear();
    body_stream_.reset();
    params_.clear();
    request_id_.clear();
    route_ = {};
}

std::string_view Request::AdoptHead(std::string_view raw) {
    head_.assign(raw);
    return head_;
}

void Request::SetLine(Method m, std::string_view method_name, std::string_view target, int version_minor) {
    method_ = m;
    method_name_ = method_name;
    target_ = target;
    version_minor_ = version_minor;
    std::size_t q = target.find('?');
    path_ = target.substr(0, q);
    if (path_.empty()) path_ = "/";  // absolute-form with no path ("http://x", "http://x?a=1")
    query_ = q == std::string_view::npos ? std::string_view() : target.substr(q + 1);
}

// --- Response ---

Response::Response(Response&& other) noexcept
    : status_(other.status_),
      reason_(std::move(other.reason_)),
      headers_(std::move(other.headers_)),
      body_(std::move(other.body_)),
      file_(std::exchange(other.file_, std::nullopt)),
      stream_(std::move(other.stream_)) {}

Response& Response::operator=(Response&& other) noexcept {
    if (this != &other) {
        if (file_ && file_->fd >= 0) ::close(file_->fd);
        status_ = other.status_;
        reason_ = std::move(other.reason_);
        headers_ = std::move(other.headers_);
        body_ = std::move(other.body_);
        file_ = std::exchange(other.file_, std::nullopt);
        stream_ = std::move(other.stream_);
    }
    return *this;
}

Response::~Response() {
    if (file_ && file_->fd >= 0) ::close(file_->fd);
}

Response Response::Text(int status, std::string body, std::string_view content_type) {
    Response r(status);
    r.headers_.emplace_back("Content-Type", std::string(content_type));
    r.body_ = std::move(body);
    return r;
}

Response Response::Json(int status, std::string body) { return Text(status, std::move(body), "application/json"); }
Response Response::Json(int status, const nlohmann::json& value) {
    return Json(status, value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + '\n');
}
Response Response::Json(int status, const nlohmann::ordered_json& value) {
    return Json(status, value.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + '\n');
}

bool Response::set_reason(std::string reason) {
    for (char c : reason) {
        if (!IsFieldValueChar(c)) return false;
    }
    reason_ = std::move(reason);
    return true;
}

Response& Response::AddHeader(std::string name, std::string value) {
    if (IsSafeHeaderText(name) && IsSafeHeaderText(value) && !name.empty()) {
        headers_.emplace_back(std::move(name), std::move(value));
    }
    return *this;
}

Response& Response::SetHeader(std::string_view name, std::string value) {
    std::erase_if(headers_, [&](const auto& h) { return EqualsIgnoreCase(h.first, name); });
    return AddHeader(std::string(name), std::move(value));
}

std::optional<std::string_view> Response::header(std::string_view name) const noexcept {
    for (const auto& [k, v] : headers_) {
        if (EqualsIgnoreCase(k, name)) return std::string_view(v);
    }
    return std::nullopt;
}

void Response::SetFile(FileBody file) {
    if (file_ && file_->fd >= 0) ::close(file_->fd);
    file_ = file;
}

std::string_view ReasonPhrase(int status) noexcept {
    switch (status) {
        case 100:
            return "Continue";
        case 101:
            return "Switching Protocols";
        case 200:
            return "OK";
        case 201:
            return "Created";
        case 202:
            return "Accepted";
        case 204:
            return "No Content";
        case 206:
            return "Partial Content";
        case 301:
            return "Moved Permanently";
        case 302:
            return "Found";
        case 303:
            return "See Other";
        case 304:
            return "Not Modified";
        case 307:
            return "Temporary Redirect";
        case 308:
            return "Permanent Redirect";
        case 400:
            return "Bad Request";
        case 401:
            return "Unauthorized";
        case 403:
            return "Forbidden";
        case 404:
            return "Not Found";
        case 405:
            return "Method Not Allowed";
        case 408:
            return "Request Timeout";
        case 409:
            return "Conflict";
        case 411:
            return "Length Required";
        case 412:
            return "Precondition Failed";
        case 413:
            return "Content Too Large";
        case 414:
            return "URI Too Long";
        case 415:
            return "Unsupported Media Type";
        case 416:
            return "Range Not Satisfiable";
        case 417:
            return "Expectation Failed";
        case 422:
            return "Unprocessable Content";
        case 429:
            return "Too Many Requests";
        case 431:
            return "Request Header Fields Too Large";
        case 500:
            return "Internal Server Error";
        case 501:
            return "Not Implemented";
        case 502:
            return "Bad Gateway";
        case 503:
            return "Service Unavailable";
        case 504:
            return "Gateway Timeout";
        case 505:
            return "HTTP Version Not Supported";
        default:
            return "Unknown";
    }
}

}  // namespace gale::http
