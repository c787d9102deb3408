// DLR atomic tasks (spec/tasks.md §2.1). See dlr_atomic.h.
#include "seqlab/tasks/dlr_atomic.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "seqlab/util/error.h"

namespace seqlab::tasks {
namespace {

constexpr double kTwoPi = 6.283185307179586476925286766559;
constexpr uint64_t kFixedSeed = 0;  // masked_select_fixed / solve_fixed: "generator seed 0"

const std::vector<std::string>& names() {
  static const std::vector<std::string> n = {"shift",
                                             "cumsum",
                                             "cummax",
                                             "reverse",
                                             "sort",
                                             "masked_select",
                                             "masked_select_fixed",
                                             "solve",
                                             "solve_fixed",
                                             "context_shift",
                                             "mips"};
  return n;
}

double normal(Rng& rng) {
  return rng.normal();
}

std::vector<double> normals(Rng& rng, int64_t n) {
  std::vector<double> v(static_cast<size_t>(n));
  for (auto& x : v) x = normal(rng);
  return v;
}

// v / max|v| (∞-norm normalisation, §2.1 "Values").
std::vector<double> max_normalized(std::vector<double> v) {
  double m = 0;
  for (double x : v) m = std::max(m, std::abs(x));
  if (m > 0)
    for (auto& x : v) x /= m;
  return v;
}

// Gaussian vector of dimension d scaled to unit length.
void unit_vector(Rng& rng, int64_t d, double* out) {
  double s = 0;
  for (int64_t i = 0; i < d; ++i) {
    out[i] = normal(rng);
    s += out[i] * out[i];
  }
  s = std::sqrt(s);
  for (int64_t i = 0; i < d; ++i) out[i] /= s;
}

// Haar-random orthogonal N×N (row-major): Q of the QR decomposition of a Gaussian matrix with
// diag(R) > 0, by modified Gram–Schmidt on the columns in double. Deterministic, no LAPACK, so the
// same rng state gives the same matrix at any thread count. (The reference takes U Vᵀ of an SVD;
// both are Haar-distributed.)
std::vector<double> haar_orthogonal(Rng& rng, int64_t N) {
  std::vector<double> G = normals(rng, N * N);  // G[r * N + c]
  for (int64_t c = 0; c < N; ++c) {
    for (int64_t p = 0; p < c; ++p) {
      double dot = 0;
      for (int64_t r = 0; r < N; ++r) dot += G[r * N + p] * G[r * N + c];
      for (int64_t r = 0; r < N; ++r) G[r * N + c] -= dot * G[r * N + p];
    }
    double norm = 0;
    for (int64_t r = 0; r < N; ++r) norm += G[r * N + c] * G[r * N + c];
    norm = std::sqrt(norm);
    for (int64_t r = 0; r < N; ++r) G[r * N + c] /= norm;
  }
  return G;
}

// M distinct positions of {0..n−1}, sorted (partial Fisher–Yates).
std::vector<int64_t> distinct_positions(Rng& rng, int64_t n, int64_t M) {
  std::vector<int64_t> all(static_cast<size_t>(n));
  std::iota(all.begin(), all.end(), 0);
  for (int64_t i = 0; i < M; ++i) std::swap(all[i], all[i + rng.uniform_range(0, n - 1 - i)]);
  std::vector<int64_t> pos(all.begin(), all.begin() + M);
  std::sort(pos.begin(), pos.end());
  return pos;
}

}  // namespace

bool is_dlr_atomic_task(const std::string& name) {
  return std::find(names().begin(), names().end(), name) != names().end();
}
std::vector<std::string> dlr_atomic_task_names() {
  return names();
}

// ---- Pure target functions ----------------------------------------------------------------------
std::vector<double> position_cos(int64_t length_in) {
  std::vector<double> c(static_cast<size_t>(length_in));
  for (int64_t l = 0; l < length_in; ++l) c[l] = std::cos(kTwoPi * double(l) / double(length_in));
  return c;
}

std::vector<double> position_sin(int64_t length_in) {
  std::vector<double> s(static_cast<size_t>(length_in));
  for (int64_t l = 0; l < length_in; ++l) s[l] = std::sin(kTwoPi * double(l) / double(length_in));
  return s;
}

std::vector<std::vector<double>> shift_targets(const std::vector<double>& x, int64_t shifts) {
  const int64_t L = static_cast<int64_t>(x.size());
  if (shifts < 1 || L % shifts != 0)
    throw UserError("shift: length " + std::to_string(L) +
                    " must be divisible by task.shifts = " + std::to_string(shifts));
  std::vector<std::vector<double>> y(static_cast<size_t>(L), std::vector<double>(shifts, 0.0));
  for (int64_t h = 0; h < shifts; ++h) {
    const int64_t s = h * L / shifts;
    for (int64_t t = s; t < L; ++t) y[t][h] = x[t - s];
  }
  return y;
}

std::vector<double> cumsum_targets(const std::vector<double>& x) {
  std::vector<double> y(x.size());
  double s = 0;
  for (size_t t = 0; t < x.size(); ++t) {
    s += x[t];
    y[t] = s / std::sqrt(double(t + 1));
  }
  return y;
}

std::vector<double> cummax_targets(const std::vector<double>& x) {
  std::vector<double> y(x.size());
  for (size_t t = 0; t < x.size(); ++t) y[t] = t == 0 ? x[0] : std::max(y[t - 1], x[t]);
  return y;
}

std::vector<double> reverse_targets(const std::vector<double>& x) {
  return std::vector<double>(x.rbegin(), x.rend());
}

std::vector<double> sort_targets(const std::vector<double>& x) {
  std::vector<size_t> idx(x.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::stable_sort(idx.begin(), idx.end(), [&](size_t a, size_t b) {
    return std::abs(x[a] - x[0]) < std::abs(x[b] - x[0]);
  });
  std::vector<double> y;
  for (size_t i : idx) y.push_back(x[i]);
  return y;
}

std::vector<double> context_shift_sequence(const std::vector<double>& x, int64_t s) {
  const int64_t L = static_cast<int64_t>(x.size()) + 2;
  std::vector<double> seq = {std::cos(kTwoPi * double(s) / double(L)),
                             std::sin(kTwoPi * double(s) / double(L))};
  seq.insert(seq.end(), x.begin(), x.end());
  return seq;
}

std::vector<double> context_shift_targets(const std::vector<double>& seq, int64_t s) {
  std::vector<double> y(seq.size(), 0.0);
  for (size_t t = static_cast<size_t>(s); t < seq.size(); ++t) y[t] = seq[t - s];
  return y;
}

std::vector<double> masked_select_targets(const std::vector<double>& values,
                                          const std::vector<int64_t>& positions) {
  std::vector<double> y;
  for (int64_t p : positions) y.push_back(values[p]);
  return y;
}

int64_t solve_size(int64_t length) {
  int64_t N = 0;
  while ((N + 1) * (N + 1) + 2 * (N + 1) <= length) ++N;
  return N;
}

std::vector<double> solve_input(const std::vector<double>& A, const std::vector<double>& X,
                                int64_t length) {
  const int64_t N = static_cast<int64_t>(X.size());
  std::vector<double> v(static_cast<size_t>(length), 0.0);
  for (int64_t r = 0; r < N; ++r) {
    double b = 0;
    for (int64_t c = 0; c < N; ++c) {
      v[r * (N + 1) + c] = A[r * N + c];
      b += A[r * N + c] * X[c];
    }
    v[r * (N + 1) + N] = b;
  }
  return v;
}

std::vector<double> mips_targets(const std::vector<double>& q, const std::vector<double>& k,
                                 const std::vector<double>& v, int64_t dim) {
  const int64_t L = static_cast<int64_t>(q.size()) / dim;
  std::vector<double> y(q.size());
  for (int64_t i = 0; i < L; ++i) {
    int64_t best = 0;
    double best_score = -1e300;
    for (int64_t j = 0; j <= i; ++j) {
      double s = 0;
      for (int64_t d = 0; d < dim; ++d) s += q[i * dim + d] * k[j * dim + d];
      if (s > best_score) {
        best_score = s;
        best = j;
      }
    }
    for (int64_t d = 0; d < dim; ++d) y[i * dim + d] = v[best * dim + d];
  }
  return y;
}

// ---- The task -----------------------------------------------------------------------------------
DlrAtomicTask::DlrAtomicTask(const TaskOptions& options) : options_(options) {
  const auto& n = options.name;
  if (!is_dlr_atomic_task(n))
    throw UserError("unknown DLR atomic task '" + n + "' (valid: " + join_names(names()) + ")");
  if (options.query_token) throw UserError(n + ": task.query_token does not apply (regression)");
  if (options.shifts < 1) throw UserError("task.shifts must be >= 1");
  if (options.selected < 1) throw UserError("task.selected must be >= 1");
  if (options.mips_dim < 1) throw UserError("task.mips_dim must be >= 1");
  info_.name = n;
  info_.kind = TaskKind::kRegression;
  info_.readout = Readout::kPerToken;
  const int64_t positional = options.positional_features ? 2 : 0;
  info_.input_features = positional + (n == "mips"                        ? 3 * options.mips_dim
                                       : n.rfind("masked_select", 0) == 0 ? 2
                                                                          : 1);
  info_.output_dim = n == "shift" ? options.shifts : n == "mips" ? options.mips_dim : 1;
  info_.num_classes = info_.output_dim;  // the model's readout width
  static const std::vector<std::pair<std::string, std::string>> kDescriptions = {
      {"shift", "x shifted by h·L/H for h = 0..H−1 at once (H outputs)"},
      {"cumsum", "running sum divided by √(t+1)"},
      {"cummax", "running maximum"},
      {"reverse", "x reversed, read after L zeros"},
      {"sort", "x sorted by |x_j − x_0| (stable), read after L zeros"},
      {"masked_select", "the M marked values in order (marks random per sample)"},
      {"masked_select_fixed", "the M marked values in order (marks fixed)"},
      {"solve", "X from the flattened [A | AX], A random orthogonal"},
      {"solve_fixed", "X from the flattened [A | AX], A fixed"},
      {"context_shift", "shift by s, where s is encoded in the first two values"},
      {"mips", "v of the key with the largest inner product with q, causal"}};
  for (const auto& [name, text] : kDescriptions)
    if (name == n) info_.description = text + " (regression, §2.1)";
}

int64_t DlrAtomicTask::input_length(int64_t L) const {
  const auto& n = options_.name;
  if (n == "reverse" || n == "sort") return 2 * L;
  if (n.rfind("masked_select", 0) == 0) return 2 * options_.selected + L;
  return L;
}

int64_t DlrAtomicTask::output_length(int64_t L) const {
  const auto& n = options_.name;
  if (n.rfind("masked_select", 0) == 0) return options_.selected;
  if (n.rfind("solve", 0) == 0) return solve_size(L);
  return L;
}

Batch DlrAtomicTask::sample(Rng& rng, int64_t batch, int64_t L) const {
  const auto& n = options_.name;
  const int64_t min_length = n == "context_shift" ? 3 : n.rfind("solve", 0) == 0 ? 3 : 1;
  if (L < min_length)
    throw UserError(n + ": length " + std::to_string(L) + " is too short (at least " +
                    std::to_string(min_length) + ")");
  const int64_t Lin = input_length(L), lout = output_length(L);
  const int64_t F = info_.input_features, O = info_.output_dim, M = options_.selected;
  std::vector<float> in(static_cast<size_t>(batch * Lin * F), 0.0f);
  std::vector<float> out(static_cast<size_t>(batch * lout * O), 0.0f);
  const auto pc = position_cos(Lin), ps = position_sin(Lin);
  for (int64_t b = 0; b < batch; ++b) {
    float* xi = in.data() + b * Lin * F;
    float* yo = out.data() + b * lout * O;
    // Value channels first; the positional features are the last two channels.
    auto set_value = [&](int64_t l, int64_t ch, double v) { xi[l * F + ch] = float(v); };
    if (options_.positional_features)
      for (int64_t l = 0; l < Lin; ++l) {
        xi[l * F + F - 2] = float(pc[l]);
        xi[l * F + F - 1] = float(ps[l]);
      }
    if (n == "shift" || n == "cumsum" || n == "cummax" || n == "reverse" || n == "sort") {
      const auto x = max_normalized(normals(rng, L));
      for (int64_t l = 0; l < L; ++l) set_value(l, 0, x[l]);
      if (n == "shift") {
        const auto y = shift_targets(x, O);
        for (int64_t t = 0; t < L; ++t)
          for (int64_t h = 0; h < O; ++h) yo[t * O + h] = float(y[t][h]);
      } else {
        const auto y = n == "cumsum"    ? cumsum_targets(x)
                       : n == "cummax"  ? cummax_targets(x)
                       : n == "reverse" ? reverse_targets(x)
                                        : sort_targets(x);
        for (int64_t t = 0; t < L; ++t) yo[t] = float(y[t]);
      }
    } else if (n == "masked_select" || n == "masked_select_fixed") {
      const auto values = max_normalized(normals(rng, M + L));
      std::vector<int64_t> pos;
      if (n == "masked_select_fixed") {
        Rng fixed(kFixedSeed);
        pos = distinct_positions(fixed, M + L, M);
      } else {
        pos = distinct_positions(rng, M + L, M);
      }
      for (int64_t l = 0; l < M + L; ++l) set_value(l, 0, values[l]);
      for (int64_t p : pos) set_value(p, 1, 1.0);
      const auto y = masked_select_targets(values, pos);
      for (int64_t k = 0; k < M; ++k) yo[k] = float(y[k]);
    } else if (n == "solve" || n == "solve_fixed") {
      const int64_t N = lout;
      std::vector<double> A;
      if (n == "solve_fixed") {
        Rng fixed(kFixedSeed);
        A = haar_orthogonal(fixed, N);
      } else {
        A = haar_orthogonal(rng, N);
      }
      std::vector<double> X(static_cast<size_t>(N));
      unit_vector(rng, N, X.data());
      const auto v = solve_input(A, X, L);
      for (int64_t l = 0; l < L; ++l) set_value(l, 0, v[l]);
      for (int64_t k = 0; k < N; ++k) yo[k] = float(X[k]);
    } else if (n == "context_shift") {
      const int64_t s = rng.uniform_range(0, L - 3);
      const auto seq = context_shift_sequence(max_normalized(normals(rng, L - 2)), s);
      const auto y = context_shift_targets(seq, s);
      for (int64_t l = 0; l < L; ++l) {
        set_value(l, 0, seq[l]);
        yo[l] = float(y[l]);
      }
    } else {  // mips
      const int64_t D = options_.mips_dim;
      std::vector<double> q(L * D), k(L * D), v(L * D);
      for (int64_t l = 0; l < L; ++l) {
        unit_vector(rng, D, q.data() + l * D);
        unit_vector(rng, D, k.data() + l * D);
        unit_vector(rng, D, v.data() + l * D);
      }
      for (int64_t l = 0; l < L; ++l)
        for (int64_t d = 0; d < D; ++d) {
          set_value(l, d, q[l * D + d]);
          set_value(l, D + d, k[l * D + d]);
          set_value(l, 2 * D + d, v[l * D + d]);
        }
      const auto y = mips_targets(q, k, v, D);
      for (int64_t i = 0; i < L * D; ++i) yo[i] = float(y[i]);
    }
  }
  Batch out_batch;
  out_batch.inputs = torch::from_blob(in.data(), {batch, Lin, F}, torch::kFloat32).clone();
  out_batch.targets = torch::from_blob(out.data(), {batch, lout, O}, torch::kFloat32).clone();
  return out_batch;
}

}  // namespace seqlab::tasks
