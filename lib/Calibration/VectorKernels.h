//===- VectorKernels.h - the joint fit's memory-bound vector loops -*- C++ -*-===//
//
// Internal to lib/Calibration: the loops of an L-BFGS step over its pairs
// (float or bfloat16 bits), the ridge and the row softmax of the joint fit
// (JointFit.cpp, Lbfgs.h). VectorKernels.cpp builds each with an AVX-512
// clone chosen at load time where the CPU has it.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_CALIBRATION_VECTORKERNELS_H
#define ATTN_LIB_CALIBRATION_VECTORKERNELS_H

#include <cstddef>
#include <cstdint>
#include <utility>

namespace attn::calib::vec {

/// sum a[i] * b[i]: float products summed in blocks of 512 by sixteen
/// float lanes, the blocks' sums added in double. `a` float or bfloat16
/// (uint16_t bits).
double dot(const float *a, const float *b, size_t n);
double dot(const uint16_t *a, const float *b, size_t n);
/// dot, prefetching ahead[0..n) (the caller's next block of another vector,
/// which the hardware prefetcher does not see coming) as it goes.
double dotAhead(const float *a, const float *b, size_t n, const float *ahead);
double dotAhead(const uint16_t *a, const float *b, size_t n,
                const uint16_t *ahead);

/// {dotAhead(a, c, n, aAhead), dotAhead(b, c, n, bAhead)} in one loop (c
/// read once, the two sums' additions overlapping); null aheads: no
/// prefetch.
std::pair<double, double> dot2Ahead(const float *a, const float *b,
                                    const float *c, size_t n,
                                    const float *aAhead, const float *bAhead);
std::pair<double, double> dot2Ahead(const uint16_t *a, const uint16_t *b,
                                    const float *c, size_t n,
                                    const uint16_t *aAhead,
                                    const uint16_t *bAhead);

/// d[i] += a s[i] + b y[i].
void axpy2(float *d, float a, const float *sv, float b, const float *yv,
           size_t n);
void axpy2(float *d, float a, const uint16_t *sv, float b, const uint16_t *yv,
           size_t n);
/// axpy2, prefetching sAhead[0..n) and yAhead[0..n) as it goes (dotAhead).
void axpy2Ahead(float *d, float a, const float *sv, float b, const float *yv,
                size_t n, const float *sAhead, const float *yAhead);
void axpy2Ahead(float *d, float a, const uint16_t *sv, float b,
                const uint16_t *yv, size_t n, const uint16_t *sAhead,
                const uint16_t *yAhead);

/// s = h d and y = g1 - g0 rounded to s's and y's type; returns s.y and
/// y.y of the rounded vectors.
std::pair<double, double> makePair(float *sv, float *yv, float h,
                                   const float *d, const float *g0,
                                   const float *g1, size_t n);
std::pair<double, double> makePair(uint16_t *sv, uint16_t *yv, float h,
                                   const float *d, const float *g0,
                                   const float *g1, size_t n);

/// xn = x + h d.
void stepTo(float *xn, const float *x, float h, const float *d, size_t n);

/// The ridge's gradient gr = gm + c2 (x - s0); returns ||x - s0||^2.
double ridgeGradient(float *gr, const float *gm, const float *x,
                     const float *s0, float c2, size_t n);
/// ||x - s0||^2 alone (equal to ridgeGradient's, bit for bit).
double ridgePenalty(const float *x, const float *s0, size_t n);

/// Each of `rows` rows of `p` [rows, s] becomes softmax(scale p + bias);
/// a row with every key masked (-inf) becomes 0.
void softmaxRows(float *p, const float *bias, int64_t rows, int64_t s,
                 float scale);

/// The softmax's backward: each of `rows` rows of x [rows, s] (dL/dP on
/// entry) becomes p (x - x.p) scale (dL/d(scores)), x.p summed in double.
void softmaxBackwardRows(float *x, const float *p, int64_t rows, int64_t s,
                         float scale);

} // namespace attn::calib::vec

#endif // ATTN_LIB_CALIBRATION_VECTORKERNELS_H
