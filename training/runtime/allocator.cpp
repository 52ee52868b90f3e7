#include "training/runtime/allocator.h"

#include <dlfcn.h>
#include <sys/types.h>

#include <cstddef>
#include <string>
#include <vector>

namespace genrec::train {

namespace {

using MallctlFn = int (*)(const char *, void *, size_t *, void *, size_t);

MallctlFn mallctlFn()
{
    static const MallctlFn fn = reinterpret_cast<MallctlFn>(::dlsym(RTLD_DEFAULT, "mallctl"));
    return fn;
}

struct Saved
{
    int depth = 0;
    std::vector<ssize_t> dirty, muzzy; ///< per arena, before the outermost guard
    std::vector<char> changed;         ///< per arena: its decay was read and set
};

Saved &saved()
{
    static Saved s;
    return s;
}

unsigned arenaCount(MallctlFn mallctl)
{
    unsigned n = 0;
    size_t len = sizeof(n);
    return mallctl("arenas.narenas", &n, &len, nullptr, 0) == 0 ? n : 0;
}

/// Reads (old != nullptr) and/or writes (value != nullptr) arena.<i>.<key>. False when the arena
/// does not exist (yet).
bool decay(MallctlFn mallctl, unsigned arena, const char *key, ssize_t *old, ssize_t *value)
{
    const std::string name = "arena." + std::to_string(arena) + "." + key;
    size_t len = sizeof(ssize_t);
    return mallctl(name.c_str(), old, old ? &len : nullptr, value, value ? sizeof(ssize_t) : 0) == 0;
}

} // namespace

bool jemallocActive()
{
    return mallctlFn() != nullptr;
}

KeepFreedPages::KeepFreedPages()
{
    const MallctlFn mallctl = mallctlFn();
    Saved &s = saved();
    if (!mallctl || s.depth++ > 0)
        return;
    const unsigned n = arenaCount(mallctl);
    s.dirty.assign(n, 0);
    s.muzzy.assign(n, 0);
    s.changed.assign(n, 0);
    ssize_t keep = -1;
    for (unsigned i = 0; i < n; ++i)
        s.changed[i] = decay(mallctl, i, "dirty_decay_ms", &s.dirty[i], &keep)
                       && decay(mallctl, i, "muzzy_decay_ms", &s.muzzy[i], &keep);
}

KeepFreedPages::~KeepFreedPages()
{
    const MallctlFn mallctl = mallctlFn();
    Saved &s = saved();
    if (!mallctl || --s.depth > 0)
        return;
    for (unsigned i = 0; i < s.dirty.size(); ++i) {
        if (!s.changed[i])
            continue;
        decay(mallctl, i, "dirty_decay_ms", nullptr, &s.dirty[i]);
        decay(mallctl, i, "muzzy_decay_ms", nullptr, &s.muzzy[i]);
    }
}

} // namespace genrec::train
