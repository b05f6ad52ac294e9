// SPDX-License-Identifier: MIT
/// @file json_reference.hpp
/// @brief Test-only: the nlohmann-based JSON reading that ReadJson replaced, and a strict Value comparison, for the
///        differential test (json_reader_test.cpp) and fuzzer (fuzz/wire_fuzz.cpp).
///
/// Private to gale::pipe; header-only so that the library does not carry it.
#pragma once

#include <bit>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <gale/pipe/wire.hpp>

namespace gale::pipe::detail {

/// True if `v` nests deeper than `limit` (the check ParseJson ran after nlohmann's parse).
inline bool DeeperThanForTest(const Value& v, int limit) {
    if (!v.is_structured()) return false;
    if (limit == 0) return true;
    for (const auto& item : v) {
        if (DeeperThanForTest(item, limit - 1)) return true;
    }
    return false;
}

/// Why NlohmannReadJsonForTest refused a body.
enum class NlohmannRefusal {
    kNone,
    kBom,            ///< ParseJson refused a leading BOM before calling nlohmann (ReadJson refuses it as any byte)
    kMalformed,      ///< nlohmann's parse failed
    kTooDeep,        ///< nlohmann parsed it, the kMaxDepth check refused it
    kNulAfterValue,  ///< nlohmann parsed it only because its lexer ends the input at a NUL byte ("[1]\0junk"):
                     ///< the one place where ReadJson deliberately refuses (see json_reader.cpp)
};

/// What ReadJson must return for `body`, by the old route: nlohmann::ordered_json::parse, then the kMaxDepth check.
/// Empty if refused; `refusal` (if given) says why.
inline std::optional<Value> NlohmannReadJsonForTest(std::string_view body, NlohmannRefusal* refusal = nullptr) {
    NlohmannRefusal ignored = NlohmannRefusal::kNone;
    NlohmannRefusal& why = refusal != nullptr ? *refusal : ignored;
    why = NlohmannRefusal::kNone;
    if (body.substr(0, 3) == "\xEF\xBB\xBF") {
        why = NlohmannRefusal::kBom;
        return std::nullopt;
    }
    Value v = Value::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
    if (v.is_discarded()) {
        why = NlohmannRefusal::kMalformed;
        return std::nullopt;
    }
    if (DeeperThanForTest(v, kMaxDepth)) {
        why = NlohmannRefusal::kTooDeep;
        return std::nullopt;
    }
    // In a document nlohmann accepts, a NUL byte cannot be inside the value (strings refuse control characters and
    // anywhere else it ends the input early), so it is after the value.
    if (body.find('\0') != std::string_view::npos) {
        why = NlohmannRefusal::kNulAfterValue;
        return std::nullopt;
    }
    return v;
}

/// Empty if `a` and `b` are the same in every respect that matters on the wire, which is more than nlohmann's ==
/// checks: the kind of every number (unsigned, integer, float: == calls 1 and 1.0 equal), the bits of every float
/// (== calls 0.0 and -0.0 equal) and the order of every object's keys. Otherwise the JSON path of the first
/// difference and what differs there.
inline std::string JsonDifferenceForTest(const Value& a, const Value& b, const std::string& path = "$") {
    if (a.type() != b.type()) {
        return path + ": types differ (" + std::to_string(static_cast<int>(a.type())) + " vs " +
               std::to_string(static_cast<int>(b.type())) + ")";
    }
    switch (a.type()) {
        case Value::value_t::number_float:
            if (std::bit_cast<std::uint64_t>(a.get<double>()) != std::bit_cast<std::uint64_t>(b.get<double>())) {
                return path + ": floats differ (" + a.dump() + " vs " + b.dump() + ")";
            }
            return {};
        case Value::value_t::array:
            if (a.size() != b.size()) return path + ": array sizes differ";
            for (std::size_t i = 0; i < a.size(); ++i) {
                std::string difference = JsonDifferenceForTest(a[i], b[i], path + "[" + std::to_string(i) + "]");
                if (!difference.empty()) return difference;
            }
            return {};
        case Value::value_t::object: {
            const auto& x = a.get_ref<const Value::object_t&>();
            const auto& y = b.get_ref<const Value::object_t&>();
            if (x.size() != y.size()) return path + ": object sizes differ";
            for (auto i = x.begin(), j = y.begin(); i != x.end(); ++i, ++j) {
                if (i->first != j->first) return path + ": keys differ (" + i->first + " vs " + j->first + ")";
                std::string difference = JsonDifferenceForTest(i->second, j->second, path + "." + i->first);
                if (!difference.empty()) return difference;
            }
            return {};
        }
        default:
            if (a != b) return path + ": values differ (" + a.dump() + " vs " + b.dump() + ")";
            return {};
    }
}

}  // namespace gale::pipe::detail
