// SPDX-License-Identifier: MIT
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include <gale/http/multipart.hpp>

namespace gale::http {
namespace {

struct SeenPart {
    std::string name;
    std::optional<std::string> filename;
    std::string content_type;
    std::string body;
    bool ended = false;
};

/// Records what the parser reports, and checks the call order.
class Recorder : public MultipartSink {
public:
    Result<void> OnPartBegin(const MultipartPart& part) override {
        EXPECT_TRUE(parts.empty() || parts.back().ended);
        EXPECT_EQ(part.index, parts.size() + 1);
        parts.push_back({part.name, part.filename, part.content_type, "", false});
        headers = part.headers;
        return {};
    }
    Result<void> OnPartData(std::string_view bytes) override {
        EXPECT_FALSE(bytes.empty());
        EXPECT_FALSE(parts.empty() || parts.back().ended);
        largest_piece = std::max(largest_piece, bytes.size());
        if (fail_on_data) return MakeError(ErrorCode::kIo, "disk full");
        parts.back().body.append(bytes);
        return {};
    }
    Result<void> OnPartEnd() override {
        EXPECT_FALSE(parts.empty() || parts.back().ended);
        parts.back().ended = true;
        return {};
    }

    std::vector<SeenPart> parts;
    std::vector<std::pair<std::string, std::string>> headers;
    std::size_t largest_piece = 0;
    bool fail_on_data = false;
};

/// Feeds `body` in pieces of `step` bytes (0: in one piece) and finishes; returns the error text or "".
std::string ParseIn(std::string_view body, std::size_t step, Recorder& rec, MultipartLimits limits = {},
                    std::string boundary = "XyZ") {
    MultipartParser parser(boundary, rec, limits);
    if (step == 0) step = body.size() + 1;
    for (std::size_t i = 0; i < body.size(); i += step) {
        Result<void> r = parser.Feed(body.substr(i, step));
        if (!r) return r.error().ToString();
    }
    Result<void> r = parser.Finish();
    return r ? "" : r.error().ToString();
}

const std::string kForm =
    "--XyZ\r\n"
    "Content-Disposition: form-data; name=\"title\"\r\n"
    "\r\n"
    "Hello\r\nworld\r\n"
    "--XyZ\r\n"
    "Content-Disposition: form-data; name=\"doc\"; filename=\"a b.txt\"\r\n"
    "Content-Type: application/octet-stream\r\n"
    "\r\n"
    "line1\r\n--XyY\r\n--Xy\r--XyZ-\r\n"
    "--XyZ\r\n"
    "Content-Disposition: form-data; name=\"empty\"\r\n"
    "\r\n"
    "\r\n"
    "--XyZ--\r\n";

void ExpectForm(const Recorder& rec) {
    ASSERT_EQ(rec.parts.size(), 3u);
    EXPECT_EQ(rec.parts[0].name, "title");
    EXPECT_FALSE(rec.parts[0].filename);
    EXPECT_EQ(rec.parts[0].content_type, "text/plain");
    EXPECT_EQ(rec.parts[0].body, "Hello\r\nworld");
    EXPECT_EQ(rec.parts[1].name, "doc");
    EXPECT_EQ(rec.parts[1].filename, "a b.txt");
    EXPECT_EQ(rec.parts[1].content_type, "application/octet-stream");
    EXPECT_EQ(rec.parts[1].body, "line1\r\n--XyY\r\n--Xy\r--XyZ-");
    EXPECT_EQ(rec.parts[2].name, "empty");
    EXPECT_EQ(rec.parts[2].body, "");
    for (const SeenPart& p : rec.parts) EXPECT_TRUE(p.ended);
}

TEST(Multipart, ParsesFieldsAndFiles) {
    Recorder rec;
    ASSERT_EQ(ParseIn(kForm, 0, rec), "");
    ExpectForm(rec);
    ASSERT_EQ(rec.headers.size(), 1u);  // the last part's
    EXPECT_EQ(rec.headers[0].first, "Content-Disposition");
    EXPECT_EQ(rec.headers[0].second, "form-data; name=\"empty\"");
}

TEST(Multipart, SameResultForEverySplit) {
    for (std::size_t step = 1; step <= 9; ++step) {
        Recorder rec;
        ASSERT_EQ(ParseIn(kForm, step, rec), "") << "step " << step;
        ExpectForm(rec);
    }
    for (std::size_t cut = 0; cut <= kForm.size(); ++cut) {
        Recorder rec;
        MultipartParser parser("XyZ", rec);
        ASSERT_TRUE(parser.Feed(std::string_view(kForm).substr(0, cut)));
        ASSERT_TRUE(parser.Feed(std::string_view(kForm).substr(cut)));
        ASSERT_TRUE(parser.Finish()) << "cut " << cut;
        ExpectForm(rec);
    }
}

TEST(Multipart, BytesAfterABoundaryMustBeCrlfOrClose) {
    const std::string first = "--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\nv\r\n";
    for (std::size_t step : {0, 1}) {
        Recorder rec;
        EXPECT_EQ(ParseIn(first + "--XyZ_\r\n", step, rec),
                  "multipart: part 2: '_' after the boundary (expected CRLF or '--')");
        Recorder rec2;
        EXPECT_EQ(ParseIn(first + "--XyZ-x", step, rec2),
                  "multipart: part 2: '-x' after the boundary (expected CRLF or '--')");
        Recorder rec3;
        EXPECT_EQ(ParseIn(first + "--XyZ\rx", step, rec3), "multipart: part 2: CR without LF after the boundary");
    }
}

TEST(Multipart, PreambleEpilogueAndPadding) {
    std::string body =
        "This is the preamble.\r\n--XyZ \t\r\n"
        "content-disposition: Form-Data; NAME=a\r\n\r\n1\r\n"
        "--XyZ\r\nContent-Disposition: form-data; name=\"b\"\r\n\r\n2\r\n"
        "--XyZ--   and an epilogue\r\n--XyZ\r\nignored";
    for (std::size_t step : {0, 1, 3}) {
        Recorder rec;
        ASSERT_EQ(ParseIn(body, static_cast<std::size_t>(step), rec), "");
        ASSERT_EQ(rec.parts.size(), 2u);
        EXPECT_EQ(rec.parts[0].name, "a");
        EXPECT_EQ(rec.parts[0].body, "1");
        EXPECT_EQ(rec.parts[1].body, "2");
    }
}

TEST(Multipart, PreambleThatLooksLikeABoundaryWithoutCrlf) {
    // "x--XyZ" is not a boundary: only at the very start may the CRLF be missing.
    Recorder rec;
    EXPECT_EQ(ParseIn("x--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n--XyZ--", 0, rec), "");
    ASSERT_EQ(rec.parts.size(), 0u);
}

TEST(Multipart, MissingFinalBoundaryIsAnError) {
    Recorder rec;
    EXPECT_EQ(ParseIn("--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\ndata", 0, rec),
              "multipart: part 1: body ended before the closing boundary '--XyZ--'");
    Recorder rec2;
    EXPECT_EQ(ParseIn("--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\ndata\r\n--XyZ\r\n", 1, rec2),
              "multipart: part 2: body ended inside the part's headers");
    Recorder rec3;
    EXPECT_EQ(ParseIn("--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\ndata\r\n--XyZ-", 1, rec3),
              "multipart: body ended after the boundary of part 2, without the closing '--XyZ--'");
    Recorder rec4;
    EXPECT_EQ(ParseIn("no boundary at all", 0, rec4), "multipart: no boundary '--XyZ' in the body");
    Recorder rec5;
    EXPECT_EQ(ParseIn("", 0, rec5), "multipart: no boundary '--XyZ' in the body");
}

TEST(Multipart, EmptyFormIsAccepted) {
    Recorder rec;
    EXPECT_EQ(ParseIn("--XyZ--\r\n", 1, rec), "");
    EXPECT_TRUE(rec.parts.empty());
}

TEST(Multipart, TooManyParts) {
    std::string body;
    for (int i = 0; i < 4; ++i) body += "--XyZ\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\nv\r\n";
    body += "--XyZ--";
    Recorder rec;
    EXPECT_EQ(ParseIn(body, 0, rec, {.max_parts = 3}), "multipart: more than 3 parts");
    EXPECT_EQ(rec.parts.size(), 3u);
    Recorder ok;
    EXPECT_EQ(ParseIn(body, 0, ok, {.max_parts = 4}), "");
}

TEST(Multipart, HeadersTooLong) {
    std::string body = "--XyZ\r\nContent-Disposition: form-data; name=\"f\"\r\nX-Long: " + std::string(200, 'a') +
                       "\r\n\r\nv\r\n--XyZ--";
    for (std::size_t step : {0, 1, 7}) {
        Recorder rec;
        EXPECT_EQ(ParseIn(body, step, rec, {.max_header_bytes = 128}),
                  "multipart: part 1: headers longer than 128 bytes");
    }
    Recorder ok;
    EXPECT_EQ(ParseIn(body, 1, ok, {.max_header_bytes = 512}), "");
    // An endless header line is refused once it passes the limit, not buffered.
    Recorder rec;
    MultipartParser parser("XyZ", rec, {.max_header_bytes = 1000});
    ASSERT_TRUE(parser.Feed("--XyZ\r\nContent-Disposition: form-data; name=a; x=" + std::string(900, 'x')));
    Result<void> r = parser.Feed(std::string(200, 'x'));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message(), "multipart: part 1: headers longer than 1000 bytes");
}

TEST(Multipart, FieldAndTotalLimits) {
    std::string body = "--XyZ\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\n" + std::string(100, 'n') +
                       "\r\n--XyZ\r\nContent-Disposition: form-data; name=\"f\"; filename=\"x\"\r\n\r\n" +
                       std::string(300, 'f') + "\r\n--XyZ--";
    Recorder rec;
    EXPECT_EQ(ParseIn(body, 0, rec, {.max_field_bytes = 99}),
              "multipart: part 1 (field 'note'): value longer than 99 bytes");
    Recorder files_are_not_fields;
    EXPECT_EQ(ParseIn(body, 0, files_are_not_fields, {.max_field_bytes = 100}), "");
    Recorder total;
    EXPECT_EQ(ParseIn(body, 64, total, {.max_total_bytes = 400}), "multipart: body longer than 400 bytes");
}

TEST(Multipart, BadPartHeaders) {
    auto parse = [](std::string headers) {
        Recorder rec;
        return ParseIn("--XyZ\r\n" + headers + "\r\n\r\nv\r\n--XyZ--", 0, rec);
    };
    EXPECT_EQ(parse("Content-Type: text/plain"), "multipart: part 1: no Content-Disposition header");
    EXPECT_EQ(parse("Content-Disposition: attachment; name=a"),
              "multipart: part 1: Content-Disposition is 'attachment', not form-data");
    EXPECT_EQ(parse("Content-Disposition: form-data; filename=a"),
              "multipart: part 1: Content-Disposition has no name");
    EXPECT_EQ(parse("Content-Disposition: form-data; name=\"a"),
              "multipart: part 1: Content-Disposition: parameter 'name' has an unterminated quoted value");
    EXPECT_EQ(parse("Content-Disposition: form-data; name=a; name=b"),
              "multipart: part 1: Content-Disposition: parameter 'name' appears twice");
    EXPECT_EQ(parse("Content-Disposition: form-data; name=a\r\nContent-Disposition: form-data; name=b"),
              "multipart: part 1: header 'Content-Disposition' appears twice");
    EXPECT_EQ(parse("Content-Disposition: form-data;\r\n name=a"), "multipart: part 1: folded header line");
    EXPECT_EQ(parse("no colon here"), "multipart: part 1: malformed header line 'no colon here'");
    EXPECT_EQ(parse(std::string("X-A: a\x01z\r\nContent-Disposition: form-data; name=a")),
              "multipart: part 1: control character in header 'X-A'");
}

TEST(Multipart, FileNames) {
    auto filename = [](std::string disposition) -> std::string {
        Recorder rec;
        std::string err = ParseIn("--XyZ\r\nContent-Disposition: " + disposition + "\r\n\r\nv\r\n--XyZ--", 0, rec);
        if (!err.empty()) return err;
        return rec.parts.at(0).filename.value_or("<none>");
    };
    EXPECT_EQ(filename("form-data; name=f; filename=\"C:\\dir\\a.txt\""), "C:\\dir\\a.txt");  // as browsers send it
    EXPECT_EQ(filename("form-data; name=f; filename=\"say \\\"hi\\\".txt\""), "say \"hi\".txt");
    EXPECT_EQ(filename("form-data; name=f; filename=\"%22q%22.txt\""), "%22q%22.txt");
    EXPECT_EQ(filename("form-data; name=f; filename=\"\""), "");
    EXPECT_EQ(filename("form-data; name=f"), "<none>");
    EXPECT_EQ(filename("form-data; name=f; filename=\"plain.txt\"; filename*=UTF-8''na%C3%AFve.txt"),
              "na\xc3\xafve.txt");
    EXPECT_EQ(filename("form-data; name=f; filename*=iso-8859-1'en'caf%E9.txt"), "caf\xc3\xa9.txt");
    EXPECT_EQ(filename("form-data; name=f; filename*=koi8-r''x"),
              "multipart: part 1: filename* charset 'koi8-r' is not UTF-8 or ISO-8859-1");
    EXPECT_EQ(filename("form-data; name=f; filename*=UTF-8''%zz"),
              "multipart: part 1: filename* has a malformed %-escape or a NUL");
}

TEST(Multipart, SinkErrorStopsTheParse) {
    Recorder rec;
    rec.fail_on_data = true;
    MultipartParser parser("XyZ", rec);
    Result<void> r = parser.Feed(kForm);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), ErrorCode::kIo);
    EXPECT_EQ(r.error().message(), "disk full");
    Result<void> again = parser.Feed("more");
    ASSERT_FALSE(again);
    EXPECT_EQ(again.error().message(), "disk full");
    EXPECT_FALSE(parser.Finish());
}

