//===- JointCalibration.cpp - calibrate --share-kv-method=joint -----------===//
//
// Reads each attention's Q, K, V and O projection weights, folds the aligned
// maps into them (the start), then in passes: a probe of the model
// converted with the fits so far returns every attention's projection input
// H and its Q and K; RoPE's phases are what turns H Wq^T and H Wk^T into
// them; each attention is fitted (lib/Calibration/JointFit) to the original
// attention's output on that H. After pass p the first p attentions have
// been fitted on exactly their final inputs and later ones on inputs
// converted by the previous pass's fits (one probe per pass instead of one
// per layer).
//
//===----------------------------------------------------------------------===//

#include "attn/Compiler/JointCalibration.h"

#include "attn/Compiler/CompileReport.h"
#include "attn/Compiler/ProbeLibrary.h"

#include "attn/Compiler/JointBlockRefit.h"
#include "attn/Compiler/OutputMetricGraph.h"
#include "attn/Compiler/ProbeSharing.h"

#include "attn/Calibration/FloatGemm.h"
#include "attn/Calibration/JointFit.h"
#include "attn/Calibration/KVSharing.h"
#include "attn/Calibration/OutputMetric.h"
#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "attn/Dialect/Attn/Transforms/Passes.h"
#include "attn/Dialect/Attn/Transforms/ProjectionHeads.h"
#include "attn/Runtime/Npz.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/ADT/ScopeExit.h"
#include "llvm/Support/FormatVariadic.h"

#include <chrono>
#include <cmath>
#include <cstring>
#include <map>
#include <numeric>
#include <sys/resource.h>
#include <thread>
#include <time.h>

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::compile;
using ::attn::calib::JointLayer;
using ::attn::calib::JointWeights;

namespace {

/// The calling thread's CPU seconds.
double threadCpu() {
  timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return t.tv_sec + 1e-9 * t.tv_nsec;
}

/// A phase's start: process CPU time and wall time.
struct PhaseClock {
  double cpu = 0.0;
  std::chrono::steady_clock::time_point wall;

  static double processCpu() {
    rusage u;
    getrusage(RUSAGE_SELF, &u);
    return u.ru_utime.tv_sec + u.ru_stime.tv_sec +
           1e-6 * (u.ru_utime.tv_usec + u.ru_stime.tv_usec);
  }
  static PhaseClock now() {
    return {processCpu(), std::chrono::steady_clock::now()};
  }
  JointPhaseTime since(std::string name) const {
    return {std::move(name), processCpu() - cpu,
            std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                          wall)
                .count()};
  }
};

/// One attention's projections and weights.
struct LayerPlan {
  AttentionOp op;
  /// Whether the joint fit converts it: false where it does not apply
  /// (`why`), and the default gave it aligned-fit instead.
  bool joint = true;
  std::string why;
  HeadProjection query, key, value;
  OutputProjection output;
  int64_t inputWidth = 0; ///< the Q projection's width (+1 with biases)
  bool biased = false;    ///< H gets a column of ones for the biases
  /// Cross-attention: K and V project another input than Q (no RoPE), of
  /// this width (+1 with biases).
  bool cross = false;
  int64_t kvInputWidth = 0;
  JointWeights original, start, fitted;
  /// The last fit's layer on every calibration window, without its input
  /// (shapes, RoPE phases, mask): what --share-kv-block-refit reads.
  JointLayer layout;
  /// The last fit's CPU seconds (its thread's): the next pass starts the
  /// longest fits first.
  double fitCpu = 0.0;
  /// The last fit's L-BFGS scale (s.y / y.y): the next pass's first step.
  double stepScale = 0.0;
  /// --share-kv-output-ridge-cv: O's ridge chosen in the first pass (NaN:
  /// none chosen, the options' ridge).
  double outputRidge = std::numeric_limits<double>::quiet_NaN();
  /// --share-kv-output-metric: the fits run on T L and O L (empty: none).
  ::attn::calib::OutputMetric metric;
};

/// Rows [heads * D, width] of a projection: row j holds the weights of
/// output column columnOffset + j, then its bias when `biased`.
std::vector<double> projectionRows(const HeadProjection &p, bool biased) {
  std::vector<double> w = *readConstant(p.weight->get());
  std::optional<std::vector<double>> bias;
  if (p.bias)
    bias = readConstant(p.bias);
  auto type = cast<RankedTensorType>(p.weight->get().getType());
  int64_t in = p.inputWidth, cols = type.getDimSize(p.weightColumnAxis);
  int64_t rows = p.numHeads * p.headDim, width = in + (biased ? 1 : 0);
  std::vector<double> out(rows * width, 0.0);
  for (int64_t j = 0; j < rows; ++j) {
    int64_t c = p.columnOffset + j;
    for (int64_t k = 0; k < in; ++k)
      out[j * width + k] =
          p.weightColumnAxis == 1 ? w[k * cols + c] : w[c * in + k];
    if (biased && bias)
      out[j * width + in] = (*bias)[c];
  }
  return out;
}

/// new row n D + i = sum_r weight[r] sum_j map[r][i][j] row r D + j over
/// the group r of n (what attn-share-kv's rebuildHeadProjection computes).
std::vector<double> combineRows(const std::vector<double> &rows, int64_t heads,
                                int64_t newHeads, int64_t d, int64_t width,
                                const std::vector<double> &weights,
                                const std::vector<double> &maps) {
  int64_t group = heads / newHeads;
  std::vector<double> out(newHeads * d * width, 0.0);
  for (int64_t n = 0; n < newHeads; ++n)
    for (int64_t r = n * group; r < (n + 1) * group; ++r)
      for (int64_t i = 0; i < d; ++i)
        for (int64_t j = 0; j < d; ++j) {
          double m = (weights.empty() ? 1.0 : weights[r]) *
                     (maps.empty() ? double(i == j) : maps[(r * d + i) * d + j]);
          if (m == 0.0)
            continue;
          const double *src = &rows[(r * d + j) * width];
          double *dst = &out[(n * d + i) * width];
          for (int64_t k = 0; k < width; ++k)
            dst[k] += m * src[k];
        }
  return out;
}

/// The output projection's weight as [Hq Dv, dout] rows.
std::vector<double> outputRows(const OutputProjection &p) {
  std::vector<double> w = *readConstant(p.weight->get());
  int64_t rows = p.heads * p.valueDim, cols = p.outputWidth;
  std::vector<double> out(rows * cols);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c)
      out[r * cols + c] =
          p.weightRowAxis == 0 ? w[r * cols + c] : w[c * rows + r];
  return out;
}

