// Fused channel-wise scans (spec/mixers.md §3.2.1, §3.3.1-§3.3.3, §3.3.8): the vectorizable exp,
// the selective-scan kernels and the linear-recurrence kernels (each forward next to its
// backward), and their autograd shells. See channel_scan.h for the recurrences and shapes.
//
// Layout. Selective-scan work items are (batch row, block of kBlock channels); linear-recurrence
// items are (batch row, channel range), see LinearRecurrenceParams::block. Inside a selective-scan
// item the state is held as [m][c] (state index outer, channel inner), so every inner loop runs
// over kBlock contiguous channels with no branches and vectorizes; ragged channel blocks are
// zero-padded, and padded channels stay exactly zero in both directions.
//
// Determinism. Each item is computed by one thread in a fixed order. Reductions across items
// (dB and dC over channel blocks, dA over the batch) go to partial buffers indexed by item
// geometry, never by thread, and are summed in a fixed order afterwards, so results are
// bit-identical at any thread count.
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <torch/autograd.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "seqlab/core/channel_scan.h"

// Let GCC if-convert the range selects of fast_exp below (with the default -ftrapping-math a
// float comparison may trap, so a select stays a branch and the loop does not vectorize). FP
// exceptions are never enabled in seqlab, and the option changes no result: it is not fast-math
// (no reassociation, no finite-math assumption). Functions defined in headers keep their own
// options and are not inlined here, so the kernels below use plain loops instead of std::copy
// and std::fill.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif

#include "seqlab/core/fast_exp.h"  // after the pragma: its loops get the option too

namespace seqlab::core {
namespace {

// ---- shared block helpers -----------------------------------------------------------------------
constexpr int64_t kBlock = 16;              // channels per selective-scan work item (vector lanes)
constexpr int64_t kDefaultCheckpoint = 64;  // steps between stored states (§3.3.8)
// Backward work items aimed for per call. A constant, not the thread count, so that the
// reduction layout (and the bits of dB, dC) never depends on the number of threads.
constexpr int64_t kTargetItems = 16;

int64_t ceil_div(int64_t a, int64_t b) {
  return (a + b - 1) / b;
}

// Items per parallel_for chunk so that one chunk does at least ~32k scalar updates.
int64_t grain_for(int64_t work_per_item) {
  return std::max<int64_t>(1, (int64_t{1} << 15) / std::max<int64_t>(1, work_per_item));
}

// The copies below run once per step on a few dozen bytes. A loop of variable length is turned
// into a call to memmove/memset by GCC (a quarter of the selective scan's time went there), and
// GCC 12 assembles a constant-length copy loop from 16 scalar loads, so a full channel block is
// copied by a memcpy of constant size, which compiles to one or two vector moves.
template <typename scalar_t>
inline void copy_n(const scalar_t* __restrict__ src, int64_t n, scalar_t* __restrict__ dst) {
  if (n == kBlock) {
    std::memcpy(dst, src, kBlock * sizeof(scalar_t));
    return;
  }
  for (int64_t i = 0; i < n; ++i) dst[i] = src[i];
}

template <typename scalar_t>
inline void zero_n(scalar_t* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = scalar_t(0);
}

// dst[c] = src[c] for c < len, 0 up to kBlock.
template <typename scalar_t>
inline void load_padded(const scalar_t* __restrict__ src, int64_t len, scalar_t* __restrict__ dst) {
  if (len == kBlock) {
    std::memcpy(dst, src, kBlock * sizeof(scalar_t));
    return;
  }
  for (int64_t c = 0; c < len; ++c) dst[c] = src[c];
  for (int64_t c = len; c < kBlock; ++c) dst[c] = scalar_t(0);
}

// block[m·kBlock + c] = mat[(c0 + c)·N + m]: rows c0..c0+len of a (D, N) matrix, transposed to
// channels-innermost and zero-padded.
template <typename scalar_t>
void load_rows(const scalar_t* mat, int64_t N, int64_t c0, int64_t len, scalar_t* block) {
  zero_n(block, N * kBlock);
  for (int64_t c = 0; c < len; ++c)
    for (int64_t m = 0; m < N; ++m) block[m * kBlock + c] = mat[(c0 + c) * N + m];
}

// The inverse of load_rows; kAdd adds into mat instead of assigning.
template <typename scalar_t, bool kAdd>
void store_rows(const scalar_t* block, int64_t N, int64_t c0, int64_t len, scalar_t* mat) {
  for (int64_t c = 0; c < len; ++c)
    for (int64_t m = 0; m < N; ++m) {
      scalar_t& dst = mat[(c0 + c) * N + m];
      dst = kAdd ? dst + block[m * kBlock + c] : block[m * kBlock + c];
    }
}

// ---- selective scan: parameters ----------------------------------------------------------------
template <typename scalar_t>
struct SelectiveScanParams {
  int64_t batch = 0, length = 0, channels = 0, state = 0;  // B, T, D, N
  int64_t checkpoint = kDefaultCheckpoint;                 // steps per recomputed chunk
  const scalar_t* x = nullptr;                             // (B, T, D)
  const scalar_t* delta = nullptr;                         // (B, T, D)
  const scalar_t* A = nullptr;                             // (D, N)
  const scalar_t* Bm = nullptr;                            // (B, T, N)
  const scalar_t* Cm = nullptr;                            // (B, T, N)
  const scalar_t* h0 = nullptr;                            // (B, D, N) or nullptr (zero)
  scalar_t* y = nullptr;                                   // (B, T, D) output
  scalar_t* h_last = nullptr;                              // (B, D, N) output
  // (B, K, N, D), K = chunks(): the state before step k·checkpoint, channels innermost.
  scalar_t* ckpt = nullptr;

