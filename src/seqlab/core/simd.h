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

}  // namespace seqlab::core::simd
