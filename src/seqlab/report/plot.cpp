#include "seqlab/report/plot.h"

#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <mutex>

#include "seqlab/util/error.h"
#include "seqlab/util/json_io.h"

namespace fs = std::filesystem;

namespace seqlab::report {
namespace {

// Line colours, cycled over curves.
constexpr const char* kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e",
                                   "#9467bd", "#8c564b", "#e377c2", "#17becf"};

// A gnuplot single-quoted string: only '' is special there; newlines would end the command.
std::string gp_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'')
      out += "''";
    else if (c == '\n' || c == '\r')
      out += ' ';
    else
      out += c;
  }
  return out + "'";
}

std::string sh_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string num(double v) {
  if (!std::isfinite(v)) return "NaN";  // gnuplot leaves a gap
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.9g", v);
  return buf;
}

// Runs `command` through the shell and returns its exit status and combined output.
int run_capture(const std::string& command, std::string* output) {
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (!pipe) throw UserError("cannot start `" + command + "`");
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), pipe)) > 0) output->append(buf, n);
  const int status = ::pclose(pipe);
  return status;
}

void require_gnuplot() {
  if (!gnuplot_available())
    throw UserError(
        "gnuplot not found on PATH; plots need it: run scripts/deps.sh (installs "
        "gnuplot-nox)");
}

// The PNG terminal command: pngcairo (antialiased) when this gnuplot has it, else libgd png.
const std::string& png_terminal() {
  static std::once_flag once;
  static std::string term;
  std::call_once(once, [] {
    std::string out;
    run_capture("gnuplot -e 'set terminal'", &out);
    term = out.find("pngcairo") != std::string::npos
               ? "set terminal pngcairo size 1000,600 noenhanced font 'sans,11' background "
                 "'#ffffff'"
               : "set terminal png size 1000,600 noenhanced background '#ffffff'";
  });
  return term;
}

// A private temporary directory for the data and script files, removed on scope exit.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "seqlab_plot_XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr)
      throw UserError("cannot create a temporary directory in " +
                      fs::temp_directory_path().string());
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string file(const std::string& name) const { return (fs::path(path_) / name).string(); }

 private:
  std::string path_;
};

// Renders `body` (settings + one plot command reading the data files) to out_base.svg and
// out_base.png. Both are drawn under temporary names next to the targets and renamed into place,
// so an interrupted plot never leaves a partial file.
void render(const TempDir& tmp, const std::string& body, const std::string& out_base) {
  const fs::path base(out_base);
  if (base.has_parent_path()) {
    std::error_code ec;
    fs::create_directories(base.parent_path(), ec);
    if (ec) throw UserError("cannot create " + base.parent_path().string() + ": " + ec.message());
  }
  const std::string suffix = ".tmp." + std::to_string(::getpid());
  const std::string svg = out_base + ".svg", png = out_base + ".png";
  const std::string svg_tmp = svg + suffix, png_tmp = png + suffix;
  std::string script;
  script +=
      "set terminal svg size 800,480 dynamic noenhanced font 'sans,12' background "
      "'#ffffff'\n";
  script += "set output " + gp_quote(svg_tmp) + "\n";
  script += body;
  script += png_terminal() + "\n";
  script += "set output " + gp_quote(png_tmp) + "\n";
  script += "replot\nunset output\n";
  const std::string script_path = tmp.file("plot.gp");
  write_file_atomic(script_path, script);
  std::string out;
  const int status = run_capture("gnuplot " + sh_quote(script_path), &out);
  std::error_code ec;
  if (status != 0 || !fs::exists(svg_tmp, ec) || !fs::exists(png_tmp, ec)) {
    fs::remove(svg_tmp, ec);
    fs::remove(png_tmp, ec);
    throw UserError("gnuplot failed to draw " + out_base + " (exit status " +
                    std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : status) + "): " + out);
  }
  fs::rename(svg_tmp, svg, ec);
  if (!ec) fs::rename(png_tmp, png, ec);
  if (ec) {
    fs::remove(svg_tmp, ec);
    fs::remove(png_tmp, ec);
    throw UserError("cannot write " + out_base + ".{svg,png}: " + ec.message());
  }
}

std::string common_settings(const std::string& title) {
  std::string s;
  if (!title.empty()) s += "set title " + gp_quote(title) + "\n";
  s += "set grid lc rgb '#dddddd'\n";
  s += "set key below\n";
  s += "set border lc rgb '#444444'\n";
  return s;
}

}  // namespace

