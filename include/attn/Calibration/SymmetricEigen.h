//===- SymmetricEigen.h - eigenvectors of small symmetric matrices -*- C++ -*-===//

#ifndef ATTN_CALIBRATION_SYMMETRICEIGEN_H
#define ATTN_CALIBRATION_SYMMETRICEIGEN_H

#include <cstdint>
#include <utility>
#include <vector>

namespace attn::calib {

/// Eigenvalues and eigenvectors (the columns of the [n, n] row-major second
/// matrix, by decreasing eigenvalue) of the symmetric `a` [n, n], by cyclic
/// Jacobi rotations until the off-diagonal energy is below `tolerance`
/// times the total (at most 60 sweeps). Jacobi rather than a tridiagonal
/// method: n is at most the K/V width of one attention (a few hundred) and
/// it needs no library.
std::pair<std::vector<double>, std::vector<double>>
symmetricEigen(std::vector<double> a, int64_t n, double tolerance = 1e-28);

/// The same decomposition by Householder tridiagonalisation and implicit QL
/// (EISPACK's tred2 and tql2): O(n^3) once instead of per Jacobi sweep,
/// ~20x faster at n = 192 (the aligned fit's value Gram of 3 heads of 64),
/// to rounding (and each vector's sign) the same result.
std::pair<std::vector<double>, std::vector<double>>
symmetricEigenTridiagonal(const std::vector<double> &a, int64_t n);

} // namespace attn::calib

#endif // ATTN_CALIBRATION_SYMMETRICEIGEN_H
