// LSTM baseline model (spec/mixers.md §2.3; readout of the IBM SD-SSM repo, applied per position).
#include "seqlab/model/lstm_model.h"

#include <torch/torch.h>

#include <string>

#include "seqlab/mixers/lstm.h"
#include "seqlab/util/error.h"

namespace seqlab::model {

namespace {

void check_tokens(const torch::Tensor& tokens, int64_t vocab_size, const char* who) {
  TORCH_CHECK(tokens.dim() == 2 && tokens.scalar_type() == torch::kInt64, who,
              ": expected int64 tokens of shape (B, T), got ", tokens.scalar_type(), " ",
              tokens.sizes());
  if (tokens.numel() > 0) {
    const int64_t lo = tokens.min().item<int64_t>();
    const int64_t hi = tokens.max().item<int64_t>();
    TORCH_CHECK(lo >= 0 && hi < vocab_size, who, ": token ids must be in [0, ", vocab_size,
                "), got range [", lo, ", ", hi, "]");
  }
}

class LSTMModelImpl : public SequenceModel {
 public:
  LSTMModelImpl(int64_t vocab_size, int64_t hidden_size, int64_t num_classes)
      : vocab_size_(vocab_size) {
    // Input is the one-hot token (no embedding), as in the IBM SD-SSM repo's LSTM baseline.
    lstm = register_module("lstm", mixers::LSTMMixer(vocab_size, hidden_size));
    readout = register_module(
        "readout",
        torch::nn::Linear(torch::nn::LinearOptions(hidden_size, num_classes).bias(false)));
  }

  torch::Tensor forward(const torch::Tensor& tokens) override {
    check_tokens(tokens, vocab_size_, "LSTM model");
    auto x = torch::one_hot(tokens, vocab_size_).to(readout->weight.scalar_type());  // (B, T, V)
    return readout(lstm(x));  // (B, T, H) -> (B, T, C)
  }

  std::string family() const override { return "lstm"; }

  mixers::LSTMMixer lstm{nullptr};
  torch::nn::Linear readout{nullptr};

 private:
  int64_t vocab_size_;
};

}  // namespace

std::shared_ptr<SequenceModel> make_lstm_model(const config::ModelConfig& cfg, int64_t vocab_size,
                                               int64_t num_classes) {
  if (cfg.hidden_size < 1)
    throw UserError("model.hidden_size = " + std::to_string(cfg.hidden_size) +
                    " is not valid for the lstm model; it must be an integer >= 1");
  if (vocab_size < 1)
    throw UserError("lstm model: vocab_size = " + std::to_string(vocab_size) + " must be >= 1");
  if (num_classes < 1)
    throw UserError("lstm model: num_classes = " + std::to_string(num_classes) + " must be >= 1");
  return std::make_shared<LSTMModelImpl>(vocab_size, cfg.hidden_size, num_classes);
}

}  // namespace seqlab::model