  int64_t chunks() const { return ceil_div(length, checkpoint); }
  int64_t blocks() const { return ceil_div(channels, kBlock); }
};

// Gradient buffers. The backward writes every element of dx and ddelta once, and ADDS into the
// others (zero those first).
template <typename scalar_t>
struct SelectiveScanGrads {
  const scalar_t* dy = nullptr;       // (B, T, D) upstream ∂L/∂y
  const scalar_t* dh_last = nullptr;  // (B, D, N) upstream ∂L/∂h_T, or nullptr (zero)
  scalar_t* dx = nullptr;             // (B, T, D)
  scalar_t* ddelta = nullptr;         // (B, T, D)
  scalar_t* dA = nullptr;             // (D, N)
  scalar_t* dB = nullptr;             // (B, T, N)
  scalar_t* dC = nullptr;             // (B, T, N)
  scalar_t* dh0 = nullptr;            // (B, D, N), or nullptr (not wanted)
};

// Per-thread scratch, sized once per parallel_for chunk (never inside the time loop).
template <typename scalar_t>
struct SelectiveWorkspace {
  SelectiveWorkspace(int64_t N, int64_t chunk_steps)
      : At(N * kBlock),
        h(N * kBlock),
        h_next(N * kBlock),
        carry(N * kBlock),
        dA(N * kBlock),
        hs((chunk_steps + 1) * N * kBlock),
        as(chunk_steps * N * kBlock),
        db_rows(ceil_div(N, kBlock) * kBlock * kBlock),
        dc_rows(ceil_div(N, kBlock) * kBlock * kBlock) {}
  std::vector<scalar_t> At;       // A[c, m] transposed, [m][c]
  std::vector<scalar_t> h;        // forward state
  std::vector<scalar_t> h_next;   // forward state being written
  std::vector<scalar_t> carry;    // backward κ = a_{t+1} dh_{t+1}
  std::vector<scalar_t> dA;       // backward Σ_t Δ_t dlog a_t of this block
  std::vector<scalar_t> hs;       // backward: h_{t0−1} .. h_{t1−1} of the current chunk
  std::vector<scalar_t> as;       // backward: a_{t0} .. a_{t1−1} of the current chunk
  std::vector<scalar_t> db_rows;  // backward: terms of dB_t, [m][c], rows past N stay zero
  std::vector<scalar_t> dc_rows;  // backward: terms of dC_t, likewise
  scalar_t dt[kBlock], xv[kBlock], dyv[kBlock], yv[kBlock], ddt[kBlock], dxv[kBlock];
};

// ---- selective scan: forward -------------------------------------------------------------------
// One step of §2.2.10 step 6 on a channel block ([m][c] state):
//   a_t = exp(Δ_t[c] A[c, m]),  h_t = a_t h_{t−1} + Δ_t[c] x_t[c] B_t[m],  y_t[c] = Σ_m C_t[m] h_t.
// kSaveA stores a_t (backward recomputation); kY accumulates y_t into yv.
template <typename scalar_t, bool kSaveA, bool kY>
inline void selective_step(int64_t N, const scalar_t* __restrict__ dt,
                           const scalar_t* __restrict__ xv, const scalar_t* __restrict__ Bt,
                           const scalar_t* __restrict__ Ct, const scalar_t* __restrict__ At,
                           const scalar_t* __restrict__ h_prev, scalar_t* __restrict__ h_next,
                           scalar_t* __restrict__ a_out, scalar_t* __restrict__ yv) {
  scalar_t dtx[kBlock];
  for (int64_t c = 0; c < kBlock; ++c) dtx[c] = dt[c] * xv[c];
  if constexpr (kY) zero_n(yv, kBlock);
  for (int64_t m = 0; m < N; ++m) {
    const scalar_t bm = Bt[m], cm = Ct[m];
    const scalar_t* __restrict__ am = At + m * kBlock;
    const scalar_t* __restrict__ hp = h_prev + m * kBlock;
    scalar_t* __restrict__ hn = h_next + m * kBlock;
    for (int64_t c = 0; c < kBlock; ++c) {
      const scalar_t a = fast_exp(dt[c] * am[c]);
      const scalar_t h = a * hp[c] + dtx[c] * bm;
      hn[c] = h;
      if constexpr (kSaveA) a_out[m * kBlock + c] = a;
      if constexpr (kY) yv[c] += cm * h;
    }
  }
}

// The whole time loop of one (batch row b, channel block c0..c0+len); stores the chunk states.
template <typename scalar_t>
void selective_forward_block(const SelectiveScanParams<scalar_t>& p, int64_t b, int64_t c0,
                             int64_t len, SelectiveWorkspace<scalar_t>& w) {
  const int64_t T = p.length, D = p.channels, N = p.state, K = p.chunks();
  load_rows(p.A, N, c0, len, w.At.data());
  if (p.h0 != nullptr) {
    load_rows(p.h0 + b * D * N, N, c0, len, w.h.data());
  } else {
    zero_n(w.h.data(), N * kBlock);
  }
  scalar_t* h = w.h.data();
  scalar_t* h_next = w.h_next.data();
  for (int64_t t = 0; t < T; ++t) {
    if (t % p.checkpoint == 0) {
      scalar_t* dst = p.ckpt + (b * K + t / p.checkpoint) * N * D + c0;
      for (int64_t m = 0; m < N; ++m) copy_n(h + m * kBlock, len, dst + m * D);
    }
    const int64_t off = (b * T + t) * D + c0;
    load_padded(p.delta + off, len, w.dt);
    load_padded(p.x + off, len, w.xv);
    selective_step<scalar_t, false, true>(N, w.dt, w.xv, p.Bm + (b * T + t) * N,
                                          p.Cm + (b * T + t) * N, w.At.data(), h, h_next, nullptr,
                                          w.yv);
    copy_n(w.yv, len, p.y + off);
    scalar_t* const done = h;  // ping-pong: h_next becomes the current state
    h = h_next;
    h_next = done;
  }
  store_rows<scalar_t, false>(h, N, c0, len, p.h_last + b * D * N);
}

template <typename scalar_t>
void selective_scan_forward(const SelectiveScanParams<scalar_t>& p) {
  const int64_t B = p.batch, T = p.length, N = p.state, blocks = p.blocks();
  if (B == 0 || blocks == 0) return;
  at::parallel_for(0, B * blocks, grain_for(T * kBlock * N), [&](int64_t begin, int64_t end) {
    SelectiveWorkspace<scalar_t> w(N, 0);
    for (int64_t item = begin; item < end; ++item) {
      const int64_t b = item / blocks, c0 = (item % blocks) * kBlock;
      selective_forward_block(p, b, c0, std::min(kBlock, p.channels - c0), w);
    }
  });
}

// ---- selective scan: backward ------------------------------------------------------------------
// A channel block as one vector (GCC/Clang vector extension; 64 bytes of float = one AVX-512
// register, two AVX2 ones), for the lane sums of the backward.
template <typename scalar_t>
struct BlockVec;
template <>
struct BlockVec<float> {
  typedef float type __attribute__((vector_size(kBlock * sizeof(float))));
};
template <>
struct BlockVec<double> {
  typedef double type __attribute__((vector_size(kBlock * sizeof(double))));
};

// out[r] += Σ_c rows[r·kBlock + c] for r < count (rows ≥ count must be zero), for 16 rows at
// once: rows are merged in pairs, each merge adding the two halves of both (a fixed tree, 15
// merges of two shuffles and an add, instead of 16 serial lane sums).
template <typename scalar_t>
inline void add_row_sums(const scalar_t* rows, int64_t count, scalar_t* out) {
  static_assert(kBlock == 16, "the merge tree below is written for 16 lanes");
  using V = typename BlockVec<scalar_t>::type;
  V r[16];
  for (int i = 0; i < 16; ++i) std::memcpy(&r[i], rows + i * kBlock, sizeof(V));
  V h8[8], h4[4], h2[2];
  for (int i = 0; i < 8; ++i)  // lanes: 8 partial sums of row 2i, then 8 of row 2i + 1
    h8[i] = __builtin_shufflevector(r[2 * i], r[2 * i + 1], 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19,
                                    20, 21, 22, 23) +
            __builtin_shufflevector(r[2 * i], r[2 * i + 1], 8, 9, 10, 11, 12, 13, 14, 15, 24, 25,
                                    26, 27, 28, 29, 30, 31);
  for (int i = 0; i < 4; ++i)  // 4 partial sums of each of rows 4i .. 4i + 3
    h4[i] = __builtin_shufflevector(h8[2 * i], h8[2 * i + 1], 0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18,
                                    19, 24, 25, 26, 27) +
            __builtin_shufflevector(h8[2 * i], h8[2 * i + 1], 4, 5, 6, 7, 12, 13, 14, 15, 20, 21,
                                    22, 23, 28, 29, 30, 31);
  for (int i = 0; i < 2; ++i)  // 2 partial sums of each of rows 8i .. 8i + 7
    h2[i] = __builtin_shufflevector(h4[2 * i], h4[2 * i + 1], 0, 1, 4, 5, 8, 9, 12, 13, 16, 17, 20,
                                    21, 24, 25, 28, 29) +
            __builtin_shufflevector(h4[2 * i], h4[2 * i + 1], 2, 3, 6, 7, 10, 11, 14, 15, 18, 19,
                                    22, 23, 26, 27, 30, 31);
  const V sums = __builtin_shufflevector(h2[0], h2[1], 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22,
                                         24, 26, 28, 30) +
                 __builtin_shufflevector(h2[0], h2[1], 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23,
                                         25, 27, 29, 31);
  for (int64_t i = 0; i < count; ++i) out[i] += sums[i];
}

// Differentiates selective_step in reverse time, carrying κ = a_{t+1} dh_{t+1} (§3.3.1 with the
// diagonal projection of §3.3.2, in log-gate form §3.3.3):
//   dh_t = C_t[m] dy_t[c] + κ              dC_t[m] += Σ_c dy_t[c] h_t[c, m]
//   dlog a_t = dh_t a_t h_{t−1}            dA[c, m] += Δ_t[c] dlog a_t
//   dΔ_t[c] += Σ_m (A[c, m] dlog a_t + dh_t B_t[m] x_t[c])
//   dx_t[c] += Σ_m dh_t Δ_t[c] B_t[m]       dB_t[m] += Σ_c dh_t Δ_t[c] x_t[c]
//   κ ← a_t dh_t
// The terms of the sums over c are written to db_rows / dc_rows ([m][c], N rounded up to 16
// rows, the rows past N kept zero) and summed 16 rows at a time by add_row_sums.
template <typename scalar_t>
inline void selective_reverse_step(
    int64_t N, const scalar_t* __restrict__ dt, const scalar_t* __restrict__ xv,
    const scalar_t* __restrict__ dyv, const scalar_t* __restrict__ Bt,
    const scalar_t* __restrict__ Ct, const scalar_t* __restrict__ At,
    const scalar_t* __restrict__ h_prev, const scalar_t* __restrict__ h_cur,
    const scalar_t* __restrict__ a_cur, scalar_t* __restrict__ carry, scalar_t* __restrict__ dA,
    scalar_t* __restrict__ ddt, scalar_t* __restrict__ dxv, scalar_t* __restrict__ db_rows,
    scalar_t* __restrict__ dc_rows, scalar_t* __restrict__ dB_t, scalar_t* __restrict__ dC_t) {
  scalar_t dtx[kBlock];
  for (int64_t c = 0; c < kBlock; ++c) {
    dtx[c] = dt[c] * xv[c];
    ddt[c] = scalar_t(0);
    dxv[c] = scalar_t(0);
  }
  for (int64_t m = 0; m < N; ++m) {
    const scalar_t bm = Bt[m], cm = Ct[m];
    const int64_t row = m * kBlock;
    for (int64_t c = 0; c < kBlock; ++c) {
      const scalar_t dh = carry[row + c] + cm * dyv[c];
      const scalar_t dlog_a = dh * a_cur[row + c] * h_prev[row + c];
      dc_rows[row + c] = dyv[c] * h_cur[row + c];
      db_rows[row + c] = dh * dtx[c];
      dA[row + c] += dlog_a * dt[c];
      ddt[c] += dlog_a * At[row + c] + dh * bm * xv[c];
      dxv[c] += dh * dt[c] * bm;
      carry[row + c] = a_cur[row + c] * dh;
    }
  }
  for (int64_t m0 = 0; m0 < N; m0 += kBlock) {
    const int64_t count = std::min(kBlock, N - m0);
    add_row_sums(db_rows + m0 * kBlock, count, dB_t + m0);
    add_row_sums(dc_rows + m0 * kBlock, count, dC_t + m0);
  }
}

// Reverse time loop of one (batch row b, channel block), chunk by chunk from the last: recompute
// the chunk's states from its stored start state, then run the adjoint over it. dB_row, dC_row
// are this row's (T, N) slices of the destination; dA_row is the (D, N) partial of row b.
template <typename scalar_t>
void selective_backward_block(const SelectiveScanParams<scalar_t>& p,
                              const SelectiveScanGrads<scalar_t>& g, int64_t b, int64_t c0,
                              int64_t len, scalar_t* dB_row, scalar_t* dC_row, scalar_t* dA_row,
                              SelectiveWorkspace<scalar_t>& w) {
  const int64_t T = p.length, D = p.channels, N = p.state, K = p.chunks(), NL = N * kBlock;
  load_rows(p.A, N, c0, len, w.At.data());
  if (g.dh_last != nullptr) {
    load_rows(g.dh_last + b * D * N, N, c0, len, w.carry.data());
  } else {
    zero_n(w.carry.data(), N * kBlock);
  }
  zero_n(w.dA.data(), N * kBlock);
  for (int64_t k = K - 1; k >= 0; --k) {
    const int64_t t0 = k * p.checkpoint, steps = std::min(p.checkpoint, T - t0);
    // hs[0] = the stored state before step t0, zero-padded.
    zero_n(w.hs.data(), NL);
    const scalar_t* src = p.ckpt + (b * K + k) * N * D + c0;
    for (int64_t m = 0; m < N; ++m) copy_n(src + m * D, len, w.hs.data() + m * kBlock);
    for (int64_t s = 0; s < steps; ++s) {
      const int64_t t = t0 + s, off = (b * T + t) * D + c0;
      load_padded(p.delta + off, len, w.dt);
      load_padded(p.x + off, len, w.xv);
      selective_step<scalar_t, true, false>(
          N, w.dt, w.xv, p.Bm + (b * T + t) * N, p.Cm + (b * T + t) * N, w.At.data(),
          w.hs.data() + s * NL, w.hs.data() + (s + 1) * NL, w.as.data() + s * NL, nullptr);
    }
    for (int64_t s = steps - 1; s >= 0; --s) {
      const int64_t t = t0 + s, off = (b * T + t) * D + c0;
      load_padded(p.delta + off, len, w.dt);
      load_padded(p.x + off, len, w.xv);
      load_padded(g.dy + off, len, w.dyv);
      selective_reverse_step(N, w.dt, w.xv, w.dyv, p.Bm + (b * T + t) * N, p.Cm + (b * T + t) * N,
                             w.At.data(), w.hs.data() + s * NL, w.hs.data() + (s + 1) * NL,
                             w.as.data() + s * NL, w.carry.data(), w.dA.data(), w.ddt, w.dxv,
                             w.db_rows.data(), w.dc_rows.data(), dB_row + t * N, dC_row + t * N);
      copy_n(w.ddt, len, g.ddelta + off);
      copy_n(w.dxv, len, g.dx + off);
    }
  }
  // dh0 = a_1 dh_1: the carry left after step 1.
  if (p.h0 != nullptr && g.dh0 != nullptr)
    store_rows<scalar_t, true>(w.carry.data(), N, c0, len, g.dh0 + b * D * N);
  store_rows<scalar_t, true>(w.dA.data(), N, c0, len, dA_row);
}

// out[e] += Σ_{s < S} parts[s·stride + e] for e < count, s in increasing order (fixed order at
// any thread count).
template <typename scalar_t>
void add_partials(const scalar_t* parts, int64_t S, int64_t stride, int64_t count, scalar_t* out) {
  at::parallel_for(0, count, grain_for(S), [&](int64_t begin, int64_t end) {
    for (int64_t s = 0; s < S; ++s) {
      const scalar_t* part = parts + s * stride;
      for (int64_t e = begin; e < end; ++e) out[e] += part[e];
    }
  });
}

template <typename scalar_t>
void selective_scan_backward(const SelectiveScanParams<scalar_t>& p,
                             const SelectiveScanGrads<scalar_t>& g) {
  const int64_t B = p.batch, T = p.length, D = p.channels, N = p.state, blocks = p.blocks();
  if (B == 0 || blocks == 0) return;
  // Backward items are (b, group of consecutive channel blocks); a group's blocks run one after
  // the other in one item, adding into the group's own dB/dC plane. One group: the plane is dB
  // and dC themselves; otherwise the planes are summed in group order afterwards.
  const int64_t per_group = ceil_div(blocks, std::min(blocks, ceil_div(kTargetItems, B)));
  const int64_t groups = ceil_div(blocks, per_group);
  const int64_t plane = B * T * N;
  std::vector<scalar_t> bc_parts;
  scalar_t* dB_planes = g.dB;
  scalar_t* dC_planes = g.dC;
  if (groups > 1) {
    bc_parts.assign(static_cast<size_t>(2 * groups * plane), scalar_t(0));
    dB_planes = bc_parts.data();
    dC_planes = bc_parts.data() + groups * plane;
  }
  std::vector<scalar_t> dA_parts(static_cast<size_t>(B * D * N), scalar_t(0));  // per batch row
  const int64_t steps = std::min(p.checkpoint, T);
  at::parallel_for(
      0, B * groups, grain_for(3 * T * per_group * kBlock * N), [&](int64_t begin, int64_t end) {
        SelectiveWorkspace<scalar_t> w(N, steps);
        for (int64_t item = begin; item < end; ++item) {
          const int64_t b = item / groups, group = item % groups;
          const int64_t first = group * per_group, last = std::min(blocks, first + per_group);
          const int64_t at = (groups > 1 ? group * plane : 0) + b * T * N;
          for (int64_t blk = first; blk < last; ++blk) {
            const int64_t c0 = blk * kBlock;
            selective_backward_block(p, g, b, c0, std::min(kBlock, D - c0), dB_planes + at,
                                     dC_planes + at, dA_parts.data() + b * D * N, w);
          }
        }
      });
  if (groups > 1) {
    add_partials(dB_planes, groups, plane, plane, g.dB);
    add_partials(dC_planes, groups, plane, plane, g.dC);
  }
  add_partials(dA_parts.data(), B, D * N, D * N, g.dA);
}

// ---- linear recurrence -------------------------------------------------------------------------
template <typename scalar_t>
struct LinearRecurrenceParams {
  int64_t batch = 0, length = 0, channels = 0;  // B, T, D
  const scalar_t* log_a = nullptr;              // (B, T, D)
  const scalar_t* u = nullptr;                  // (B, T, D)
  const scalar_t* h0 = nullptr;                 // (B, D) or nullptr (zero)
  scalar_t* h = nullptr;                        // (B, T, D) output; read back in the backward
  scalar_t* h_last = nullptr;                   // (B, D) output