bool gnuplot_available() {
  const char* path = std::getenv("PATH");
  if (path == nullptr) return false;
  std::string dirs(path);
  size_t begin = 0;
  while (begin <= dirs.size()) {
    size_t end = dirs.find(':', begin);
    if (end == std::string::npos) end = dirs.size();
    const std::string dir = end > begin ? dirs.substr(begin, end - begin) : ".";
    if (::access((fs::path(dir) / "gnuplot").c_str(), X_OK) == 0) return true;
    begin = end + 1;
  }
  return false;
}

void plot_accuracy_vs_length(const std::vector<Curve>& curves, const PlotOptions& opts,
                             const std::string& out_base) {
  if (curves.empty()) throw UserError("plot " + out_base + ": no curves to plot");
  int64_t lo = INT64_MAX, hi = INT64_MIN;
  std::string data;
  for (const auto& c : curves) {
    if (c.lengths.empty() || c.lengths.size() != c.acc.size())
      throw UserError("plot " + out_base + ": curve '" + c.label + "' has " +
                      std::to_string(c.lengths.size()) + " lengths and " +
                      std::to_string(c.acc.size()) + " accuracies (need the same number, > 0)");
    for (size_t i = 0; i < c.lengths.size(); ++i) {
      data += std::to_string(c.lengths[i]) + " " + num(c.acc[i]) + "\n";
      lo = std::min(lo, c.lengths[i]);
      hi = std::max(hi, c.lengths[i]);
    }
    data += "\n\n";  // next gnuplot data block (index)
  }
  require_gnuplot();
  TempDir tmp;
  const std::string data_path = tmp.file("curves.dat");
  write_file_atomic(data_path, data);

  std::string body = common_settings(opts.title);
  body += "set xlabel 'sequence length'\nset ylabel 'accuracy'\n";
  body += "set yrange [0:1.05]\nset ytics 0,0.1,1\n";
  if (lo < hi) body += "set xrange [" + std::to_string(lo) + ":" + std::to_string(hi) + "]\n";
  if (opts.train_max_length > 0) {
    const std::string x = std::to_string(opts.train_max_length);
    body += "set arrow 1 from first " + x + ", graph 0 to first " + x +
            ", graph 1 nohead dt 2 lw 1.5 lc rgb '#444444' front\n";
    body += "set label 1 'train max length' at first " + x +
            ", graph 0.04 offset 0.5,0 left tc rgb '#444444' front\n";
  }
  if (opts.chance > 0) {
    const std::string y = num(opts.chance);
    body += "set arrow 2 from graph 0, first " + y + " to graph 1, first " + y +
            " nohead dt 3 lw 1.5 lc rgb '#888888' front\n";
    body += "set label 2 'chance' at graph 0.99, first " + y +
            " offset 0,0.7 right tc rgb '#888888' front\n";
  }
  body += "plot ";
  for (size_t i = 0; i < curves.size(); ++i) {
    const bool few = curves[i].lengths.size() <= 60;
    body += (i == 0 ? gp_quote(data_path) : std::string("''")) + " index " + std::to_string(i) +
            " using 1:2 with " + (few ? "linespoints pt 7 ps 0.6" : "lines") + " lw 2 lc rgb '" +
            kColors[i % (sizeof(kColors) / sizeof(kColors[0]))] + "' title " +
            gp_quote(curves[i].label) + (i + 1 < curves.size() ? ", \\\n     " : "\n");
  }
  render(tmp, body, out_base);
}

void plot_loglog(const std::vector<Series>& series, const std::string& xlabel,
                 const std::string& ylabel, const std::string& title, const std::string& out_base) {
  if (series.empty()) throw UserError("plot " + out_base + ": no series to plot");
  std::string data;
  for (const auto& s : series) {
    if (s.x.empty() || s.x.size() != s.y.size())
      throw UserError("plot " + out_base + ": series '" + s.label + "' has " +
                      std::to_string(s.x.size()) + " x and " + std::to_string(s.y.size()) +
                      " y values (need the same number, > 0)");
    for (size_t i = 0; i < s.x.size(); ++i) {
      if (!(s.x[i] > 0) || !(s.y[i] > 0))
        throw UserError("plot " + out_base + ": series '" + s.label +
                        "' has a value <= 0 on a log axis");
      data += num(s.x[i]) + " " + num(s.y[i]) + "\n";
    }
    data += "\n\n";
  }
  require_gnuplot();
  TempDir tmp;
  const std::string data_path = tmp.file("series.dat");
  write_file_atomic(data_path, data);
  std::string body = common_settings(title);
  body += "set logscale xy 10\n";
  body += "set xlabel " + gp_quote(xlabel) + "\nset ylabel " + gp_quote(ylabel) + "\n";
  body += "plot ";
  for (size_t i = 0; i < series.size(); ++i)
    body += (i == 0 ? gp_quote(data_path) : std::string("''")) + " index " + std::to_string(i) +
            " using 1:2 with linespoints pt 7 ps 0.7 lw 2 lc rgb '" +
            kColors[i % (sizeof(kColors) / sizeof(kColors[0]))] + "' title " +
            gp_quote(series[i].label) + (i + 1 < series.size() ? ", \\\n     " : "\n");
  render(tmp, body, out_base);
}

