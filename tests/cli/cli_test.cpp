// End-to-end checks of the seqlab binary: bad input gives one clear line and a non-zero exit with
// nothing half-written; the happy path writes a complete run directory.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace fs = std::filesystem;

namespace cli_test {

struct Result {
  int code = -1;
  std::string out;  // stdout + stderr
};

Result run(const std::string& args) {
  const std::string cmd = std::string(SEQLAB_BINARY) + " " + args + " 2>&1";
  Result r;
  FILE* pipe = popen(cmd.c_str(), "r");
  if (!pipe) return r;
  std::array<char, 4096> buf{};
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), pipe)) > 0) r.out.append(buf.data(), n);
  const int status = pclose(pipe);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

class Cli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("seqlab_cli_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string write(const std::string& name, const std::string& text) {
    const auto p = (dir_ / name).string();
    std::ofstream(p) << text;
    return p;
  }
  // A failing command: non-zero exit, a one-line "seqlab: error:" message containing `needle`.
  void expect_clean_error(const std::string& args, const std::string& needle) {
    const auto r = run(args);
    EXPECT_NE(r.code, 0) << args;
    EXPECT_NE(r.out.find("seqlab: error: "), std::string::npos) << r.out;
    EXPECT_NE(r.out.find(needle), std::string::npos) << "expected '" << needle << "' in: " << r.out;
    EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
  }
  fs::path dir_;
};

const char* kTiny = R"(task: {name: parity_check, query_token: true}
model: {name: sdssm, state_size: 8, dict_size: 2}
train: {steps: 30, batch_size: 16, max_length: 8, lr: 1.0e-2, log_every: 10, checkpoint_every: 10}
eval: {max_length: 60, length_stride: 20, samples_per_length: 32, id_max_length: 8, ood_from: 9}
)";

// seqlab scaling: one child process per (mixer, T) cell, each with its own peak memory; attention
// cells whose predicted score memory exceeds the limit are skipped, not run.
TEST_F(Cli, ScalingSweepWritesCellsAndSkipsOversizedAttention) {
  const auto out = (dir_ / "scaling").string();
  const auto r =
      run("scaling --mixers dlr,softmax_attention --min-length 64 --max-length 256 "
          "--d-model 8 --state-size 4 --repeats 1 --memory-limit-gb 0.0005 --threads 1 "
          "--out " +
          out);
  ASSERT_EQ(r.code, 0) << r.out;
  std::ifstream in(out + "/scaling.json");
  const auto doc = nlohmann::json::parse(in);
  const auto& cells = doc["cells"];
  ASSERT_EQ(cells.size(), 4u) << doc.dump();  // dlr 64, 256; attention 64, then 256 skipped
  for (int i = 0; i < 3; ++i) {
    EXPECT_GT(cells[i]["seconds"].get<double>(), 0.0) << cells[i].dump();
    EXPECT_GT(cells[i]["peak_rss_mb"].get<double>(), 10.0) << cells[i].dump();
  }
  EXPECT_EQ(cells[1]["length"], 256);
  EXPECT_TRUE(cells[3].contains("skipped")) << cells[3].dump();
  EXPECT_FALSE(fs::exists(out + "/.cell.json"));
  expect_clean_error("scaling --mixers dlr,transformerz --out " + out, "transformerz");
}

TEST_F(Cli, UnknownTaskModelKeyAndMalformedYaml) {
  expect_clean_error("sample no_such_task --length 5", "unknown task 'no_such_task'");
  const auto bad_model = write("m.yaml", "model: {name: mamba9}\n");
  expect_clean_error("train " + bad_model + " --out " + (dir_ / "r1").string(), "sdssm");
  const auto bad_key = write("k.yaml", "train: {stepz: 3}\n");
  expect_clean_error("train " + bad_key + " --out " + (dir_ / "r2").string(),
                     "unknown key 'train.stepz'");
  const auto bad_yaml = write("y.yaml", "train: {steps: [1, 2\n");
  expect_clean_error("train " + bad_yaml + " --out " + (dir_ / "r3").string(), "malformed YAML");
  expect_clean_error("train no/such/preset", "no config file or preset");
  const auto tiny = write("t.yaml", kTiny);
  expect_clean_error("train " + tiny + " --set train.lr=abc --out " + (dir_ / "r4").string(),
                     "train.lr");
  for (const char* r : {"r1", "r2", "r3", "r4"}) EXPECT_FALSE(fs::exists(dir_ / r)) << r;
}