  // Channels per work item. Each item walks its (b, channel range) through time; a whole row of
  // D channels is one contiguous stream through memory, which the hardware prefetchers follow,
  // while a part of a row is a strided one that restarts at every page (at D = 128 and T = 4096,
  // 64-channel items ran 3x slower than whole rows). So rows are split only as far as needed for
  // two items per thread, in multiples of 16 channels. Channels never interact here, so the
  // split changes no result.
  int64_t block() const {
    const int64_t want = 2 * static_cast<int64_t>(at::get_num_threads());
    const int64_t splits =
        std::clamp<int64_t>(ceil_div(want, std::max<int64_t>(1, batch)), 1, ceil_div(channels, 16));
    return ceil_div(ceil_div(channels, splits), 16) * 16;
  }
};

// The backward writes every element of dlog_a and du once and ADDS into dh0 (zero it first).
template <typename scalar_t>
struct LinearRecurrenceGrads {
  const scalar_t* dh = nullptr;       // (B, T, D) upstream ∂L/∂h_t
  const scalar_t* dh_last = nullptr;  // (B, D) upstream ∂L/∂h_T, or nullptr (zero)
  scalar_t* dlog_a = nullptr;         // (B, T, D)
  scalar_t* du = nullptr;             // (B, T, D)
  scalar_t* dh0 = nullptr;            // (B, D), or nullptr (not wanted)
};

// h_t = exp(log_a_t) h_{t−1} + u_t on one (b, channel block).
template <typename scalar_t>
void linear_forward_block(const LinearRecurrenceParams<scalar_t>& p, int64_t b, int64_t c0,
                          int64_t len, const scalar_t* zeros) {
  const int64_t T = p.length, D = p.channels;
  const scalar_t* prev = p.h0 != nullptr ? p.h0 + b * D + c0 : zeros;
  for (int64_t t = 0; t < T; ++t) {
    const int64_t off = (b * T + t) * D + c0;
    const scalar_t* __restrict__ la = p.log_a + off;
    const scalar_t* __restrict__ u = p.u + off;
    const scalar_t* __restrict__ hp = prev;
    scalar_t* __restrict__ hn = p.h + off;
    for (int64_t c = 0; c < len; ++c) hn[c] = fast_exp(la[c]) * hp[c] + u[c];
    prev = hn;
  }
  copy_n(prev, len, p.h_last + b * D + c0);
}

// One reverse step on `len` channels: μ = g + κ, du = μ, dlog_a = μ a h_{t−1}, κ ← a μ.
template <typename scalar_t>
inline void linear_reverse_step(int64_t len, const scalar_t* __restrict__ log_a,
                                const scalar_t* __restrict__ grad_h,
                                const scalar_t* __restrict__ h_prev, scalar_t* __restrict__ carry,
                                scalar_t* __restrict__ du, scalar_t* __restrict__ dlog_a) {
  for (int64_t c = 0; c < len; ++c) {
    const scalar_t mu = grad_h[c] + carry[c];
    const scalar_t a = fast_exp(log_a[c]);
    du[c] = mu;
    dlog_a[c] = mu * a * h_prev[c];
    carry[c] = a * mu;
  }
}

// Reverse-time adjoint of linear_forward_block (§3.3.1, n = 1; §3.3.3 log-gate form), carrying
// κ = a_{t+1} μ_{t+1}:  μ_t = g_t + κ (μ_T = g_T + ∂L/∂h_T),  du_t = μ_t,
// dlog_a_t = μ_t a_t h_{t−1},  κ ← a_t μ_t,  and finally dh0 += a_1 μ_1 = κ.
template <typename scalar_t>
void linear_backward_block(const LinearRecurrenceParams<scalar_t>& p,
                           const LinearRecurrenceGrads<scalar_t>& g, int64_t b, int64_t c0,
                           int64_t len, const scalar_t* zeros, scalar_t* carry) {
  const int64_t T = p.length, D = p.channels;
  if (g.dh_last != nullptr) {
    copy_n(g.dh_last + b * D + c0, len, carry);
  } else {
    zero_n(carry, len);
  }
  const scalar_t* h0 = p.h0 != nullptr ? p.h0 + b * D + c0 : zeros;
  for (int64_t t = T - 1; t >= 0; --t) {
    const int64_t off = (b * T + t) * D + c0;
    linear_reverse_step(len, p.log_a + off, g.dh + off, t > 0 ? p.h + off - D : h0, carry,
                        g.du + off, g.dlog_a + off);
  }
  if (p.h0 != nullptr && g.dh0 != nullptr) {
    scalar_t* dh0 = g.dh0 + b * D + c0;
    for (int64_t c = 0; c < len; ++c) dh0[c] += carry[c];
  }
}

// Runs body(b, c0, len, zeros, scratch) over every (batch row, channel range) item in parallel;
// zeros and scratch are per-thread buffers of the item width (zeros stays zero).
template <typename scalar_t, typename Body>
void for_each_linear_item(const LinearRecurrenceParams<scalar_t>& p, const Body& body) {
  const int64_t B = p.batch, D = p.channels;
  if (B == 0 || D == 0) return;
  const int64_t width = p.block(), blocks = ceil_div(D, width);
  at::parallel_for(0, B * blocks, grain_for(p.length * width), [&](int64_t begin, int64_t end) {
    std::vector<scalar_t> zeros(width, scalar_t(0)), scratch(width);
    for (int64_t item = begin; item < end; ++item) {
      const int64_t b = item / blocks, c0 = (item % blocks) * width;
      body(b, c0, std::min(width, D - c0), zeros.data(), scratch.data());
    }
  });
}

template <typename scalar_t>
void linear_recurrence_forward(const LinearRecurrenceParams<scalar_t>& p) {
  for_each_linear_item(
      p, [&](int64_t b, int64_t c0, int64_t len, const scalar_t* zeros, scalar_t* /*scratch*/) {
        linear_forward_block(p, b, c0, len, zeros);
      });
}

template <typename scalar_t>
void linear_recurrence_backward(const LinearRecurrenceParams<scalar_t>& p,
                                const LinearRecurrenceGrads<scalar_t>& g) {
  for_each_linear_item(
      p, [&](int64_t b, int64_t c0, int64_t len, const scalar_t* zeros, scalar_t* carry) {
        linear_backward_block(p, g, b, c0, len, zeros, carry);
      });
}

// ---- autograd shells ---------------------------------------------------------------------------
using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

torch::Tensor contiguous_or_undefined(const torch::Tensor& t) {
  return t.defined() ? t.contiguous() : t;
}

template <typename scalar_t>
const scalar_t* ptr_or_null(const torch::Tensor& t) {
  return t.defined() ? t.data_ptr<scalar_t>() : nullptr;
}

template <typename scalar_t>
scalar_t* mutable_ptr_or_null(torch::Tensor& t) {
  return t.defined() ? t.data_ptr<scalar_t>() : nullptr;
}

template <typename scalar_t>
SelectiveScanParams<scalar_t> selective_params(const variable_list& in, int64_t checkpoint) {
  // in = {x, delta, A, Bm, Cm, h0, ckpt}, all contiguous (h0 may be undefined).
  SelectiveScanParams<scalar_t> p;
  p.batch = in[0].size(0);
  p.length = in[0].size(1);
  p.channels = in[0].size(2);
  p.state = in[2].size(1);
  p.checkpoint = checkpoint;
  p.x = in[0].data_ptr<scalar_t>();
  p.delta = in[1].data_ptr<scalar_t>();
  p.A = in[2].data_ptr<scalar_t>();
  p.Bm = in[3].data_ptr<scalar_t>();
  p.Cm = in[4].data_ptr<scalar_t>();
  p.h0 = ptr_or_null<scalar_t>(in[5]);
  p.ckpt = in[6].data_ptr<scalar_t>();
  return p;
}

// h0 is a c10::optional so that LibTorch 1.13's Function::apply skips it when absent (it cannot
// record an undefined tensor); backward then returns an undefined gradient in its place.
class SelectiveScanFunction : public torch::autograd::Function<SelectiveScanFunction> {
 public:
  static variable_list forward(AutogradContext* ctx, const torch::Tensor& x_in,
                               const torch::Tensor& delta_in, const torch::Tensor& A_in,
                               const torch::Tensor& Bm_in, const torch::Tensor& Cm_in,
                               const c10::optional<torch::Tensor>& h0_in, int64_t checkpoint) {
    const auto h0_arg = h0_in.value_or(torch::Tensor());
    detail::check_selective_scan_inputs("selective_scan_fused", x_in, delta_in, A_in, Bm_in, Cm_in,
                                        h0_arg);
    TORCH_CHECK(x_in.device().is_cpu(), "selective_scan_fused: CPU tensors only, got ",
                x_in.device());
    TORCH_CHECK(checkpoint >= 1, "selective_scan_fused: checkpoint must be >= 1, got ", checkpoint);
    const int64_t B = x_in.size(0), T = x_in.size(1), D = x_in.size(2), N = A_in.size(1);
    variable_list in{x_in.contiguous(),
                     delta_in.contiguous(),
                     A_in.contiguous(),
                     Bm_in.contiguous(),
                     Cm_in.contiguous(),
                     contiguous_or_undefined(h0_arg),
                     torch::empty({B, ceil_div(T, checkpoint), N, D}, x_in.options())};
    auto y = torch::empty({B, T, D}, x_in.options());
    auto h_last = torch::empty({B, D, N}, x_in.options());
    AT_DISPATCH_FLOATING_TYPES(x_in.scalar_type(), "selective_scan_forward", [&] {
      auto p = selective_params<scalar_t>(in, checkpoint);
      p.y = y.data_ptr<scalar_t>();
      p.h_last = h_last.data_ptr<scalar_t>();
      selective_scan_forward(p);
    });
    ctx->save_for_backward(in);
    ctx->saved_data["checkpoint"] = checkpoint;
    return {y, h_last};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    const auto in = ctx->get_saved_variables();
    const int64_t checkpoint = ctx->saved_data["checkpoint"].toInt();
    const auto& x = in[0];
    const auto& h0 = in[5];
    auto dy = grad_outputs[0].defined() ? grad_outputs[0].contiguous() : torch::zeros_like(x);
    auto dh_last = contiguous_or_undefined(grad_outputs[1]);
    auto dx = torch::empty_like(x), ddelta = torch::empty_like(x);  // written once each
    auto dA = torch::zeros_like(in[2]), dB = torch::zeros_like(in[3]),
         dC = torch::zeros_like(in[4]);
    torch::Tensor dh0 = h0.defined() ? torch::zeros_like(h0) : torch::Tensor();
    AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "selective_scan_backward", [&] {
      SelectiveScanGrads<scalar_t> g;
      g.dy = dy.data_ptr<scalar_t>();
      g.dh_last = ptr_or_null<scalar_t>(dh_last);
      g.dx = dx.data_ptr<scalar_t>();
      g.ddelta = ddelta.data_ptr<scalar_t>();
      g.dA = dA.data_ptr<scalar_t>();
      g.dB = dB.data_ptr<scalar_t>();
      g.dC = dC.data_ptr<scalar_t>();
      g.dh0 = mutable_ptr_or_null<scalar_t>(dh0);
      selective_scan_backward(selective_params<scalar_t>(in, checkpoint), g);
    });
    // One gradient per forward argument; the last is the (non-tensor) checkpoint.
    return {dx, ddelta, dA, dB, dC, dh0, torch::Tensor()};
  }
};

class LinearRecurrenceFunction : public torch::autograd::Function<LinearRecurrenceFunction> {
 public:
  static variable_list forward(AutogradContext* ctx, const torch::Tensor& log_a_in,
                               const torch::Tensor& u_in,
                               const c10::optional<torch::Tensor>& h0_in) {
    const auto h0_arg = h0_in.value_or(torch::Tensor());
    detail::check_linear_recurrence_inputs("linear_recurrence_fused", log_a_in, u_in, h0_arg);
    TORCH_CHECK(log_a_in.device().is_cpu(), "linear_recurrence_fused: CPU tensors only, got ",
                log_a_in.device());
    const auto log_a = log_a_in.contiguous();
    const auto u = u_in.contiguous();
    const auto h0 = contiguous_or_undefined(h0_arg);
    auto h = torch::empty_like(log_a);
    auto h_last = torch::empty({log_a.size(0), log_a.size(2)}, log_a.options());
    AT_DISPATCH_FLOATING_TYPES(log_a.scalar_type(), "linear_recurrence_forward", [&] {
      LinearRecurrenceParams<scalar_t> p;
      p.batch = log_a.size(0);
      p.length = log_a.size(1);
      p.channels = log_a.size(2);
      p.log_a = log_a.data_ptr<scalar_t>();
      p.u = u.data_ptr<scalar_t>();
      p.h0 = ptr_or_null<scalar_t>(h0);
      p.h = h.data_ptr<scalar_t>();
      p.h_last = h_last.data_ptr<scalar_t>();
      linear_recurrence_forward(p);
    });
    ctx->save_for_backward({log_a, h0, h});
    return {h, h_last};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    const auto saved = ctx->get_saved_variables();
    const auto& log_a = saved[0];
    const auto& h0 = saved[1];
    const auto& h = saved[2];
    auto dh = grad_outputs[0].defined() ? grad_outputs[0].contiguous() : torch::zeros_like(h);
    auto dh_last = contiguous_or_undefined(grad_outputs[1]);
    auto dlog_a = torch::empty_like(log_a), du = torch::empty_like(log_a);  // written once each
    torch::Tensor dh0 = h0.defined() ? torch::zeros_like(h0) : torch::Tensor();
    AT_DISPATCH_FLOATING_TYPES(log_a.scalar_type(), "linear_recurrence_backward", [&] {
      LinearRecurrenceParams<scalar_t> p;
      p.batch = log_a.size(0);
      p.length = log_a.size(1);
      p.channels = log_a.size(2);
      p.log_a = log_a.data_ptr<scalar_t>();
      p.h0 = ptr_or_null<scalar_t>(h0);
      p.h = h.data_ptr<scalar_t>();  // read only in the backward
      LinearRecurrenceGrads<scalar_t> g;
      g.dh = dh.data_ptr<scalar_t>();
      g.dh_last = ptr_or_null<scalar_t>(dh_last);
      g.dlog_a = dlog_a.data_ptr<scalar_t>();
      g.du = du.data_ptr<scalar_t>();
      g.dh0 = mutable_ptr_or_null<scalar_t>(dh0);
      linear_recurrence_backward(p, g);
    });
    return {dlog_a, du, dh0};
  }
};

c10::optional<torch::Tensor> optional_tensor(const torch::Tensor& t) {
  return t.defined() ? c10::optional<torch::Tensor>(t) : c10::nullopt;
}

}  // namespace

