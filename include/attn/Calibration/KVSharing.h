//===- KVSharing.h - calibrated key/value head sharing ---------*- C++ -*-===//
//
// Chooses how the KV heads of a group are combined into one shared head so
// that attention outputs on calibration data stay close to the original.
// Plain C++ (no MLIR): the compiler feeds it the Q, K, V of each attention
// collected by running the model on calibration inputs.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_CALIBRATION_KVSHARING_H
#define ATTN_CALIBRATION_KVSHARING_H

#include <cstdint>
#include <optional>
#include <vector>

namespace attn::calib {

/// One attention's operands on one calibration input, row-major f32:
/// q [B, Hq, Sq, D], k [B, Hkv, Skv, D], v [B, Hkv, Skv, Dv], and the
/// additive bias [B, Hq, Sq, Skv] (0, or -inf where masked) that the op's
/// mask, causal offset and KV lengths amount to.
struct AttentionSample {
  int64_t batch, qHeads, kvHeads, queryLength, keyLength, headDim, valueDim;
  std::vector<float> q, k, v, bias;
  double scale = 1.0;
  std::optional<double> softcap;
  /// The original attention output [B, Hq, Sq, Dv], computed on first use:
  /// every error and fit compares with it.
  mutable std::vector<double> reference;
};

/// Shared head n is sum_r key[n * group + r] * K_{n * group + r} (same for
/// V). With head maps, query head h reads queryMap[h] * q against the shared
/// keys and its output is outputMap[h] * o: per-head linear maps that
/// fold into the query and output projections and let each query head
/// recover the part of its own KV head that the shared head lost.
struct SharingWeights {
  int64_t newHeads = 0, group = 0;
  std::vector<double> key, value;
  std::vector<double> queryMap;  ///< [Hq, D, D] row-major, or empty
  std::vector<double> outputMap; ///< [Hq, Dv, Dv] row-major, or empty
  /// With mixes, KV head r enters its shared head as keyMix[r] (D x D) times
  /// each key row (valueMix[r] for values) before the weighted sum: a
  /// per-head linear map rather than a scalar (method `aligned`).
  std::vector<double> keyMix;   ///< [Hkv, D, D] row-major, or empty
  std::vector<double> valueMix; ///< [Hkv, Dv, Dv] row-major, or empty
};

/// How alignedWeights weights the calibration rows. The values' subspace is
/// the principal one of a mix of two Grams, each normalised by its trace:
/// the concatenated values' Y^T Y (share 1 - `values`) and the group's
/// attention outputs' sum_h Y^T P_h^T P_h Y (share `values`; rows P_h Y,
/// P_h the original probabilities of query head h of the group over its
/// own keys, Y the group's values side by side), which counts the values
/// as attention mixes them. With `keys`, each key row's term in a plane's
/// Gram is weighted by the attention mass it receives (its column sum of P
/// over the group's query heads and rows).
struct AlignedWeighting {
  double values = 0.0; ///< 0 to 1
  bool keys = false;
};

/// The GQA paper's mean pooling: every weight 1 / group.
SharingWeights meanWeights(int64_t kvHeads, int64_t newHeads);

/// Relative RMS error of the attention output with shared heads against the
/// original, over all samples: ||O' - O|| / ||O||.
double outputError(const std::vector<AttentionSample> &samples,
                   const SharingWeights &weights);

/// Calibrated weights: per group, key weights by least squares on the
/// attention logits (Q K'^T against Q K^T), then value weights by least
/// squares on the attention outputs given the new probabilities. Mean
/// pooling is a feasible point of both problems; a group keeps the mean
/// weights when least squares does not lower its output error, so the
/// result is never worse than mean pooling on the calibration data.
SharingWeights calibratedWeights(const std::vector<AttentionSample> &samples,
                                 int64_t newHeads);

/// Adds per-head maps to `weights`: for query head h over original KV head
/// r, the least-squares A with K_r ~ K' A (keys) gives the query map A,
/// and C with V_r ~ V' C gives the output map C^T, fitted on the samples.
void fitHeadMaps(const std::vector<AttentionSample> &samples,
                 SharingWeights &weights);

/// RoPE-commuting alignment (no fitting of the output error): per rotary
/// plane (dims i and i + D/2, one complex number that RoPE multiplies by a
/// phase) the shared key plane is the best rank-1 complex approximation of
/// the group's key planes, each weighted by the energy of the queries that
/// read it, and each query head's map is the complex scale (a 2x2
/// rotation-and-scale, which commutes with RoPE) that brings the shared
/// key back to its own head's. The shared value is the principal subspace
/// (Dv components) of the group's concatenated values; each query head's
/// output map projects back onto its own head. Key/value weights are 1 and
/// the maps are in keyMix, valueMix, queryMap and outputMap.
///
/// `weighting` (--share-kv-aligned-weighting) weights the calibration rows
/// by the original attention's probabilities P (see AlignedWeighting).
SharingWeights alignedWeights(const std::vector<AttentionSample> &samples,
                              int64_t newHeads,
                              const AlignedWeighting &weighting = {});

/// The output projection W' [width, outWidth] (row-major) minimising
/// ||F W' - O W||^2 + lambda ||W' - start||^2 with lambda = ridge *
/// trace(F^T F) / width: F [tokens, width] the converted attention's output
/// (heads concatenated per token), O the original attention's output on
/// the same input, W the original output projection (the fit's target is
/// O W), `start` the weight the converted model would use without the fit.
/// Returns `start` if the system is not positive definite.
std::vector<double> refitOutputProjection(const std::vector<float> &converted,
                                          const std::vector<float> &original,
                                          int64_t tokens, int64_t width,
                                          const std::vector<double> &weight,
                                          const std::vector<double> &start,
                                          int64_t outWidth, double ridge);

} // namespace attn::calib

#endif // ATTN_CALIBRATION_KVSHARING_H
