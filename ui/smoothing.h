#pragma once
/// @file smoothing.h
/// TensorBoard's debiased exponential moving average, the smoothing users know from TensorBoard,
/// W&B and Transformer Lab: s_i = (w s_{i-1} + (1 - w) y_i) / (1 - w^n), with n the count of finite
/// values so far. Non-finite values pass through unchanged and do not enter the average.

#include <cmath>
#include <vector>

namespace genrec::ui {

/// Incremental state, so appended points extend a smoothed curve without recomputing it.
class DebiasedEma
{
public:
    explicit DebiasedEma(double weight = 0.0) : m_weight(weight) {}
    double weight() const { return m_weight; }
    /// Smoothed value for the next raw value.
    double push(double value)
    {
        if (!std::isfinite(value))
            return value;
        m_last = m_last * m_weight + (1.0 - m_weight) * value;
        ++m_count;
        const double debias = m_weight >= 1.0 ? 1.0 : 1.0 - std::pow(m_weight, m_count);
        return debias > 0 ? m_last / debias : value;
    }
    void reset() { m_last = 0.0, m_count = 0; }

private:
    double m_weight;
    double m_last = 0.0;
    int m_count = 0;
};

/// Smooths a whole series with weight w in [0, 1); w = 0 returns the input.
inline std::vector<double> smoothDebiasedEma(const std::vector<double> &values, double weight)
{
    DebiasedEma ema(weight);
    std::vector<double> out;
    out.reserve(values.size());
    for (const double v : values)
        out.push_back(ema.push(v));
    return out;
}

} // namespace genrec::ui