std::pair<torch::Tensor, torch::Tensor> selective_scan_fused(
    const torch::Tensor& x, const torch::Tensor& delta, const torch::Tensor& A,
    const torch::Tensor& Bm, const torch::Tensor& Cm, const torch::Tensor& h0, int64_t checkpoint) {
  auto out = SelectiveScanFunction::apply(x, delta, A, Bm, Cm, optional_tensor(h0), checkpoint);
  return {out[0], out[1]};
}

std::pair<torch::Tensor, torch::Tensor> selective_scan_fused(
    const torch::Tensor& x, const torch::Tensor& delta, const torch::Tensor& A,
    const torch::Tensor& Bm, const torch::Tensor& Cm, const torch::Tensor& h0) {
  return selective_scan_fused(x, delta, A, Bm, Cm, h0, kDefaultCheckpoint);
}

std::pair<torch::Tensor, torch::Tensor> linear_recurrence_fused(const torch::Tensor& log_a,
                                                                const torch::Tensor& u,
                                                                const torch::Tensor& h0) {
  auto out = LinearRecurrenceFunction::apply(log_a, u, optional_tensor(h0));
  return {out[0], out[1]};
}

torch::Tensor detail::kernel_exp(const torch::Tensor& x) {
  TORCH_CHECK(x.device().is_cpu(), "kernel_exp: CPU tensors only, got ", x.device());
  const auto in = x.contiguous();
  auto out = torch::empty_like(in);
  AT_DISPATCH_FLOATING_TYPES(in.scalar_type(), "kernel_exp", [&] {
    const scalar_t* __restrict__ src = in.data_ptr<scalar_t>();
    scalar_t* __restrict__ dst = out.data_ptr<scalar_t>();
    for (int64_t i = 0; i < in.numel(); ++i) dst[i] = fast_exp(src[i]);
  });
  return out;
}

}  // namespace seqlab::core
