// SPDX-License-Identifier: MIT
// expat (Debian libexpat1-dev, linked statically) does the parsing; this file only builds the tree. A DOCTYPE stops the
// parser at once (XML_StopParser from its handler), so no entity declared in a DTD is ever expanded; expat 2.4+ also
// has its own amplification limits. Depth and element count are bounded here.
#include "xml.hpp"

#include <expat.h>

#include <limits>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

namespace gale::storage::detail {
namespace {

struct Builder {
    XML_Parser parser = nullptr;
    std::vector<XmlElement> stack;  // open elements; stack[0] is a synthetic document node
    std::size_t elements = 0;
    std::string problem;

    void Stop(std::string why) {
        if (problem.empty()) problem = std::move(why);
        XML_StopParser(parser, XML_FALSE);
    }
};

void OnStart(void* data, const XML_Char* name, const XML_Char** /*attributes*/) {
    auto* b = static_cast<Builder*>(data);
    if (b->stack.size() > kMaxXmlDepth) return b->Stop(fmt::format("nested deeper than {} elements", kMaxXmlDepth));
    if (++b->elements > kMaxXmlElements) return b->Stop(fmt::format("more than {} elements", kMaxXmlElements));
    b->stack.push_back(XmlElement{name, {}, {}});
}

void OnEnd(void* data, const XML_Char* /*name*/) {
    auto* b = static_cast<Builder*>(data);
    if (b->stack.size() < 2) return;  // cannot happen: expat matches tags
    XmlElement done = std::move(b->stack.back());
    b->stack.pop_back();
    b->stack.back().children.push_back(std::move(done));
}

void OnText(void* data, const XML_Char* text, int length) {
    auto* b = static_cast<Builder*>(data);
    if (b->stack.size() > 1) b->stack.back().text.append(text, static_cast<std::size_t>(length));
}

void OnDoctype(void* data, const XML_Char* /*name*/, const XML_Char* /*sysid*/, const XML_Char* /*pubid*/,
               int /*has_internal_subset*/) {
    static_cast<Builder*>(data)->Stop("a DOCTYPE (refused)");
}

}  // namespace

const XmlElement* XmlElement::Child(std::string_view child) const noexcept {
    for (const auto& c : children) {
        if (c.name == child) return &c;
    }
    return nullptr;
}

std::string_view XmlElement::ChildText(std::string_view child) const noexcept {
    const XmlElement* c = Child(child);
    return c ? std::string_view(c->text) : std::string_view();
}

Result<XmlElement> ParseXml(std::string_view document) {
    if (document.size() > static_cast<std::size_t>(std::numeric_limits<int>::max())) {
        return MakeError(ErrorCode::kInternal, "XML: document too large");
    }
    XML_Parser parser = XML_ParserCreate("UTF-8");
    if (parser == nullptr) return MakeError(ErrorCode::kInternal, "XML: out of memory");
    Builder builder;
    builder.parser = parser;
    builder.stack.push_back(XmlElement{});
    XML_SetUserData(parser, &builder);
    XML_SetElementHandler(parser, OnStart, OnEnd);
    XML_SetCharacterDataHandler(parser, OnText);
    XML_SetStartDoctypeDeclHandler(parser, OnDoctype);
    const XML_Status status = XML_Parse(parser, document.data(), static_cast<int>(document.size()), XML_TRUE);
    std::string error;
    if (status != XML_STATUS_OK) {
        const std::string why =
            builder.problem.empty() ? std::string(XML_ErrorString(XML_GetErrorCode(parser))) : builder.problem;
        error = fmt::format("XML at line {} column {}: {}", XML_GetCurrentLineNumber(parser),
                            XML_GetCurrentColumnNumber(parser), why);
    }
    XML_ParserFree(parser);
    if (!error.empty()) return MakeError(ErrorCode::kInternal, std::move(error));
    if (builder.stack.size() != 1 || builder.stack[0].children.size() != 1) {
        return MakeError(ErrorCode::kInternal, "XML: no root element");
    }
    return std::move(builder.stack[0].children[0]);
}

}  // namespace gale::storage::detail
