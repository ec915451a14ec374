//===- AttentionReference.cpp - scalar oracle for attn ops ----------------===//
//
// Straightforward loops over (b, h, i): scores in double, softmax over the
// allowed keys, weighted sum of values. Decode is attention over the updated
// caches with the valid prefix expressed as a per-batch key length.
//
//===----------------------------------------------------------------------===//

#include "attn/Reference/AttentionReference.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>
#include <tuple>

using namespace attn::ref;

Tensor::Tensor(std::vector<int64_t> shape) : shape(std::move(shape)) {
  data.assign(numElements(), 0.0);
}

int64_t Tensor::numElements() const {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

static std::string shapeString(const std::vector<int64_t> &shape) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < shape.size(); ++i)
    os << (i ? "x" : "") << shape[i];
  os << "]";
  return os.str();
}

static bool fail(std::string &error, const std::string &message) {
  error = message;
  return false;
}

namespace {
/// Row-major strides of the mask broadcast to [B, Hq, Sq, Skv]: a missing
/// leading dimension or a size-1 dimension gets stride 0.
struct MaskIndexer {
  int64_t strides[4] = {0, 0, 0, 0};

  bool init(const Tensor &mask, const int64_t full[4], std::string &error) {
    size_t rank = mask.shape.size();
    if (rank < 2 || rank > 4)
      return fail(error, "mask must have rank 2, 3 or 4, got " +
                             shapeString(mask.shape));
    int64_t stride = 1;
    for (size_t r = 0; r < rank; ++r) {
      size_t d = 4 - 1 - r, md = rank - 1 - r;
      int64_t size = mask.shape[md];
      if (size != 1 && size != full[d])
        return fail(error, "mask shape " + shapeString(mask.shape) +
                               " does not broadcast to " +
                               shapeString({full, full + 4}));
      strides[d] = size == 1 ? 0 : stride;
      stride *= size;
    }
    return true;
  }

  int64_t offset(int64_t b, int64_t h, int64_t i, int64_t j) const {
    return b * strides[0] + h * strides[1] + i * strides[2] + j * strides[3];
  }
};
} // namespace

static bool checkRank4(const Tensor *t, const char *name, std::string &error) {
  if (!t)
    return fail(error, std::string(name) + " is missing");
  if (t->shape.size() != 4)
    return fail(error, std::string(name) + " must have rank 4, got " +
                           shapeString(t->shape));
  if ((int64_t)t->data.size() != t->numElements())
    return fail(error, std::string(name) + " data size does not match shape");
  return true;
}

