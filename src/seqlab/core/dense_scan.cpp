// Fused dense-structure scan: kernels (forward and backward side by side) and the autograd shell.
// See dense_scan.h for the recurrence, shapes, gradient formulas and the determinism rule.
#include "seqlab/core/dense_scan.h"

#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <torch/autograd.h>

#include <algorithm>
#include <memory>
#include <vector>

#include "seqlab/core/simd.h"

namespace seqlab::core {
namespace {

using simd::kLanes;
using simd::load;
using simd::store;
using simd::vec_t;

// Mat-vec block: 8 vectors (64 floats, 32 doubles) of accumulators, enough independent FMA chains
// to hide their latency. Rank-k tile of the dA update: 4 rows × 2 vectors.
constexpr int64_t kMatvecVecs = 8;
constexpr int64_t kTileRows = 4;
constexpr int64_t kTileVecs = 2;

// Work per parallel chunk of at least ~32k multiply-adds, so small problems stay on one thread.
int64_t grain_for(int64_t work_per_item) {
  return std::max<int64_t>(1, (int64_t{1} << 15) / std::max<int64_t>(1, work_per_item));
}

// out[j] = v[j] + Σ_k mat[k][j] w[k] for j in [j0, j0 + kMatvecVecs·lanes); mat is row-major n×n,
// v may be null (zero). Every out[j] is summed in the fixed order v, k = 0..n−1.
template <typename scalar_t>
inline void matvec_t_block(scalar_t* out, const scalar_t* v, const scalar_t* mat, const scalar_t* w,
                           int64_t n, int64_t j0) {
  using V = vec_t<scalar_t>;
  constexpr int64_t L = kLanes<scalar_t>;
  V acc[kMatvecVecs];
  for (int64_t r = 0; r < kMatvecVecs; ++r) {
    acc[r] = v != nullptr ? load(v + j0 + r * L) : V{};
  }
  for (int64_t k = 0; k < n; ++k) {
    const scalar_t wk = w[k];
    const scalar_t* row = mat + k * n + j0;
    for (int64_t r = 0; r < kMatvecVecs; ++r) {
      acc[r] += wk * load(row + r * L);
    }
  }
  for (int64_t r = 0; r < kMatvecVecs; ++r) store(out + j0 + r * L, acc[r]);
}

// The same for the ragged tail j in [j0, n), accumulating in `out` (same summation order).
template <typename scalar_t>
inline void matvec_t_tail(scalar_t* __restrict__ out, const scalar_t* __restrict__ v,
                          const scalar_t* __restrict__ mat, const scalar_t* __restrict__ w,
                          int64_t n, int64_t j0) {
  for (int64_t j = j0; j < n; ++j) out[j] = v != nullptr ? v[j] : scalar_t(0);
  for (int64_t k = 0; k < n; ++k) {
    const scalar_t wk = w[k];
    const scalar_t* __restrict__ row = mat + k * n;
    for (int64_t j = j0; j < n; ++j) out[j] += row[j] * wk;
  }
}

// out = v + matᵀ w (all of length n). Forward: mat = Aᵀ stored row-major, so out = v + A w.
// Backward: mat = A, so out = g + Aᵀ λ. out must not alias v, mat or w.
template <typename scalar_t>
inline void matvec_t(scalar_t* out, const scalar_t* v, const scalar_t* mat, const scalar_t* w,
                     int64_t n) {
  constexpr int64_t W = kMatvecVecs * kLanes<scalar_t>;
  int64_t j0 = 0;
  for (; j0 + W <= n; j0 += W) matvec_t_block<scalar_t>(out, v, mat, w, n, j0);
  if (j0 < n) matvec_t_tail<scalar_t>(out, v, mat, w, n, j0);
}

// da[r][c] += lam[r] x[c]: one rank-1 contribution (§3.3.2 "dense": dA_i = dx_i x_{i−1}ᵀ).
template <typename scalar_t>
inline void outer_add(scalar_t* __restrict__ da, const scalar_t* __restrict__ lam,
                      const scalar_t* __restrict__ x, int64_t n) {
  for (int64_t r = 0; r < n; ++r) {
    const scalar_t l = lam[r];
    scalar_t* __restrict__ row = da + r * n;
    for (int64_t c = 0; c < n; ++c) row[c] += l * x[c];
  }
}

// out[r0 + i][c0 + j] += Σ_k lam[k][r0 + i] xs[k][c0 + j], k = 0..count−1 in order, for a full
// kTileRows × (kTileVecs·lanes) tile. Sums stay in registers and are added to `out` once.
template <typename scalar_t>
inline void rank_k_tile(scalar_t* out, int64_t n, const scalar_t* const* lam,
                        const scalar_t* const* xs, int64_t count, int64_t r0, int64_t c0) {
  using V = vec_t<scalar_t>;
  constexpr int64_t L = kLanes<scalar_t>;
  V acc[kTileRows][kTileVecs] = {};
  for (int64_t k = 0; k < count; ++k) {
    const scalar_t* l = lam[k] + r0;
    V x[kTileVecs];
    for (int64_t c = 0; c < kTileVecs; ++c) x[c] = load(xs[k] + c0 + c * L);
    for (int64_t i = 0; i < kTileRows; ++i) {
      const scalar_t li = l[i];
      for (int64_t c = 0; c < kTileVecs; ++c) acc[i][c] += li * x[c];
    }
  }
  for (int64_t i = 0; i < kTileRows; ++i) {
    for (int64_t c = 0; c < kTileVecs; ++c) {
      scalar_t* dst = out + (r0 + i) * n + c0 + c * L;
      store(dst, load(dst) + acc[i][c]);
    }
  }
}

// The same for a ragged tile (rows, cols at most the full tile), in scalar code.
template <typename scalar_t>
inline void rank_k_tile_tail(scalar_t* out, int64_t n, const scalar_t* const* lam,
                             const scalar_t* const* xs, int64_t count, int64_t r0, int64_t c0,
                             int64_t rows, int64_t cols) {
  constexpr int64_t C = kTileVecs * kLanes<scalar_t>;
  scalar_t acc[kTileRows][C] = {};
  for (int64_t k = 0; k < count; ++k) {
    for (int64_t i = 0; i < rows; ++i) {
      const scalar_t li = lam[k][r0 + i];
      for (int64_t j = 0; j < cols; ++j) acc[i][j] += li * xs[k][c0 + j];
    }
  }
  for (int64_t i = 0; i < rows; ++i) {
    for (int64_t j = 0; j < cols; ++j) out[(r0 + i) * n + c0 + j] += acc[i][j];
  }
}

// out (n×n) += Σ_k lam_k xs_kᵀ: the dA contributions of every token that uses one matrix.
template <typename scalar_t>
void rank_k_update(scalar_t* out, int64_t n, const scalar_t* const* lam, const scalar_t* const* xs,
                   int64_t count) {
  constexpr int64_t R = kTileRows, C = kTileVecs * kLanes<scalar_t>;
  for (int64_t r0 = 0; r0 < n; r0 += R) {
    const int64_t rows = std::min(R, n - r0);
    for (int64_t c0 = 0; c0 < n; c0 += C) {
      const int64_t cols = std::min(C, n - c0);
      if (rows == R && cols == C) {
        rank_k_tile<scalar_t>(out, n, lam, xs, count, r0, c0);
      } else {
        rank_k_tile_tail<scalar_t>(out, n, lam, xs, count, r0, c0, rows, cols);
      }
    }
  }
}

}  // namespace

// ---- forward ----------------------------------------------------------------------------------
// A (M,N,N), idx (B,T), u (B,T,N), h0 (B,N)|null -> x (B,T,N).
template <typename scalar_t>
void dense_scan_forward(const DenseScanParams<scalar_t>& p) {
  const int64_t B = p.batch, T = p.length, N = p.state, M = p.num_mats;
  if (B == 0 || T == 0 || N == 0) return;
  const int64_t NN = N * N;
  // x_t = A x_{t−1} + u_t runs over contiguous output rows in axpy form, which wants the columns
  // of each A contiguous: transpose the table once per call, at[m][col][row] = A[m][row][col].
  std::unique_ptr<scalar_t[]> at(new scalar_t[M * NN]);
  at::parallel_for(0, M, grain_for(NN), [&](int64_t m0, int64_t m1) {
    for (int64_t m = m0; m < m1; ++m) {
      const scalar_t* src = p.a + m * NN;
      scalar_t* dst = at.get() + m * NN;
      for (int64_t r = 0; r < N; ++r) {
        for (int64_t c = 0; c < N; ++c) dst[c * N + r] = src[r * N + c];
      }
    }
  });
  at::parallel_for(0, B, grain_for(T * NN), [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t* ib = p.idx + b * T;
      const scalar_t* ub = p.u + b * T * N;
      scalar_t* xb = p.x + b * T * N;
      const scalar_t* prev = p.h0 != nullptr ? p.h0 + b * N : nullptr;
      for (int64_t t = 0; t < T; ++t) {
        if (prev == nullptr) {
          std::copy(ub, ub + N, xb);  // x_0 = 0: x_1 = u_1
        } else {
          matvec_t(xb + t * N, ub + t * N, at.get() + ib[t] * NN, prev, N);
        }
        prev = xb + t * N;
      }
    }
  });
}