TEST(Multipart, LargeFileIsStreamedNotBuffered) {
    std::string data;
    for (int i = 0; data.size() < 4 * 1024 * 1024; ++i) data += "chunk " + std::to_string(i) + "\r\n--Xy-ish\r";
    std::string body =
        "--XyZ\r\nContent-Disposition: form-data; name=f; filename=big.bin\r\n\r\n" + data + "\r\n--XyZ--\r\n";
    Recorder rec;
    MultipartParser parser("XyZ", rec);
    constexpr std::size_t kPiece = 65536;
    for (std::size_t i = 0; i < body.size(); i += kPiece)
        ASSERT_TRUE(parser.Feed(std::string_view(body).substr(i, kPiece)));
    ASSERT_TRUE(parser.Finish());
    ASSERT_EQ(rec.parts.size(), 1u);
    EXPECT_EQ(rec.parts[0].body, data);
    EXPECT_LE(rec.largest_piece, kPiece);
}

TEST(Multipart, BoundaryFromContentType) {
    EXPECT_EQ(MultipartBoundary("multipart/form-data; boundary=----WebKitFormBoundary7MA4YWxkTrZu0gW").value(),
              "----WebKitFormBoundary7MA4YWxkTrZu0gW");
    EXPECT_EQ(MultipartBoundary("Multipart/Form-Data;BOUNDARY=\"a b:c\"").value(), "a b:c");
    EXPECT_EQ(MultipartBoundary("multipart/form-data; charset=utf-8; boundary=x").value(), "x");
    EXPECT_EQ(MultipartBoundary(std::string("multipart/form-data; boundary=") + std::string(70, 'b')).value(),
              std::string(70, 'b'));
    auto err = [](std::string_view ct) { return MultipartBoundary(ct).error().message(); };
    EXPECT_EQ(err("application/x-www-form-urlencoded"),
              "multipart: Content-Type 'application/x-www-form-urlencoded' is not multipart/form-data");
    EXPECT_EQ(err("multipart/form-data"), "multipart: Content-Type has no boundary parameter");
    EXPECT_EQ(err("multipart/form-data; boundary="), "multipart: boundary is 0 characters long (1 to 70 allowed)");
    EXPECT_EQ(err(std::string("multipart/form-data; boundary=") + std::string(71, 'b')),
              "multipart: boundary is 71 characters long (1 to 70 allowed)");
    EXPECT_EQ(err("multipart/form-data; boundary=\"a\x01\""),
              "multipart: boundary 'a?' has characters RFC 2046 does not allow");
    EXPECT_EQ(err("multipart/form-data; boundary=\"ab \""),
              "multipart: boundary 'ab ' has characters RFC 2046 does not allow");
    Recorder rec;
    MultipartParser bad("", rec);
    EXPECT_FALSE(bad.Feed("--\r\n"));
}

}  // namespace
}  // namespace gale::http
