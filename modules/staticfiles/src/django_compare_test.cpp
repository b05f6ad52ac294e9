// SPDX-License-Identifier: MIT
// Runs Debian's Django (python3-django, /usr/bin/python3) collectstatic with ManifestStaticFilesStorage on a tree of
// files, runs gale's CollectStatic on the same tree, and compares the manifests: the same names, each mapped to the
// same hashed name, CSS with url() and @import references included. Fails (never skips) when Django is missing.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include <gale/staticfiles/collect.hpp>
#include <gale/staticfiles/manifest.hpp>
#include <gale/storage/local_storage.hpp>

namespace gale::staticfiles {
namespace {

namespace fs = std::filesystem;

void Write(const fs::path& path, const std::string& content) {
    fs::create_directories(path.parent_path());
    std::ofstream(path, std::ios::binary) << content;
}

TEST(DjangoCollectstatic, SameHashedNamesAsDjango) {
    fs::path dir = fs::temp_directory_path() / ("gale-django-collect-" + std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::path src = dir / "assets";
    Write(src / "js/app.js", "console.log('app');\n");
    Write(src / "img/logo.png", std::string("\x89PNG\r\n\x1a\n", 8) + std::string(100, '\0'));
    Write(src / "img/icons/a b.svg", "<svg xmlns='http://www.w3.org/2000/svg'/>\n");
    Write(src / "fonts/f.woff", "wOFF");
    Write(src / "archive.tar.gz", "not really");
    Write(src / "LICENSE", "MIT\n");
    Write(src / "css/base.css", "body { background: url('../img/logo.png') }\n");
    Write(src / "css/app.css",
          "@import 'base.css';\n@import url(\"print/print.css\");\n"
          "a { background: url(../img/icons/a%20b.svg) }\n"
          "b { background: URL(\"/static/img/logo.png\") }\n"
          "@font-face { src: url('../fonts/f.woff?#iefix') format('woff'), url(../fonts/f.woff#frag) }\n"
          "c { background: url(data:image/png;base64,AAAA) }\n"
          "d { background: url(https://example.com/x.png) }\n"
          "e { filter: url(#svgfilter) }\n");
    Write(src / "css/print/print.css", "@import url('../base.css');\np { background: URL(../../img/logo.png) }\n");
    Write(src / "css/vendor/lib.css", "/* no references */ x { color: red }\n");

    Write(dir / "settings.py",
          "SECRET_KEY = 'x'\nINSTALLED_APPS = ['django.contrib.staticfiles']\nSTATIC_URL = '/static/'\n"
          "STATIC_ROOT = r'" +
              (dir / "django_root").string() + "'\nSTATICFILES_DIRS = [r'" + src.string() +
              "']\nSTATICFILES_STORAGE = 'django.contrib.staticfiles.storage.ManifestStaticFilesStorage'\n");
    std::string cmd = "cd '" + dir.string() + "' && DJANGO_SETTINGS_MODULE=settings /usr/bin/python3 -m django " +
                      "collectstatic --noinput -v 0 > django.log 2>&1";
    ASSERT_EQ(std::system(cmd.c_str()), 0)
        << "Django's collectstatic failed (python3-django installed?); see " << (dir / "django.log");
    auto django = StaticManifest::Load(dir / "django_root" / "staticfiles.json");
    ASSERT_TRUE(django) << django.error().ToString();

    auto storage = storage::LocalStorage::Create({.root = dir / "gale_root", .base_url = "/static/"});
    ASSERT_TRUE(storage);
    auto report = CollectStatic({.sources = {src}}, **storage);
    ASSERT_TRUE(report) << report.error().ToString();
    EXPECT_EQ(report->paths, django->paths());
    EXPECT_EQ(report->paths.size(), 10u);
    // The hashed CSS files have the same bytes.
    for (const char* css : {"css/app.css", "css/base.css", "css/print/print.css"}) {
        std::ifstream a(dir / "django_root" / django->paths().at(css), std::ios::binary);
        std::ifstream b(dir / "gale_root" / report->paths.at(css), std::ios::binary);
        std::string da((std::istreambuf_iterator<char>(a)), std::istreambuf_iterator<char>());
        std::string db((std::istreambuf_iterator<char>(b)), std::istreambuf_iterator<char>());
        EXPECT_EQ(db, da) << css;
    }
    fs::remove_all(dir);
}

}  // namespace
}  // namespace gale::staticfiles