/// The projection input shared by Q, K and V.
Value projectionInput(const HeadProjection &p) {
  linalg::LinalgOp mm = p.matmul;
  for (OpOperand *operand : mm.getDpsInputOperands())
    if (operand != p.weight)
      return operand->get();
  return {};
}

LogicalResult planLayer(AttentionOp op, int64_t newHeads, LayerPlan &plan,
                        std::string &error) {
  std::string where = "attention at " + locationName(op.getLoc());
  auto fail = [&](const std::string &why) {
    plan.why = why;
    error = "--share-kv-method=joint: " + where + ": " + why;
    return failure();
  };
  if (op.getSoftcapAttr())
    return fail("a softcapped attention is not supported (use aligned-fit)");
  std::optional<HeadProjection> q = matchHeadProjection(op.getQuery());
  std::optional<HeadProjection> k = matchHeadProjection(op.getKey());
  std::optional<HeadProjection> v = matchHeadProjection(op.getValue());
  std::optional<OutputProjection> o = matchOutputProjection(op.getResult(0));
  if (!q || !k || !v || !o)
    return fail("the joint fit rewrites the Q, K, V and O projection weights, "
                "and the " +
                std::string(!q ? "query" : !k ? "key" : !v ? "value" : "output") +
                " is not a constant-weight projection (followed by head "
                "splits, transposes and RoPE; without a KV cache)");
  Value input = projectionInput(*q), kvInput = projectionInput(*k);
  if (!input || !kvInput || projectionInput(*v) != kvInput)
    return fail("K and V must be projections of the same input");
  auto staticInput = [](Value x, int64_t width) {
    auto type = dyn_cast<RankedTensorType>(x.getType());
    return type && type.hasStaticShape() && type.getShape().back() == width;
  };
  if (!staticInput(input, q->inputWidth) ||
      !staticInput(kvInput, k->inputWidth))
    return fail("the projection inputs must be static tensors whose last "
                "axis is the contraction");
  // Cross-attention: K/V read another input (e.g. encoder states).
  bool cross = kvInput != input;
  if (cross && (q->actsAlongD || k->actsAlongD))
    return fail("K and V project another input than Q (cross-attention) and "
                "a step after the Q or K projection acts along the head "
                "(RoPE): the joint fit supports cross-attention without "
                "rotary embeddings only");
  if (k->actsAlongD && (!k->rotateHalf || k->headDim % 2 != 0))
    return fail("the steps after the key projection act along the head in a "
                "way other than rotate-half RoPE");
  plan.op = op;
  plan.query = *q;
  plan.key = *k;
  plan.value = *v;
  plan.output = *o;
  plan.biased = q->bias || k->bias || v->bias;
  plan.inputWidth = q->inputWidth + (plan.biased ? 1 : 0);
  plan.cross = cross;
  plan.kvInputWidth = k->inputWidth + (plan.biased ? 1 : 0);
  int64_t w = plan.inputWidth, kw = plan.kvInputWidth, d = q->headDim,
          dv = v->headDim;
  JointWeights &orig = plan.original;
  orig.kvHeads = op.getKvHeads();
  orig.query = projectionRows(*q, plan.biased);
  orig.key = projectionRows(*k, plan.biased);
  orig.value = projectionRows(*v, plan.biased);
  orig.output = outputRows(*o);
  // The start: aligned's maps folded into the weights.
  JointWeights &start = plan.start;
  start.kvHeads = newHeads;
  start.query = combineRows(orig.query, op.getQHeads(), op.getQHeads(), d, w,
                            {}, denseDoubles(op->getAttr("attn.share_query_maps")));
  start.key = combineRows(orig.key, orig.kvHeads, newHeads, d, kw,
                          denseDoubles(op->getAttr("attn.share_key_weights")),
                          denseDoubles(op->getAttr("attn.share_key_mixes")));
  start.value = combineRows(orig.value, orig.kvHeads, newHeads, dv, kw,
                            denseDoubles(op->getAttr("attn.share_value_weights")),
                            denseDoubles(op->getAttr("attn.share_value_mixes")));
  std::vector<double> maps = denseDoubles(op->getAttr("attn.share_output_maps"));
  int64_t hq = op.getQHeads(), out = o->outputWidth;
  start.output.assign(orig.output.size(), 0.0);
  for (int64_t h = 0; h < hq; ++h) // row h Dv + j = sum_i maps[h][i][j] row h Dv + i
    for (int64_t i = 0; i < dv; ++i)
      for (int64_t j = 0; j < dv; ++j) {
        double m = maps.empty() ? double(i == j) : maps[(h * dv + i) * dv + j];
        for (int64_t c = 0; m != 0.0 && c < out; ++c)
          start.output[(h * dv + j) * out + c] += m * orig.output[(h * dv + i) * out + c];
      }
  return success();
}

DenseElementsAttr f32Attr(MLIRContext *ctx, ArrayRef<int64_t> shape,
                          const std::vector<double> &values) {
  std::vector<float> f(values.begin(), values.end());
  return DenseElementsAttr::get(
      RankedTensorType::get(shape, Float32Type::get(ctx)), ArrayRef<float>(f));
}

/// Splits [rows, in (+1)] into the weight [rows, in] and, when biased, the
/// bias [rows].
std::pair<std::vector<double>, std::vector<double>>
splitBias(const std::vector<double> &rows, int64_t width, bool biased) {
  if (!biased)
    return {rows, {}};
  int64_t n = rows.size() / width, in = width - 1;
  std::vector<double> w(n * in), b(n);
  for (int64_t r = 0; r < n; ++r) {
    std::copy(&rows[r * width], &rows[r * width] + in, &w[r * in]);
    b[r] = rows[r * width + in];
  }
  return {w, b};
}

/// The fitted (or, with `weights` = start, aligned) weights as the
/// attributes attn-share-kv reads.
void attachWeights(const LayerPlan &plan, AttentionOp op,
                   const JointWeights &weights) {
  MLIRContext *ctx = op.getContext();
  auto set = [&](StringRef name, const std::vector<double> &rows) {
    bool q = name == "query";
    int64_t width = q ? plan.inputWidth : plan.kvInputWidth;
    int64_t in = q ? plan.query.inputWidth : plan.key.inputWidth;
    auto [w, b] = splitBias(rows, width, plan.biased);
    int64_t n = w.size() / in;
    op->setAttr(("attn.share_" + name + "_weight").str(),
                f32Attr(ctx, {n, in}, w));
    if (plan.biased)
      op->setAttr(("attn.share_" + name + "_bias").str(), f32Attr(ctx, {n}, b));
  };
  set("query", weights.query);
  set("key", weights.key);
  set("value", weights.value);
  int64_t rows = plan.output.heads * plan.output.valueDim;
  op->setAttr("attn.share_output_weight",
              f32Attr(ctx, {rows, plan.output.outputWidth}, weights.output));
}

