#include "ui/decimation.h"

#include <algorithm>
#include <cmath>

namespace genrec::ui {

std::vector<std::size_t> decimateMinMax(const double *x, const double *y, std::size_t n, double lo,
                                        double hi, int columns, bool *dense)
{
    std::vector<std::size_t> out;
    if (dense)
        *dense = false;
    if (n == 0)
        return out;
    std::size_t i0 = std::size_t(std::lower_bound(x, x + n, lo) - x);
    std::size_t i1 = std::size_t(std::upper_bound(x, x + n, hi) - x);
    if (i0 > 0)
        --i0;
    if (i1 < n)
        ++i1;
    const std::size_t count = i1 > i0 ? i1 - i0 : 0;
    columns = std::max(columns, 1);
    if (count <= 2 * std::size_t(columns) || !(hi > lo)) {
        out.reserve(count);
        for (std::size_t i = i0; i < i1; ++i)
            out.push_back(i);
        return out;
    }
    if (dense)
        *dense = true;
    out.reserve(2 * std::size_t(columns) + 4);
    const double scale = double(columns) / (hi - lo);
    // Column of a point: -1 left of the range, `columns` right of it (the edge neighbours).
    auto columnOf = [&](double v) -> long {
        if (v < lo)
            return -1;
        if (v > hi)
            return columns;
        return std::min<long>(long((v - lo) * scale), columns - 1);
    };
    long column = columnOf(x[i0]);
    std::size_t first = i0, iMin = n, iMax = n;
    auto flush = [&] {
        if (iMin == n) {
            out.push_back(first); // only non-finite values: keep the gap
        } else if (iMin == iMax) {
            out.push_back(iMin);
        } else {
            out.push_back(std::min(iMin, iMax));
            out.push_back(std::max(iMin, iMax));
        }
    };
    for (std::size_t i = i0; i < i1; ++i) {
        const long c = columnOf(x[i]);
        if (c != column) {
            flush();
            column = c;
            first = i;
            iMin = iMax = n;
        }
        const double v = y[i];
        if (!std::isfinite(v))
            continue;
        if (iMin == n || v < y[iMin])
            iMin = i;
        if (iMax == n || v > y[iMax])
            iMax = i;
    }
    flush();
    return out;
}

} // namespace genrec::ui
