#pragma once
/// @file allocator.h
/// Control of the process's memory allocator where it pays. The Torch executables link jemalloc
/// (cmake genrec_link_allocator, settings in malloc_conf.cpp): freed pages go back to the OS
/// after 2 s, which keeps training's peak RSS near its live tensor bytes. Decoding allocates the
/// same shapes batch after batch; there, returning pages only to fault them in again costs ~40 %
/// of the time (Office_Products eval: 49 → 86 users/s when they are kept).

namespace genrec::train {

/// While an instance lives, freed memory stays with the allocator for reuse (jemalloc: dirty and
/// muzzy decay off on every arena); the configured decay comes back when the last one goes.
/// Nests; a no-op when jemalloc does not serve malloc in this process. Not thread-safe against
/// concurrent guards in other threads (decoding runs on one thread).
class KeepFreedPages
{
public:
    KeepFreedPages();
    ~KeepFreedPages();
    KeepFreedPages(const KeepFreedPages &) = delete;
    KeepFreedPages &operator=(const KeepFreedPages &) = delete;
};

/// Whether jemalloc serves malloc in this process.
bool jemallocActive();

} // namespace genrec::train
