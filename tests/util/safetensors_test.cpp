// safetensors writer/reader: round trip, a byte-exact hand-built file, and rejection of every
// kind of corrupt file with a UserError.
#include "seqlab/util/safetensors.h"

#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include "seqlab/util/error.h"

namespace fs = std::filesystem;

namespace seqlab {
namespace safetensors_test {

class Safetensors : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("seqlab_safetensors_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  void write_bytes(const std::string& name, const std::string& bytes) const {
    std::ofstream out(path(name), std::ios::binary);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }

  std::string read_bytes(const std::string& name) const {
    std::ifstream in(path(name), std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  }

  // A file with the given JSON header (padded to a multiple of 8) and data section.
  static std::string make_file(std::string header, const std::string& data) {
    header.append((8 - header.size() % 8) % 8, ' ');
    std::string out(8, '\0');
    const uint64_t n = header.size();
    for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
    return out + header + data;
  }

  void expect_rejected(const std::string& bytes, const std::string& fragment) {
    write_bytes("bad.safetensors", bytes);
    try {
      load_safetensors(path("bad.safetensors"));
      ADD_FAILURE() << "accepted a corrupt file; expected an error containing '" << fragment << "'";
    } catch (const UserError& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find(fragment), std::string::npos) << msg;
      EXPECT_NE(msg.find("bad.safetensors"), std::string::npos) << msg;
    }
  }

  fs::path dir_;
};

TEST_F(Safetensors, RoundTripEveryDtypeShapeAndMetadata) {
  torch::manual_seed(0);
  const auto f32 = torch::randn({2, 3});
  const auto f64 = torch::tensor(3.25, torch::kFloat64);  // 0-d
  const auto i64 = torch::tensor(std::vector<int64_t>{-5, 0, int64_t{1} << 40, 7});
  const auto i32 = torch::tensor({1, -2, 3}, torch::kInt32);
  const auto b = torch::tensor({true, false, true});
  const auto empty = torch::zeros({0, 3});
  const auto strided = torch::arange(12, torch::kFloat32).view({3, 4}).t();  // non-contiguous
  const std::map<std::string, std::string> meta = {{"format", "pt"}, {"note", "ünïcode, \"q\""}};
  save_safetensors(path("m.safetensors"),
                   {{"z.f32", f32},
                    {"a.f64", f64},
                    {"m.i64", i64},
                    {"i32", i32},
                    {"mask", b},
                    {"empty", empty},
                    {"strided", strided}},
                   meta);
  std::map<std::string, std::string> got_meta;
  const auto got = load_safetensors(path("m.safetensors"), &got_meta);
  EXPECT_EQ(got_meta, meta);
  ASSERT_EQ(got.size(), 7u);
  const std::vector<std::string> names = {"a.f64", "empty",   "i32",  "m.i64",
                                          "mask",  "strided", "z.f32"};
  const std::vector<torch::Tensor> expected = {f64, empty, i32, i64, b, strided, f32};
  for (size_t i = 0; i < names.size(); ++i) {
    EXPECT_EQ(got[i].first, names[i]);
    EXPECT_EQ(got[i].second.scalar_type(), expected[i].scalar_type()) << names[i];
    EXPECT_EQ(got[i].second.sizes(), expected[i].sizes()) << names[i];
    EXPECT_TRUE(torch::equal(got[i].second, expected[i])) << names[i];
  }
  // The header length is a multiple of 8 and nothing but the file is left behind.
  const std::string bytes = read_bytes("m.safetensors");
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  EXPECT_EQ(n % 8, 0u);
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()), 1);
}

TEST_F(Safetensors, WriterIsByteExact) {
  save_safetensors(
      path("t.safetensors"),
      {{"b", torch::tensor({1.0f, 2.0f})}, {"a", torch::tensor({7}, torch::kInt64).view({1, 1})}},
      {{"k", "v"}});
  const std::string header =
      R"({"__metadata__":{"k":"v"},"a":{"data_offsets":[0,8],"dtype":"I64","shape":[1,1]},)"
      R"("b":{"data_offsets":[8,16],"dtype":"F32","shape":[2]}})";
  ASSERT_EQ(header.size(), 135u);  // padded with one space to 136 = 0x88
  const std::string data(
      "\x07\0\0\0\0\0\0\0"
      "\x00\x00\x80\x3f"
      "\x00\x00\x00\x40",
      16);
  std::string expected("\x88\0\0\0\0\0\0\0", 8);
  expected += header + " " + data;
  EXPECT_EQ(read_bytes("t.safetensors"), expected);
}

