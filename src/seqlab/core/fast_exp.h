// A vectorizable exp for the fused CPU kernels (channel scans, local attention).
//
// std::exp is an opaque libm call (without -ffast-math), which stops the vectorizer; this one is
// branch-free arithmetic. x = n ln2 + r with n = round(x / ln2) and |r| ≤ ln2/2 (Cody-Waite
// split of ln2), e^r by its Taylor polynomial (degree 7 for float: truncation < 6e-9 relative;
// degree 13 for double: < 5e-18), and 2^n built in the exponent bits. Results below the smallest
// normal number flush to 0 (exp(very negative) → 0 is the correct limit, §3.4), above the largest
// float they are +inf, and NaN propagates.
//
// Include it after `#pragma GCC optimize("no-trapping-math")` (see channel_scan_fused.cpp) so
// that the range selects become vector blends and the caller's loops vectorize.
#pragma once
#include <cstdint>
#include <cstring>
#include <limits>

namespace seqlab::core {

template <typename T>
struct ExpTraits;
template <>
struct ExpTraits<float> {
  using Bits = uint32_t;
  static constexpr int kMantissa = 23;
  static constexpr int kDegree = 7;
  static constexpr float kShift = 12582912.0f;  // 1.5·2^23: x + kShift − kShift rounds
  static constexpr float kExponentBase = 8388608.0f + 127;  // 2^23 + bias
  static constexpr float kLo = -87.3f, kHi = 88.3f;         // 2^n stays normal: n ∈ [−126, 127]
  static constexpr float kLn2Hi = 0.693145751953125f, kLn2Lo = 1.428606765330187e-6f;
  static constexpr float kInf = std::numeric_limits<float>::infinity();
};
template <>
struct ExpTraits<double> {
  using Bits = uint64_t;
  static constexpr int kMantissa = 52;
  static constexpr int kDegree = 13;
  static constexpr double kShift = 6755399441055744.0;                // 1.5·2^52
  static constexpr double kExponentBase = 4503599627370496.0 + 1023;  // 2^52 + bias
  static constexpr double kLo = -708.0, kHi = 709.0;                  // n ∈ [−1021, 1023]
  static constexpr double kLn2Hi = 6.93147180369123816490e-01, kLn2Lo = 1.90821492927058770002e-10;
  static constexpr double kInf = std::numeric_limits<double>::infinity();
};

inline constexpr double kInvFactorial[] = {1.0,
                                           1.0,
                                           1.0 / 2,
                                           1.0 / 6,
                                           1.0 / 24,
                                           1.0 / 120,
                                           1.0 / 720,
                                           1.0 / 5040,
                                           1.0 / 40320,
                                           1.0 / 362880,
                                           1.0 / 3628800,
                                           1.0 / 39916800,
                                           1.0 / 479001600,
                                           1.0 / 6227020800.0};

// Σ_{k ≥ K}^{Deg} r^{k−K} / k! by Horner's rule, unrolled at compile time.
template <typename T, int K, int Deg>
struct TaylorTail {
  static inline T eval(T r) {
    return static_cast<T>(kInvFactorial[K]) + r * TaylorTail<T, K + 1, Deg>::eval(r);
  }
};
template <typename T, int Deg>
struct TaylorTail<T, Deg, Deg> {
  static inline T eval(T /*r*/) { return static_cast<T>(kInvFactorial[Deg]); }
};

template <typename T>
inline T fast_exp(T x) {
  using E = ExpTraits<T>;
  T xc = x < E::kLo ? E::kLo : x;  // NaN passes through both selects
  xc = xc > E::kHi ? E::kHi : xc;
  const T n = (xc * static_cast<T>(1.4426950408889634) + E::kShift) - E::kShift;
  const T r = (xc - n * E::kLn2Hi) - n * E::kLn2Lo;
  const T p = TaylorTail<T, 0, E::kDegree>::eval(r);
  // t = 2^mantissa + bias + n exactly; its low bits are the biased exponent of 2^n.
  const T t = n + E::kExponentBase;
  typename E::Bits bits;
  std::memcpy(&bits, &t, sizeof(T));
  bits <<= E::kMantissa;
  T scale;
  std::memcpy(&scale, &bits, sizeof(T));
  T y = p * scale;
  y = x < E::kLo ? T(0) : y;
  y = x > E::kHi ? E::kInf : y;
  return y;
}

}  // namespace seqlab::core
