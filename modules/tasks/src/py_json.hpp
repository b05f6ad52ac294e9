// SPDX-License-Identifier: MIT
/// @file py_json.hpp (private)
/// @brief JSON and repr() written as Python writes them, so that gale's task messages are Celery's bytes.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace gale::tasks::detail {

/// Python's json.dumps(value) with kombu's defaults: separators ", " and ": ", ensure_ascii (every non-ASCII code
/// point as \uXXXX, astral ones as a surrogate pair), floats as repr(float), NaN/Infinity/-Infinity as Python
/// writes them (allow_nan). Bytes that are not well-formed UTF-8 are written as U+FFFD. Appends to `out`.
void AppendPythonJson(std::string& out, const nlohmann::ordered_json& value);
[[nodiscard]] std::string PythonJson(const nlohmann::ordered_json& value);

/// Python's repr() of the value a JSON document decodes to: None/True/False, 'str' (double quotes when the string
/// holds ' and no "), [list], {'key': value}; `as_tuple` writes a list as a tuple ("(2, 3)", "(2,)", "()"), as
/// Celery's argsrepr shows args. Truncated to `max_size` characters with "..." (Celery's saferepr bound, 1024).
[[nodiscard]] std::string PythonRepr(const nlohmann::ordered_json& value, bool as_tuple = false,
                                     std::size_t max_size = 1024);

/// Python's repr(float) for a finite value: shortest round-trip digits, positional for exponents in [-4, 16).
[[nodiscard]] std::string PythonFloatRepr(double value);

}  // namespace gale::tasks::detail