/// [B, H, S, D] -> [B * S, H * D].
std::vector<float> tokenMajor(const std::vector<float> &x, int64_t b,
                              int64_t h, int64_t s, int64_t d) {
  std::vector<float> rows(x.size());
  for (int64_t bi = 0; bi < b; ++bi)
    for (int64_t hi = 0; hi < h; ++hi)
      for (int64_t si = 0; si < s; ++si)
        std::memcpy(&rows[((bi * s + si) * h + hi) * d],
                    &x[((bi * h + hi) * s + si) * d], d * sizeof(float));
  return rows;
}

/// RoPE's phases: per token and rotary plane the complex e with
/// operand ~ e * projection (dims i and i + D/2 as one complex number),
/// least squares over the heads of Q and K. Fails when the operands are
/// not such a rotation of the projections.
LogicalResult phases(JointLayer &l, const std::vector<float> &qProjected,
                     const std::vector<float> &qOperand,
                     const std::vector<float> &kProjected,
                     const std::vector<float> &kOperand, int64_t kvHeads,
                     double &mismatch) {
  int64_t tokens = l.batch * l.length, d = l.headDim, half = d / 2;
  l.cos.assign(tokens * half, 1.0f);
  l.sin.assign(tokens * half, 0.0f);
  struct Part { const std::vector<float> *pre, *post; int64_t heads; };
  Part parts[] = {{&qProjected, &qOperand, l.qHeads},
                  {&kProjected, &kOperand, kvHeads}};
  for (int64_t t = 0; t < tokens; ++t)
    for (int64_t i = 0; i < half; ++i) {
      double re = 0, im = 0, norm = 0;
      for (const Part &p : parts)
        for (int64_t h = 0; h < p.heads; ++h) {
          int64_t at = (t * p.heads + h) * d + i;
          double a = (*p.pre)[at], b = (*p.pre)[at + half];
          double c = (*p.post)[at], e = (*p.post)[at + half];
          re += a * c + b * e; // conj(a + ib) (c + ie)
          im += a * e - b * c;
          norm += a * a + b * b;
        }
      if (norm > 0) {
        l.cos[t * half + i] = static_cast<float>(re / norm);
        l.sin[t * half + i] = static_cast<float>(im / norm);
      }
    }
  double err = 0, total = 0;
  for (const Part &p : parts)
    for (int64_t t = 0; t < tokens; ++t)
      for (int64_t h = 0; h < p.heads; ++h)
        for (int64_t i = 0; i < half; ++i) {
          int64_t at = (t * p.heads + h) * d + i;
          double a = (*p.pre)[at], b = (*p.pre)[at + half];
          double c = l.cos[t * half + i], s = l.sin[t * half + i];
          double x = a * c - b * s - (*p.post)[at];
          double y = b * c + a * s - (*p.post)[at + half];
          err += x * x + y * y;
          total += double((*p.post)[at]) * (*p.post)[at] +
                   double((*p.post)[at + half]) * (*p.post)[at + half];
        }
  mismatch = total > 0 ? std::sqrt(err / total) : 0.0;
  return success(mismatch < 1e-3);
}

/// X W^T for rows W [n, width] (float), X [rows, width].
std::vector<float> projectRows(const float *x, int64_t rows, int64_t width,
                               const std::vector<double> &w) {
  std::vector<float> wf(w.begin(), w.end());
  int64_t n = w.size() / width;
  std::vector<float> out(rows * n);
  ::attn::calib::sgemmParallel(false, true, rows, n, width, x, width,
                               wf.data(), width, out.data(), n);
  return out;
}

/// H W^T for rows W [n, width] (float), H [tokens, width].
std::vector<float> project(const JointLayer &l, const std::vector<double> &w) {
  return projectRows(l.input.data(), l.batch * l.length, l.inputWidth, w);
}

/// sqrt(||a - b||^2 / ||b||^2) over the first `n` entries.
double relativeMismatch(const std::vector<float> &a,
                        const std::vector<float> &b, size_t n) {
  double err = 0, total = 0;
  for (size_t i = 0; i < n; ++i) {
    double x = double(a[i]) - b[i];
    err += x * x;
    total += double(b[i]) * b[i];
  }
  return total > 0 ? std::sqrt(err / total) : 0.0;
}

/// `rows` [tokens, in] with a column of ones appended when `biased`.
std::vector<float> withOnes(const std::vector<float> &rows, int64_t tokens,
                            int64_t in, bool biased) {
  if (!biased)
    return rows;
  std::vector<float> out(tokens * (in + 1));
  for (int64_t t = 0; t < tokens; ++t) {
    std::memcpy(&out[t * (in + 1)], &rows[t * in], in * sizeof(float));
    out[t * (in + 1) + in] = 1.0f;
  }
  return out;
}

/// A cross-attention's K/V input [batch * keys, width] as JointLayer
/// takes it: one window's rows when every window has the same ones.
void setCrossInput(JointLayer &l, std::vector<float> rows, int64_t keys,
                   int64_t width) {
  size_t window = keys * width;
  bool same = true;
  for (int64_t b = 1; same && b < l.batch; ++b)
    same = std::memcmp(&rows[b * window], rows.data(),
                       window * sizeof(float)) == 0;
  if (same)
    rows.resize(window);
  l.kvInput = std::move(rows);
  l.kvLength = keys;
  l.kvInputWidth = width;
  l.kvWindows = same ? 1 : l.batch;
}

std::vector<float> floatsOf(const ::attn::rt::Array &a) {
  std::vector<float> out(a.numElements());
  std::memcpy(out.data(), a.data.data(), out.size() * sizeof(float));
  return out;
}

/// One attention's activations that a pass fits on: its projection input
/// H [tokens, in] and its query and key operands token-major [tokens,
/// heads * D], which `weights` (`kvHeads` KV heads) projected from H and
/// RoPE rotated; a cross-attention's K/V projection input `kvh` [batch *
/// keys, kv in] (empty for self-attention, whose K/V read H).
struct Activations {
  std::vector<float> h, q, k, kvh;
  const JointWeights *weights = nullptr;
  int64_t kvHeads = 0;
  /// With --share-kv-original-target: the original model's projection
  /// input [tokens, in] on the same tokens (empty: h is it, or none).
  std::vector<float> originalH;
};

