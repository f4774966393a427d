// Input files are read with a bound: devices, pipes and directories are refused before any byte is
// read, and so is a file above the limit (issue 10: --data=/dev/zero read 22.5 GB until the OOM
// killer ended the process).
#include "common/base/bounded_file.h"

#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "common/base/host_port.h"
#include "common/problems/dataset.h"
#include "common/run/problem_factory.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ef21 {
namespace {

using ::testing::HasSubstr;

std::string WriteTemp(const std::string& name, const std::string& contents) {
  const std::string path = ::testing::TempDir() + "/" + name;
  std::ofstream(path, std::ios::binary) << contents;
  return path;
}

TEST(BoundedFileTest, ReadsARegularFileWhole) {
  const std::string path = WriteTemp("bounded_ok.txt", "1 1:0.5\n-1 2:1\n");
  absl::StatusOr<std::string> text = ReadBoundedFile(path, 1 << 20, "test file");
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(*text, "1 1:0.5\n-1 2:1\n");
}

TEST(BoundedFileTest, RefusesDevicesDirectoriesAndPipes) {
  absl::StatusOr<std::string> zero = ReadBoundedFile("/dev/zero", 1 << 20, "LIBSVM file");
  EXPECT_EQ(zero.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(
      zero.status().message(),
      HasSubstr("LIBSVM file \"/dev/zero\" is a character device; expected a regular file"));
  absl::StatusOr<std::string> dir = ReadBoundedFile(::testing::TempDir(), 1 << 20, "x0 file");
  EXPECT_EQ(dir.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(dir.status().message(), HasSubstr("is a directory"));
  const std::string fifo = ::testing::TempDir() + "/bounded_fifo";
  ::unlink(fifo.c_str());
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  // No writer: a blocking open would hang here.
  absl::StatusOr<std::string> pipe = ReadBoundedFile(fifo, 1 << 20, "x0 file");
  EXPECT_THAT(pipe.status().message(), HasSubstr("is a pipe"));
  ::unlink(fifo.c_str());
  EXPECT_EQ(ReadBoundedFile("/nonexistent/file", 1, "x0 file").status().code(),
            absl::StatusCode::kNotFound);
}

TEST(BoundedFileTest, RefusesAFileAboveTheLimit) {
  const std::string path = WriteTemp("bounded_big.txt", std::string(1001, 'x'));
  absl::StatusOr<std::string> text = ReadBoundedFile(path, 1000, "LIBSVM file");
  EXPECT_EQ(text.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(text.status().message(), HasSubstr("has 1001 bytes; at most 1000 bytes are read"));
  EXPECT_TRUE(ReadBoundedFile(path, 1001, "LIBSVM file").ok());
}

TEST(BoundedFileTest, DataAndStartingPointReadersUseTheBound) {
  EXPECT_THAT(ReadLibsvm("/dev/zero").status().message(), HasSubstr("character device"));
  LibsvmOptions small;
  small.max_bytes = 4;
  EXPECT_THAT(ReadLibsvm(WriteTemp("bounded_rows.svm", "1 1:0.5\n"), small).status().message(),
              HasSubstr("at most 4 bytes"));
  RunConfig config;
  config.problem = ProblemKind::kPolynomial;
  config.dim = 4;
  config.x0_file = "/dev/zero";
  EXPECT_THAT(CreateStartingPoint(config, 4).status().message(), HasSubstr("character device"));
  // Far more than 64 bytes a coordinate (plus 1 MiB of slack) for d = 4.
  config.x0_file = WriteTemp("bounded_x0.txt", std::string((1 << 20) + 1000, '\n'));
  EXPECT_THAT(CreateStartingPoint(config, 4).status().message(), HasSubstr("bytes are read"));
}

TEST(HostPortTest, AcceptsHostPortAndRefusesBadPorts) {
  absl::StatusOr<HostPort> ok = ParseHostPort("0.0.0.0:50051", "--listen");
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->host, "0.0.0.0");
  EXPECT_EQ(ok->port, 50051);
  EXPECT_TRUE(ParseHostPort("[::1]:0", "--listen").ok());
  EXPECT_TRUE(ParseHostPort(":9464", "--metrics-listen").ok());
  for (const char* bad : {"127.0.0.1:99999", "127.0.0.1:", "127.0.0.1", "127.0.0.1:-1",
                          "127.0.0.1:80x", "::1:50051", "127.0.0.1:0000065536"}) {
    SCOPED_TRACE(bad);
    absl::StatusOr<HostPort> parsed = ParseHostPort(bad, "--listen");
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(parsed.status().message(),
                HasSubstr("expected HOST:PORT with a port in [0, 65535]"));
  }
}

TEST(HostPortTest, GrpcAddressIsHostPortOrAUnixSocketPath) {
  EXPECT_TRUE(CheckGrpcAddress("127.0.0.1:0", "--listen").ok());
  EXPECT_TRUE(CheckGrpcAddress("unix:/tmp/ef21-run-abc/aggregator.sock", "--listen").ok());
  EXPECT_TRUE(CheckGrpcAddress("unix:///tmp/a.sock", "--aggregator").ok());
  EXPECT_TRUE(CheckGrpcAddress("unix:relative.sock", "--aggregator").ok());
  EXPECT_TRUE(IsUnixAddress("unix:/tmp/a.sock"));
  EXPECT_FALSE(IsUnixAddress("127.0.0.1:50051"));
  // A host:port is checked as ParseHostPort checks it.
  EXPECT_THAT(CheckGrpcAddress("127.0.0.1:99999", "--listen").message(),
              HasSubstr("expected HOST:PORT"));
  const std::string longest(107, 'a');
  EXPECT_TRUE(CheckGrpcAddress("unix:" + longest, "--listen").ok());
  struct Bad {
    std::string address, why;
  };
  for (const Bad& bad : {Bad{"unix:", "the path is empty"}, Bad{"unix://", "the path is empty"},
                         Bad{"unix:" + longest + "b", "the path has 108 bytes, more than the 107"},
                         Bad{std::string("unix:/tmp/a\0b", 14), "contains a NUL byte"}}) {
    SCOPED_TRACE(bad.address);
    const absl::Status status = CheckGrpcAddress(bad.address, "--listen");
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(status.message(), HasSubstr("--listen="));
    EXPECT_THAT(status.message(), HasSubstr("expected unix:PATH"));
    EXPECT_THAT(status.message(), HasSubstr(bad.why));
  }
}

}  // namespace
}  // namespace ef21