// ---- backward ---------------------------------------------------------------------------------
// Differentiates x_t = A_{idx_t} x_{t−1} + u_t (§3.3.1):
//   λ_T = g_T, λ_t = g_t + A_{t+1}ᵀ λ_{t+1};  du_t += λ_t;  dh0 += A_1ᵀ λ_1;
//   dA_{idx_t} += λ_t x_{t−1}ᵀ with x_0 = h0 (no term when h0 is zero).
template <typename scalar_t>
void dense_scan_backward(const DenseScanParams<scalar_t>& p, const DenseScanGrads<scalar_t>& g) {
  const int64_t B = p.batch, T = p.length, N = p.state, M = p.num_mats;
  if (B == 0 || T == 0 || N == 0) return;
  const int64_t NN = N * N, TN = T * N;
  const int64_t S = kDenseScanSeqBlock;
  const int64_t blocks = (B + S - 1) / S;
  const bool use_partials = g.da != nullptr && !p.idx_injective;
  std::unique_ptr<scalar_t[]> partials;
  if (use_partials) partials.reset(new scalar_t[blocks * M * NN]());  // zeroed

  at::parallel_for(0, blocks, grain_for(S * T * NN), [&](int64_t blk0, int64_t blk1) {
    // Scratch sized once per chunk: the adjoints of one block and its tokens grouped by matrix.
    std::vector<scalar_t> lam(S * TN), tmp(N);
    std::vector<int64_t> offsets, cursor;
    std::vector<const scalar_t*> lam_rows, x_rows;
    if (use_partials) {
      offsets.resize(M + 1);
      cursor.resize(M);
      lam_rows.resize(S * T);
      x_rows.resize(S * T);
    }
    for (int64_t blk = blk0; blk < blk1; ++blk) {
      const int64_t b0 = blk * S, b1 = std::min(B, b0 + S);
      for (int64_t b = b0; b < b1; ++b) {
        const int64_t* ib = p.idx + b * T;
        const scalar_t* gb = g.grad_x + b * TN;
        const scalar_t* xb = p.x + b * TN;
        scalar_t* lb = lam.data() + (b - b0) * TN;
        std::copy(gb + (T - 1) * N, gb + TN, lb + (T - 1) * N);  // λ_T = g_T
        for (int64_t t = T - 2; t >= 0; --t) {
          matvec_t(lb + t * N, gb + t * N, p.a + ib[t + 1] * NN, lb + (t + 1) * N, N);
        }
        if (g.du != nullptr) {
          scalar_t* dub = g.du + b * TN;
          for (int64_t e = 0; e < TN; ++e) dub[e] += lb[e];
        }
        if (g.dh0 != nullptr && p.h0 != nullptr) {
          matvec_t(tmp.data(), static_cast<const scalar_t*>(nullptr), p.a + ib[0] * NN, lb, N);
          scalar_t* d = g.dh0 + b * N;
          for (int64_t j = 0; j < N; ++j) d[j] += tmp[j];
        }
        if (g.da != nullptr && p.idx_injective) {  // one contribution per matrix: write it
          for (int64_t t = 0; t < T; ++t) {
            const scalar_t* xprev = t > 0 ? xb + (t - 1) * N : p.h0 ? p.h0 + b * N : nullptr;
            if (xprev != nullptr) outer_add(g.da + ib[t] * NN, lb + t * N, xprev, N);
          }
        }
      }
      if (!use_partials) continue;
      // Group the block's tokens by matrix (stable counting sort: (b, t) order within a matrix),
      // then one rank-k update per matrix into this block's partial buffer.
      const int64_t t_first = p.h0 != nullptr ? 0 : 1;  // x_0 = 0 contributes nothing
      std::fill(offsets.begin(), offsets.end(), 0);
      for (int64_t b = b0; b < b1; ++b) {
        for (int64_t t = t_first; t < T; ++t) ++offsets[p.idx[b * T + t] + 1];
      }
      for (int64_t m = 0; m < M; ++m) offsets[m + 1] += offsets[m];
      std::copy(offsets.begin(), offsets.end() - 1, cursor.begin());
      for (int64_t b = b0; b < b1; ++b) {
        const scalar_t* xb = p.x + b * TN;
        const scalar_t* lb = lam.data() + (b - b0) * TN;
        for (int64_t t = t_first; t < T; ++t) {
          const int64_t k = cursor[p.idx[b * T + t]]++;
          lam_rows[k] = lb + t * N;
          x_rows[k] = t > 0 ? xb + (t - 1) * N : p.h0 + b * N;
        }
      }
      scalar_t* part = partials.get() + blk * M * NN;
      for (int64_t m = 0; m < M; ++m) {
        const int64_t count = offsets[m + 1] - offsets[m];
        if (count > 0) {
          rank_k_update(part + m * NN, N, lam_rows.data() + offsets[m], x_rows.data() + offsets[m],
                        count);
        }
      }
    }
  });
  if (!use_partials) return;
  // dA += Σ_blocks partial, in block order for every element.
  at::parallel_for(0, M * NN, int64_t{1} << 14, [&](int64_t e0, int64_t e1) {
    for (int64_t blk = 0; blk < blocks; ++blk) {
      const scalar_t* src = partials.get() + blk * M * NN;
      for (int64_t e = e0; e < e1; ++e) g.da[e] += src[e];
    }
  });
}