TEST_F(Safetensors, ReadsHandBuiltFileInReferenceKeyOrder) {
  // The reference writer puts dtype, shape, data_offsets in that order; no metadata.
  const std::string data(
      "\0\0\0\0\0\0\xf0\x3f"   // 1.0
      "\0\0\0\0\0\0\x04\xc0",  // -2.5
      16);
  write_bytes("h.safetensors",
              make_file(R"({"x":{"dtype":"F64","shape":[2],"data_offsets":[0,16]}})", data));
  std::map<std::string, std::string> meta = {{"stale", "entry"}};
  const auto got = load_safetensors(path("h.safetensors"), &meta);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].first, "x");
  EXPECT_TRUE(torch::equal(got[0].second, torch::tensor({1.0, -2.5}, torch::kFloat64)));
  EXPECT_EQ(meta.size(), 1u);  // untouched: the file has no __metadata__
}

TEST_F(Safetensors, RejectsCorruptFiles) {
  const std::string ok_header = R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  const std::string data(8, '\0');
  const std::string good = make_file(ok_header, data);
  write_bytes("good.safetensors", good);
  EXPECT_NO_THROW(load_safetensors(path("good.safetensors")));

  expect_rejected(good.substr(0, 5), "truncated");
  expect_rejected(good.substr(0, good.size() - 3), "outside");  // data cut short
  expect_rejected(good.substr(0, 20), "truncated");             // header cut short
  expect_rejected(make_file("{\"x\": [", data), "malformed JSON");
  expect_rejected(make_file("[1, 2]", ""), "not a JSON object");
  expect_rejected(make_file(R"({"x":{"dtype":"Q7","shape":[2],"data_offsets":[0,8]}})", data),
                  "unsupported dtype 'Q7'");
  expect_rejected(make_file(R"({"x":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", data),
                  "need 12");
  expect_rejected(make_file(R"({"x":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", data),
                  "non-negative");
  expect_rejected(make_file(R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", data),
                  "data_offsets");
  expect_rejected(
      make_file(R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", std::string(12, '\0')),
      "4 bytes after the last tensor");
  expect_rejected(make_file(R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                            R"("y":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})",
                            data),
                  "overlapping");
  expect_rejected(make_file(R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", data),
                  "overlapping or non-contiguous");
  expect_rejected(make_file(R"({"x":{"dtype":"BOOL","shape":[2],"data_offsets":[0,2]}})",
                            std::string("\x01\x02", 2)),
                  "other than 0 or 1");
  expect_rejected(make_file(R"({"__metadata__":{"k":1}})", ""), "not a string");
  expect_rejected(make_file(R"({"x":{"shape":[2],"data_offsets":[0,8]}})", data), "no dtype");
  std::string huge(8, '\0');
  huge[7] = 0x10;  // 2^60-byte header
  expect_rejected(huge + "{}", "limit");

  EXPECT_THROW(load_safetensors(path("missing.safetensors")), UserError);
}

TEST_F(Safetensors, WriterRejectsBadInput) {
  const auto t = torch::zeros({2});
  EXPECT_THROW(save_safetensors(path("d.safetensors"), {{"a", t}, {"a", t}}), UserError);
  EXPECT_THROW(save_safetensors(path("d.safetensors"), {{"", t}}), UserError);
  EXPECT_THROW(save_safetensors(path("d.safetensors"), {{"__metadata__", t}}), UserError);
  EXPECT_THROW(save_safetensors(path("d.safetensors"), {{"h", t.to(torch::kFloat16)}}), UserError);
  EXPECT_THROW(save_safetensors(path("no/such/dir/d.safetensors"), {{"a", t}}), UserError);
  EXPECT_FALSE(fs::exists(path("d.safetensors")));
}

}  // namespace safetensors_test
}  // namespace seqlab
