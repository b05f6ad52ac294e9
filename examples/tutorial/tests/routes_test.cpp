// SPDX-License-Identifier: MIT
// The HTTP handlers, called as gale calls them: with a gale::http::Request (built here as the server would fill it
// in: method, target, the route's path parameters, the body) and a store on a migrated SQLite file.
#include "notes/routes.hpp"

#include <stdexcept>
#include <string>
#include <utility>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <gale/db/database.hpp>
#include <gale/http/message.hpp>

#include "notes/settings.hpp"
#include "notes/store.hpp"
#include "temp_dir.hpp"

namespace notes {
namespace {

using gale::http::Method;
using gale::http::Request;
using gale::http::Response;
using Json = nlohmann::json;

/// POST /notes with `body`. (SetLine keeps views of its arguments: pass text that outlives the request.)
Request PostNotes(std::string body) {
    Request request;
    request.SetLine(Method::kPost, "POST", "/notes", 1);
    request.AddHeader("Content-Type", "application/json");
    request.mutable_body() = std::move(body);
    return request;
}

/// GET /notes/{id} as the router hands it to the handler: `id` captured from the path, percent-decoded.
Request GetNoteRequest(std::string id) {
    Request request;
    request.SetLine(Method::kGet, "GET", "/notes/{id}", 1);  // the handler reads only the parameter
    request.AddParam("id", std::move(id));
    return request;
}

Json Body(const Response& response) { return Json::parse(response.body()); }

class RoutesTest : public ::testing::Test {
protected:
    void SetUp() override { ASSERT_TRUE(ApplyMigrations(db_)); }

    testing::TempDir dir_;
    gale::db::Database db_ = gale::db::Database::Open(dir_.File("notes.db")).value();
    NoteStore store_{db_};
    Options options_{.max_length = 10};
};

TEST_F(RoutesTest, PostCreatesANoteThatGetReturns) {
    Request post = PostNotes(R"({"title": "Groceries", "text": "eggs, milk"})");
    Response created = CreateNote(store_, options_, post);
    EXPECT_EQ(created.status(), 201);
    EXPECT_EQ(created.header("Content-Type"), "application/json");
    EXPECT_EQ(created.header("Location"), "/notes/1");
    EXPECT_EQ(created.body(), R"({"id":1,"title":"Groceries","text":"eggs, milk","ref":null})"
                              "\n");

    Request get = GetNoteRequest("1");
    Response found = GetNote(store_, get);
    EXPECT_EQ(found.status(), 200);
    EXPECT_EQ(found.body(), created.body());
}

TEST_F(RoutesTest, TextUpToTheLimitIsAcceptedOneByteMoreIsA400) {
    Request at_limit = PostNotes(R"({"title": "t", "text": "0123456789"})");
    EXPECT_EQ(CreateNote(store_, options_, at_limit).status(), 201);

    Request over = PostNotes(R"({"title": "t", "text": "0123456789!"})");
    Response refused = CreateNote(store_, options_, over);
    EXPECT_EQ(refused.status(), 400);
    EXPECT_EQ(Body(refused)["error"], "field 'text': longer than 10 bytes (NOTES_MAX_LENGTH)");
    EXPECT_EQ(store_.Count().value(), 1);
}

TEST_F(RoutesTest, BadBodiesAre400WithAJsonErrorAndStoreNothing) {
    const struct {
        const char* body;
        const char* error;
    } cases[] = {
        {"", R"(the body must be a JSON object {"title": "…", "text": "…"})"},
        {"not json", R"(the body must be a JSON object {"title": "…", "text": "…"})"},
        {R"(["title", "text"])", R"(the body must be a JSON object {"title": "…", "text": "…"})"},
        {R"({"text": "x"})", "field 'title': a string is required"},
        {R"({"title": 7, "text": "x"})", "field 'title': a string is required"},
        {R"({"title": "t"})", "field 'text': a string is required"},
        {R"({"title": "t", "text": null})", "field 'text': a string is required"},
        {R"({"title": "", "text": "x"})", "field 'title': empty"},
        {"{\"title\": \"\xff\", \"text\": \"x\"}", R"(the body must be a JSON object {"title": "…", "text": "…"})"},
    };
    for (const auto& c : cases) {
        Request request = PostNotes(c.body);
        Response response = CreateNote(store_, options_, request);
        EXPECT_EQ(response.status(), 400) << c.body;
        EXPECT_EQ(response.header("Content-Type"), "application/json") << c.body;
        EXPECT_EQ(Body(response)["error"], c.error) << c.body;
    }
    EXPECT_EQ(store_.Count().value(), 0);
}

TEST_F(RoutesTest, GetAnswers400ForAnIdThatIsNotAPositiveIntegerAnd404ForAMissingNote) {
    for (const char* id : {"abc", "0", "-1", "1.5", "99999999999999999999"}) {
        Request request = GetNoteRequest(id);
        EXPECT_EQ(GetNote(store_, request).status(), 400) << id;
    }
    Request missing = GetNoteRequest("42");
    Response response = GetNote(store_, missing);
    EXPECT_EQ(response.status(), 404);
    EXPECT_EQ(Body(response)["error"], "no note 42");
}

TEST_F(RoutesTest, ADatabaseFailureThrowsSoGaleAnswers500AndLogsIt) {
    NoteStore unmigrated(gale::db::Database::Open(dir_.File("empty.db")).value());
    Request post = PostNotes(R"({"title": "t", "text": "x"})");
    EXPECT_THROW(CreateNote(unmigrated, options_, post), std::runtime_error);
    Request get = GetNoteRequest("1");
    EXPECT_THROW(GetNote(unmigrated, get), std::runtime_error);
}

}  // namespace
}  // namespace notes