template void dense_scan_forward<float>(const DenseScanParams<float>&);
template void dense_scan_forward<double>(const DenseScanParams<double>&);
template void dense_scan_backward<float>(const DenseScanParams<float>&,
                                         const DenseScanGrads<float>&);
template void dense_scan_backward<double>(const DenseScanParams<double>&,
                                          const DenseScanGrads<double>&);

// ---- autograd shell ---------------------------------------------------------------------------
namespace {

void check_inputs(const torch::Tensor& a, const torch::Tensor& idx, const torch::Tensor& u,
                  const torch::Tensor& h0) {
  TORCH_CHECK(a.defined() && idx.defined() && u.defined(),
              "dense_scan: A_table, idx and u must be defined");
  TORCH_CHECK(a.dim() == 3 && a.size(1) == a.size(2), "dense_scan: A_table must be (M, N, N), got ",
              a.sizes());
  TORCH_CHECK(a.scalar_type() == torch::kFloat32 || a.scalar_type() == torch::kFloat64,
              "dense_scan: A_table must be float32 or float64, got ", a.scalar_type());
  const int64_t N = a.size(1);
  TORCH_CHECK(u.dim() == 3 && u.size(2) == N, "dense_scan: u must be (B, T, N) with N = ", N,
              " from A_table, got ", u.sizes());
  TORCH_CHECK(u.scalar_type() == a.scalar_type(), "dense_scan: u dtype ", u.scalar_type(),
              " differs from A_table dtype ", a.scalar_type());
  const int64_t B = u.size(0), T = u.size(1);
  TORCH_CHECK(idx.scalar_type() == torch::kInt64, "dense_scan: idx must be int64, got ",
              idx.scalar_type());
  TORCH_CHECK(idx.dim() == 2 && idx.size(0) == B && idx.size(1) == T,
              "dense_scan: idx must be (B, T) = (", B, ", ", T, ") from u, got ", idx.sizes());
  for (const auto* t : {&a, &idx, &u}) {
    TORCH_CHECK(t->device().is_cpu(), "dense_scan: CPU tensors only, got one on ", t->device());
  }
  if (h0.defined()) {
    TORCH_CHECK(h0.dim() == 2 && h0.size(0) == B && h0.size(1) == N,
                "dense_scan: h0 must be (B, N) = (", B, ", ", N, "), got ", h0.sizes());
    TORCH_CHECK(h0.scalar_type() == a.scalar_type(), "dense_scan: h0 dtype ", h0.scalar_type(),
                " differs from A_table dtype ", a.scalar_type());
    TORCH_CHECK(h0.device().is_cpu(), "dense_scan: CPU tensors only, got h0 on ", h0.device());
  }
}

// Checks every idx value is in [0, M) and returns whether no value repeats (idx contiguous).
bool check_idx(const torch::Tensor& idx, int64_t M) {
  const int64_t* d = idx.data_ptr<int64_t>();
  const int64_t n = idx.numel(), T = idx.size(1);
  for (int64_t e = 0; e < n; ++e) {
    TORCH_CHECK(d[e] >= 0 && d[e] < M, "dense_scan: idx[", e / T, ", ", e % T, "] = ", d[e],
                " is outside [0, M) = [0, ", M, ")");
  }
  if (n > M) return false;
  std::vector<char> seen(M, 0);
  for (int64_t e = 0; e < n; ++e) {
    if (seen[d[e]]) return false;
    seen[d[e]] = 1;
  }
  return true;
}

torch::Tensor contiguous_or_undefined(const torch::Tensor& t) {
  return t.defined() ? t.contiguous() : t;
}

template <typename scalar_t>
DenseScanParams<scalar_t> make_params(const torch::Tensor& a, const torch::Tensor& idx,
                                      bool injective, const torch::Tensor& u,
                                      const torch::Tensor& h0, const torch::Tensor& x) {
  DenseScanParams<scalar_t> p;
  p.batch = x.size(0);
  p.length = x.size(1);
  p.state = x.size(2);
  p.num_mats = a.size(0);
  p.a = a.data_ptr<scalar_t>();
  p.idx = idx.data_ptr<int64_t>();
  p.idx_injective = injective;
  p.u = u.defined() ? u.data_ptr<scalar_t>() : nullptr;
  p.h0 = h0.defined() ? h0.data_ptr<scalar_t>() : nullptr;
  p.x = x.data_ptr<scalar_t>();
  return p;
}

class DenseScanFunction : public torch::autograd::Function<DenseScanFunction> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& a_in,
                               const torch::Tensor& idx_in, const torch::Tensor& u_in,
                               const c10::optional<torch::Tensor>& h0_opt) {
    const torch::Tensor h0_in = h0_opt.has_value() ? *h0_opt : torch::Tensor();
    check_inputs(a_in, idx_in, u_in, h0_in);
    const auto a = a_in.contiguous();
    const auto idx = idx_in.contiguous();
    const auto u = u_in.contiguous();
    const auto h0 = contiguous_or_undefined(h0_in);
    const bool injective = check_idx(idx, a.size(0));
    auto x = torch::empty(u.sizes(), u.options());
    AT_DISPATCH_FLOATING_TYPES(a.scalar_type(), "dense_scan_forward", [&] {
      dense_scan_forward<scalar_t>(make_params<scalar_t>(a, idx, injective, u, h0, x));
    });
    ctx->save_for_backward({a, idx, h0, x});
    ctx->saved_data["idx_injective"] = injective;
    return x;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_outputs) {
    const auto saved = ctx->get_saved_variables();
    const auto& a = saved[0];
    const auto& idx = saved[1];
    const auto& h0 = saved[2];
    const auto& x = saved[3];
    const bool injective = ctx->saved_data["idx_injective"].toBool();
    const auto grad_x = grad_outputs[0].contiguous();
    torch::Tensor da, du, dh0;
    if (ctx->needs_input_grad(0)) da = torch::zeros_like(a);
    if (ctx->needs_input_grad(2)) du = torch::zeros_like(x);
    if (h0.defined() && ctx->needs_input_grad(3)) dh0 = torch::zeros_like(h0);
    AT_DISPATCH_FLOATING_TYPES(a.scalar_type(), "dense_scan_backward", [&] {
      DenseScanGrads<scalar_t> g;
      g.grad_x = grad_x.data_ptr<scalar_t>();
      g.da = da.defined() ? da.data_ptr<scalar_t>() : nullptr;
      g.du = du.defined() ? du.data_ptr<scalar_t>() : nullptr;
      g.dh0 = dh0.defined() ? dh0.data_ptr<scalar_t>() : nullptr;
      dense_scan_backward<scalar_t>(
          make_params<scalar_t>(a, idx, injective, torch::Tensor(), h0, x), g);
    });
    return {da, torch::Tensor(), du, dh0};
  }
};

}  // namespace

torch::Tensor dense_scan(const torch::Tensor& a_table, const torch::Tensor& idx,
                         const torch::Tensor& u, const torch::Tensor& h0) {
  // An absent h0 travels as an empty optional: the autograd shell only accepts defined tensors.
  const c10::optional<torch::Tensor> h0_opt =
      h0.defined() ? c10::optional<torch::Tensor>(h0) : c10::nullopt;
  return DenseScanFunction::apply(a_table, idx, u, h0_opt);
}

}  // namespace seqlab::core
