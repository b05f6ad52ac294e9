// SPDX-License-Identifier: MIT
/// @file gale/metrics/merge.hpp
/// @brief One exposition from the expositions of several processes of one service (`serve --processes`): the
///        supervisor's /metrics, so that one scrape sees every process.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <gale/metrics/exposition.hpp>

namespace gale::metrics {

/// One process's exposition and the value its samples are labelled with.
struct SourceExposition {
    std::string label_value;  ///< "0", "1", …, "supervisor"
    std::string text;         ///< as Registry::Render gives it, in the format being merged
};

/// Merges `sources` (all in `format`) into one exposition in that format:
/// - every family once, in the order of its first appearance, with the HELP, TYPE and UNIT lines of the first
///   source that has it, then the samples of every source, source by source (so a histogram's buckets, sum and
///   count of one label set stay together);
/// - every sample gains the label `label`="label_value" ahead of its own labels (`x{a="b"} 1` from source "0"
///   becomes `x{process="0",a="b"} 1`): the sources' label sets stay distinct, so nothing collides;
/// - a source whose TYPE for a family differs from the first one's contributes no samples to it (the exposition
///   would be invalid otherwise); nor does a sample that already carries `label`;
/// - the sources' `# EOF` lines are dropped, and one ends the result in OpenMetrics;
/// - lines that are neither samples nor HELP/TYPE/UNIT comments are dropped (an empty or truncated source just
///   contributes less).
[[nodiscard]] std::string MergeExpositions(std::string_view label, const std::vector<SourceExposition>& sources,
                                           Format format);

}  // namespace gale::metrics
