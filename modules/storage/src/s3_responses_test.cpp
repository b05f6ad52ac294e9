// SPDX-License-Identifier: MIT
// S3's XML answers as AWS documents them (ListObjectsV2, InitiateMultipartUpload, CompleteMultipartUpload, Error
// examples of the S3 API reference), and what a hostile or broken peer might send instead.
#include "s3_responses.hpp"

#include <string>

#include <gtest/gtest.h>

#include "xml.hpp"

namespace gale::storage::detail {
namespace {

TEST(S3Responses, ListObjectsV2) {
    auto page = ParseListObjectsV2(R"(<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Name>bucket</Name><Prefix/><KeyCount>2</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>true</IsTruncated>
  <NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>
  <Contents><Key>my-image &amp; co.jpg</Key><LastModified>2009-10-12T17:50:30.000Z</LastModified>
    <ETag>&quot;fba9dede5f27731c9771645a39863328&quot;</ETag><Size>434234</Size><StorageClass>STANDARD</StorageClass>
  </Contents>
  <Contents><Key>b</Key><LastModified>2009-10-12T17:50:31Z</LastModified><ETag>"x-2"</ETag><Size>0</Size></Contents>
</ListBucketResult>)");
    ASSERT_TRUE(page) << page.error().ToString();
    ASSERT_EQ(page->objects.size(), 2u);
    EXPECT_EQ(page->objects[0].key, "my-image & co.jpg");
    EXPECT_EQ(page->objects[0].size, 434234u);
    EXPECT_EQ(page->objects[0].etag, "fba9dede5f27731c9771645a39863328");
    EXPECT_EQ(std::chrono::system_clock::to_time_t(page->objects[0].modified), 1255369830);
    EXPECT_EQ(std::chrono::system_clock::to_time_t(page->objects[1].modified), 1255369831);
    EXPECT_TRUE(page->truncated);
    EXPECT_EQ(page->next_token, "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=");
}

TEST(S3Responses, ListObjectsV2Refusals) {
    EXPECT_FALSE(ParseListObjectsV2(""));
    EXPECT_FALSE(ParseListObjectsV2("<html>502 Bad Gateway</html>"));
    EXPECT_FALSE(ParseListObjectsV2("<ListBucketResult><Contents><Size>1</Size></Contents></ListBucketResult>"));
    EXPECT_FALSE(
        ParseListObjectsV2("<ListBucketResult><Contents><Key>a</Key><Size>-1</Size></Contents></ListBucketResult>"));
    EXPECT_FALSE(ParseListObjectsV2("<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>"));
    EXPECT_FALSE(ParseListObjectsV2("<ListBucketResult><Contents>"));
}

TEST(S3Responses, ErrorsUploadIdsAndComplete) {
    auto error = ParseS3Error(
        "<?xml version=\"1.0\"?><Error><Code>NoSuchKey</Code><Message>The resource you requested does not exist"
        "</Message><Resource>/mybucket/myfoto.jpg</Resource><RequestId>4442587FB7D0A2F9</RequestId></Error>");
    ASSERT_TRUE(error);
    EXPECT_EQ(error->code, "NoSuchKey");
    EXPECT_EQ(error->message, "The resource you requested does not exist");
    EXPECT_FALSE(ParseS3Error(""));
    EXPECT_FALSE(ParseS3Error("<Error><Message>no code</Message></Error>"));

    EXPECT_EQ(ParseUploadId("<InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key><UploadId>VXBsb2FkIElE"
                            "</UploadId></InitiateMultipartUploadResult>")
                  .value(),
              "VXBsb2FkIElE");
    EXPECT_FALSE(ParseUploadId("<InitiateMultipartUploadResult/>"));

    EXPECT_EQ(ParseCompleteMultipartUpload("<CompleteMultipartUploadResult><ETag>\"3858f62230ac3c915f300c664312c11f-9"
                                           "\"</ETag></CompleteMultipartUploadResult>")
                  .value(),
              "3858f62230ac3c915f300c664312c11f-9");
    auto failed = ParseCompleteMultipartUpload(
        "<Error><Code>InternalError</Code><Message>We encountered an internal error. Please try again.</Message>"
        "</Error>");
    ASSERT_FALSE(failed);
    EXPECT_EQ(failed.error().code(), ErrorCode::kUnavailable);
    EXPECT_NE(failed.error().message().find("InternalError"), std::string::npos);
    EXPECT_EQ(ParseCompleteMultipartUpload("<Error><Code>EntityTooSmall</Code></Error>").error().code(),
              ErrorCode::kInvalidArgument);
}

TEST(S3Responses, Dates) {
    EXPECT_EQ(std::chrono::system_clock::to_time_t(*ParseHttpDate("Wed, 12 Oct 2009 17:50:00 GMT")), 1255369800);
    EXPECT_FALSE(ParseHttpDate("yesterday"));
    EXPECT_FALSE(ParseHttpDate("Wed, 12 Oct 2009 17:50:00 GMT trailing"));
    EXPECT_FALSE(ParseIso8601("2009-10-12T17:50:30junk"));
    EXPECT_FALSE(ParseIso8601(""));
}

TEST(Xml, RefusesDoctypesAndDeepNesting) {
    auto doctype = ParseXml(R"(<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]>
<Error><Code>&lol2;</Code></Error>)");
    ASSERT_FALSE(doctype);
    EXPECT_NE(doctype.error().message().find("DOCTYPE"), std::string::npos) << doctype.error().message();
    std::string deep;
    for (std::size_t i = 0; i <= kMaxXmlDepth + 1; ++i) deep += "<a>";
    for (std::size_t i = 0; i <= kMaxXmlDepth + 1; ++i) deep += "</a>";
    auto nested = ParseXml(deep);
    ASSERT_FALSE(nested);
    EXPECT_NE(nested.error().message().find("nested deeper"), std::string::npos) << nested.error().message();
    EXPECT_FALSE(ParseXml("<a></b>"));
    EXPECT_FALSE(ParseXml("text only"));
    auto ok = ParseXml("<a x='1'>t<b>u</b>v</a>");
    ASSERT_TRUE(ok);
    EXPECT_EQ(ok->text, "tv");
    EXPECT_EQ(ok->ChildText("b"), "u");
    EXPECT_EQ(ok->ChildText("c"), "");
}

}  // namespace
}  // namespace gale::storage::detail
