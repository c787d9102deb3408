// Atomic file writes and JSON / JSONL reading with errors that name the file and line.
#include "seqlab/util/json_io.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "seqlab/util/error.h"

namespace fs = std::filesystem;

namespace seqlab {
namespace json_io_test {

class JsonIo : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("seqlab_json_io_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  void write(const std::string& name, const std::string& text) const {
    std::ofstream(path(name)) << text;
  }
  // The message of the UserError `fn` throws, or "" (and a test failure) if it throws none.
  template <typename Fn>
  static std::string error_of(Fn fn) {
    try {
      fn();
    } catch (const UserError& e) {
      return e.what();
    }
    ADD_FAILURE() << "no UserError thrown";
    return "";
  }
  fs::path dir_;
};

TEST_F(JsonIo, AtomicWriteCreatesAndReplacesWithoutLeftovers) {
  write_file_atomic(path("a.json"), "{\"x\": 1}");
  EXPECT_EQ(read_text_file(path("a.json")), "{\"x\": 1}");
  write_file_atomic(path("a.json"), "[]");
  EXPECT_EQ(read_text_file(path("a.json")), "[]");
  write_file_atomic(path("empty"), "");
  EXPECT_EQ(read_text_file(path("empty")), "");
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()), 2);
}

TEST_F(JsonIo, AtomicWriteFailureNamesThePath) {
  const std::string target = path("missing_dir/out.json");
  const std::string msg = error_of([&] { write_file_atomic(target, "x"); });
  EXPECT_NE(msg.find(target), std::string::npos) << msg;
  // A directory in the way of the rename: the temporary file is cleaned up.
  fs::create_directories(path("occupied/inner"));
  EXPECT_THROW(write_file_atomic(path("occupied"), "x"), UserError);
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()), 1);
}

TEST_F(JsonIo, ReadJsonFile) {
  write("ok.json", R"({"task": "a5", "lengths": [1, 2]})");
  const auto js = read_json_file(path("ok.json"));
  EXPECT_EQ(js.at("task"), "a5");
  EXPECT_EQ(js.at("lengths").size(), 2u);

  std::string msg = error_of([&] { read_json_file(path("nope.json")); });
  EXPECT_NE(msg.find(path("nope.json")), std::string::npos) << msg;
  write("bad.json", R"({"task": )");
  msg = error_of([&] { read_json_file(path("bad.json")); });
  EXPECT_NE(msg.find("malformed JSON in " + path("bad.json")), std::string::npos) << msg;
  msg = error_of([&] { read_json_file(dir_.string()); });
  EXPECT_NE(msg.find("directory"), std::string::npos) << msg;
}

TEST_F(JsonIo, ReadJsonlSkipsBlankLinesAndNamesTheBadLine) {
  write("log.jsonl", "{\"step\": 1}\n\n{\"step\": 2}\r\n   \n{\"step\": 3}");
  const auto rows = read_jsonl_file(path("log.jsonl"));
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[2].at("step"), 3);

  write("torn.jsonl", "{\"step\": 1}\n{\"step\": 2}\n{\"step\": 3, \"lo");
  const std::string msg = error_of([&] { read_jsonl_file(path("torn.jsonl")); });
  EXPECT_NE(msg.find(path("torn.jsonl") + " line 3"), std::string::npos) << msg;
  write("e.jsonl", "");
  EXPECT_TRUE(read_jsonl_file(path("e.jsonl")).empty());
}

}  // namespace json_io_test
}  // namespace seqlab
