#include "app/cli/cli_common.h"

#include "core/common/error.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>

namespace genrec::app {

namespace {
double nowSeconds()
{
    using namespace std::chrono;
    return duration<double>(steady_clock::now().time_since_epoch()).count();
}

std::string formatDuration(double seconds)
{
    if (seconds < 0 || seconds > 1e7)
        return "--:--";
    const long s = static_cast<long>(seconds + 0.5);
    char buf[32];
    if (s >= 3600)
        std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", s / 3600, (s / 60) % 60, s % 60);
    else
        std::snprintf(buf, sizeof buf, "%02ld:%02ld", s / 60, s % 60);
    return buf;
}
} // namespace

std::string CliContext::resolvedStorePath() const
{
    if (!storePath.empty())
        return storePath;
    if (const char *xdg = std::getenv("XDG_DATA_HOME"); xdg && *xdg)
        return std::string(xdg) + "/genrec/runs.db";
    const char *home = std::getenv("HOME");
    return std::string(home && *home ? home : ".") + "/.local/share/genrec/runs.db";
}

void printJson(const nlohmann::json &doc)
{
    std::cout << doc.dump(isatty(STDOUT_FILENO) ? 2 : -1) << std::endl;
}

std::string readFileOrStdin(const std::string &path)
{
    std::ostringstream out;
    if (path == "-") {
        out << std::cin.rdbuf();
        return out.str();
    }
    std::ifstream in(path, std::ios::binary);
    if (!in)
        core::throwBadInput(path + ": cannot open file", "check the path and its permissions");
    out << in.rdbuf();
    return out.str();
}

ProgressBar::ProgressBar(std::string label, int64_t total, bool json)
    : m_label(std::move(label)), m_total(total), m_json(json), m_tty(isatty(STDERR_FILENO) != 0),
      m_start(nowSeconds())
{
}

void ProgressBar::update(int64_t done, const std::string &suffix)
{
    m_done = done;
    const double now = nowSeconds();
    const double minGap = m_tty ? 0.1 : 10.0;
    if (m_lastDraw >= 0 && now - m_lastDraw < minGap && done < m_total)
        return;
    m_lastDraw = now;
    const double elapsed = now - m_start;
    const double frac = m_total > 0 ? std::min(1.0, double(done) / double(m_total)) : 0.0;
    const double eta = frac > 0 ? elapsed * (1.0 - frac) / frac : -1.0;
    if (m_json) {
        nlohmann::json ev = {{"event", "progress"}, {"label", m_label}, {"done", done},
                             {"total", m_total},    {"elapsed_s", elapsed}, {"eta_s", eta}};
        std::cout << ev.dump() << std::endl;
        return;
    }
    if (m_tty) {
        const int width = 30;
        const int filled = static_cast<int>(frac * width);
        std::string bar(filled, '#');
        bar.resize(width, '.');
        std::fprintf(stderr, "\r%s [%s] %3d%% %lld/%lld %s<%s %s\033[K", m_label.c_str(),
                     bar.c_str(), int(frac * 100), (long long)done, (long long)m_total,
                     formatDuration(elapsed).c_str(), formatDuration(eta).c_str(), suffix.c_str());
    } else {
        std::fprintf(stderr, "%s %lld/%lld (%d%%) elapsed %s eta %s %s\n", m_label.c_str(),
                     (long long)done, (long long)m_total, int(frac * 100),
                     formatDuration(elapsed).c_str(), formatDuration(eta).c_str(), suffix.c_str());
    }
}

void ProgressBar::finish(const std::string &suffix)
{
    m_lastDraw = -1;
    update(m_total > 0 ? std::max(m_done, m_total) : m_done, suffix);
    if (m_tty && !m_json)
        std::fprintf(stderr, "\n");
}

} // namespace genrec::app
