// SPDX-License-Identifier: MIT
// Private: rewriting `?` placeholders to PostgreSQL's `$n`.
#pragma once

#include <string>
#include <string_view>

namespace gale::db::detail {

struct TranslatedSql {
    std::string sql;
    int parameter_count = 0;  ///< the highest placeholder number (`?`, `?N` or `$N`)
};

/// Rewrites `?` to `$k` (k counting up from the highest number seen so far, as SQLite numbers them) and `?N` to
/// `$N`, leaving alone everything inside '…' and E'…' literals, "…" identifiers, $tag$…$tag$ strings, -- and /* */
/// comments. `$N` written directly is kept and counted.
TranslatedSql TranslatePlaceholders(std::string_view sql);

}  // namespace gale::db::detail