/// The activations of attention `i` in a probe's outputs (`__joint_<i>_*`):
/// the model converted with `weights`; none when the probe lost one or it
/// is not f32.
std::optional<Activations>
probeActivations(const std::map<std::string, ::attn::rt::Array> &outputs,
                 size_t i, const ::attn::calib::AttentionSample &s,
                 const JointWeights &weights, int64_t newHeads, bool cross) {
  auto get = [&](const char *part) -> const ::attn::rt::Array * {
    auto it = outputs.find(llvm::formatv("__joint_{0}_{1}", i, part).str());
    return it == outputs.end() || it->second.dtype != ::attn::rt::DType::F32
               ? nullptr
               : &it->second;
  };
  const ::attn::rt::Array *h = get("h"), *q = get("q"), *k = get("k");
  const ::attn::rt::Array *kvh = cross ? get("kvh") : nullptr;
  if (!h || !q || !k || (cross && !kvh))
    return std::nullopt;
  return Activations{
      floatsOf(*h),
      tokenMajor(floatsOf(*q), s.batch, s.qHeads, s.queryLength, s.headDim),
      tokenMajor(floatsOf(*k), s.batch, newHeads, s.keyLength, s.headDim),
      cross ? floatsOf(*kvh) : std::vector<float>{}, &weights, newHeads};
}

/// Windows [from, from + count) of `l` (count > 0).
JointLayer sliceWindows(const JointLayer &l, int64_t from, int64_t count) {
  JointLayer out = l;
  int64_t rows = l.length, half = l.headDim / 2;
  auto slice = [](const std::vector<float> &v, int64_t at, int64_t n) {
    return std::vector<float>(v.begin() + at, v.begin() + at + n);
  };
  out.batch = count;
  out.input = slice(l.input, from * rows * l.inputWidth,
                    count * rows * l.inputWidth);
  if (!l.cos.empty()) {
    out.cos = slice(l.cos, from * rows * half, count * rows * half);
    out.sin = slice(l.sin, from * rows * half, count * rows * half);
  }
  int64_t perWindow = l.qHeads * l.length * l.keyLength();
  out.bias = slice(l.bias, from * perWindow, count * perWindow);
  if (l.cross() && l.kvWindows > 1) {
    int64_t kv = l.kvLength * l.kvInputWidth;
    out.kvInput = slice(l.kvInput, from * kv, count * kv);
    out.kvWindows = count;
  }
  return out;
}

/// Whether a pass after the first starts each fit's L-BFGS with the step
/// scale the attention's previous fit ended with, instead of a unit-length
/// first move halved until it descends enough ($ATTN_FIT_WARM_STEP=0:
/// not). On SmolLM2-135M the warm-started fits skip most of those halvings
/// (each a forward pass) and reach a lower held-out KL (bench/RESULTS.md,
/// "Joint calibration: the second pass's probe compiled from the start").
bool warmFirstStep() {
  static const bool warm = [] {
    const char *env = std::getenv("ATTN_FIT_WARM_STEP");
    return !env || std::string(env) != "0";
  }();
  return warm;
}

