// `ef21 simulate` as a user runs it: the real binary, its exit codes, messages and run directory.
#include <dirent.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

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

const std::string kData =
    std::string("--data=") + EF21_SOURCE_DIR + "/data/libsvm/breast-cancer_scale";

TEST(SimulateCommandTest, HelpExplainsEveryFlag) {
  const Result r = Ef21("simulate --help");
  EXPECT_EQ(r.exit_code, 0);
  for (const char* flag : {"--problem", "--data",       "--features",  "--synthetic",
                           "--lambda",  "--split",      "--clients",   "--dim",
                           "--L0",      "--L1",         "--algorithm", "--compressor",
                           "--k",       "--rounds",     "--stepsize",  "--gamma",
                           "--gamma0",  "--eta",        "--batch",     "--sigma",
                           "--init",    "--value-type", "--x0",        "--x0-file",
                           "--seed",    "--out",        "--threads",   "--diagnostics-every",
                           "--eps"}) {
    EXPECT_NE(r.output.find(std::string(flag) + "="), std::string::npos) << flag;
  }
  // A vocabulary flag lists its values from the vocabulary's table.
  for (const char* hint : {"--algorithm=ef21|norm-ef21|ef21-sgdm|norm-ef21-sgdm|norm-ef21-sgd|"
                           "norm-sgdm|ef14|gd|norm-gd",
                           "--stepsize=theory|theory-l1|constant", "--init=full|compressed|shard",
                           "--x0=gaussian|zeros", "--problem=logreg|polynomial"}) {
    EXPECT_NE(r.output.find(hint), std::string::npos) << hint << "\n" << r.output;
  }
}

// Every flag each subcommand had before CLI11 is still there under its name (--config is new).
TEST(SimulateCommandTest, EverySubcommandKeepsItsFlags) {
  const std::string problem =
      "--problem --data --features --synthetic --lambda --split --clients --dim --L0 --L1 --model "
      "--dataset --shards --train-samples --diagnostics-samples --batch --sigma --seed";
  const std::string algorithm =
      "--algorithm --compressor --k --rounds --stepsize --gamma --gamma0 --eta --init --value-type "
      "--x0 --x0-file --participation --out --overwrite --threads --diagnostics-every --eps";
  const std::pair<std::string, std::string> commands[] = {
      {"simulate", problem + " " + algorithm},
      {"run", "--worker-processes --metrics-listen --linger-seconds " + problem + " " + algorithm},
      {"aggregator",
       "--listen --metrics-listen --linger-seconds --checkpoint-every "
       "--checkpoint-seconds --exit-when-complete --per-client-metrics-max " +
           problem + " " + algorithm},
      {"worker",
       "--aggregator --client-ids --metrics-listen --linger-seconds --threads --state-dir "
       "--connect-timeout-seconds --test-drop-stream-at-round " +
           problem},
      {"health", "--target --service --timeout-seconds"},
  };
  for (const auto& [command, flags] : commands) {
    const Result help = Ef21(command + " --help");
    ASSERT_EQ(help.exit_code, 0) << command;
    std::stringstream names(flags);
    for (std::string flag; names >> flag;) {
      // "  --name=HINT" or "  --name  " (a boolean flag) at the start of a help line.
      const bool listed = help.output.find("\n  " + flag + "=") != std::string::npos ||
                          help.output.find("\n  " + flag + " ") != std::string::npos;
      EXPECT_TRUE(listed) << command << " lost " << flag << "\n" << help.output;
    }
  }
}

