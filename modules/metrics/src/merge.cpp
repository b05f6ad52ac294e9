// SPDX-License-Identifier: MIT
#include <algorithm>
#include <charconv>
#include <map>

#include <gale/metrics/merge.hpp>

namespace gale::metrics {
namespace {

struct MergedFamily {
    std::string type;               // from the first TYPE line; "" until one is seen
    std::vector<std::string> meta;  // HELP, TYPE, UNIT lines, first source's
    std::string samples;
};

bool IsNameChar(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == ':';
}

std::string EscapeLabelValue(std::string_view v) {
    std::string out;
    for (char c : v) {
        if (c == '\\' || c == '"') out += '\\';
        if (c == '\n') {
            out += "\\n";
            continue;
        }
        out += c;
    }
    return out;
}

// "# HELP name …" → {"HELP", "name", rest}; anything else → empty kind.
struct Comment {
    std::string_view kind, name, rest;
};
Comment ParseComment(std::string_view line) {
    Comment c;
    if (!line.starts_with("# ")) return c;
    line.remove_prefix(2);
    auto sp = line.find(' ');
    if (sp == std::string_view::npos) return c;
    std::string_view kind = line.substr(0, sp);
    if (kind != "HELP" && kind != "TYPE" && kind != "UNIT") return c;
    line.remove_prefix(sp + 1);
    sp = line.find(' ');
    c.kind = kind;
    c.name = line.substr(0, sp);
    c.rest = sp == std::string_view::npos ? std::string_view() : line.substr(sp + 1);
    return c;
}

// Whether `sample` (a sample name) belongs to the family `family`: the name itself or one of its suffixes.
bool InFamily(std::string_view sample, std::string_view family) {
    if (sample == family) return true;
    if (!sample.starts_with(family)) return false;
    std::string_view suffix = sample.substr(family.size());
    for (std::string_view s : {"_total", "_created", "_bucket", "_sum", "_count", "_info", "_gcount", "_gsum"}) {
        if (suffix == s) return true;
    }
    return false;
}

// Whether `rest` (a sample line after its name) is `[{labels}] value [timestamp]`: label values are quoted with
// escapes, the value a number, NaN or ±Inf.
bool IsSampleRest(std::string_view rest) {
    if (rest.empty()) return false;
    if (rest.front() == '{') {
        bool quoted = false;
        std::size_t i = 1;
        for (; i < rest.size(); ++i) {
            char c = rest[i];
            if (quoted && c == '\\') {
                ++i;
            } else if (c == '"') {
                quoted = !quoted;
            } else if (!quoted && c == '}') {
                break;
            }
        }
        if (i >= rest.size()) return false;
        rest.remove_prefix(i + 1);
    }
    if (!rest.starts_with(' ')) return false;
    rest.remove_prefix(1);
    std::string_view value = rest.substr(0, rest.find(' '));
    if (value == "NaN" || value == "+Inf" || value == "-Inf") return true;
    double d = 0;
    auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), d);
    return ec == std::errc() && ptr == value.data() + value.size() && !value.empty();
}

}  // namespace

std::string MergeExpositions(std::string_view label, const std::vector<SourceExposition>& sources, Format format) {
    std::vector<std::string> order;
    std::map<std::string, MergedFamily, std::less<>> families;
    auto family = [&](std::string_view name) -> MergedFamily& {
        auto it = families.find(name);
        if (it == families.end()) {
            order.emplace_back(name);
            it = families.emplace(std::string(name), MergedFamily{}).first;
        }
        return it->second;
    };
    const std::string needle = std::string(label) + "=\"";
    auto labelled = [&needle](std::string_view labels) {  // labels: "{…} value"
        for (auto at = labels.find(needle); at != std::string_view::npos; at = labels.find(needle, at + 1)) {
            if (labels[at - 1] == '{' || labels[at - 1] == ',') return true;
        }
        return false;
    };
    for (const SourceExposition& source : sources) {
        const std::string prefix = std::string(label) + "=\"" + EscapeLabelValue(source.label_value) + "\"";
        std::string current;             // the family the source's last metadata line named
        bool skip = false;               // its TYPE differs from the first source's
        std::vector<std::string> owned;  // families whose metadata this source supplies (the first source to)
        std::string_view text = source.text;
        while (!text.empty()) {
            auto nl = text.find('\n');
            std::string_view line = text.substr(0, nl);
            text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
            if (line.empty()) continue;
            if (line.front() == '#') {
                Comment c = ParseComment(line);
                if (c.kind.empty() || c.name.empty()) continue;
                MergedFamily& f = family(c.name);
                if (current != c.name) {
                    current = c.name;
                    skip = false;
                }
                bool first_source = f.meta.empty() || std::find(owned.begin(), owned.end(), c.name) != owned.end();
                if (c.kind == "TYPE") {
                    if (f.type.empty()) f.type = std::string(c.rest);
                    skip = f.type != c.rest;
                }
                if (first_source) {
                    if (f.meta.empty()) owned.push_back(current);
                    f.meta.emplace_back(line);
                }
                continue;
            }
            std::size_t end = 0;
            while (end < line.size() && IsNameChar(line[end])) ++end;
            if (end == 0 || !IsSampleRest(line.substr(end))) continue;
            std::string_view name = line.substr(0, end);
            if (current.empty() || !InFamily(name, current)) {
                current = std::string(name);  // a sample without metadata: a family of its own
                skip = false;
            }
            if (skip) continue;
            std::string_view rest = line.substr(end);
            if (rest.front() == '{' && labelled(rest)) continue;  // already labelled
            std::string& out = family(current).samples;
            out.append(name);
            if (rest.front() == '{') {
                out += '{';
                out += prefix;
                rest.remove_prefix(1);
                if (!rest.empty() && rest.front() != '}') out += ',';
                out.append(rest);
            } else {
                out += '{';
                out += prefix;
                out += '}';
                out.append(rest);
            }
            out += '\n';
        }
    }
    std::string result;
    for (const std::string& name : order) {
        const MergedFamily& f = families.at(name);
        for (const std::string& m : f.meta) {
            result += m;
            result += '\n';
        }
        result += f.samples;
    }
    if (format == Format::kOpenMetrics) result += "# EOF\n";
    return result;
}

}  // namespace gale::metrics