TEST_F(Cli, NegativeLengthsAreRejected) {
  expect_clean_error("sample parity_check --length -3", "--length = -3");
  const auto neg = write("n.yaml", "train: {max_length: -40}\n");
  expect_clean_error("train " + neg + " --out " + (dir_ / "r").string(), "train.max_length = -40");
  EXPECT_FALSE(fs::exists(dir_ / "r"));
}

TEST_F(Cli, SamplePrintsJsonl) {
  const auto r = run("sample parity_check --length 4 --count 3 --seed 5 --query-token");
  ASSERT_EQ(r.code, 0) << r.out;
  std::istringstream in(r.out);
  std::string line;
  int rows = 0;
  while (std::getline(in, line)) {
    const auto js = nlohmann::json::parse(line);
    const auto input = js.at("input").get<std::vector<int64_t>>();
    ASSERT_EQ(input.size(), 5u);
    EXPECT_EQ(input.back(), 2);
    int64_t ones = 0;
    for (size_t i = 0; i < 4; ++i) ones += input[i];
    EXPECT_EQ(js.at("target").get<int64_t>(), ones % 2);
    ++rows;
  }
  EXPECT_EQ(rows, 3);
  EXPECT_EQ(run("sample parity_check --length 4 --count 3 --seed 5 --query-token").out, r.out);
}

TEST_F(Cli, SampleTakesTaskKeys) {
  // qsa at N = 8, q = 2, d' = 3: features d' + (q + 1) d_e = 3 + 3·10, targets (N, d').
  const auto r =
      run("sample qsa --length 8 --count 2 --set task.tokens=8 --set task.q=2 --set task.dim=3");
  ASSERT_EQ(r.code, 0) << r.out;
  std::istringstream in(r.out);
  std::string line;
  int rows = 0;
  while (std::getline(in, line)) {
    const auto js = nlohmann::json::parse(line);
    const auto input = js.at("input").get<std::vector<std::vector<double>>>();
    const auto target = js.at("target").get<std::vector<std::vector<double>>>();
    ASSERT_EQ(input.size(), 8u);
    EXPECT_EQ(input[0].size(), 33u);
    ASSERT_EQ(target.size(), 8u);
    EXPECT_EQ(target[0].size(), 3u);
    ++rows;
  }
  EXPECT_EQ(rows, 2);
  expect_clean_error("sample qstr --length 8 --set train.lr=1", "task keys");
  expect_clean_error("sample qstr --length 9", "task.tokens = 8");  // N is fixed by the task
  expect_clean_error("sample qstr --length 8 --set task.tokens=8 --set task.link=cubic",
                     "hermite2");
}

TEST_F(Cli, TrainEvalReportExportAndBadCheckpoints) {
  const auto tiny = write("t.yaml", kTiny);
  const auto out = (dir_ / "run").string();
  auto r = run("train " + tiny + " --quiet --threads 1 --out " + out);
  ASSERT_EQ(r.code, 0) << r.out;
  for (const char* f : {"config.yaml", "log.jsonl", "train_summary.json", "eval.json",
                        "accuracy_vs_length.svg", "accuracy_vs_length.png"})
    EXPECT_TRUE(fs::exists(fs::path(out) / f)) << f;
  // The run directory is not overwritten by accident.
  expect_clean_error("train " + tiny + " --out " + out, "already holds a run");
  r = run("eval " + out + " --quiet --set eval.samples_per_length=16");
  EXPECT_EQ(r.code, 0) << r.out;
  // The SD-SSM's inference option can be switched at evaluation; weight-shaping keys cannot.
  r = run("eval " + out +
          " --quiet --set eval.samples_per_length=16 --set model.renorm_state=true");
  EXPECT_EQ(r.code, 0) << r.out;
  expect_clean_error("eval " + out + " --set model.state_size=4", "model.renorm_state");
  r = run("report " + out + " --out " + (dir_ / "rep").string());
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(fs::exists(dir_ / "rep" / "report.html"));
  r = run("export " + out + " --format safetensors");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(fs::exists(fs::path(out) / "model.safetensors"));
  expect_clean_error("export " + out + " --format onnx", "--format 'onnx' is not supported");
  // Corrupt the newest checkpoint: eval fails cleanly and leaves eval.json as it was.
  const auto before = nlohmann::json::parse(std::ifstream(fs::path(out) / "eval.json"));
  std::ofstream(fs::path(out) / "checkpoints" / "step_30" / "model.pt", std::ios::trunc) << "xx";
  expect_clean_error("eval " + out, "corrupted");
  EXPECT_EQ(nlohmann::json::parse(std::ifstream(fs::path(out) / "eval.json")), before);
  fs::remove_all(fs::path(out) / "checkpoints");
  expect_clean_error("eval " + out, "no checkpoint");
  expect_clean_error("eval " + (dir_ / "nowhere").string(), "does not exist");
}