bool attn::ref::computeAttention(const AttentionOperands &operands,
                                 const AttentionParams &params, Tensor &out,
                                 std::string &error) {
  const Tensor *q = operands.query, *k = operands.key, *v = operands.value;
  if (!checkRank4(q, "query", error) || !checkRank4(k, "key", error) ||
      !checkRank4(v, "value", error))
    return false;
  int64_t B = q->shape[0], Hq = q->shape[1], Sq = q->shape[2], D = q->shape[3];
  int64_t Hkv = k->shape[1], Skv = k->shape[2], Dv = v->shape[3];
  if (Hq != params.qHeads || Hkv != params.kvHeads || Hkv <= 0 || Hq % Hkv != 0)
    return fail(error, "head counts do not match heads(" +
                           std::to_string(params.qHeads) + ", " +
                           std::to_string(params.kvHeads) + ")");
  if (k->shape[0] != B || k->shape[3] != D)
    return fail(error, "key shape " + shapeString(k->shape) +
                           " does not match query " + shapeString(q->shape));
  if (v->shape[0] != B || v->shape[1] != Hkv || v->shape[2] != Skv)
    return fail(error, "value shape " + shapeString(v->shape) +
                           " does not match key " + shapeString(k->shape));

  const int64_t full[4] = {B, Hq, Sq, Skv};
  MaskIndexer maskIndex;
  const Tensor *mask =
      params.maskKind == MaskKind::None ? nullptr : operands.mask;
  if (params.maskKind != MaskKind::None && !mask)
    return fail(error, "mask kind given without a mask");
  if (mask && !maskIndex.init(*mask, full, error))
    return false;
  const std::vector<int64_t> *lens = operands.kvSeqLens;
  if (lens && (int64_t)lens->size() != B)
    return fail(error,
                "kv_seq_lens must have B = " + std::to_string(B) + " elements");

  out = Tensor({B, Hq, Sq, Dv});
  const int64_t group = Hq / Hkv;
  const double negInf = -std::numeric_limits<double>::infinity();
  std::vector<double> scores(Skv);
  const std::vector<int64_t> *rowOffsets = operands.rowOffsets;
  if (rowOffsets && (int64_t)rowOffsets->size() != B)
    return fail(error, "row offsets must have B = " + std::to_string(B) +
                           " elements");
  bool causal = operands.causalOffset.has_value() ||
                (rowOffsets && operands.rowCausal);
  const Tensor *tree = operands.treeMask;
  if (tree) {
    size_t rank = tree->shape.size();
    if (!rowOffsets || (rank != 2 && rank != 3) ||
        tree->shape[rank - 1] != Sq || tree->shape[rank - 2] != Sq ||
        (rank == 3 && tree->shape[0] != 1 && tree->shape[0] != B))
      return fail(error, "tree mask " + shapeString(tree->shape) +
                             " must be [Sq, Sq] or [B, Sq, Sq] with Sq = " +
                             std::to_string(Sq) + " new tokens");
  }
  // Whether the tree allows key j (new token j - offset) for row i.
  auto treeAllows = [&](int64_t b, int64_t i, int64_t j, int64_t offset) {
    // Keys before the new tokens, or past them (beyond the row's length,
    // hidden anyway), are not the tree's to decide.
    if (!tree || j < offset || j - offset >= Sq)
      return true;
    int64_t tb = tree->shape.size() == 3 && tree->shape[0] != 1 ? b : 0;
    return tree->data[(tb * Sq + i) * Sq + (j - offset)] != 0.0;
  };
  for (int64_t b = 0; b < B; ++b) {
    int64_t len = lens ? (*lens)[b] : Skv;
    int64_t offset =
        rowOffsets ? (*rowOffsets)[b] : operands.causalOffset.value_or(0);
    for (int64_t h = 0; h < Hq; ++h) {
      int64_t g = h / group;
      const double *kBase = &k->data[(b * Hkv + g) * Skv * D];
      const double *vBase = &v->data[(b * Hkv + g) * Skv * Dv];
      for (int64_t i = 0; i < Sq; ++i) {
        const double *qRow = &q->data[((b * Hq + h) * Sq + i) * D];
        double maxScore = negInf;
        for (int64_t j = 0; j < Skv; ++j) {
          double s = negInf;
          int64_t p = i + offset; // the query's absolute position
          bool allowed = j < len && (!causal || j <= p) &&
                         (!params.windowLeft || j >= p - *params.windowLeft) &&
                         (!params.windowRight || j <= p + *params.windowRight);
          allowed &= treeAllows(b, i, j, offset);
          if (mask && params.maskKind == MaskKind::Boolean)
            allowed &= mask->data[maskIndex.offset(b, h, i, j)] != 0.0;
          if (allowed) {
            double dot = 0.0;
            for (int64_t d = 0; d < D; ++d)
              dot += qRow[d] * kBase[j * D + d];
            s = params.scale * dot;
            if (params.softcap)
              s = *params.softcap * std::tanh(s / *params.softcap);
            if (mask && params.maskKind == MaskKind::Additive)
              s += mask->data[maskIndex.offset(b, h, i, j)];
          }
          scores[j] = s;
          maxScore = std::max(maxScore, s);
        }
        double *outRow = &out.data[((b * Hq + h) * Sq + i) * Dv];
        // A row with no finite score is fully masked: its output stays 0.
        if (maxScore == negInf)
          continue;
        double sum = 0.0;
        for (int64_t j = 0; j < Skv; ++j) {
          if (scores[j] == negInf)
            continue;
          double p = std::exp(scores[j] - maxScore);
          sum += p;
          for (int64_t d = 0; d < Dv; ++d)
            outRow[d] += p * vBase[j * Dv + d];
        }
        for (int64_t d = 0; d < Dv; ++d)
          outRow[d] /= sum;
      }
    }
  }
  return true;
}

