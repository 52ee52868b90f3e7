#pragma once
/// @file threads.h
/// Intra-op thread count for LibTorch. Debian's LibTorch starts with one thread here, so every
/// entry point sets it explicitly.

namespace genrec::train {

/// Sets LibTorch's intra-op (and OpenMP) thread count. n <= 0 means "all hardware threads".
/// Returns the count in effect afterwards.
int setThreadCount(int n);

} // namespace genrec::train