/// Fits one attention on `a`, from `plan.start` in the first pass and
/// `plan.fitted` after.
LogicalResult fitLayer(LayerPlan &plan,
                       const ::attn::calib::AttentionSample &s,
                       const Activations &a, const JointFitOptions &options,
                       int passIndex, JointFitRecord &r, std::string &error) {
  bool first = passIndex == 0;
  std::string where = locationName(plan.op.getLoc());
  JointLayer l;
  l.batch = s.batch;
  l.length = s.queryLength;
  l.qHeads = s.qHeads;
  l.headDim = s.headDim;
  l.valueDim = s.valueDim;
  l.outWidth = plan.output.outputWidth;
  l.scale = s.scale;
  l.bias = s.bias;
  l.inputWidth = plan.inputWidth;
  int64_t tokens = l.batch * l.length, in = plan.query.inputWidth;
  int64_t kvIn = plan.key.inputWidth, kvTokens = l.batch * s.keyLength;
  if ((!plan.cross && s.keyLength != s.queryLength) ||
      static_cast<int64_t>(a.h.size()) != tokens * in ||
      (plan.cross && static_cast<int64_t>(a.kvh.size()) != kvTokens * kvIn)) {
    error = "--share-kv-method=joint: attention at " + where +
            ": needs one projection input row per calibration token (and "
            "self-attention over them, as many keys as queries, unless K "
            "and V project another input)";
    return failure();
  }
  l.input = withOnes(a.h, tokens, in, plan.biased);
  double mismatch = 0.0;
  if (plan.cross) {
    // No RoPE (planLayer): Q and K are the plain projections.
    setCrossInput(l, withOnes(a.kvh, kvTokens, kvIn, plan.biased),
                  s.keyLength, plan.kvInputWidth);
    int64_t kvRows = l.kvWindows * l.kvLength;
    mismatch = std::max(
        relativeMismatch(project(l, a.weights->query), a.q,
                         tokens * l.qHeads * l.headDim),
        relativeMismatch(projectRows(l.kvInput.data(), kvRows,
                                     l.kvInputWidth, a.weights->key),
                         a.k, kvRows * a.kvHeads * l.headDim));
    if (mismatch >= 1e-3) {
      error = llvm::formatv(
          "--share-kv-method=joint: attention at {0}: its queries and keys "
          "are not the projections of its inputs: relative mismatch {1:e2}",
          where, mismatch);
      return failure();
    }
  } else if (failed(phases(l, project(l, a.weights->query), a.q,
                           project(l, a.weights->key), a.k, a.kvHeads,
                           mismatch))) {
    error = llvm::formatv(
        "--share-kv-method=joint: attention at {0}: its queries and keys "
        "are not the projections rotated per token and plane (dims i and "
        "i + D/2, rotate-half RoPE): relative mismatch {1:e2}",
        where, mismatch);
    return failure();
  }
  if (options.blockRefitDrift) {
    plan.layout = l;
    plan.layout.input.clear(); // (a cross-attention keeps its K/V input)
  }
  // --share-kv-fit-windows: the fit reads the first windows only (the
  // block refit reads them all).
  int64_t fitWindows = options.windowsOf(passIndex);
  bool last = passIndex + 1 == options.totalPasses();
  // The windows the fit does not read (as many as it reads, at most):
  // the held-out error in the last pass (the log's), and early stopping.
  std::optional<JointLayer> rest;
  std::vector<float> restTarget;
  if (fitWindows > 0 && fitWindows < l.batch && (last || options.earlyStop)) {
    rest = sliceWindows(l, fitWindows, std::min(fitWindows, l.batch - fitWindows));
    restTarget = ::attn::calib::jointOutput(*rest, plan.original);
  }
  if (fitWindows > 0 && fitWindows < l.batch) {
    int64_t keep = fitWindows * l.length;
    l.batch = fitWindows;
    l.input.resize(keep * l.inputWidth);
    if (!l.cos.empty()) {
      l.cos.resize(keep * (l.headDim / 2));
      l.sin.resize(keep * (l.headDim / 2));
    }
    l.bias.resize(l.batch * l.qHeads * l.length * l.keyLength());
    if (l.kvWindows > 1) {
      l.kvWindows = l.batch;
      l.kvInput.resize(l.batch * l.kvLength * l.kvInputWidth);
    }
  }
  auto t0 = std::chrono::steady_clock::now();
  double cpu0 = threadCpu();
  std::vector<float> target = ::attn::calib::jointOutput(l, plan.original);
  double mix = options.originalTarget;
  if (mix > 0.0 && !a.originalH.empty()) {
    // Asymmetric: toward the original attention's output on the original
    // model's input, which the converted input H no longer is.
    JointLayer o = l;
    int64_t rows = l.batch * l.length;
    std::vector<float> h(a.originalH.begin(), a.originalH.begin() + rows * in);
    o.input = withOnes(h, rows, in, plan.biased);
    std::vector<float> t = ::attn::calib::jointOutput(o, plan.original);
    for (size_t j = 0; j < target.size(); ++j)
      target[j] = static_cast<float>((1.0 - mix) * target[j] + mix * t[j]);
  }
  // --share-kv-output-metric: the fit runs on T L, O_start L and O L;
  // its O' maps back as O' L^-1.
  const JointWeights *start = &plan.start;
  JointWeights init = first ? JointWeights{} : plan.fitted, startInMetric;
  if (!plan.metric.empty()) {
    const std::vector<double> &factor = plan.metric.factor;
    int64_t w = plan.metric.width;
    target = ::attn::calib::timesMetric(target, factor, w);
    if (rest)
      restTarget = ::attn::calib::timesMetric(restTarget, factor, w);
    startInMetric = plan.start;
    startInMetric.output =
        ::attn::calib::timesMetric(plan.start.output, factor, w);
    start = &startInMetric;
    if (!init.output.empty())
      init.output = ::attn::calib::timesMetric(init.output, factor, w);
  }
  ::attn::calib::JointValidation validation;
  if (rest) {
    validation.layer = &*rest;
    validation.target = &restTarget;
    validation.every = options.heldoutEvery;
    validation.keepBest = options.earlyStop;
  }
  ::attn::calib::JointRidge ridge = options.ridge;
  if (!options.outputRidgeCandidates.empty() &&
      options.solveOutput != ::attn::calib::SolveOutput::Lbfgs &&
      !std::isinf(ridge.output)) {
    // Chosen once, at the first pass's start, among the candidates (the
    // configured ridge first: ties and layers it cannot split keep it).
    if (std::isnan(plan.outputRidge)) {
      std::vector<double> candidates{ridge.output};
      for (double c : options.outputRidgeCandidates)
        if (c != ridge.output)
          candidates.push_back(c);
      plan.outputRidge = ::attn::calib::crossValidatedOutputRidge(
          l, target, *start, first ? *start : init, candidates);
    }
    ridge.output = plan.outputRidge;
    r.outputRidge = plan.outputRidge;
  }
  ::attn::calib::JointFitResult fit = ::attn::calib::fitJoint(
      l, target, *start, init, options.stepsOf(passIndex), ridge,
      /*errors=*/last, // the log's: last
      options.headMaps, validation,
      first || !warmFirstStep() ? 0.0 : plan.stepScale, options.solveOutput);
  if (!plan.metric.empty())
    fit.weights.output = ::attn::calib::timesMetric(
        fit.weights.output, plan.metric.inverse, plan.metric.width);
  plan.fitted = std::move(fit.weights);
  plan.stepScale = fit.stepScale;
  r.heldout = std::move(fit.heldout);
  r.heldoutWindows = rest ? rest->batch : 0;
  r.keptSteps = fit.keptSteps;
  r.name = where;
  r.alignedError = fit.startError;
  r.fittedError = fit.error;
  r.iterations = fit.iterations;
  r.evaluations = fit.evaluations;
  r.earlyRejections = fit.earlyRejections;
  r.outputSolves = fit.outputSolves;
  r.outputProductSeconds = fit.outputProductSeconds;
  r.outputSolveSeconds = fit.outputSolveSeconds;
  r.seconds = std::chrono::duration<double>(
                  std::chrono::steady_clock::now() - t0).count();
  plan.fitCpu = threadCpu() - cpu0;
  return success();
}

/// --share-kv-output-metric: each joint plan's metric from the model's
/// constants (one S for the logits path, one per block for the MLP's);
/// where S is not found the fit keeps equal weights (a note says so).
void setOutputMetrics(ModuleOp module, std::vector<LayerPlan> &plans,
                      const std::vector<LayerPlan> &shapes,
                      const JointFitOptions &options,
                      std::vector<std::string> *notes) {
  // alpha 0: M = I / D, the plain fit up to a scale: left alone (the
  // default's arithmetic).
  if (options.outputMetricAlpha <= 0.0)
    return;
  bool logits = options.outputMetric == ShareKVOutputMetric::Logits;
  std::map<int64_t, ::attn::calib::OutputMetric> logitsMetrics;
  int weighted = 0;
  for (auto [i, plan] : llvm::enumerate(plans)) {
    int64_t width = shapes[i].output.outputWidth;
    if (!plan.joint || width <= 0)
      continue;
    std::string why;
    if (logits) {
      auto it = logitsMetrics.find(width);
      if (it == logitsMetrics.end()) {
        std::vector<double> s = logitsSensitivity(module, width, why);
        ::attn::calib::OutputMetric m;
        if (!s.empty())
          m = ::attn::calib::outputMetric(s, width, options.outputMetricAlpha);
        it = logitsMetrics.emplace(width, std::move(m)).first;
      }
      plan.metric = it->second;
    } else {
      std::vector<double> s = mlpSensitivity(plan.op, width, why);
      if (!s.empty())
        plan.metric =
            ::attn::calib::outputMetric(s, width, options.outputMetricAlpha);
    }
    weighted += !plan.metric.empty();
    if (plan.metric.empty() && notes)
      notes->push_back(llvm::formatv("share-kv output metric: attention at "
                                     "{0}: equal weights ({1})",
                                     locationName(plan.op.getLoc()), why));
  }
  if (notes)
    notes->push_back(llvm::formatv(
        "share-kv output metric: {0}, alpha {1}: {2} fits weighted",
        logits ? "logits" : "mlp", options.outputMetricAlpha, weighted));
}