void plot_training_curve(const std::vector<nlohmann::json>& log_rows, const PlotOptions& opts,
                         const std::string& out_base) {
  std::string data;
  size_t points = 0;
  bool any_acc = false;
  double min_loss = INFINITY, max_loss = -INFINITY;
  for (const auto& row : log_rows) {
    if (!row.is_object()) continue;
    const auto step = row.find("step");
    const auto loss = row.find("loss");
    if (step == row.end() || loss == row.end() || !step->is_number() || !loss->is_number())
      continue;
    const auto acc = row.find("accuracy");
    const bool has_acc = acc != row.end() && acc->is_number();
    any_acc = any_acc || has_acc;
    const double l = loss->get<double>();
    if (std::isfinite(l)) {
      min_loss = std::min(min_loss, l);
      max_loss = std::max(max_loss, l);
    }
    data += num(step->get<double>()) + " " + num(l) + " " +
            (has_acc ? num(acc->get<double>()) : std::string("NaN")) + "\n";
    ++points;
  }
  if (points == 0)
    throw UserError("plot " + out_base + ": no log rows with a numeric step and loss");
  require_gnuplot();
  TempDir tmp;
  const std::string data_path = tmp.file("log.dat");
  write_file_atomic(data_path, data);

  std::string body = common_settings(opts.title);
  body += "set xlabel 'step'\nset ylabel 'loss'\nset ytics nomirror\n";
  // Cross-entropy spans decades as a run converges: a log axis when it is positive and does.
  if (min_loss > 0 && max_loss / min_loss > 100) body += "set logscale y\n";
  if (any_acc) body += "set y2label 'train accuracy'\nset y2range [0:1.05]\nset y2tics 0,0.2,1\n";
  const std::string style = points <= 60 ? "linespoints pt 7 ps 0.6" : "lines";
  body += "plot " + gp_quote(data_path) + " using 1:2 axes x1y1 with " + style +
          " lw 2 lc rgb '#1f77b4' title 'loss'";
  if (any_acc)
    body += ", \\\n     '' using 1:3 axes x1y2 with " + style +
            " lw 2 lc rgb '#d62728' title 'train accuracy'";
  body += "\n";
  render(tmp, body, out_base);
}

void plot_heatmap(const std::vector<std::vector<double>>& values, const std::string& title,
                  const std::string& out_base, const std::string& x_label,
                  const std::string& y_label) {
  if (values.empty() || values[0].empty())
    throw UserError("heatmap " + out_base + ": empty matrix");
  double bound = 0;
  std::string data;
  for (const auto& row : values) {
    if (row.size() != values[0].size())
      throw UserError("heatmap " + out_base + ": rows of different lengths");
    for (size_t j = 0; j < row.size(); ++j) {
      data += (j ? " " : "") + num(row[j]);
      if (std::isfinite(row[j])) bound = std::max(bound, std::abs(row[j]));
    }
    data += "\n";
  }
  if (bound == 0) bound = 1;
  require_gnuplot();
  TempDir tmp;
  const std::string data_path = tmp.file("matrix.dat");
  write_file_atomic(data_path, data);
  std::string body;
  if (!title.empty()) body += "set title " + gp_quote(title) + "\n";
  body += "set xlabel " + gp_quote(x_label) + "\nset ylabel " + gp_quote(y_label) + "\n";
  body += "set size ratio -1\nunset key\n";
  body += "set palette defined (-1 '#2166ac', 0 '#ffffff', 1 '#b2182b')\n";
  body += "set cbrange [" + num(-bound) + ":" + num(bound) + "]\n";
  body += "set xrange [-0.5:" + std::to_string(values[0].size()) + "-0.5]\n";
  body += "set yrange [" + std::to_string(values.size()) + "-0.5:-0.5]\n";  // row 0 on top
  body += "plot " + gp_quote(data_path) + " matrix with image\n";
  render(tmp, body, out_base);
}

