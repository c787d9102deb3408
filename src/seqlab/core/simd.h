// Fixed-width SIMD vectors for the fused CPU kernels, through the GCC/Clang vector extension:
// 32 bytes (8 floats, 4 doubles), lowered to AVX2 registers under -march with AVX2 and to
// narrower ones otherwise. Memory is read and written through memcpy (unaligned moves, no
// aliasing questions). Arithmetic is element-wise IEEE and lanes are reduced by the caller in a
// fixed order, so a kernel built on these has the same bits wherever it runs.
#pragma once
#include <cstdint>
#include <cstring>

namespace seqlab::core::simd {

template <typename scalar_t>
struct Simd;
template <>
struct Simd<float> {
  typedef float type __attribute__((vector_size(32)));
};
template <>
struct Simd<double> {
  typedef double type __attribute__((vector_size(32)));
};
template <typename scalar_t>
using vec_t = typename Simd<scalar_t>::type;
template <typename scalar_t>
constexpr int64_t kLanes = 32 / sizeof(scalar_t);

template <typename scalar_t>
inline vec_t<scalar_t> load(const scalar_t* p) {
  vec_t<scalar_t> v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}
template <typename scalar_t>
inline void store(scalar_t* p, const vec_t<scalar_t>& v) {
  std::memcpy(p, &v, sizeof(v));
}

// Sum of the lanes as a fixed tree: halves are added until one lane is left (depth log2(lanes)
// instead of a chain of lanes − 1 adds), in registers. Fixed order: same bits everywhere.
inline float hsum(const vec_t<float>& x) {
  return ((x[0] + x[4]) + (x[2] + x[6])) + ((x[1] + x[5]) + (x[3] + x[7]));
}
inline double hsum(const vec_t<double>& x) {
  return (x[0] + x[2]) + (x[1] + x[3]);
}

}  // namespace seqlab::core::simd