/// Fits every attention on the activations `get` returns (one fit per
/// worker thread at a time, each single-threaded: small products, no thread
/// per product), from the start in the first pass.
LogicalResult fitAll(std::vector<LayerPlan> &plans,
                     const std::vector<::attn::calib::AttentionSample> &samples,
                     const JointFitOptions &options, int passIndex,
                     function_ref<std::optional<Activations>(size_t)> get,
                     std::vector<JointFitRecord> &records,
                     std::vector<JointPhaseTime> &times, std::string &error) {
  auto fitsStart = PhaseClock::now();
  SmallVector<size_t> fitted; // the plans the joint fit converts
  for (size_t i = 0; i < plans.size(); ++i)
    if (plans[i].joint)
      fitted.push_back(i);
  records.assign(fitted.size(), {});
  std::vector<std::string> errors(fitted.size());
  // The workers take the fits in this order: after a pass, longest (its
  // CPU time) first, so that a pass does not end on one long fit while the
  // other cores idle. Each fit's result is independent of the order.
  SmallVector<size_t> order(fitted.size());
  std::iota(order.begin(), order.end(), size_t(0));
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return plans[fitted[a]].fitCpu > plans[fitted[b]].fitCpu;
  });
  ::attn::calib::parallelTasks(fitted.size(), [&](int64_t k) {
    size_t j = order[k], i = fitted[j];
    std::optional<Activations> a = get(i);
    if (!a) {
      errors[j] = "--share-kv-method=joint: attention at " +
                  locationName(plans[i].op.getLoc()) +
                  ": the probe lost an operand, or it is not f32";
      return;
    }
    (void)fitLayer(plans[i], samples[i], *a, options, passIndex, records[j],
                   errors[j]);
  });
  for (const std::string &e : errors)
    if (!e.empty()) {
      error = e;
      return failure();
    }
  times.push_back(fitsStart.since(
      llvm::formatv("pass {0}: {1} fits", passIndex + 1, fitted.size()).str()));
  times.back().evaluations = 0;
  for (const JointFitRecord &r : records) {
    times.back().evaluations += r.evaluations;
    times.back().earlyRejections += r.earlyRejections;
    times.back().outputSolves += r.outputSolves;
    times.back().outputProductSeconds += r.outputProductSeconds;
    times.back().outputSolveSeconds += r.outputSolveSeconds;
  }
  return success();
}

/// Frees the samples' Q, K, V and reference outputs once the first pass
/// has run (only its fits on the original model's activations read them):
/// the later passes read the samples' shapes and masks only (the fits'
/// activations come from their probes). At 128 x 64 calibration tokens on
/// SmolLM2-135M that is ~2 GB of the calibration's peak.
void releaseSampleValues(std::vector<::attn::calib::AttentionSample> &samples) {
  for (::attn::calib::AttentionSample &s : samples) {
    for (auto *v : {&s.q, &s.k, &s.v})
      std::vector<float>().swap(*v);
    std::vector<double>().swap(s.reference);
  }
}

/// The probe of a pass: a copy of the model converted with the weights
/// `weightsOf` gives (null: the aligned maps the module carries) that
/// returns every fitted attention's H, Q and K (`__joint_<i>_*`), and its
/// converted attentions.
struct PassProbe {
  OwningOpRef<ModuleOp> module;
  SmallVector<AttentionOp> shared;
};

LogicalResult
buildPassProbe(ModuleOp module, int64_t newHeads,
               const std::vector<LayerPlan> &plans,
               function_ref<const JointWeights *(const LayerPlan &)> weightsOf,
               PassProbe &out, std::string &error) {
  OwningOpRef<ModuleOp> probe = module.clone();
  // After a block refit (--share-kv-refit-rounds): its down projections.
  if (failed(foldBlockRefits(*probe, error)))
    return failure();
  SmallVector<AttentionOp> probeOps;
  probe->walk([&](AttentionOp op) {
    if (op.getNumResults() == 1 && int64_t(op.getKvHeads()) > newHeads)
      probeOps.push_back(op);
  });
  func::FuncOp entry = probeEntry(*probe);
  if (!entry || probeOps.size() != plans.size()) {
    error = "calibration: cannot find the model function";
    return failure();
  }
  // Each fitted attention's Q projection input, and a cross-attention's
  // K/V projection input (null for the others).
  SmallVector<Value> hidden, kvHidden;
  for (auto [i, op] : llvm::enumerate(probeOps)) {
    if (!plans[i].joint) {
      hidden.push_back({});
      kvHidden.push_back({});
      continue;
    }
    if (weightsOf)
      attachWeights(plans[i], op, *weightsOf(plans[i]));
    hidden.push_back(projectionInput(*matchHeadProjection(op.getQuery())));
    kvHidden.push_back(plans[i].cross ? projectionInput(
                                            *matchHeadProjection(op.getKey()))
                                      : Value());
  }
  if (failed(shareProbeKVHeads(
          *probe, entry, newHeads, "joint-fit",
          "--share-kv-method=joint runs the converted model on the "
          "calibration inputs, which this model's shrinking KV-cache inputs "
          "no longer fit (a decode step); use aligned",
          error)))
    return failure();
  SmallVector<AttentionOp> shared;
  probe->walk([&](AttentionOp op) {
    if (op->hasAttr("attn.kv_heads_before"))
      shared.push_back(op);
  });
  if (shared.size() != plans.size()) {
    error = "calibration: the joint-fit probe lost an attention";
    return failure();
  }
  SmallVector<Value> results;
  SmallVector<std::string> names;
  for (auto [i, op] : llvm::enumerate(shared)) {
    if (!plans[i].joint)
      continue;
    results.append({hidden[i], op.getQuery(), op.getKey()});
    for (const char *part : {"h", "q", "k"})
      names.push_back(llvm::formatv("__joint_{0}_{1}", i, part).str());
    if (kvHidden[i]) {
      results.push_back(kvHidden[i]);
      names.push_back(llvm::formatv("__joint_{0}_kvh", i).str());
    }
  }
  returnNamed(entry, results, names);
  out.module = std::move(probe);
  out.shared = std::move(shared);
  return success();
}

