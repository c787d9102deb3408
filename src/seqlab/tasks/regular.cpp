// Regular languages and group automata, spec/tasks.md §1.2-1.4.
#include "seqlab/tasks/regular.h"

#include <torch/torch.h>

#include <string>

#include "seqlab/util/error.h"

namespace seqlab::tasks {
namespace {

// One accepted task name: its automaton and, for c2xc4-style names, the fixed group size
// (0 = none; -1 = taken from TaskOptions::n).
struct NameEntry {
  const char* name;
  RegularKind kind;
  int64_t fixed_n;
};

constexpr NameEntry kNames[] = {
    {"parity_check", RegularKind::kParity, 0},
    {"even_pairs", RegularKind::kEvenPairs, 0},
    {"cycle_navigation", RegularKind::kCycle, 0},
    {"modular_arithmetic", RegularKind::kModularArithmetic, 0},
    {"c2xc4", RegularKind::kC2xCn, 4},
    {"c2xc30", RegularKind::kC2xCn, 30},
    {"c2xcn", RegularKind::kC2xCn, -1},
    {"d4", RegularKind::kDn, 4},
    {"d30", RegularKind::kDn, 30},
    {"dn", RegularKind::kDn, -1},
    {"a5", RegularKind::kA5, 0},
};

// §1.3 modular_arithmetic ids.
constexpr int64_t kPlus = 5, kMinus = 6, kTimes = 7;
constexpr int64_t kModulus = 5;

// §1.4 EVEN, by index.
constexpr const char* kEvenDigits[60] = {
    "01234", "01342", "01423", "02143", "02314", "02431", "03124", "03241", "03412", "04132",
    "04213", "04321", "10243", "10324", "10432", "12034", "12340", "12403", "13042", "13204",
    "13420", "14023", "14230", "14302", "20134", "20341", "20413", "21043", "21304", "21430",
    "23014", "23140", "23401", "24031", "24103", "24310", "30142", "30214", "30421", "31024",
    "31240", "31402", "32041", "32104", "32410", "34012", "34120", "34201", "40123", "40231",
    "40312", "41032", "41203", "41320", "42013", "42130", "42301", "43021", "43102", "43210",
};

// §1.4 transition table: state -> {next on action 0, next on action 1}.
constexpr std::array<std::array<int8_t, 2>, 60> kA5Next = {{
    {16, 13}, {20, 14}, {22, 12}, {29, 26}, {31, 24}, {35, 25},  //
    {40, 37}, {44, 38}, {46, 36}, {53, 50}, {55, 48}, {59, 49},  //
    {5, 2},   {7, 0},   {11, 1},  {25, 28}, {32, 29}, {33, 27},  //
    {38, 41}, {42, 39}, {47, 40}, {49, 52}, {56, 53}, {57, 51},  //
    {1, 4},   {8, 5},   {9, 3},   {14, 17}, {18, 15}, {23, 16},  //
    {36, 43}, {41, 44}, {45, 42}, {50, 56}, {51, 54}, {58, 55},  //
    {2, 8},   {3, 6},   {10, 7},  {12, 19}, {17, 20}, {21, 18},  //
    {26, 32}, {27, 30}, {34, 31}, {48, 58}, {52, 59}, {54, 57},  //
    {0, 10},  {4, 11},  {6, 9},   {13, 23}, {15, 21}, {19, 22},  //
    {24, 34}, {28, 35}, {30, 33}, {37, 47}, {39, 45}, {43, 46},  //
}};

const NameEntry* find_name(const std::string& name) {
  for (const auto& e : kNames)
    if (name == e.name) return &e;
  return nullptr;
}

// Resolves (name, TaskOptions::n) to the automaton and its group size, with the n rules of
// regular_task_names().
const NameEntry& resolve(const std::string& name, int64_t n, int64_t* group_n) {
  const NameEntry* e = find_name(name);
  if (e == nullptr)
    throw UserError("unknown task '" + name + "' (valid: " + join_names(regular_task_names()) +
                    ")");
  if (e->fixed_n == 0) {
    if (n != 0)
      throw UserError("task '" + name + "' has no group size, but task.n = " + std::to_string(n));
    *group_n = 0;
  } else if (e->fixed_n > 0) {
    if (n != 0 && n != e->fixed_n)
      throw UserError("task '" + name + "' has n = " + std::to_string(e->fixed_n) +
                      " but task.n = " + std::to_string(n) + "; use '" +
                      (e->kind == RegularKind::kC2xCn ? "c2xcn" : "dn") + "' for other n");
    *group_n = e->fixed_n;
  } else {
    if (n < 2)
      throw UserError("task '" + name + "' needs task.n >= 2 (got " + std::to_string(n) + ")");
    *group_n = n;
  }
  return *e;
}

int64_t alphabet_of(RegularKind kind) {
  switch (kind) {
    case RegularKind::kCycle:
      return 3;
    case RegularKind::kModularArithmetic:
      return 9;  // digits 0-4, + 5, - 6, * 7, blank 8 (never generated), §1.3
    default:
      return 2;
  }
}

int64_t classes_of(RegularKind kind, int64_t n) {
  switch (kind) {
    case RegularKind::kParity:
    case RegularKind::kEvenPairs:
      return 2;
    case RegularKind::kCycle:
    case RegularKind::kModularArithmetic:
      return kModulus;
    case RegularKind::kC2xCn:
    case RegularKind::kDn:
      return 2 * n;
    case RegularKind::kA5:
      return 60;
  }
  return 0;
}

std::string describe(RegularKind kind, int64_t n) {
  const std::string ns = std::to_string(n);
  switch (kind) {
    case RegularKind::kParity:
      return "parity of the number of 1s in a bit string (C2)";
    case RegularKind::kEvenPairs:
      return "parity of the number of unequal neighbours, i.e. first bit != last bit";
    case RegularKind::kCycle:
      return "position on a 5-cycle after steps -1/0/+1 (C5)";
    case RegularKind::kModularArithmetic:
      return "value mod 5 of d op d ... d with ops +, -, * (* binds tighter)";
    case RegularKind::kC2xCn:
      return "state of the abelian group C2 x C" + ns + " under toggle/move (" +
             std::to_string(2 * n) + " classes)";
    case RegularKind::kDn:
      return "state of the dihedral group D" + ns + " under toggle/move (" + std::to_string(2 * n) +
             " classes)";
    case RegularKind::kA5:
      return "state of the alternating group A5 under a 5-cycle and a double transposition";
  }
  return "";
}

[[noreturn]] void bad_symbol(int64_t pos, int64_t symbol) {
  throw UserError("symbol " + std::to_string(symbol) + " at position " + std::to_string(pos) +
                  " is outside the task's alphabet");
}

// The label of x[0..len) for automaton `kind` with group size n (§1.3-1.4).
int64_t label_of(RegularKind kind, int64_t n, const int64_t* x, int64_t len) {
  const int64_t alphabet = kind == RegularKind::kModularArithmetic ? 8 : alphabet_of(kind);
  for (int64_t t = 0; t < len; ++t)
    if (x[t] < 0 || x[t] >= alphabet) bad_symbol(t, x[t]);
  switch (kind) {
    case RegularKind::kParity: {
      int64_t s = 0;
      for (int64_t t = 0; t < len; ++t) s ^= x[t];
      return s;
    }
    case RegularKind::kEvenPairs:  // #{t : x_t != x_{t+1}} mod 2 == [x_1 != x_L]
      return len == 0 ? 0 : static_cast<int64_t>(x[0] != x[len - 1]);
    case RegularKind::kCycle: {
      int64_t p = 0;
      for (int64_t t = 0; t < len; ++t) p = (p + x[t] - 1 + kModulus) % kModulus;
      return p;
    }
    case RegularKind::kModularArithmetic: {
      // Terms split on +/-, each the product of its digits, negated after '-'; reduced mod 5 at
      // every step (exact). Even positions hold digits, odd positions operators.
      if (len == 0) return 0;
      if (len % 2 == 0)
        throw UserError("modular_arithmetic expression has even length " + std::to_string(len) +
                        " (must be digit op digit ... digit)");
      for (int64_t t = 0; t < len; ++t) {
        const bool digit = x[t] < kModulus;
        if (digit != (t % 2 == 0))
          throw UserError("modular_arithmetic symbol " + std::to_string(x[t]) + " at position " +
                          std::to_string(t) + ": expected a " +
                          (t % 2 == 0 ? "digit (0-4)" : "operator (5-7)"));
      }
      int64_t total = 0, term = x[0];
      bool negate = false;
      for (int64_t t = 1; t < len; t += 2) {
        const int64_t op = x[t], d = x[t + 1];
        if (op == kTimes) {
          term = term * d % kModulus;
        } else {
          total = (total + (negate ? kModulus - term : term)) % kModulus;
          negate = op == kMinus;
          term = d;
        }
      }
      return (total + (negate ? kModulus - term : term)) % kModulus;
    }
    case RegularKind::kC2xCn: {  // toggle: tau <- 1 - tau; move: p <- p + 1
      int64_t tau = 0, p = 0;
      for (int64_t t = 0; t < len; ++t) {
        if (x[t] == 0)
          tau ^= 1;
        else
          p = (p + 1) % n;
      }
      return n * tau + p;
    }
    case RegularKind::kDn: {  // toggle: tau <- 1 - tau; move: p <- p + (-1)^tau
      int64_t tau = 0, p = 0;
      for (int64_t t = 0; t < len; ++t) {
        if (x[t] == 0)
          tau ^= 1;
        else
          p = (p + (tau ? n - 1 : 1)) % n;
      }
      return n * tau + p;
    }
    case RegularKind::kA5: {
      int64_t s = 0;
      for (int64_t t = 0; t < len; ++t) s = kA5Next[s][x[t]];
      return s;
    }
  }
  return 0;
}

}  // namespace

std::vector<std::string> regular_task_names() {
  std::vector<std::string> out;
  for (const auto& e : kNames) out.emplace_back(e.name);
  return out;
}

bool is_regular_task(const std::string& name) {
  return find_name(name) != nullptr;
}

int64_t regular_label(const std::string& task, const std::vector<int64_t>& symbols, int64_t n) {
  int64_t group_n = 0;
  const NameEntry& e = resolve(task, n, &group_n);
  return label_of(e.kind, group_n, symbols.data(), static_cast<int64_t>(symbols.size()));
}

const std::array<std::array<int8_t, 5>, 60>& a5_even_permutations() {
  static const auto table = [] {
    std::array<std::array<int8_t, 5>, 60> t{};
    for (int i = 0; i < 60; ++i)
      for (int m = 0; m < 5; ++m) t[i][m] = static_cast<int8_t>(kEvenDigits[i][m] - '0');
    return t;
  }();
  return table;
}

const std::array<std::array<int8_t, 2>, 60>& a5_transition_table() {
  return kA5Next;
}

RegularTask::RegularTask(const TaskOptions& options) : query_(options.query_token) {
  const NameEntry& e = resolve(options.name, options.n, &n_);
  kind_ = e.kind;
  alphabet_ = alphabet_of(kind_);
  info_.name = options.name;
  info_.vocab_size = alphabet_ + (query_ ? 1 : 0);
  info_.num_classes = classes_of(kind_, n_);
  info_.readout = Readout::kFinal;
  // The label depends only on the multiset of symbols for the abelian automata; D2 is abelian.
  info_.commutative = kind_ == RegularKind::kParity || kind_ == RegularKind::kCycle ||
                      kind_ == RegularKind::kC2xCn || (kind_ == RegularKind::kDn && n_ == 2);
  info_.description = describe(kind_, n_);
}

int64_t RegularTask::effective_length(int64_t length) const {
  if (kind_ == RegularKind::kModularArithmetic && length % 2 == 0) return length - 1;  // §1.3
  return length;
}

int64_t RegularTask::label(const int64_t* symbols, int64_t length) const {
  return label_of(kind_, n_, symbols, length);
}

Batch RegularTask::encode(const std::vector<std::vector<int64_t>>& rows) const {
  if (rows.empty()) throw UserError(info_.name + ": encode needs at least one sequence");
  const auto len = static_cast<int64_t>(rows[0].size());
  if (len < 1) throw UserError(info_.name + ": sequences must have length >= 1");
  const int64_t batch = static_cast<int64_t>(rows.size());
  const int64_t steps = len + (query_ ? 1 : 0);
  auto inputs = torch::empty({batch, steps}, torch::kInt64);
  auto targets = torch::full({batch, steps}, kIgnoreIndex, torch::kInt64);
  int64_t* in = inputs.data_ptr<int64_t>();
  int64_t* tg = targets.data_ptr<int64_t>();
  for (int64_t b = 0; b < batch; ++b) {
    const auto& row = rows[b];
    if (static_cast<int64_t>(row.size()) != len)
      throw UserError(info_.name + ": sequences in a batch must have the same length");
    int64_t* dst = in + b * steps;
    std::copy(row.begin(), row.end(), dst);
    if (query_) dst[len] = alphabet_;  // §1.2: one query step with id D
    tg[b * steps + steps - 1] = label(dst, len);
  }
  return {inputs, targets};
}

Batch RegularTask::sample(Rng& rng, int64_t batch, int64_t length) const {
  if (length < 1)
    throw UserError(info_.name + ": sequence length must be >= 1 (got " + std::to_string(length) +
                    ")");
  if (batch < 1)
    throw UserError(info_.name + ": batch size must be >= 1 (got " + std::to_string(batch) + ")");
  const int64_t len = effective_length(length);
  const int64_t steps = len + (query_ ? 1 : 0);
  auto inputs = torch::empty({batch, steps}, torch::kInt64);
  auto targets = torch::full({batch, steps}, kIgnoreIndex, torch::kInt64);
  int64_t* in = inputs.data_ptr<int64_t>();
  int64_t* tg = targets.data_ptr<int64_t>();
  static constexpr int64_t kOps[3] = {kPlus, kTimes, kMinus};  // uniform over {+, *, -}, §1.3
  const auto draw = static_cast<uint64_t>(alphabet_);
  for (int64_t b = 0; b < batch; ++b) {
    int64_t* row = in + b * steps;
    if (kind_ == RegularKind::kModularArithmetic) {
      for (int64_t t = 0; t < len; ++t)
        row[t] =
            t % 2 == 0 ? static_cast<int64_t>(rng.uniform_int(kModulus)) : kOps[rng.uniform_int(3)];
    } else {
      for (int64_t t = 0; t < len; ++t) row[t] = static_cast<int64_t>(rng.uniform_int(draw));
    }
    if (query_) row[len] = alphabet_;
    tg[b * steps + steps - 1] = label(row, len);
  }
  return {inputs, targets};
}

}  // namespace seqlab::tasks
