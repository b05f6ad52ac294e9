// SPDX-License-Identifier: MIT
// A small XML reader for S3's responses (ListObjectsV2, InitiateMultipartUpload, CompleteMultipartUpload, Error):
// expat parses, this builds a tree of elements with their text. Private to gale::storage.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include <gale/base/error.hpp>

namespace gale::storage::detail {

/// One element: its name as written (no namespace processing: S3's default xmlns is ignored), the concatenation of
/// its character data, and its child elements in order. Attributes are dropped (S3 puts nothing in them we need).
struct XmlElement {
    std::string name;
    std::string text;
    std::vector<XmlElement> children;

    /// The first child named `child`, or nullptr.
    [[nodiscard]] const XmlElement* Child(std::string_view child) const noexcept;
    /// The text of the first child named `child`, or "" when there is none.
    [[nodiscard]] std::string_view ChildText(std::string_view child) const noexcept;
};

/// Limits that keep a hostile or broken peer from costing more than a bounded amount of memory and stack.
inline constexpr std::size_t kMaxXmlDepth = 32;
inline constexpr std::size_t kMaxXmlElements = 100000;

/// Parses a whole document. Errors (kInternal, "XML at line L column C: <expat's reason>" or the limit hit): not
/// well-formed, empty, deeper than kMaxXmlDepth, more than kMaxXmlElements elements, or a DOCTYPE (refused: S3 never
/// sends one, and refusing it rules out entity expansion).
[[nodiscard]] Result<XmlElement> ParseXml(std::string_view document);

}  // namespace gale::storage::detail
