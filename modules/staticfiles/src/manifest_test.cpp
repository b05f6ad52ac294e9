// SPDX-License-Identifier: MIT
#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include <gale/staticfiles/manifest.hpp>

namespace gale::staticfiles {
namespace {

TEST(StaticManifest, ParsesDjangosFormatAndResolves) {
    auto m = StaticManifest::Parse(
        R"({"paths": {"app.css": "app.3f2a1b4c5d6e.css", "img/a b.png": "img/a b.0123456789ab.png"}, "version": "1.0"})",
        "test");
    ASSERT_TRUE(m) << m.error().ToString();
    EXPECT_EQ(m->Url("app.css").value(), "/static/app.3f2a1b4c5d6e.css");
    EXPECT_EQ(m->HashedName("img/a b.png").value(), "img/a b.0123456789ab.png");
    EXPECT_EQ(m->Url("app.css?v=1#top").value(), "/static/app.3f2a1b4c5d6e.css?v=1#top");
    auto missing = m->Url("nope.js");
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
    EXPECT_EQ(missing.error().message(), "static: no manifest entry for 'nope.js' (run collectstatic; 2 entries)");
}

TEST(StaticManifest, NonStrictGivesTheUnhashedUrlAndBaseUrlGetsASlash) {
    auto m = StaticManifest::Parse(R"({"paths": {"a.js": "a.111111111111.js"}, "version": "1.0"})", "test",
                                   {.static_url = "https://cdn.example/s", .strict = false});
    ASSERT_TRUE(m);
    EXPECT_EQ(m->Url("a.js").value(), "https://cdn.example/s/a.111111111111.js");
    EXPECT_EQ(m->Url("b.js").value(), "https://cdn.example/s/b.js");
}

TEST(StaticManifest, RefusesWhatDjangoRefuses) {
    auto err = [](std::string_view json) { return StaticManifest::Parse(json, "x.json").error().message(); };
    EXPECT_EQ(err("{"), "static manifest x.json: not valid JSON");
    EXPECT_EQ(err("[]"), "static manifest x.json: not a JSON object");
    EXPECT_EQ(err(R"({"paths": {}, "version": "2.0"})"), "static manifest x.json: version is \"2.0\", not \"1.0\"");
    EXPECT_EQ(err(R"({"paths": {}})"), "static manifest x.json: version is missing, not \"1.0\"");
    EXPECT_EQ(err(R"({"version": "1.0"})"), "static manifest x.json: \"paths\" is missing or not an object");
    EXPECT_EQ(err(R"({"paths": {"a": 1}, "version": "1.0"})"), "static manifest x.json: paths[\"a\"] is not a string");
}

TEST(StaticManifest, RoundTripsThroughJsonAndFile) {
    StaticManifest m({{"a.css", "a.aaaaaaaaaaaa.css"}, {"b/c.js", "b/c.bbbbbbbbbbbb.js"}}, {});
    EXPECT_EQ(m.ToJson(), R"({"paths":{"a.css":"a.aaaaaaaaaaaa.css","b/c.js":"b/c.bbbbbbbbbbbb.js"},"version":"1.0"})");
    auto dir = std::filesystem::temp_directory_path() / ("gale-manifest-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    std::ofstream(dir / "staticfiles.json") << m.ToJson();
    auto loaded = StaticManifest::Load(dir / "staticfiles.json");
    ASSERT_TRUE(loaded);
    EXPECT_EQ(loaded->paths(), m.paths());
    auto missing = StaticManifest::Load(dir / "nope.json");
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
    std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace gale::staticfiles
