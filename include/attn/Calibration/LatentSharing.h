//===- LatentSharing.h - fit the latent (MLA) form of attention -*- C++ -*-===//
//
// Chooses, from calibration activations, how an attention's keys and values
// become one latent per token plus a shared rotary key (the maps that
// attn-share-kv-latent applies). Plain C++ (no MLIR).
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_CALIBRATION_LATENTSHARING_H
#define ATTN_CALIBRATION_LATENTSHARING_H

#include "attn/Calibration/KVSharing.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace attn::calib {

/// The maps of attn-share-kv-latent, row-major: keyEncoder [Hkv, D, r],
/// valueEncoder [Hkv, Dv, r], ropeEncoder [Hkv, D, P], queryMaps
/// [Hq, D, r + P], outputMaps [Hq, r, Dv].
struct LatentMaps {
  std::vector<double> keyEncoder, valueEncoder, ropeEncoder, queryMaps,
      outputMaps;
  /// Relative error of the rebuilt keys and values on the samples.
  double keyError = 0.0, valueError = 0.0;
};

/// The rotary key: dims i and i + D/2 of a key are one complex plane that
/// RoPE multiplies by a phase shared by the heads, so per plane the complex
/// principal components of the KV heads (weighted by the energy of the
/// queries that read them) commute with RoPE; the rope / 2 components of
/// most energy over all planes are the shared rotary key, and each head
/// keeps its complex scale of them (folded into its queries). The latent:
/// the principal subspace (rank components) of what the rotary key does
/// not hold of the keys (query-weighted, scaled to the values' energy)
/// joined with the values. At rope = Hkv * D and rank >= Hkv * Dv it is
/// exact. `error` says why no maps could be fitted (e.g. an odd rope).
std::optional<LatentMaps> fitLatentMaps(const std::vector<AttentionSample> &samples,
                                        int64_t rank, int64_t rope,
                                        std::string &error);

} // namespace attn::calib

#endif // ATTN_CALIBRATION_LATENTSHARING_H