/// Sets on every attention of `module` that the calibration converts
/// (kvHeads > newHeads) the aligned maps attn-share-kv's aligned method
/// reads, as placeholders (equal pooling weights, identity mixes and
/// maps): a probe of `module` with fitted weights attached is then built
/// before the aligned start has computed the real ones. The maps do not
/// reach such a probe's program (the fitted weights replace the
/// projections, and the pass removes the attributes).
void attachPlaceholderMaps(ModuleOp module, int64_t newHeads) {
  MLIRContext *ctx = module.getContext();
  auto f64 = [&](ArrayRef<int64_t> shape, const std::vector<double> &v) {
    return DenseElementsAttr::get(
        RankedTensorType::get(shape, Float64Type::get(ctx)),
        ArrayRef<double>(v));
  };
  auto identities = [](int64_t n, int64_t d) {
    std::vector<double> v(n * d * d, 0.0);
    for (int64_t h = 0; h < n; ++h)
      for (int64_t i = 0; i < d; ++i)
        v[(h * d + i) * d + i] = 1.0;
    return v;
  };
  module.walk([&](AttentionOp op) {
    if (op.getNumResults() != 1 || int64_t(op.getKvHeads()) <= newHeads)
      return;
    int64_t hkv = op.getKvHeads(), hq = op.getQHeads();
    int64_t d = op.getQueryType().getDimSize(3);
    int64_t dv = op.getValueType().getDimSize(3);
    std::vector<double> pool(hkv, double(newHeads) / double(hkv));
    op->setAttr("attn.share_key_weights", f64({hkv}, pool));
    op->setAttr("attn.share_value_weights", f64({hkv}, pool));
    op->setAttr("attn.share_query_maps", f64({hq, d, d}, identities(hq, d)));
    op->setAttr("attn.share_output_maps",
                f64({hq, dv, dv}, identities(hq, dv)));
    op->setAttr("attn.share_key_mixes", f64({hkv, d, d}, identities(hkv, d)));
    op->setAttr("attn.share_value_mixes",
                f64({hkv, dv, dv}, identities(hkv, dv)));
  });
}

/// One pass: the probe of the model converted with `current` (the aligned
/// maps in pass 0) returns every attention's H, Q and K; each attention is
/// then refitted from `current`.
LogicalResult fitPass(
    ModuleOp module, int64_t newHeads, std::vector<LayerPlan> &plans,
    const std::vector<::attn::calib::AttentionSample> &samples,
    const JointFitOptions &options, int passIndex,
    const std::vector<::attn::rt::Array> &inputs,
    function_ref<LogicalResult(ModuleOp, const std::string &)> buildLibrary,
    ReusableProbe &reusable, std::vector<JointFitRecord> &records,
    std::vector<JointPhaseTime> &times, std::string &error,
    const std::vector<::attn::rt::Array> *originalInputs = nullptr) {
  bool first = passIndex == 0;
  auto probeStart = PhaseClock::now();
  PassProbe probe;
  auto fitted = [](const LayerPlan &p) { return &p.fitted; };
  if (failed(buildPassProbe(
          module, newHeads, plans,
          first ? function_ref<const JointWeights *(const LayerPlan &)>()
                : fitted,
          probe, error)))
    return failure();
  // The passes' probes differ in the converted projections' weights only:
  // one library, those weights its inputs.
  std::map<std::string, ::attn::rt::Array> outputs;
  if (failed(reusable.run(*probe.module, probe.shared, inputs, buildLibrary,
                          outputs, error)))
    return failure();
  const char *how = !reusable.reused()         ? ""
                    : reusable.compiledAhead() ? " (library compiled during "
                                                 "the previous pass's fits)"
                                               : " (library reused)";
  times.push_back(
      probeStart.since(llvm::formatv("pass {0}: probe{1}", passIndex + 1, how)
                           .str()));

  return fitAll(plans, samples, options, passIndex,
                [&](size_t i) {
                  std::optional<Activations> a = probeActivations(
                      outputs, i, samples[i],
                      first ? plans[i].start : plans[i].fitted, newHeads,
                      plans[i].cross);
                  if (a && originalInputs && i < originalInputs->size() &&
                      (*originalInputs)[i].dtype == ::attn::rt::DType::F32 &&
                      (*originalInputs)[i].numElements() == a->h.size())
                    a->originalH = floatsOf((*originalInputs)[i]);
                  return a;
                },
                records, times, error);
}

} // namespace