/// Copies `update` [B,H,Sn,E] into `cache` [B,H,Smax,E] at sequence
/// pos[b] for batch row b (a ring: at slot (pos[b] + t) % Smax).
static void appendToCache(Tensor &cache, const Tensor &update,
                          const std::vector<int64_t> &pos, bool ring) {
  int64_t B = cache.shape[0], H = cache.shape[1];
  int64_t smax = cache.shape[2], sn = update.shape[2], e = cache.shape[3];
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t t = 0; t < sn; ++t) {
        int64_t slot = ring ? (pos[b] + t) % smax : pos[b] + t;
        for (int64_t d = 0; d < e; ++d)
          cache.data[((b * H + h) * smax + slot) * e + d] =
              update.data[((b * H + h) * sn + t) * e + d];
      }
}

/// The logical cache [B,H,max(pos[b] + Sn),E] of a ring [B,H,W,E] after
/// the append: position t of row b is slot t % W when it is one of the row's
/// last W positions, NaN otherwise (overwritten, and never to be read).
static Tensor unrollRing(const Tensor &ring, const std::vector<int64_t> &pos,
                         int64_t sn) {
  int64_t B = ring.shape[0], H = ring.shape[1], w = ring.shape[2];
  int64_t e = ring.shape[3], length = 0;
  for (int64_t p : pos)
    length = std::max(length, p + sn);
  Tensor logical({B, H, length, e});
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t t = 0; t < length; ++t) {
        bool held = t < pos[b] + sn && t >= pos[b] + sn - w;
        for (int64_t d = 0; d < e; ++d)
          logical.data[((b * H + h) * length + t) * e + d] =
              held ? ring.data[((b * H + h) * w + t % w) * e + d]
                   : std::numeric_limits<double>::quiet_NaN();
      }
  return logical;
}

double attn::ref::decodeE4M3(int code) {
  int sign = code & 0x80, e = (code >> 3) & 0xf, m = code & 7;
  double magnitude;
  if (e == 15 && m == 7)
    magnitude = NAN;
  else if (e == 0)
    magnitude = std::ldexp(m, -9);
  else
    magnitude = std::ldexp(8 + m, e - 10);
  return sign ? -magnitude : magnitude;
}

int attn::ref::encodeE4M3(float x) {
  int sign = std::signbit(x) ? 0x80 : 0;
  double a = std::min(std::fabs(double(x)), 448.0);
  if (a < std::ldexp(1.0, -6))
    return sign | int(std::nearbyint(a * 512.0)); // 8 is the smallest normal
  int exponent;
  std::frexp(a, &exponent); // a = f * 2^exponent, f in [0.5, 1)
  int e = exponent - 1;
  int m = int(std::nearbyint((std::ldexp(a, -e) - 1.0) * 8.0));
  if (m == 8) {
    m = 0;
    ++e;
  }
  return sign | ((e + 7) << 3) | m;
}

/// The cache codes of `update` [B,H,Sn,E] / scale[b, h] (an f32 division).
static Tensor quantize(const Tensor &update, const Tensor &scale,
                       CacheKind kind) {
  Tensor codes = update;
  int64_t per = update.shape[2] * update.shape[3];
  for (int64_t i = 0; i < codes.numElements(); ++i) {
    float x = float(update.data[i]) / float(scale.data[i / per]);
    codes.data[i] =
        kind == CacheKind::Int8
            ? std::min(127.0, std::max(-127.0, std::nearbyint(double(x))))
            : double(encodeE4M3(x));
  }
  return codes;
}

