// `ef21 simulate` as a user runs it: the real binary, its exit codes, messages and run directory.
#include <sys/stat.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "gtest/gtest.h"

namespace {

struct Result {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

Result Ef21(const std::string& args) {
  const std::string command = std::string(EF21_BINARY) + " " + args + " 2>&1";
  Result r;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return r;
  std::array<char, 4096> buffer;
  size_t n;
  while ((n = fread(buffer.data(), 1, buffer.size(), pipe)) > 0) r.output.append(buffer.data(), n);
  const int status = pclose(pipe);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

std::string Read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

bool Exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

// metrics.csv without the wall_seconds column.
std::string WithoutWallClock(const std::string& csv) {
  std::stringstream in(csv), out;
  std::string line;
  // wall_seconds is the 10th column.
  while (std::getline(in, line)) {
    size_t at = 0;
    for (int comma = 0; comma < 9; ++comma) at = line.find(',', at) + 1;
    const size_t end = line.find(',', at);
    out << line.substr(0, at) << (end == std::string::npos ? "" : line.substr(end)) << "\n";
  }
  return out.str();
}

const std::string kData = std::string("--data=") + EF21_SOURCE_DIR + "/data/libsvm/breast-cancer_scale";

TEST(SimulateCommandTest, HelpExplainsEveryFlag) {
  const Result r = Ef21("simulate --help");
  EXPECT_EQ(r.exit_code, 0);
  for (const char* flag : {"--problem", "--data", "--features", "--synthetic", "--lambda", "--split",
                           "--clients", "--dim", "--L0", "--L1", "--algorithm", "--compressor", "--k",
                           "--rounds", "--stepsize", "--gamma", "--gamma0", "--eta", "--batch",
                           "--sigma", "--init", "--value-type", "--x0", "--x0-file", "--seed", "--out",
                           "--threads", "--diagnostics-every", "--eps"}) {
    EXPECT_NE(r.output.find(std::string(flag) + "="), std::string::npos) << flag;
  }
  // A vocabulary flag lists its values from the vocabulary's table.
  for (const char* hint : {"--algorithm=ef21|norm-ef21|ef21-sgdm|norm-ef21-sgdm|norm-ef21-sgd|"
                           "norm-sgdm|ef14|gd|norm-gd",
                           "--stepsize=theory|theory-l1|constant", "--init=full|compressed",
                           "--x0=gaussian|zeros", "--problem=logreg|polynomial"}) {
    EXPECT_NE(r.output.find(hint), std::string::npos) << hint << "\n" << r.output;
  }
}

TEST(SimulateCommandTest, BadFlagsAreClearErrorsAndWriteNothing) {
  const std::string out = ::testing::TempDir() + "/bad-run";
  struct Case {
    std::string args, message;
  } cases[] = {
      {"--algoritm=ef21", "unknown flag --algoritm (did you mean --algorithm?)"},
      {"--algorithm=ef22", "unknown algorithm \"ef22\""},
      {"--stepsize=theory2",
       "--stepsize: unknown stepsize rule \"theory2\"; expected theory, theory-l1 or constant"},
      {"--value-type=f16", "--value-type: unknown value type \"f16\"; expected f32 or f64"},
      {"--compressor=topk", "--compressor: unknown compressor \"topk\"; expected top-k, rand-k"},
      {"--k=two", "--k: expected an integer, got \"two\""},
      {"--k=0", "--k must be >= 1; got 0"},
      {"--k=11", "top-k needs 1 <= k <= d = 10; got k = 11"},
      {"--rounds", "--rounds needs a value"},
      {"--gamma=0.1", "--gamma is only used with --stepsize=constant"},
      {"--algorithm=gd --compressor=rand-k", "gd is defined with the identity compressor"},
      {"--rounds=5 --rounds=6", "--rounds is given twice"},
      {"--x0-file=/nonexistent/x0", "cannot open x0 file \"/nonexistent/x0\""},
      {"--lambda=nan", "--lambda: expected a finite number, got \"nan\""},
  };
  for (const Case& c : cases) {
    const Result r = Ef21("simulate " + kData + " --out=" + out + " " + c.args);
    EXPECT_NE(r.exit_code, 0) << c.args;
    EXPECT_NE(r.output.find(c.message), std::string::npos) << c.args << " printed: " << r.output;
    EXPECT_FALSE(Exists(out + "/metrics.csv")) << c.args;
  }
  const Result missing = Ef21("simulate --data=/nonexistent/file --out=" + out);
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_NE(missing.output.find("/nonexistent/file"), std::string::npos) << missing.output;
  EXPECT_FALSE(Exists(out));
  EXPECT_NE(Ef21("frobnicate").output.find("unknown command \"frobnicate\""), std::string::npos);
}

TEST(SimulateCommandTest, RunDirectoryAndThreadCountIndependence) {
  const std::string dir = ::testing::TempDir();
  std::string metrics[2];
  int i = 0;
  for (const char* threads : {"1", "2"}) {
    const std::string out = dir + "/threads-" + threads;
    const Result r = Ef21("simulate " + kData +
                          " --algorithm=norm-ef21-sgdm --compressor=rand-k --k=2 --batch=4 --rounds=30 "
                          "--threads=" + threads + " --overwrite --out=" + out);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    metrics[i++] = Read(out + "/metrics.csv");
    EXPECT_NE(Read(out + "/config.json").find("\"algorithm\": \"norm-ef21-sgdm\""), std::string::npos);
    EXPECT_NE(Read(out + "/summary.json").find("\"min_grad_norm\""), std::string::npos);
  }
  EXPECT_EQ(metrics[0].substr(0, metrics[0].find('\n')),
            "round,paper_bits_per_client,uplink_bytes_per_client,downlink_bytes_per_client,loss,"
            "grad_norm,grad_norm_sq,g_norm,stepsize,wall_seconds,train_accuracy,test_loss,"
            "test_accuracy");
  EXPECT_EQ(std::count(metrics[0].begin(), metrics[0].end(), '\n'), 32);  // header + rounds 0..30
  EXPECT_EQ(WithoutWallClock(metrics[0]), WithoutWallClock(metrics[1]));
}

TEST(SimulateCommandTest, X0FileSetsTheStartingPoint) {
  const std::string dir = ::testing::TempDir();
  {
    std::ofstream f(dir + "/x0.txt");
    f << "20\n21\n19\n20.5\n";
  }
  const Result r = Ef21("simulate --problem=polynomial --dim=4 --algorithm=norm-ef21 --rounds=3 --x0-file=" +
                        dir + "/x0.txt --overwrite --out=" + dir + "/poly");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  // f(x^0) for x^0 = (20, 21, 19, 20.5), λ = 4/(9·16/2 + 2) = 1/18.5.
  const double lambda = 4.0 / 74.0;
  double f0 = 0;
  for (double x : {20.0, 21.0, 19.0, 20.5}) f0 += lambda / 24 * x * x * x * x + lambda * x * x / (1 + x * x);
  const std::string csv = Read(dir + "/poly/metrics.csv");
  std::stringstream lines(csv);
  std::string header, row0;
  std::getline(lines, header);
  std::getline(lines, row0);
  std::stringstream cells(row0);
  std::string cell;
  for (int c = 0; c < 5; ++c) std::getline(cells, cell, ',');
  EXPECT_NEAR(std::stod(cell), f0, 1e-12 * f0);
}

}  // namespace
