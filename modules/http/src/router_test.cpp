// SPDX-License-Identifier: MIT
#include <gtest/gtest.h>

#include <gale/http/router.hpp>

namespace gale::http {
namespace {

Response Ok(Request&) { return Response::Text(200, "ok"); }

TEST(Router, MatchesLiteralsAndParameters) {
    Router r;
    ASSERT_TRUE(r.Add(Method::kGet, "/", Ok));
    ASSERT_TRUE(r.Add(Method::kGet, "/items/{id}", Ok));
    ASSERT_TRUE(r.Add(Method::kPost, "/items/{id}", Ok));
    ASSERT_TRUE(r.Add(Method::kGet, "/files/{path...}", Ok));
    Request req;
    auto m = r.Match(Method::kGet, "/items/a%20b", &req);
    ASSERT_EQ(m.kind, RouteMatch::Kind::kFound);
    EXPECT_EQ(req.param("id"), "a b");
    EXPECT_EQ(req.route(), "/items/{id}");
    m = r.Match(Method::kGet, "/files/x/y/z.txt", &req);
    ASSERT_EQ(m.kind, RouteMatch::Kind::kFound);
    EXPECT_EQ(req.param("path"), "x/y/z.txt");
    EXPECT_EQ(r.Match(Method::kGet, "/", &req).kind, RouteMatch::Kind::kFound);
    EXPECT_EQ(r.Match(Method::kHead, "/", &req).kind, RouteMatch::Kind::kFound);
}

TEST(Router, NotFoundAndMethodNotAllowed) {
    Router r;
    ASSERT_TRUE(r.Add(Method::kGet, "/items/{id}", Ok));
    ASSERT_TRUE(r.Add(Method::kPost, "/items/{id}", Ok));
    EXPECT_EQ(r.Match(Method::kGet, "/items", nullptr).kind, RouteMatch::Kind::kNotFound);
    EXPECT_EQ(r.Match(Method::kGet, "/items/", nullptr).kind, RouteMatch::Kind::kNotFound);
    EXPECT_EQ(r.Match(Method::kGet, "/items/1/2", nullptr).kind, RouteMatch::Kind::kNotFound);
    auto m = r.Match(Method::kDelete, "/items/1", nullptr);
    ASSERT_EQ(m.kind, RouteMatch::Kind::kMethodNotAllowed);
    EXPECT_EQ(m.allow, "GET, HEAD, POST");
}

TEST(Router, FallbackTakesWhatNoRouteMatches) {
    Router r;
    ASSERT_TRUE(r.Add(Method::kGet, "/static/{path...}", Ok));
    r.SetFallback([](Request&) { return Response::Text(200, "fallback"); });
    Request req;
    auto m = r.Match(Method::kGet, "/static/app.css", &req);
    ASSERT_EQ(m.kind, RouteMatch::Kind::kFound);
    EXPECT_EQ(m.route->pattern, "/static/{path...}") << "routes come before the fallback, whatever the order";
    for (Method method : {Method::kGet, Method::kPost, Method::kOther}) {
        m = r.Match(method, "/anything/else", &req);
        ASSERT_EQ(m.kind, RouteMatch::Kind::kFound);
        EXPECT_EQ(req.route(), "*");
    }
    m = r.Match(Method::kPost, "/static/app.css", &req);  // a method no route takes: the fallback, not a 405
    ASSERT_EQ(m.kind, RouteMatch::Kind::kFound);
    EXPECT_EQ(m.route->pattern, "*");
}

TEST(Router, RejectsBadPatternsAndDuplicates) {
    Router r;
    EXPECT_FALSE(r.Add(Method::kGet, "nope", Ok));
    EXPECT_FALSE(r.Add(Method::kGet, "/a/{", Ok));
    EXPECT_FALSE(r.Add(Method::kGet, "/a/{}", Ok));
    EXPECT_FALSE(r.Add(Method::kGet, "/a/{rest...}/b", Ok));
    ASSERT_TRUE(r.Add(Method::kGet, "/a", Ok));
    auto dup = r.Add(Method::kGet, "/a", Ok);
    ASSERT_FALSE(dup);
    EXPECT_EQ(dup.error().code(), ErrorCode::kAlreadyExists);
}

TEST(Router, MalformedEscapeInParameterDoesNotMatch) {
    Router r;
    ASSERT_TRUE(r.Add(Method::kGet, "/items/{id}", Ok));
    Request req;
    EXPECT_EQ(r.Match(Method::kGet, "/items/%zz", &req).kind, RouteMatch::Kind::kNotFound);
    EXPECT_EQ(r.Match(Method::kGet, "/items/%00", &req).kind, RouteMatch::Kind::kNotFound);
}

}  // namespace
}  // namespace gale::http