/// The values of the codes in `cache` [B,H,Smax,E]: code * scale[b, h].
static Tensor dequantize(const Tensor &cache, const Tensor &scale,
                         CacheKind kind) {
  Tensor values = cache;
  int64_t per = cache.shape[2] * cache.shape[3];
  for (int64_t i = 0; i < values.numElements(); ++i) {
    double q = cache.data[i];
    if (kind == CacheKind::Fp8E4M3)
      q = decodeE4M3(int(q));
    values.data[i] = q * double(float(scale.data[i / per]));
  }
  return values;
}

/// [a, b] along the last dim of two tensors of equal leading shape.
static Tensor joinLastDim(const Tensor &a, const Tensor &b) {
  std::vector<int64_t> shape = a.shape;
  int64_t wa = a.shape.back(), wb = b.shape.back();
  shape.back() = wa + wb;
  Tensor joined(shape);
  int64_t rows = wa ? (int64_t)a.data.size() / wa : 0;
  for (int64_t i = 0; i < rows; ++i) {
    std::copy_n(a.data.begin() + i * wa, wa, joined.data.begin() + i * (wa + wb));
    std::copy_n(b.data.begin() + i * wb, wb,
                joined.data.begin() + i * (wa + wb) + wa);
  }
  return joined;
}

/// Row b's valid prefix is a key length; its query row i sits at position
/// pos[b] + sn - sq + i. Attends over `keys` / `values` [B,Hkv,*,*].
static bool attendOverPrefix(const DecodeOperands &operands,
                             const AttentionParams &params,
                             const std::vector<int64_t> &pos, int64_t sn,
                             const Tensor &keys, const Tensor &values,
                             Tensor &out, std::string &error) {
  int64_t batch = (int64_t)pos.size();
  std::vector<int64_t> lens(batch), offsets(batch);
  for (int64_t b = 0; b < batch; ++b) {
    lens[b] = pos[b] + sn;
    offsets[b] = lens[b] - operands.query->shape[2];
  }
  AttentionOperands attention;
  attention.query = operands.query;
  attention.key = &keys;
  attention.value = &values;
  attention.mask = operands.mask;
  attention.kvSeqLens = &lens;
  attention.rowOffsets = &offsets;
  attention.rowCausal = operands.causal;
  attention.treeMask = operands.treeMask;
  if (operands.treeMask && operands.query->shape[2] != sn)
    return fail(error, "a tree mask needs Sq = Sn, got Sq = " +
                           std::to_string(operands.query->shape[2]) +
                           " and Sn = " + std::to_string(sn));
  return computeAttention(attention, params, out, error);
}

