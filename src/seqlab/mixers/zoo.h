// The mixer zoo: options shared by every zoo mixer, and the registry that builds one by name
// (spec/mixers.md §2.1). `seqlab list mixers` prints mixer_infos().
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "seqlab/core/scan_types.h"
#include "seqlab/mixers/mixer.h"

namespace seqlab::mixers {

// Sizes of one zoo mixer. Each mixer documents which fields it reads; the defaults are small
// CPU sizes, not the papers' (spec §5.5 lists those).
struct ZooOptions {
  int64_t d_model = 64;
  int64_t heads = 2;
  int64_t head_dim = 0;     // key (state) dimension per head; 0 = d_model / heads
  int64_t state_size = 16;  // N per channel for channel-wise SSMs (S6)
  int64_t expand = 1;       // inner width = expand · d_model (Mamba, qLSTM, mLSTM)
  int64_t conv_size = 4;    // short causal convolution kernel (§5.3); 0 = none
  int64_t chunk_size = 64;  // chunk length C of the chunked path (§3.2)
  core::ScanPath path = core::ScanPath::kFused;
  bool allow_neg_eigval = false;  // DeltaNet family: β ∈ (0, 2) (§2.2.17)
  std::string variant;            // "" = default; normalized_attention: dsf | companion (§2.2.5)
  int64_t dict_size = 8;          // SD-SSM dictionary size K (§2.2.20)
  double lp = 1.2;                // SD-SSM column-normalization exponent p (§2.2.20)
  bool renorm_state = false;      // sdssm_block: power-of-two state rescaling at inference (§3.4)
  double scale_eigv = 1.0;        // complex diagonal: eigenvalue scale s (§2.2.21)
  // LTI mixers (dlr, s4d, dss, lru; §2.2.7-2.2.9); 0 / "default" keep the family's default.
  bool bidirectional = false;
  int64_t max_kernel_length = 0;
  int64_t lti_channels = 1;
  double dt_min = 0.0, dt_max = 0.0;
  std::string lti_output = "default";  // default | linear | glu
  std::string kernel_to_real = "real";
  std::string dlr_version;
  std::string lambda_init = "omega";
  std::string s4d_init = "lin";
  std::string discretization = "zoh";
  double r_min = 0.0, r_max = 1.0, max_phase = 6.28;
};

struct MixerInfo {
  std::string name;
  std::string description;
  Structure structure;
  std::string state_formula;       // floats per sequence, in terms of ZooOptions fields
  std::vector<std::string> paths;  // of "recurrent", "chunked", "fused CPU", "CUDA", "explicit"
  std::function<std::shared_ptr<Mixer>(const ZooOptions&)> make;
};

const std::vector<MixerInfo>& mixer_infos();
std::vector<std::string> mixer_names();
// Throws seqlab::UserError naming the valid mixers on an unknown name, or naming the option on a
// bad size.
std::shared_ptr<Mixer> make_mixer(const std::string& name, const ZooOptions& options);

}  // namespace seqlab::mixers