TEST(SimulateCommandTest, EverySubcommandHasHelpAndBadFlagExitCode) {
  for (const char* command : {"simulate", "run", "aggregator", "worker", "health"}) {
    const Result help = Ef21(std::string(command) + " --help");
    EXPECT_EQ(help.exit_code, 0) << command << ": " << help.output;
    EXPECT_NE(help.output.find(std::string("usage: ef21 ") + command), std::string::npos)
        << help.output;
    EXPECT_NE(help.output.find("--config=FILE"), std::string::npos) << help.output;
    const Result bad = Ef21(std::string(command) + " --no-such-flag=1");
    EXPECT_EQ(bad.exit_code, 2) << command << ": " << bad.output;
    EXPECT_NE(bad.output.find(std::string("ef21 ") + command + ": unknown flag --no-such-flag"),
              std::string::npos)
        << bad.output;
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
    const Result r =
        Ef21("simulate " + kData +
             " --algorithm=norm-ef21-sgdm --compressor=rand-k --k=2 --batch=4 --rounds=30 "
             "--threads=" +
             threads + " --overwrite --out=" + out);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    metrics[i++] = Read(out + "/metrics.csv");
    EXPECT_NE(Read(out + "/config.json").find("\"algorithm\": \"norm-ef21-sgdm\""),
              std::string::npos);
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
  const Result r = Ef21(
      "simulate --problem=polynomial --dim=4 --algorithm=norm-ef21 --rounds=3 --x0-file=" + dir +
      "/x0.txt --overwrite --out=" + dir + "/poly");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  // f(x^0) for x^0 = (20, 21, 19, 20.5), λ = 4/(9·16/2 + 2) = 1/18.5.
  const double lambda = 4.0 / 74.0;
  double f0 = 0;
  for (double x : {20.0, 21.0, 19.0, 20.5})
    f0 += lambda / 24 * x * x * x * x + lambda * x * x / (1 + x * x);
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

TEST(SimulateCommandTest, VersionNamesReleaseCommitAndBuildType) {
  for (const char* command : {"--version", "version"}) {
    const Result r = Ef21(command);
    EXPECT_EQ(r.exit_code, 0) << command;
    EXPECT_EQ(r.output.rfind("ef21 0.1.0 (commit ", 0), 0u) << r.output;
    EXPECT_NE(r.output.find(" build)\n"), std::string::npos) << r.output;
  }
  const Result help = Ef21("--help");
  EXPECT_NE(help.output.find("version"), std::string::npos);
}

TEST(SimulateCommandTest, RunDirectoryRecordsTheBuildAndStatus) {
  const std::string out = ::testing::TempDir() + "/build-info";
  ASSERT_EQ(Ef21("simulate " + kData + " --rounds=3 --overwrite --out=" + out).exit_code, 0);
  const std::string version = Ef21("--version").output;
  // "ef21 0.1.0 (commit C, T build)" names the commit config.json and summary.json record.
  const std::string commit =
      version.substr(version.find("commit ") + 7, version.find(',') - version.find("commit ") - 7);
  for (const char* file : {"/config.json", "/summary.json"}) {
    const std::string json = Read(out + file);
    EXPECT_NE(json.find("\"version\": \"0.1.0\""), std::string::npos) << file << json;
    EXPECT_NE(json.find("\"commit\": \"" + commit + "\""), std::string::npos) << file << json;
    EXPECT_NE(json.find("\"build_type\": "), std::string::npos) << file << json;
  }
  EXPECT_NE(Read(out + "/summary.json").find("\"status\": \"complete\""), std::string::npos);
}

TEST(SimulateCommandTest, WithoutOutSaysNothingIsWritten) {
  const Result r = Ef21("simulate " + kData + " --rounds=2");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("no --out: nothing is written"), std::string::npos) << r.output;
  const Result with_out = Ef21(
      "simulate " + kData + " --rounds=2 --overwrite --out=" + ::testing::TempDir() + "/with-out");
  EXPECT_EQ(with_out.output.find("nothing is written"), std::string::npos) << with_out.output;
}

TEST(SimulateCommandTest, RoundsWithoutDiagnosticsHaveEmptyCells) {
  const std::string out = ::testing::TempDir() + "/diagnostics";
  ASSERT_EQ(Ef21("simulate " + kData + " --rounds=6 --diagnostics-every=4 --overwrite --out=" + out)
                .exit_code,
            0);
  std::stringstream csv(Read(out + "/metrics.csv"));
  std::string line;
  std::getline(csv, line);  // header
  for (int round = 0; round <= 6; ++round) {
    ASSERT_TRUE(std::getline(csv, line));
    std::vector<std::string> cells;
    std::stringstream row(line);
    for (std::string cell; std::getline(row, cell, ',');) cells.push_back(cell);
    if (line.back() == ',') cells.push_back("");  // getline drops a trailing empty cell
    ASSERT_EQ(cells.size(), 13u) << line;
    const bool measured = round % 4 == 0 || round == 6;
    EXPECT_EQ(cells[5].empty(), !measured) << line;  // grad_norm
    EXPECT_EQ(cells[6].empty(), !measured) << line;  // grad_norm_sq
    EXPECT_EQ(line.find("nan"), std::string::npos) << line;
    EXPECT_FALSE(cells[4].empty()) << line;  // loss is always there
  }
}

// Whether each data row of metrics.csv has grad_norm (round 0 first).
std::vector<bool> DiagnosticRows(const std::string& metrics_csv) {
  std::stringstream csv(metrics_csv);
  std::string line;
  std::getline(csv, line);  // header
  std::vector<bool> rows;
  while (std::getline(csv, line)) {
    std::stringstream row(line);
    std::string cell;
    for (int column = 0; column <= 5; ++column) std::getline(row, cell, ',');
    rows.push_back(!cell.empty());  // grad_norm, column 5
  }
  return rows;
}

// The default --diagnostics-every: every round below d = 10^5 parameters, ⌊d / 10^4⌋ rounds
// from there on (first and last rounds always); config.json records the value in effect, and a
// given value is kept whatever d.
TEST(SimulateCommandTest, LargeModelsDefaultToSparseDiagnostics) {
  const std::string dir = ::testing::TempDir();
  const std::string flags = " --problem=polynomial --clients=2 --k=10 --rounds=23 --overwrite";
  struct Case {
    std::string extra;
    int every;
  };
  for (const Case& c : {Case{" --dim=99999", 1}, Case{" --dim=100000", 10},
                        Case{" --dim=120000", 12}, Case{" --dim=100000 --diagnostics-every=1", 1},
                        Case{" --dim=99999 --diagnostics-every=7", 7}}) {
    const std::string out = dir + "/sparse-diagnostics";
    const Result r = Ef21("simulate" + flags + c.extra + " --out=" + out);
    ASSERT_EQ(r.exit_code, 0) << c.extra << "\n" << r.output;
    const std::string config = Read(out + "/config.json");
    EXPECT_NE(config.find("\"diagnostics-every\": " + std::to_string(c.every) + ","),
              std::string::npos)
        << c.extra << "\n"
        << config;
    const std::vector<bool> rows = DiagnosticRows(Read(out + "/metrics.csv"));
    ASSERT_EQ(rows.size(), 24u) << c.extra;
    for (int round = 0; round <= 23; ++round) {
      EXPECT_EQ(rows[round], round % c.every == 0 || round == 23) << c.extra << " round " << round;
    }
  }
  // The federation resolves the same interval and sends it to its workers: the same files.
  const std::string sim = dir + "/sparse-simulate", run = dir + "/sparse-run";
  ASSERT_EQ(Ef21("simulate" + flags + " --dim=100000 --out=" + sim).exit_code, 0);
  const Result r = Ef21("run" + flags + " --dim=100000 --out=" + run);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(Read(sim + "/config.json"), Read(run + "/config.json"));
  EXPECT_EQ(WithoutWallClock(Read(sim + "/metrics.csv")),
            WithoutWallClock(Read(run + "/metrics.csv")));
}

// How often `needle` occurs in `text`.
int Occurrences(const std::string& text, const std::string& needle) {
  int n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

// The processes whose command line holds `needle`.
std::vector<std::string> ProcessesWith(const std::string& needle) {
  std::vector<std::string> found;
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return found;
  while (const dirent* e = readdir(proc)) {
    const std::string pid = e->d_name;
    if (pid.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string cmdline = Read("/proc/" + pid + "/cmdline");
    for (char& c : cmdline) c = c == '\0' ? ' ' : c;
    if (cmdline.find(needle) != std::string::npos) found.push_back(pid + ": " + cmdline);
  }
  closedir(proc);
  return found;
}

// `ef21 run` forks its workers before its aggregator starts (they run `ef21 worker` without exec,
// with `ef21 run`'s command line) and each ends with the run, once it has reported: each worker's
// clients say they are complete exactly once, the summary comes once, and no process with the
// run's command line is left when the command has returned.
TEST(SimulateCommandTest, RunWorkersReportOnceAndEndWithTheRun) {
  const std::string out = ::testing::TempDir() + "/forked-workers-" + std::to_string(getpid());
  // The output goes to a file, not to Ef21's pipe: the command returns when `ef21 run` does, not
  // once every holder of the pipe is gone, so a worker left behind is still there to be found.
  const std::string log = out + ".log";
  Result r = Ef21(
      "run --problem=polynomial --clients=5 --rounds=5 --worker-processes=3 "
      "--overwrite --out=" +
      out + " > " + log);
  r.output += Read(log);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (const char* done : {"; client 0 computed 6 rounds", "; clients 1-2 computed 6 rounds",
                           "; clients 3-4 computed 6 rounds"}) {
    EXPECT_EQ(Occurrences(r.output, done), 1) << done << "\n" << r.output;
  }
  EXPECT_EQ(Occurrences(r.output, "norm-ef21: 5 rounds in "), 1) << r.output;
  EXPECT_EQ(Occurrences(r.output, " attached to aggregator "), 3) << r.output;
  const std::vector<std::string> left = ProcessesWith("--out=" + out);
  EXPECT_TRUE(left.empty()) << left.size() << " left, the first: " << left.front();
}

// `ef21 worker --aggregator=-` (how `ef21 run` starts workers while its aggregator loads) reads
// the address from standard input once its data is loaded; without one it says so and fails.
TEST(SimulateCommandTest, WorkerWithoutAnAddressOnStandardInputSaysSo) {
  const std::string worker = "worker --insecure --client-ids=0-1 --problem=polynomial --clients=2";
  const Result eof = Ef21(worker + " --aggregator=- < /dev/null");
  EXPECT_NE(eof.exit_code, 0) << eof.output;
  EXPECT_NE(eof.output.find("expected the aggregator's HOST:PORT on standard input; got end of "
                            "input"),
            std::string::npos)
      << eof.output;
  const std::string input = ::testing::TempDir() + "/not-an-address.txt";
  std::ofstream(input) << "not-an-address\n";
  const Result bad = Ef21(worker + " --aggregator=- < " + input);
  EXPECT_NE(bad.exit_code, 0) << bad.output;
  EXPECT_NE(bad.output.find("not-an-address"), std::string::npos) << bad.output;
}

TEST(SimulateCommandTest, ConfigFileRunsTheSameAsItsFlags) {
  const std::string dir = ::testing::TempDir();
  const std::string flags = kData + " --algorithm=ef21 --compressor=top-k --k=2 --rounds=20";
  ASSERT_EQ(Ef21("simulate " + flags + " --overwrite --out=" + dir + "/cfg-flags").exit_code, 0);
  // The first run's config.json, given back as --config, repeats it.
  const Result again = Ef21("simulate --config=" + dir +
                            "/cfg-flags/config.json --overwrite --out=" + dir + "/cfg-file");
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_EQ(WithoutWallClock(Read(dir + "/cfg-flags/metrics.csv")),
            WithoutWallClock(Read(dir + "/cfg-file/metrics.csv")));
  EXPECT_EQ(Read(dir + "/cfg-flags/config.json"), Read(dir + "/cfg-file/config.json"));
  {
    std::ofstream f(dir + "/bad.json");
    f << "{\"rounds\": 3, \"colour\": \"blue\"}";
  }
  const Result bad = Ef21("simulate " + kData + " --config=" + dir + "/bad.json");
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.output.find("bad.json: unknown key \"colour\""), std::string::npos) << bad.output;
}

}  // namespace