LogicalResult mlir::attn::compile::calibrateJointSharing(
    ModuleOp module, int64_t newHeads, const JointFitOptions &options,
    const std::string &calibrationPath,
    function_ref<LogicalResult(ModuleOp, const std::string &)> buildLibrary,
    std::vector<SharingErrors> &errors, std::vector<JointFitRecord> &records,
    std::vector<JointPhaseTime> &times, std::string &error,
    std::vector<std::string> *notes, std::vector<JointFallback> *fallbacks) {
  // Which attentions the joint fit converts: all of them, or (per-attention
  // fallback) those it applies to, the others getting aligned-fit.
  std::vector<LayerPlan> plans;
  module.walk([&](AttentionOp op) {
    if (op.getNumResults() == 1 && int64_t(op.getKvHeads()) > newHeads)
      plans.emplace_back().op = op;
  });
  if (plans.empty())
    return success();
  bool anyFallback = false, anyCross = false;
  // Each attention's projections as planned before the aligned start: the
  // shapes the early compile of the second pass's probe needs (its start
  // weights without the aligned maps).
  std::vector<LayerPlan> shapes(plans.size());
  for (auto [i, plan] : llvm::enumerate(plans)) {
    LayerPlan &check = shapes[i];
    std::string why;
    if (succeeded(planLayer(plan.op, newHeads, check, why))) {
      anyCross |= check.cross;
      continue;
    }
    if (!fallbacks) {
      error = why;
      return failure();
    }
    plan.joint = false;
    plan.why = check.why;
    fallbacks->push_back({locationName(plan.op.getLoc()), plan.why});
    anyFallback = true;
  }
  if (options.outputMetric != ShareKVOutputMetric::None)
    setOutputMetrics(module, plans, shapes, options, notes);
  bool onOriginal = options.firstPassOnOriginal && options.passes > 0 &&
                    !anyFallback && !anyCross;
  // The second pass's probe is the same program whatever the fitted
  // weights (they are its inputs): compiled (LLVM on one thread) from
  // the start, beside the aligned start's probe, whose own LLVM compile
  // leaves the other core idle, and then the first pass's fits; the
  // second pass reruns it with the fitted weights. The thread works on a
  // copy of the module taken before the aligned start writes its maps
  // (placeholders instead: they do not reach the program) and on the
  // plans' shapes, which nothing else writes. Every dialect is loaded
  // first: loading one while two pass managers run would race.
  std::optional<ReusableProbe> reusable;
  std::thread ahead;
  std::string aheadError;
  bool compileAhead = onOriginal && options.passes > 1 && options.reuseProbe &&
                      module.getContext()->isMultithreadingEnabled();
  OwningOpRef<ModuleOp> aheadSource;
  llvm::scope_exit joinAhead([&] {
    if (ahead.joinable())
      ahead.join();
  });
  if (compileAhead) {
    module.getContext()->loadAllAvailableDialects();
    aheadSource = module.clone();
    attachPlaceholderMaps(*aheadSource, newHeads);
    reusable.emplace();
    ahead = std::thread([&] {
      PassProbe probe;
      if (failed(buildPassProbe(
              *aheadSource, newHeads, shapes,
              [](const LayerPlan &p) { return &p.start; }, probe,
              aheadError)) ||
          failed(reusable->prepare(*probe.module, probe.shared, buildLibrary,
                                   aheadError)))
        aheadError = aheadError.empty() ? "failed" : aheadError;
    });
  }
  auto alignedStart = PhaseClock::now();
  std::vector<::attn::calib::AttentionSample> samples;
  // With a fallback: aligned-fit (the output refit) for every attention,
  // which the joint fits then replace on theirs; their probes see the
  // others as they will be.
  // With --share-kv-first-pass=original (and every attention a joint
  // self-attention) the first pass fits on the original model's
  // activations: this probe also returns each attention's projection input,
  // and no probe of the aligned-converted model runs.
  std::vector<::attn::rt::Array> originalInputs;
  // --share-kv-original-target: the original model's projection inputs
  // stay for the later passes' targets.
  bool keepOriginal = options.originalTarget > 0.0 && options.passes > 0 &&
                      !anyFallback;
  // The Q projection's input (for self-attention also K's and V's); an
  // attention without one (not the joint fit's) gets its query, unused.
  auto projectionInputOf = [](AttentionOp op) -> Value {
    std::optional<HeadProjection> q = matchHeadProjection(op.getQuery());
    Value h = q ? projectionInput(*q) : Value();
    return h ? h : op.getQuery();
  };
  if (failed(calibrateKVSharing(
          module, newHeads, /*aligned=*/true,
          anyFallback ? options.fallbackRefitPasses : 0, calibrationPath,
          buildLibrary, errors, error, &samples,
          onOriginal || keepOriginal
              ? function_ref<Value(AttentionOp)>(projectionInputOf)
              : nullptr,
          onOriginal || keepOriginal ? &originalInputs : nullptr,
          options.alignedWeighting)))
    return failure();
  times.push_back(alignedStart.since(
      anyFallback    ? "aligned-fit (probes of the model)"
      : compileAhead ? "aligned start (probe of the model; the next pass's "
                       "probe compiled beside it)"
                     : "aligned start (probe of the model)"));
  if (samples.size() != plans.size()) {
    error = "calibration: the joint fit lost an attention's samples";
    return failure();
  }
  for (LayerPlan &plan : plans)
    if (plan.joint && failed(planLayer(plan.op, newHeads, plan, error)))
      return failure();
  if (llvm::none_of(plans, [](const LayerPlan &p) { return p.joint; }))
    return success();
  std::vector<::attn::rt::Array> inputs;
  if (!::attn::rt::readNpz(calibrationPath, inputs, error)) {
    error = "calibration inputs '" + calibrationPath + "': " + error;
    return failure();
  }
  for (int pass = 0; pass < options.passes; ++pass) {
    if (pass == 0 && onOriginal) {
      if (originalInputs.size() != plans.size()) {
        error = "calibration: the probe of the model lost a projection input";
        return failure();
      }
      // (The next pass's probe is compiling since the aligned start.)
      LogicalResult fitted = fitAll(
              plans, samples, options, pass,
              [&](size_t i) -> std::optional<Activations> {
                const ::attn::calib::AttentionSample &s = samples[i];
                const JointWeights &w = plans[i].original;
                if (originalInputs[i].dtype != ::attn::rt::DType::F32)
                  return std::nullopt;
                return Activations{
                    floatsOf(originalInputs[i]),
                    tokenMajor(s.q, s.batch, s.qHeads, s.queryLength,
                               s.headDim),
                    tokenMajor(s.k, s.batch, w.kvHeads, s.keyLength,
                               s.headDim),
                    {}, &w, w.kvHeads};
              },
              records, times, error);
      if (ahead.joinable())
        ahead.join();
      aheadSource = nullptr;
      if (failed(fitted))
        return failure();
      // A probe that failed to compile ahead is compiled (and its error
      // reported) by the next pass.
      if (!aheadError.empty())
        reusable.emplace();
      times.back().name += compileAhead
                               ? " (the original model's activations; the "
                                 "next pass's probe compiled beside them)"
                               : " (the original model's activations)";
      if (!keepOriginal)
        originalInputs.clear();
    } else {
      if (!reusable || !options.reuseProbe)
        reusable.emplace();
      if (failed(fitPass(module, newHeads, plans, samples, options, pass,
                         inputs, buildLibrary, *reusable, records, times,
                         error, keepOriginal ? &originalInputs : nullptr)))
        return failure();
    }
    if (pass == 0)
      releaseSampleValues(samples);
  }
  for (LayerPlan &plan : plans)
    if (plan.joint)
      attachWeights(plan, plan.op,
                    options.passes > 0 ? plan.fitted : plan.start);
  if (options.blockRefitDrift && options.passes > 0 && anyFallback) {
    // refitBlocks reads every converted attention as a joint-fitted one.
    if (notes)
      notes->push_back("share-kv block refit: skipped (some attentions took "
                       "aligned-fit instead of joint)");
  } else if (options.blockRefitDrift && options.passes > 0) {
    for (int round = 0; round < options.refitRounds; ++round) {
      if (round > 0) {
        // The attentions refitted on the stream the refitted blocks pass
        // on (fitPass folds the down weights into its probe), from their
        // fits so far; then the refit again, from the original weights.
        int pass = options.passes + round - 1;
        if (!reusable || !options.reuseProbe)
          reusable.emplace();
        if (failed(fitPass(module, newHeads, plans, samples, options, pass,
                           inputs, buildLibrary, *reusable, records, times,
                           error,
                           keepOriginal ? &originalInputs : nullptr)))
          return failure();
        for (LayerPlan &plan : plans)
          attachWeights(plan, plan.op, plan.fitted);
      }
      // The last round's refit reads the plans' layouts (masks and phases
      // of their own): the samples' masks go before its probe, the
      // calibration's peak.
      if (round + 1 == options.refitRounds)
        std::vector<::attn::calib::AttentionSample>().swap(samples);
      std::vector<BlockRefitLayer> layers;
      for (LayerPlan &plan : plans)
        layers.push_back({plan.op, std::move(plan.layout), &plan.original,
                          &plan.fitted, plan.biased});
      std::vector<std::string> ignored;
      if (failed(refitBlocks(module, newHeads, *options.blockRefitDrift,
                             options.blockRefitRidge,
                             options.blockRefitMinTokens, layers, inputs,
                             buildLibrary, notes ? *notes : ignored, times,
                             error)))
        return failure();
    }
  }
  return success();
}
