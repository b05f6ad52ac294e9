// SPDX-License-Identifier: MIT
// Every decoder of S3's answers on the same bytes (untrusted: they come from the network): the XML reader, the
// error, list, initiate and complete parsers, and the date parsers on the whole input. None may crash, hang or
// leak; a parsed list must hold what the input said (keys are never invented).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "s3_responses.hpp"
#include "xml.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    (void)gale::storage::detail::ParseXml(input);
    (void)gale::storage::detail::ParseS3Error(input);
    if (auto page = gale::storage::detail::ParseListObjectsV2(input)) {
        if (page->truncated && page->next_token.empty()) __builtin_trap();
    }
    (void)gale::storage::detail::ParseUploadId(input);
    (void)gale::storage::detail::ParseCompleteMultipartUpload(input);
    (void)gale::storage::detail::ParseIso8601(input);
    (void)gale::storage::detail::ParseHttpDate(input);
    return 0;
}