TEST_F(Cli, ListShowsTasksModelsPresets) {
  const auto r = run("list");
  ASSERT_EQ(r.code, 0) << r.out;
  for (const char* s : {"parity_check", "a5", "sdssm", "complex_diagonal", "lstm", "transformer",
                        "regular/d4_sdssm", "train.lr"})
    EXPECT_NE(r.out.find(s), std::string::npos) << s;
  expect_clean_error("list widgets", "cannot list 'widgets'");
}

TEST_F(Cli, ZooModelTrainsAndInspectWritesMapsAndDiagnostics) {
  const auto cfg = write("gla.yaml", R"(task: {name: parity_check, query_token: true}
model: {name: gla, d_model: 16, heads: 2, layers: 2}
train: {steps: 10, batch_size: 8, max_length: 8, log_every: 5, checkpoint_every: 10}
eval: {max_length: 20, length_stride: 10, samples_per_length: 8, id_max_length: 8, ood_from: 9}
)");
  const auto out = (dir_ / "run").string();
  auto r = run("train " + cfg + " --quiet --threads 1 --out " + out);
  ASSERT_EQ(r.code, 0) << r.out;
  r = run("inspect " + out + " --input \"0 1 1 0 2\" --threads 1");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("diagonal"), std::string::npos) << r.out;
  const auto doc = nlohmann::json::parse(std::ifstream(fs::path(out) / "inspect" / "inspect.json"));
  ASSERT_EQ(doc["layers"].size(), 2u);
  EXPECT_EQ(doc["tokens"].size(), 5u);
  EXPECT_LE(doc["layers"][0]["diagnostics"]["spectral_radius"]["max"].get<double>(), 1.0);
  EXPECT_TRUE(fs::exists(fs::path(out) / "inspect" / "maps" / "layer1_system1.png"));
  // A preset inspects a freshly initialized model.
  r = run("inspect " + cfg + " --length 6 --max-maps 1 --threads 1 --out " +
          (dir_ / "fresh").string());
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(fs::exists(dir_ / "fresh" / "maps" / "layer0_system0.svg"));
  expect_clean_error("inspect " + out + " --input \"0 7\"", "not a token id in [0, 3)");
  expect_clean_error("inspect regular/parity_check_sdssm --length 4", "not a zoo model");
  // A regression task feeds float features: they are recorded as rows, and --input (token ids)
  // is refused with the reason.
  r = run("inspect theory/smooth_ssm2 --length 9 --max-maps 0 --threads 1 --out " +
          (dir_ / "smooth").string());
  ASSERT_EQ(r.code, 0) << r.out;
  const auto sd = nlohmann::json::parse(std::ifstream(dir_ / "smooth" / "inspect.json"));
  ASSERT_EQ(sd["input_features"].size(), 9u);
  EXPECT_EQ(sd["input_features"][0].size(), 1u);  // task.dim = 1
  EXPECT_FALSE(sd.contains("tokens"));
  expect_clean_error("inspect theory/smooth_ssm2 --input \"0 1\"", "float features per position");
  // GLA has no normalizer (η ≡ 1); normalized attention reports η and its DSF eigenvalue (§4.2).
  EXPECT_FALSE(doc["layers"][0].contains("normalizer"));
  const auto na = write("na.yaml", R"(task: {name: parity_check, query_token: true}
model: {name: normalized_attention, d_model: 8, heads: 2, layers: 1, pos_encoding: sinusoidal}
)");
  r = run("inspect " + na + " --length 7 --max-maps 0 --threads 1 --out " + (dir_ / "na").string());
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("min eta"), std::string::npos) << r.out;
  const auto nd = nlohmann::json::parse(std::ifstream(dir_ / "na" / "inspect.json"));
  const auto& norm = nd["layers"][0]["normalizer"];
  EXPECT_EQ(norm["rows"].get<int64_t>(), 2 * 8);  // heads × (7 tokens + query)
  int64_t binned = 0;
  ASSERT_EQ(norm["dsf_eigenvalue_bins"].size(), 6u);
  EXPECT_EQ(norm["dsf_eigenvalue_bins"][4]["range"], "(1.0, 1.01]");
  for (const auto& b : norm["dsf_eigenvalue_bins"]) binned += b["count"].get<int64_t>();
  EXPECT_EQ(binned, norm["dsf_eigenvalue_steps"].get<int64_t>());
  EXPECT_EQ(binned, 2 * 7);
  EXPECT_GT(norm["eta"]["min"].get<double>(), 0.0);
  // A baseline outside the framework (§2.3) has no coefficients and no maps, but inspects.
  r = run("inspect zoo/parity_check_gru --length 4 --threads 1 --out " + (dir_ / "gru").string());
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("not in framework"), std::string::npos) << r.out;
  const auto gru = nlohmann::json::parse(std::ifstream(dir_ / "gru" / "inspect.json"));
  EXPECT_TRUE(gru["layers"][0]["coefficients"].is_null());
  EXPECT_TRUE(gru["layers"][0]["maps"].empty());
}

