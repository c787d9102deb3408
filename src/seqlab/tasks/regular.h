// Regular languages and group automata (spec/tasks.md §1): parity_check, even_pairs,
// cycle_navigation, modular_arithmetic, c2xcn, dn and a5. Every task has a final readout: one
// class label per sequence, read at the last input symbol or at an appended query step (§1.2).
#pragma once
#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "seqlab/tasks/task.h"

namespace seqlab::tasks {

// The label function of each §1.3 row, one enumerator per automaton.
enum class RegularKind { kParity, kEvenPairs, kCycle, kModularArithmetic, kC2xCn, kDn, kA5 };

// Names the registry accepts for this family, in display order. `c2xc4`/`c2xc30` and `d4`/`d30`
// fix n; `c2xcn` and `dn` take n from TaskOptions::n (n >= 2).
std::vector<std::string> regular_task_names();
bool is_regular_task(const std::string& name);

// Exact label of `symbols` (spec §1.3-1.4) for task `task`; `n` is the group size of the generic
// `c2xcn`/`dn` (ignored otherwise, or must match the fixed n of `c2xc4` etc. when nonzero).
// The empty sequence gets the start state's label (0 for every task). Throws seqlab::UserError on
// a symbol outside the alphabet or, for modular_arithmetic, a sequence that is not
// "digit op digit ... digit".
int64_t regular_label(const std::string& task, const std::vector<int64_t>& symbols, int64_t n = 0);

// §1.4: EVEN (the 60 even permutations of 0..4 in lexicographic order) and the 60x2 transition
// table of the A5 automaton, as given in the spec.
const std::array<std::array<int8_t, 5>, 60>& a5_even_permutations();
const std::array<std::array<int8_t, 2>, 60>& a5_transition_table();

class RegularTask : public Task {
 public:
  // Throws seqlab::UserError on an unknown name or a bad n (see regular_task_names).
  explicit RegularTask(const TaskOptions& options);

  const TaskInfo& info() const override { return info_; }
  RegularKind kind() const { return kind_; }
  int64_t alphabet_size() const { return alphabet_; }  // D; the query token (if on) has id D
  int64_t group_n() const { return n_; }               // n for c2xcn / dn, else 0
  bool query_token() const { return query_; }

  // Sequence length actually produced for a requested `length` (modular_arithmetic: even L ->
  // L-1, §1.3), not counting the query step.
  int64_t effective_length(int64_t length) const;

  // Label of one symbol sequence (same as regular_label for this task's name and n).
  int64_t label(const int64_t* symbols, int64_t length) const;

  // Encodes given symbol rows (all the same length >= 1) as a batch: inputs (B, T) with the query
  // id appended when enabled, targets (B, T) = kIgnoreIndex except the label at position T-1.
  Batch encode(const std::vector<std::vector<int64_t>>& rows) const;

  // Symbols i.i.d. uniform (modular_arithmetic: digits at even, operators at odd positions),
  // drawn row by row with Rng::uniform_int only. Throws seqlab::UserError if length < 1 or
  // batch < 1.
  Batch sample(Rng& rng, int64_t batch, int64_t length) const override;

 private:
  RegularKind kind_;
  int64_t n_ = 0;
  int64_t alphabet_ = 0;
  bool query_ = false;
  TaskInfo info_;
};

}  // namespace seqlab::tasks