/// The paged form: checks the positions against max_pages * page_size and
/// the table entries each row reaches against the pool, appends into the
/// pools through the table, then attends over each row's positions read
/// back through the table (gathered here: the oracle favours clarity).
static bool computePagedDecode(const DecodeOperands &operands,
                               const AttentionParams &params,
                               DecodeResults &results, std::string &error) {
  const Tensor *k = operands.key, *v = operands.value;
  const Tensor *kc = operands.keyCache, *vc = operands.valueCache;
  const Tensor *table = operands.blockTable;
  if (operands.cacheKind != CacheKind::Float)
    return fail(error, "8-bit caches are not supported with a block table");
  if (operands.ring)
    return fail(error, "ring caches cannot be paged");
  if (!checkRank4(operands.query, "query", error) ||
      !checkRank4(k, "key", error) || !checkRank4(v, "value", error) ||
      !checkRank4(kc, "key page pool", error) ||
      !checkRank4(vc, "value page pool", error))
    return false;
  int64_t batch = k->shape[0], heads = k->shape[1], sn = k->shape[2];
  int64_t pages = kc->shape[0], pageSize = kc->shape[2];
  if (table->shape.size() != 2 || table->shape[0] != batch)
    return fail(error, "the block table " + shapeString(table->shape) +
                           " must be [B = " + std::to_string(batch) +
                           ", max_pages]");
  if (!operands.positions || (int64_t)operands.positions->size() != batch)
    return fail(error, "a paged decode needs B = " + std::to_string(batch) +
                           " positions");
  if (kc->shape[1] != heads || vc->shape[1] != heads ||
      kc->shape[3] != k->shape[3] || vc->shape[3] != v->shape[3] ||
      vc->shape[0] != pages || vc->shape[2] != pageSize ||
      v->shape[0] != batch || v->shape[2] != sn || pageSize <= 0)
    return fail(error, "new keys/values " + shapeString(k->shape) + ", " +
                           shapeString(v->shape) +
                           " do not match the page pools " +
                           shapeString(kc->shape) + ", " +
                           shapeString(vc->shape));
  int64_t maxPages = table->shape[1], capacity = maxPages * pageSize;
  const std::vector<int64_t> &pos = *operands.positions;
  for (int64_t b = 0; b < batch; ++b)
    if (pos[b] < 0 || pos[b] + sn > capacity)
      return fail(error, "position " + std::to_string(pos[b]) +
                             " of batch row " + std::to_string(b) + " + " +
                             std::to_string(sn) +
                             " new entries is outside the cache of " +
                             std::to_string(capacity));
  auto pageOf = [&](int64_t b, int64_t t) {
    return (int64_t)table->data[b * maxPages + t / pageSize];
  };
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t c = 0; c * pageSize < pos[b] + sn; ++c) {
      int64_t page = pageOf(b, c * pageSize);
      if (page < 0 || page >= pages)
        return fail(error, "block table entry [" + std::to_string(b) + ", " +
                               std::to_string(c) + "] is " +
                               std::to_string(page) +
                               ", not a page of the pool of " +
                               std::to_string(pages));
    }

  results.keyCache = *kc;
  results.valueCache = *vc;
  // Slot (page, h, slot) of a pool [pages, heads, pageSize, width].
  auto slot = [&](int64_t b, int64_t h, int64_t t, int64_t width) {
    return ((pageOf(b, t) * heads + h) * pageSize + t % pageSize) * width;
  };
  Tensor keys({batch, heads, capacity, k->shape[3]});
  Tensor values({batch, heads, capacity, v->shape[3]});
  for (auto [pool, update, logical] :
       {std::tuple{&results.keyCache, k, &keys},
        std::tuple{&results.valueCache, v, &values}}) {
    int64_t width = update->shape[3];
    for (int64_t b = 0; b < batch; ++b)
      for (int64_t h = 0; h < heads; ++h)
        for (int64_t t = 0; t < sn; ++t)
          for (int64_t d = 0; d < width; ++d)
            pool->data[slot(b, h, pos[b] + t, width) + d] =
                update->data[((b * heads + h) * sn + t) * width + d];
    for (int64_t b = 0; b < batch; ++b)
      for (int64_t h = 0; h < heads; ++h)
        for (int64_t t = 0; t < pos[b] + sn; ++t)
          for (int64_t d = 0; d < width; ++d)
            logical->data[((b * heads + h) * capacity + t) * width + d] =
                pool->data[slot(b, h, t, width) + d];
  }
  return attendOverPrefix(operands, params, pos, sn, keys, values,
                          results.out, error);
}

