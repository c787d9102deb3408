// Plots of run results, drawn by gnuplot (Debian gnuplot-nox) in a subprocess: accuracy vs
// sequence length (spec/tasks.md §1.1) and training curves from log.jsonl rows. Each plot is
// written as <out_base>.svg and <out_base>.png (pngcairo when gnuplot has it, else png).
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace seqlab::report {

// One line of an accuracy-vs-length plot: acc[i] in [0, 1] at lengths[i].
struct Curve {
  std::string label;
  std::vector<int64_t> lengths;
  std::vector<double> acc;
};

struct PlotOptions {
  std::string title;
  int64_t train_max_length = 0;  // dashed vertical line at this length; 0 = none
  double chance = 0.0;           // dashed horizontal line at this accuracy (1/classes); 0 = none
};

// Whether a gnuplot executable is on PATH.
bool gnuplot_available();

// One line per curve; x = length, y = accuracy in [0, 1]; legend with the curve labels. Throws
// seqlab::UserError if gnuplot is missing (run scripts/deps.sh), a curve is empty or its lengths
// and accuracies differ in size, or gnuplot fails (its message is included).
void plot_accuracy_vs_length(const std::vector<Curve>& curves, const PlotOptions& opts,
                             const std::string& out_base);

// Loss (left axis) and train accuracy (right axis, [0, 1]) against step, from log.jsonl rows
// {"step", "loss", "accuracy", ...}. Rows without a numeric "step" and "loss" are skipped; a
// missing "accuracy" leaves a gap. opts.title is used; the other options are ignored. Throws
// seqlab::UserError as plot_accuracy_vs_length, or if no row has a step and a loss.
void plot_training_curve(const std::vector<nlohmann::json>& log_rows, const PlotOptions& opts,
                         const std::string& out_base);

// Heatmap of a coefficient matrix (spec/mixers.md §1.3): values[i][j] = α_ij drawn at row i
// (output time, downwards) and column j (source time), with a diverging palette symmetric about
// 0 (blue negative, white 0, red positive). Other matrices name their axes (e.g. query and key
// feature for W_Qᵀ W_K). Throws seqlab::UserError on an empty or ragged matrix, or as
// plot_accuracy_vs_length.
void plot_heatmap(const std::vector<std::vector<double>>& values, const std::string& title,
                  const std::string& out_base, const std::string& x_label = "source j",
                  const std::string& y_label = "output i");

// One series of a log-log plot: y[i] at x[i] (both > 0).
struct Series {
  std::string label;
  std::vector<double> x, y;
};

// Log-log line plot (both axes base 10) with the given axis labels, e.g. time or memory against
// sequence length. Throws seqlab::UserError as plot_accuracy_vs_length, or on a value <= 0.
void plot_loglog(const std::vector<Series>& series, const std::string& xlabel,
                 const std::string& ylabel, const std::string& title, const std::string& out_base);

// A results table as coloured cells, e.g. R² per task (row) and model (column): the colour runs
// from red at `lo` through yellow to green at `hi` (values outside are clamped for the colour
// only), and every cell prints its value (2 decimals; NaN = missing, printed "n/a"). Throws
// seqlab::UserError on empty labels, a values shape other than rows x cols, lo >= hi, or as
// plot_accuracy_vs_length.
void plot_score_grid(const std::vector<std::string>& rows, const std::vector<std::string>& cols,
                     const std::vector<std::vector<double>>& values, double lo, double hi,
                     const std::string& title, const std::string& out_base);

// An RGB image (rgb[(y·width + x)·3 + c] in [0, 255], row 0 on top) drawn pixel for pixel with
// square pixels, e.g. a Pathfinder example with its labels overlaid. Throws seqlab::UserError on
// a size mismatch or as plot_accuracy_vs_length.
void plot_rgb_image(const std::vector<uint8_t>& rgb, int64_t width, int64_t height,
                    const std::string& title, const std::string& out_base);

}  // namespace seqlab::report
