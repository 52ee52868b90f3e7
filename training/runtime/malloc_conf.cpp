// jemalloc settings of the Torch executables, read by jemalloc at its first allocation when the
// executable links it (cmake: genrec_link_allocator). One arena (the main thread allocates the
// tensors) and no separate arena for large blocks (jemalloc purges that one eagerly, a page
// fault per page of every large tensor); freed pages are kept for 2 s for reuse by the next
// training step and then returned (madvise) instead of staying resident. Decoding keeps them
// while it runs (allocator.h). Measured on preset:base (README "Training memory"): peak RSS
// within 5 % of glibc with a fixed mmap threshold at ~20 % less step time. MALLOC_CONF in the
// environment still overrides these.
extern "C" {
__attribute__((visibility("default"), used)) const char *malloc_conf =
    "narenas:1,oversize_threshold:0,dirty_decay_ms:2000,muzzy_decay_ms:0";
}
