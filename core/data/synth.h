#pragma once
/// @file synth.h
/// A seeded generator of MiniOneRec-layout datasets with learnable structure, for the demo and
/// the tests: a hierarchical catalogue whose SIDs follow the hierarchy (level a = category,
/// b = product type, c = variant), titles derived from the hierarchy, and users with latent
/// tastes whose next item usually continues a pattern in their favourite product types.
/// Same options -> same bytes on every machine (own PRNG, no std distributions).

#include <cstdint>
#include <string>

namespace genrec::core {

struct SynthOptions
{
    int64_t users = 500;
    int64_t items = 192;
    uint64_t seed = 7;
    std::string name = "Demo_Office";
    bool flat = false; ///< flat layout instead of MiniOneRec's folders
};

/// Writes the dataset under outDir (created if needed). Throws core::Error on bad options
/// (BadInput) or I/O failure (Runtime).
void writeSynthDataset(const std::string &outDir, const SynthOptions &options);

} // namespace genrec::core
