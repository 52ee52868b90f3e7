#include "ui/chart_series.h"

#include <QCoreApplication>

#include <algorithm>

namespace genrec::ui {

QString xAxisLabel(XAxisMode mode)
{
    switch (mode) {
    case XAxisMode::Step:
        return QCoreApplication::translate("genrec::ui", "Step");
    case XAxisMode::Samples:
        return QCoreApplication::translate("genrec::ui", "Samples seen");
    case XAxisMode::WallTime:
        return QCoreApplication::translate("genrec::ui", "Wall time (s)");
    }
    return {};
}

QStringList dashboardChartIds()
{
    return {QStringLiteral("loss"),   QStringLiteral("lr"),     QStringLiteral("grad_norm"),
            QStringLiteral("tokens_per_s"), QStringLiteral("ranking"), QStringLiteral("reward"),
            QStringLiteral("kl"),     QStringLiteral("frac_reward_zero_std")};
}

QString dashboardChartTitle(const QString &id)
{
    if (id == QLatin1String("loss"))
        return QCoreApplication::translate("genrec::ui", "Loss");
    if (id == QLatin1String("lr"))
        return QCoreApplication::translate("genrec::ui", "Learning rate");
    if (id == QLatin1String("grad_norm"))
        return QCoreApplication::translate("genrec::ui", "Gradient norm");
    if (id == QLatin1String("tokens_per_s"))
        return QCoreApplication::translate("genrec::ui", "Tokens per second");
    if (id == QLatin1String("ranking"))
        return QCoreApplication::translate("genrec::ui", "HR@K / NDCG@K");
    if (id == QLatin1String("reward"))
        return QCoreApplication::translate("genrec::ui", "Reward");
    if (id == QLatin1String("kl"))
        return QCoreApplication::translate("genrec::ui", "KL");
    if (id == QLatin1String("frac_reward_zero_std"))
        return QCoreApplication::translate("genrec::ui", "Groups with zero reward std");
    return id;
}

QString chartIdForKey(const QString &key)
{
    if (key == QLatin1String("loss") || key == QLatin1String("eval_loss"))
        return QStringLiteral("loss");
    if (key == QLatin1String("lr") || key == QLatin1String("grad_norm") ||
        key == QLatin1String("tokens_per_s") || key == QLatin1String("kl") ||
        key == QLatin1String("frac_reward_zero_std"))
        return key;
    QString k = key;
    if (k.startsWith(QLatin1String("eval_")))
        k = k.mid(5);
    if (k.startsWith(QLatin1String("hr@")) || k.startsWith(QLatin1String("ndcg@")))
        return QStringLiteral("ranking");
    if (key == QLatin1String("reward") ||
        (key.startsWith(QLatin1String("rewards/")) && key.endsWith(QLatin1String("/mean"))))
        return QStringLiteral("reward");
    return {};
}

RunSeries::Stage &RunSeries::stage(const QString &name)
{
    for (Stage &s : m_stages)
        if (s.name == name)
            return s;
    Stage s;
    s.name = name;
    s.stepOffset = m_maxStep;
    s.samplesOffset = m_maxSamples;
    m_stages.push_back(s);
    return m_stages.back();
}

double RunSeries::xOf(const Point &p, XAxisMode mode)
{
    switch (mode) {
    case XAxisMode::Step:
        return p.step;
    case XAxisMode::Samples:
        return p.samples;
    case XAxisMode::WallTime:
        return p.wall;
    }
    return p.step;
}

QVector<SeriesAppend> RunSeries::append(const std::vector<core::MetricRow> &rows, XAxisMode mode)
{
    // samples_seen first, so every key of a step finds that step's sample count.
    for (const core::MetricRow &r : rows)
        if (r.point.key == "samples_seen")
            m_samplesAt[{QString::fromStdString(r.point.stage), r.point.step}] = r.point.value;

    // A batch has few distinct stages and keys: resolve each once, not once per row.
    struct KeyRef
    {
        const std::string *name;
        std::vector<Point> *points;
        int slot;
    };
    std::vector<KeyRef> keyRefs;
    std::vector<std::pair<const std::string *, qsizetype>> stageRefs;
    QVector<SeriesAppend> out;
    for (const core::MetricRow &r : rows) {
        m_lastRowId = std::max<qint64>(m_lastRowId, r.rowId);
        const core::MetricPoint &mp = r.point;
        qsizetype stageIndex = -1;
        for (const auto &[name, index] : stageRefs)
            if (*name == mp.stage) {
                stageIndex = index;
                break;
            }
        if (stageIndex < 0) {
            const QString stageName = QString::fromStdString(mp.stage);
            stage(stageName);
            for (qsizetype i = 0; i < m_stages.size(); ++i)
                if (m_stages[i].name == stageName)
                    stageIndex = i;
            stageRefs.emplace_back(&mp.stage, stageIndex);
        }
        Stage &st = m_stages[stageIndex];
        if (m_t0 < 0)
            m_t0 = mp.wallTime;
        if (!m_samplesAt.empty()) {
            auto it = m_samplesAt.find({st.name, mp.step});
            if (it != m_samplesAt.end())
                st.lastSamples = it->second;
        }
        Point p{st.stepOffset + double(mp.step), st.samplesOffset + st.lastSamples, mp.wallTime - m_t0,
                mp.value};
        if (!st.any) {
            st.minStep = st.maxStep = p.step;
            st.minSamples = st.maxSamples = p.samples;
            st.minWall = st.maxWall = p.wall;
            st.any = true;
        }
        st.minStep = std::min(st.minStep, p.step), st.maxStep = std::max(st.maxStep, p.step);
        st.minSamples = std::min(st.minSamples, p.samples), st.maxSamples = std::max(st.maxSamples, p.samples);
        st.minWall = std::min(st.minWall, p.wall), st.maxWall = std::max(st.maxWall, p.wall);
        m_maxStep = std::max(m_maxStep, p.step);
        m_maxSamples = std::max(m_maxSamples, p.samples);

        KeyRef *ref = nullptr;
        for (KeyRef &k : keyRefs)
            if (*k.name == mp.key) {
                ref = &k;
                break;
            }
        if (!ref) {
            const QString key = QString::fromStdString(mp.key);
            out.push_back(SeriesAppend{key, {}, {}, true});
            keyRefs.push_back(KeyRef{&mp.key, &m_points[key], int(out.size()) - 1});
            ref = &keyRefs.back();
        }
        std::vector<Point> &vec = *ref->points;
        vec.push_back(p);
        SeriesAppend &a = out[ref->slot];
        const double x = xOf(p, mode);
        if (vec.size() > 1 && x < xOf(vec[vec.size() - 2], mode))
            a.sorted = false;
        a.x.push_back(x);
        a.y.push_back(p.value);
    }
    return out;
}

void RunSeries::series(const QString &key, XAxisMode mode, QVector<double> *x, QVector<double> *y) const
{
    x->clear();
    y->clear();
    auto it = m_points.find(key);
    if (it == m_points.end())
        return;
    x->reserve(qsizetype(it->second.size()));
    y->reserve(qsizetype(it->second.size()));
    for (const Point &p : it->second) {
        x->push_back(xOf(p, mode));
        y->push_back(p.value);
    }
}

QStringList RunSeries::keys() const
{
    QStringList k;
    for (const auto &[key, pts] : m_points)
        k << key;
    return k;
}

QVector<StageBand> RunSeries::stageBands(XAxisMode mode) const
{
    QVector<StageBand> bands;
    for (const Stage &s : m_stages) {
        if (!s.any)
            continue;
        StageBand b;
        b.name = s.name;
        switch (mode) {
        case XAxisMode::Step:
            b.start = s.stepOffset, b.end = s.maxStep;
            break;
        case XAxisMode::Samples:
            b.start = s.samplesOffset, b.end = s.maxSamples;
            break;
        case XAxisMode::WallTime:
            b.start = s.minWall, b.end = s.maxWall;
            break;
        }
        bands.push_back(b);
    }
    return bands;
}

qsizetype RunSeries::pointCount() const
{
    qsizetype n = 0;
    for (const auto &[key, pts] : m_points)
        n += qsizetype(pts.size());
    return n;
}

} // namespace genrec::ui