bool attn::ref::computeDecode(const DecodeOperands &operands,
                              const AttentionParams &params,
                              DecodeResults &results, std::string &error) {
  if (operands.blockTable)
    return computePagedDecode(operands, params, results, error);
  const Tensor *k = operands.key, *v = operands.value;
  const Tensor *kc = operands.keyCache, *vc = operands.valueCache;
  if (!checkRank4(operands.query, "query", error) ||
      !checkRank4(k, "key", error) || !checkRank4(v, "value", error) ||
      !checkRank4(kc, "key cache", error) ||
      !checkRank4(vc, "value cache", error))
    return false;
  int64_t batch = k->shape[0], sn = k->shape[2], smax = kc->shape[2];
  for (int d : {0, 1, 3})
    if (k->shape[d] != kc->shape[d] || v->shape[d] != vc->shape[d])
      return fail(error,
                  "new keys/values " + shapeString(k->shape) + ", " +
                      shapeString(v->shape) + " do not match the caches " +
                      shapeString(kc->shape) + ", " + shapeString(vc->shape));
  if (v->shape[2] != sn || vc->shape[2] != smax)
    return fail(error, "key and value sequence lengths differ");
  std::vector<int64_t> pos(batch, operands.position);
  if (operands.positions) {
    if ((int64_t)operands.positions->size() != batch)
      return fail(error, "positions must have B = " + std::to_string(batch) +
                             " elements");
    pos = *operands.positions;
  }
  for (int64_t b = 0; b < batch; ++b)
    if (pos[b] < 0 || (pos[b] + sn > smax && !operands.ring))
      return fail(error, "position " + std::to_string(pos[b]) +
                             (operands.positions
                                  ? " of batch row " + std::to_string(b)
                                  : std::string()) +
                             " + " + std::to_string(sn) +
                             " new entries is outside the cache of " +
                             std::to_string(smax));
  if (operands.ring && sn > smax)
    return fail(error, std::to_string(sn) + " new entries do not fit a ring "
                       "of " + std::to_string(smax) + " slots");

  bool quantized = operands.cacheKind != CacheKind::Float;
  if (quantized != (operands.keyScale && operands.valueScale))
    return fail(error, "8-bit caches need key and value scales, float "
                       "caches none");
  if (quantized)
    for (const Tensor *scale : {operands.keyScale, operands.valueScale})
      if (scale->shape != std::vector<int64_t>{batch, kc->shape[1]})
        return fail(error, "cache scales must be [B, Hkv] = " +
                               shapeString({batch, kc->shape[1]}) + ", got " +
                               shapeString(scale->shape));
  results.keyCache = *kc;
  results.valueCache = *vc;
  appendToCache(results.keyCache,
                quantized ? quantize(*k, *operands.keyScale,
                                     operands.cacheKind)
                          : *k,
                pos, operands.ring);
  appendToCache(results.valueCache,
                quantized ? quantize(*v, *operands.valueScale,
                                     operands.cacheKind)
                          : *v,
                pos, operands.ring);
  // The attention reads code * scale; the results keep the codes.
  Tensor keyValues, valueValues;
  if (quantized) {
    keyValues = dequantize(results.keyCache, *operands.keyScale,
                           operands.cacheKind);
    valueValues = dequantize(results.valueCache, *operands.valueScale,
                             operands.cacheKind);
  }

  const Tensor *keys = quantized ? &keyValues : &results.keyCache;
  const Tensor *values = quantized ? &valueValues : &results.valueCache;
  if (operands.latent) {
    if (quantized || operands.ring)
      return fail(error, "latent caches are float and contiguous");
    // Keys [latent, rope] are gathered here (the oracle favours clarity);
    // the values are the latent cache itself.
    Tensor latentKeys = joinLastDim(results.keyCache, results.valueCache);
    return attendOverPrefix(operands, params, pos, sn, latentKeys,
                            results.keyCache, results.out, error);
  }
  Tensor ringKeys, ringValues;
  if (operands.ring) {
    ringKeys = unrollRing(*keys, pos, sn);
    ringValues = unrollRing(*values, pos, sn);
    keys = &ringKeys;
    values = &ringValues;
  }
  return attendOverPrefix(operands, params, pos, sn, *keys, *values,
                          results.out, error);
}
