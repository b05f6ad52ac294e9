// SPDX-License-Identifier: MIT
#include <algorithm>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <gale/http/router.hpp>

namespace gale::http {
namespace {

std::vector<std::string_view> SplitPath(std::string_view path) {
    std::vector<std::string_view> out;
    if (path.starts_with('/')) path.remove_prefix(1);
    while (true) {
        std::size_t slash = path.find('/');
        out.push_back(path.substr(0, slash));
        if (slash == std::string_view::npos) break;
        path.remove_prefix(slash + 1);
    }
    return out;
}

bool MethodMatches(Method route, Method request) {
    return route == request || (request == Method::kHead && route == Method::kGet);
}

}  // namespace

Result<const Route*> Router::Add(Method method, std::string pattern, Handler handler, RouteOptions options) {
    if (!pattern.starts_with('/')) {
        return MakeError(ErrorCode::kInvalidArgument, fmt::format("route '{}': must start with '/'", pattern));
    }
    Pattern compiled;
    bool literal = true;
    auto parts = SplitPath(pattern);
    for (std::size_t i = 0; i < parts.size(); ++i) {
        std::string_view part = parts[i];
        Segment seg;
        if (part.starts_with('{')) {
            if (!part.ends_with('}') || part.size() < 3) {
                return MakeError(ErrorCode::kInvalidArgument,
                                 fmt::format("route '{}': malformed parameter '{}'", pattern, part));
            }
            std::string_view name = part.substr(1, part.size() - 2);
            if (name.ends_with("...")) {
                if (i + 1 != parts.size()) {
                    return MakeError(ErrorCode::kInvalidArgument,
                                     fmt::format("route '{}': '{{{}}}' must be the last segment", pattern, name));
                }
                name.remove_suffix(3);
                seg.rest = true;
            }
            if (name.empty() || name.find_first_of("{}/") != std::string_view::npos) {
                return MakeError(ErrorCode::kInvalidArgument,
                                 fmt::format("route '{}': malformed parameter '{}'", pattern, part));
            }
            seg.param = true;
            seg.text = name;
            literal = false;
        } else {
            if (part.find_first_of("{}") != std::string_view::npos) {
                return MakeError(ErrorCode::kInvalidArgument,
                                 fmt::format("route '{}': stray brace in '{}'", pattern, part));
            }
            seg.text = part;
        }
        compiled.segments.push_back(std::move(seg));
    }
    for (const auto& r : routes_) {
        if (r->method == method && r->pattern == pattern) {
            return MakeError(ErrorCode::kAlreadyExists,
                             fmt::format("route {} {} is already registered", ToString(method), pattern));
        }
    }
    auto route = std::make_unique<Route>(Route{method, pattern, std::move(handler), options, routes_.size()});
    const Route* ptr = route.get();
    routes_.push_back(std::move(route));
    if (literal) {
        literal_[ptr->pattern].push_back(ptr);
    } else {
        compiled.route = ptr;
        patterns_.push_back(std::move(compiled));
    }
    return ptr;
}

bool Router::MatchPattern(const Pattern& p, std::string_view path, Request* request) const {
    if (path.starts_with('/')) path.remove_prefix(1);
    std::vector<std::pair<std::string_view, std::string>> params;
    for (std::size_t i = 0; i < p.segments.size(); ++i) {
        const Segment& seg = p.segments[i];
        std::string_view part;
        if (seg.rest) {
            part = path;
            path = {};
        } else {
            std::size_t slash = path.find('/');
            bool last = i + 1 == p.segments.size();
            if (last != (slash == std::string_view::npos)) return false;
            part = path.substr(0, slash);
            path = slash == std::string_view::npos ? std::string_view() : path.substr(slash + 1);
        }
        if (seg.param) {
            if (part.empty() && !seg.rest) return false;
            if (request != nullptr) {
                auto decoded = PercentDecode(part);
                if (!decoded) return false;
                params.emplace_back(seg.text, std::move(*decoded));
            }
        } else if (part != seg.text) {
            return false;
        }
    }
    if (request != nullptr) request->SetParams(std::move(params));
    return true;
}

void Router::SetFallback(Handler handler, RouteOptions options) {
    fallback_ = std::make_unique<Route>(Route{Method::kOther, "*", std::move(handler), options, routes_.size()});
}

RouteMatch Router::Match(Method method, std::string_view path, Request* request) const {
    RouteMatch result = MatchRoutes(method, path, request);
    if (result.kind == RouteMatch::Kind::kFound || !fallback_) return result;
    if (request != nullptr) request->SetRoute(fallback_->pattern);
    return {RouteMatch::Kind::kFound, fallback_.get(), {}};
}

RouteMatch Router::MatchRoutes(Method method, std::string_view path, Request* request) const {
    RouteMatch result;
    std::vector<const Route*> candidates;
    if (auto it = literal_.find(path); it != literal_.end()) {
        for (const Route* r : it->second) {
            if (MethodMatches(r->method, method)) {
                result.kind = RouteMatch::Kind::kFound;
                result.route = r;
                if (request != nullptr) request->SetRoute(r->pattern);
                return result;
            }
        }
        candidates = it->second;
    }
    for (const Pattern& p : patterns_) {
        bool method_ok = MethodMatches(p.route->method, method);
        if (!MatchPattern(p, path, method_ok ? request : nullptr)) continue;
        if (method_ok) {
            if (request != nullptr) request->SetRoute(p.route->pattern);
            result.kind = RouteMatch::Kind::kFound;
            result.route = p.route;
            return result;
        }
        candidates.push_back(p.route);
    }
    if (candidates.empty()) return result;
    result.kind = RouteMatch::Kind::kMethodNotAllowed;
    std::vector<std::string_view> names;
    auto add = [&](std::string_view n) {
        if (std::find(names.begin(), names.end(), n) == names.end()) names.push_back(n);
    };
    for (const Route* r : candidates) {
        add(ToString(r->method));
        if (r->method == Method::kGet) add("HEAD");
    }
    result.allow = fmt::format("{}", fmt::join(names, ", "));
    return result;
}

}  // namespace gale::http
