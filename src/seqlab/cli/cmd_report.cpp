// seqlab report RUN... [--out DIR]
#include <cstdio>
#include <filesystem>

#include "seqlab/cli/common.h"
#include "seqlab/report/report.h"

namespace seqlab::cli {

void add_report(CLI::App& app) {
  struct Opts {
    std::vector<std::string> runs;
    std::string out = "report";
  };
  auto o = std::make_shared<Opts>();
  auto* sub = app.add_subcommand("report", "Table and plots of evaluated runs -> report.html");
  sub->add_option("runs", o->runs, "Run directories")->required();
  sub->add_option("--out", o->out, "Output directory (default: report)");
  sub->callback([o] {
    std::vector<report::RunSummary> rows;
    for (const auto& r : o->runs) rows.push_back(report::load_run_summary(r));
    std::printf("%s", report::markdown_table(rows).c_str());
    report::write_report(o->runs, o->out);
    std::printf("report: %s/report.html\n", o->out.c_str());
  });
}

}  // namespace seqlab::cli