TEST_F(Cli, ListMixersShowsStructureStateAndPaths) {
  const auto r = run("list mixers");
  ASSERT_EQ(r.code, 0) << r.out;
  for (const char* s : {"gla", "deltanet", "mamba1", "structure: diagonal",
                        "structure: identity minus rank 1", "fused CPU", "chunked"})
    EXPECT_NE(r.out.find(s), std::string::npos) << s;
}

// seqlab protocol: a task x model grid, one `seqlab train` child per cell (two at once), one
// results table; a re-run skips finished cells, a changed config is refused, bad names are clear.
TEST_F(Cli, ProtocolRunsEveryCellWritesOneTableAndResumes) {
  const std::string tiny_train = R"(train: {steps: 4, batch_size: 2, min_length: 16, max_length: 16,
  log_every: 2, checkpoint_every: 2}
eval: {samples_per_length: 8}
)";
  const auto dlr = write("dlr.yaml",
                         "task: {name: shift}\nmodel: {name: dlr, d_model: 4, "
                         "state_size: 16, layers: 1}\n" +
                             tiny_train);
  const auto s4d = write("s4d.yaml",
                         "task: {name: shift}\nmodel: {name: s4d, d_model: 4, "
                         "state_size: 4, layers: 1}\n" +
                             tiny_train);
  auto protocol = [&](const std::string& dlr_sets) {
    return write("p.yaml",
                 "protocol:\n  name: tiny\n  tasks: [shift, cumsum]\n  models:\n"
                 "    - {label: dlr, preset: " +
                     dlr + ", task_sets: {cumsum: [" + dlr_sets +
                     "]}}\n    - {label: s4d, preset: " + s4d + "}\n  expected: {shift: high}\n");
  };
  const auto p = protocol("model.state_size=8");
  const auto out = (dir_ / "grid").string();
  auto r = run("protocol " + p + " --jobs 2 --out " + out);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("4 cells (0 done, 0 to resume, 4 to run)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("[4/4]"), std::string::npos) << r.out;
  const auto doc = nlohmann::json::parse(std::ifstream(out + "/results.json"));
  ASSERT_EQ(doc["cells"].size(), 4u);
  for (const auto& c : doc["cells"]) EXPECT_TRUE(c["r2"].is_number()) << c.dump();
  EXPECT_EQ(doc["cells"][2]["task"], "cumsum");
  EXPECT_EQ(doc["expected"]["shift"], "high");
  for (const char* cell : {"shift-dlr", "shift-s4d", "cumsum-dlr", "cumsum-s4d"}) {
    EXPECT_TRUE(fs::exists(fs::path(out) / cell / "eval.json")) << cell;
    EXPECT_TRUE(fs::exists(fs::path(out) / (std::string(cell) + ".log"))) << cell;
  }
  // The per-(model, task) override reached its cell only.
  std::stringstream cfg;
  cfg << std::ifstream(fs::path(out) / "cumsum-dlr" / "config.yaml").rdbuf();
  EXPECT_NE(cfg.str().find("state_size: 8"), std::string::npos) << cfg.str();
  EXPECT_NE(cfg.str().find("name: cumsum-dlr"), std::string::npos) << cfg.str();

  // Re-running trains nothing; a cell without eval.json but with a checkpoint resumes.
  fs::remove(fs::path(out) / "shift-s4d" / "eval.json");
  r = run("protocol " + p + " --dry-run --out " + out);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("(3 done, 1 to resume, 0 to run)"), std::string::npos) << r.out;
  r = run("protocol " + p + " --out " + out);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("[1/1] shift-s4d"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("| shift |"), std::string::npos) << r.out;

  // A changed protocol whose cell folder holds another config is refused, then --force retrains.
  const auto changed = protocol("model.state_size=4");
  expect_clean_error("protocol " + changed + " --out " + out, "cell cumsum-dlr");
  r = run("protocol " + changed + " --force --tasks cumsum --models dlr --out " + out);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("1 tasks x 1 models -> "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("1 cells (0 done, 0 to resume, 1 to run)"), std::string::npos) << r.out;

  expect_clean_error("protocol no_such_protocol", "dlr_atomic_cpu");
  expect_clean_error("protocol " + p + " --tasks sort --out " + out, "no task 'sort'");
  // A cell whose config is invalid stops the protocol before anything runs.
  const auto bad = write("bad.yaml",
                         "protocol: {name: bad, tasks: [shift], models: [{label: x, "
                         "preset: " +
                             dlr + "}], task_sets: {shift: [model.headz=2]}}\n");
  expect_clean_error("protocol " + bad + " --out " + (dir_ / "bad").string(), "cell shift-x");
  EXPECT_FALSE(fs::exists(dir_ / "bad"));
  r = run("list protocols");
  EXPECT_NE(r.out.find("dlr_atomic_cpu"), std::string::npos) << r.out;
}