void plot_score_grid(const std::vector<std::string>& rows, const std::vector<std::string>& cols,
                     const std::vector<std::vector<double>>& values, double lo, double hi,
                     const std::string& title, const std::string& out_base) {
  if (rows.empty() || cols.empty())
    throw UserError("score grid " + out_base + ": no rows or columns");
  if (values.size() != rows.size())
    throw UserError("score grid " + out_base + ": " + std::to_string(values.size()) +
                    " value rows for " + std::to_string(rows.size()) + " labels");
  if (!(lo < hi)) throw UserError("score grid " + out_base + ": need lo < hi");
  // One line per cell: column, row, colour value (clamped), printed label.
  std::string data;
  for (size_t i = 0; i < rows.size(); ++i) {
    if (values[i].size() != cols.size())
      throw UserError("score grid " + out_base + ": row " + rows[i] + " has " +
                      std::to_string(values[i].size()) + " values for " +
                      std::to_string(cols.size()) + " columns");
    for (size_t j = 0; j < cols.size(); ++j) {
      const double v = values[i][j];
      char label[32];
      if (std::isfinite(v))
        std::snprintf(label, sizeof(label), "%.2f", v);
      else
        std::snprintf(label, sizeof(label), "n/a");
      data += std::to_string(j) + " " + std::to_string(i) + " " +
              num(std::isfinite(v) ? std::clamp(v, lo, hi) : v) + " \"" + label + "\"\n";
    }
  }
  require_gnuplot();
  TempDir tmp;
  const std::string data_path = tmp.file("grid.dat");
  write_file_atomic(data_path, data);
  auto tics = [](const std::vector<std::string>& names) {
    std::string t = "(";
    for (size_t k = 0; k < names.size(); ++k)
      t += (k ? ", " : "") + gp_quote(names[k]) + " " + std::to_string(k);
    return t + ")";
  };
  std::string body;
  if (!title.empty()) body += "set title " + gp_quote(title) + "\n";
  body += "unset key\nset tics scale 0\nset border 0\n";
  body += "set xtics " + tics(cols) + "\nset ytics " + tics(rows) + "\n";
  body += "set x2tics " + tics(cols) + "\nunset xtics\n";  // model names on top
  body += "set palette defined (0 '#d73027', 0.5 '#fee08b', 1 '#1a9850')\n";
  body += "set cbrange [" + num(lo) + ":" + num(hi) + "]\n";
  body += "set xrange [-0.5:" + std::to_string(cols.size()) + "-0.5]\n";
  body += "set x2range [-0.5:" + std::to_string(cols.size()) + "-0.5]\n";
  body += "set yrange [" + std::to_string(rows.size()) + "-0.5:-0.5]\n";  // row 0 on top
  body += "plot " + gp_quote(data_path) + " using 1:2:3 with image, " + gp_quote(data_path) +
          " using 1:2:4 with labels font 'sans,10'\n";
  render(tmp, body, out_base);
}

void plot_rgb_image(const std::vector<uint8_t>& rgb, int64_t width, int64_t height,
                    const std::string& title, const std::string& out_base) {
  if (width < 1 || height < 1 || rgb.size() != static_cast<size_t>(width * height * 3))
    throw UserError("rgb image " + out_base + ": " + std::to_string(rgb.size()) + " values for " +
                    std::to_string(width) + " x " + std::to_string(height) + " x 3");
  std::string data;
  data.reserve(rgb.size() * 5);
  for (int64_t y = 0; y < height; ++y)
    for (int64_t x = 0; x < width; ++x) {
      const size_t i = static_cast<size_t>((y * width + x) * 3);
      data += std::to_string(x) + " " + std::to_string(y) + " " + std::to_string(rgb[i]) + " " +
              std::to_string(rgb[i + 1]) + " " + std::to_string(rgb[i + 2]) + "\n";
    }
  require_gnuplot();
  TempDir tmp;
  const std::string data_path = tmp.file("image.dat");
  write_file_atomic(data_path, data);
  std::string body;
  if (!title.empty()) body += "set title " + gp_quote(title) + "\n";
  body += "set size ratio -1\nunset key\nunset tics\nunset border\n";
  body += "set xrange [-0.5:" + std::to_string(width) + "-0.5]\n";
  body += "set yrange [" + std::to_string(height) + "-0.5:-0.5]\n";  // row 0 on top
  body += "plot " + gp_quote(data_path) + " using 1:2:3:4:5 with rgbimage\n";
  render(tmp, body, out_base);
}

}  // namespace seqlab::report
