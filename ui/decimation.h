#pragma once
/// @file decimation.h
/// Per-pixel min/max decimation of a sorted series (level of detail for charts): of the points
/// whose x falls into one pixel column, only the lowest and the highest are drawn, in their
/// original order, so spikes survive at any zoom while a chart never draws more than about two
/// points per pixel column. Pure C++ (no Qt), shared by MetricChart and its tests.

#include <cstddef>
#include <vector>

namespace genrec::ui {

/// Indices (ascending) of the points of `x`/`y` to draw for the visible x-range [lo, hi] on a
/// plot `columns` pixels wide.
///
/// `x` must be ascending (ties allowed). The nearest point outside each end of the range is
/// included so lines leave the plot edges at the right slope. When the visible points number at
/// most 2 × columns they are all returned unchanged. Otherwise each pixel column keeps its
/// finite minimum and maximum; a column holding only non-finite values keeps its first point, so
/// a gap (NaN) in the data stays a gap. `dense` (optional) is set when points were dropped.
std::vector<std::size_t> decimateMinMax(const double *x, const double *y, std::size_t n, double lo,
                                        double hi, int columns, bool *dense = nullptr);

} // namespace genrec::ui