// ListOpsSubTrees end to end: the dataset file is written under task.data_dir, and eval.json has
// the node accuracy tables beside the training figures every eval.json carries.
TEST_F(Cli, SweepRunsShardsMergesAndFitsSlopes) {
  const auto preset = write("q.yaml", R"(task: {name: qstr, tokens: 2}
model: {name: attention_mlp, heads: 1, mlp_size: 8}
train: {steps: 6, batch_size: 4, min_length: 2, max_length: 2, optimizer: adamw, lr: 1.0e-3,
  log_every: 3, checkpoint_every: 3, eval_every: 2, stop_below: 100}
eval: {samples_per_length: 16, batch_size: 16}
)");
  const auto sweep =
      write("s.yaml", "sweep:\n  name: tiny\n  models:\n    - {label: tr, preset: " + preset +
                          "}\n  grid:\n    \"task.tokens,train.min_length,"
                          "train.max_length\": [2, 4]\n  seeds: [0, 1]\n"
                          "  analysis: {x: \"task.tokens,train.min_length,"
                          "train.max_length\", y: n_star, predicted: {tr: 0}}\n");
  const auto out = (dir_ / "sweep").string();
  // Two shards cover the four cells; a shard does not merge.
  auto r = run("sweep " + sweep + " --shard 1/2 --out " + out);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("2 cells (0 done, 0 to resume, 2 to run)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("--merge"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(out + "/results.json"));
  r = run("sweep " + sweep + " --shard 2/2 --out " + out);
  ASSERT_EQ(r.code, 0) << r.out;
  for (const char* cell : {"tr-tokens2-s0", "tr-tokens4-s0", "tr-tokens2-s1", "tr-tokens4-s1"})
    EXPECT_TRUE(fs::exists(fs::path(out) / cell / "eval.json")) << cell;
  r = run("sweep " + sweep + " --merge --out " + out);
  ASSERT_EQ(r.code, 0) << r.out;
  const auto doc = nlohmann::json::parse(std::ifstream(out + "/results.json"));
  ASSERT_EQ(doc["series"].size(), 1u);
  EXPECT_EQ(doc["series"][0]["points"].size(), 4u);
  // The threshold 100 is met at the first check (step 2, 4 samples per step): n* = 8 everywhere,
  // so the fitted slope is 0.
  for (const auto& p : doc["series"][0]["points"]) EXPECT_EQ(p["y"], 8.0) << p.dump();
  EXPECT_NEAR(doc["series"][0]["fit"]["slope"].get<double>(), 0.0, 1e-12);
  // Re-running runs nothing (every cell done) and merges.
  r = run("sweep " + sweep + " --out " + out);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("4 cells (4 done, 0 to resume, 0 to run)"), std::string::npos) << r.out;
  expect_clean_error("sweep no_such_sweep", "qstr_1str_cpu");

  // inspect on attention_mlp: |W_Q^T W_K| per head and the qstr block shares.
  r = run("inspect " + preset + " --out " + (dir_ / "wqk").string());
  ASSERT_EQ(r.code, 0) << r.out;
  const auto wqk = nlohmann::json::parse(std::ifstream(dir_ / "wqk" / "inspect.json"));
  ASSERT_EQ(wqk["heads"].size(), 1u);
  EXPECT_GT(wqk["heads"][0]["block_share"].get<double>(), 0.0);
  EXPECT_NEAR(wqk["heads"][0]["diagonal_share_chance"].get<double>(), 1.0 / 3.0, 1e-12);
  expect_clean_error("sweep " + sweep + " --shard 3/2", "1 <= i <= n");
}

TEST_F(Cli, ListOpsTinyTrainingWritesTheDatasetFileAndTables) {
  const auto cfg = write("lo.yaml", R"(task: {name: listops_subtrees, max_depth: 5,
  min_tree_length: 20, max_tree_length: 60, l_max: 64, train_trees: 30, val_trees: 2,
  test_trees: 4}
model: {name: dlr, d_model: 8, layers: 1, state_size: 8}
train: {steps: 2, batch_size: 2, min_length: 64, max_length: 64, log_every: 1,
  checkpoint_every: 2}
)");
  const auto out = (dir_ / "lorun").string();
  auto r = run("train " + cfg + " --set task.data_dir=" + (dir_ / "lodata").string() +
               " --threads 1 --quiet --out " + out);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(
      fs::exists(dir_ / "lodata" / "listops_subtrees_depth5_args9_len20-60_n30-2-4_seed0.tsv"));
  const auto ev = nlohmann::json::parse(std::ifstream(out + "/eval.json"));
  EXPECT_EQ(ev["metric"], "node_accuracy");
  EXPECT_EQ(ev["test_trees"], 4);
  EXPECT_EQ(ev["error_by_op"].size(), 4u);
  EXPECT_FALSE(ev["by_height"].empty());
  EXPECT_EQ(ev["steps"], 2);
  EXPECT_GT(ev["train_seconds"].get<double>(), 0.0);
  EXPECT_GT(ev["parameters"].get<int64_t>(), 0);
}

// PathfinderSegmentation end to end: `sample --png` draws an example with its labels, and a tiny
// bidirectional DLR trains on a cached dataset and reports macro-F1 and balanced accuracy.
TEST_F(Cli, PathfinderSampleAndTinyTraining) {
  auto r = run("sample pathfinder_seg_128 --count 1 --seed 2 --png " + (dir_ / "pf").string());
  ASSERT_EQ(r.code, 0) << r.out;
  const auto row = nlohmann::json::parse(r.out.substr(0, r.out.find('\n')));
  EXPECT_EQ(row["class_pixels"].size(), 3u);
  EXPECT_GT(row["class_pixels"][1].get<int64_t>() + row["class_pixels"][2].get<int64_t>(), 100);
  EXPECT_GT(fs::file_size(dir_ / "pf_0.png"), 1000u);
  expect_clean_error("sample parity_check --png x", "pathfinder_seg_* tasks only");

  const auto cfg = write("pf.yaml", R"(task: {name: pathfinder_seg_128, images: 10}
model: {name: dlr, d_model: 4, layers: 1, state_size: 8, bidirectional: true}
train: {steps: 2, batch_size: 2, min_length: 16384, max_length: 16384, log_every: 1,
  checkpoint_every: 2}
)");
  const auto out = (dir_ / "pfrun").string();
  r = run("train " + cfg + " --set task.data_dir=" + (dir_ / "data").string() +
          " --threads 1 --quiet --out " + out);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("macro-F1"), std::string::npos) << r.out;
  const auto ev = nlohmann::json::parse(std::ifstream(out + "/eval.json"));
  EXPECT_EQ(ev["metric"], "macro_f1");
  EXPECT_GE(ev["macro_f1"].get<double>(), 0.0);
  EXPECT_LE(ev["balanced_accuracy"].get<double>(), 1.0);
  EXPECT_EQ(ev["test_images"], 1);
  EXPECT_EQ(ev["steps"], 2);
  EXPECT_GT(ev["train_seconds"].get<double>(), 0.0);
  EXPECT_TRUE(fs::exists(dir_ / "data" / "pathfinder_seg_128_n10_seed0.bin"));
  expect_clean_error("train " + cfg + " --set train.max_length=100 --set train.min_length=100 " +
                         "--set task.data_dir=" + (dir_ / "data").string() + " --out " +
                         (dir_ / "bad").string(),
                     "16384");
}

}  // namespace cli_test
