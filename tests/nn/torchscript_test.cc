// --model=PATH.pt: a module scripted and saved by Debian's python3-torch, loaded by ef21. The same
// Python run computes the module's loss and gradient on the data ef21 sees, so the test checks the
// parameter order, the pixel scaling and the gradient against PyTorch itself.
#include <fstream>

#include "common/nn/network_problem.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/nn/test_data.h"

namespace ef21 {
namespace {

using ::testing::HasSubstr;

constexpr char kPython[] = "/usr/bin/python3";

// torch.jit.script reads the class's source, so the module lives in a file.
constexpr char kScript[] = R"PY(
import sys
import numpy as np
import torch

class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 4, 3, padding=1)
        self.bn = torch.nn.BatchNorm2d(4)
        self.fc = torch.nn.Linear(4 * 8 * 8, 10)

    def forward(self, x):
        return self.fc(torch.relu(self.bn(self.conv(x))).flatten(1))

out, data = sys.argv[1], sys.argv[2]
torch.manual_seed(0)
model = torch.jit.script(Net())
model.save(out + "/net.pt")
raw = np.fromfile(data, dtype=np.uint8)
n = int(raw.size // 65)
pixels = torch.tensor(raw[: n * 64].reshape(n, 1, 8, 8), dtype=torch.float32) / 255.0
labels = torch.tensor(raw[n * 64 :].astype(np.int64))
model.train()
loss = torch.nn.functional.cross_entropy(model(pixels), labels)
loss.backward()
with open(out + "/expected.txt", "w") as f:
    f.write(repr(loss.item()) + "\n")
    for p in model.parameters():
        for v in p.detach().double().flatten().tolist():
            f.write(repr(v) + "\n")
    for p in model.parameters():
        for v in p.grad.double().flatten().tolist():
            f.write(repr(v) + "\n")
)PY";

TEST(TorchScriptTest, LoadsAPythonModuleAndMatchesItsGradient) {
  if (::access(kPython, X_OK) != 0 ||
      std::system((std::string(kPython) + " -c 'import torch, numpy' 2>/dev/null").c_str()) != 0) {
    GTEST_SKIP() << "python3-torch is not installed (scripts/bootstrap.sh installs it)";
  }
  const std::string dir = FreshDir("torchscript");
  auto data = std::make_shared<ImageData>();
  data->train = RandomImages(24, 1, 8, 10, 41);
  data->test = RandomImages(5, 1, 8, 10, 42);
  std::string bytes(reinterpret_cast<const char*>(data->train.pixels.data()),
                    data->train.pixels.size());
  for (int32_t l : data->train.labels) bytes.push_back(static_cast<char>(l));
  WriteFile(dir + "/data.bin", bytes);
  WriteFile(dir + "/make_net.py", kScript);
  const std::string command =
      std::string(kPython) + " " + dir + "/make_net.py " + dir + " " + dir + "/data.bin";
  ASSERT_EQ(std::system(command.c_str()), 0) << command;

  NetworkOptions o;
  o.model = dir + "/net.pt";
  o.data = data;
  o.clients = 1;
  o.shards = ShardKind::kContiguous;
  absl::StatusOr<std::unique_ptr<NetworkProblem>> p = NetworkProblem::Create(o);
  ASSERT_TRUE(p.ok()) << p.status();
  const int64_t d = (*p)->dim();
  EXPECT_EQ(d, 4 * 9 + 4 + 4 + 4 + 256 * 10 + 10);

  std::ifstream in(dir + "/expected.txt");
  double expected_loss;
  in >> expected_loss;
  Vector saved(d), expected_grad(d);
  for (int64_t j = 0; j < d; ++j) in >> saved[j];
  for (int64_t j = 0; j < d; ++j) in >> expected_grad[j];
  ASSERT_TRUE(in.good());

  // x^0 is the module's saved parameters, in the module's order.
  const Vector x0 = *(*p)->InitialPoint(0);
  EXPECT_EQ(x0, saved);
  // f_1 over the whole shard (24 rows, one batch-norm batch) and its gradient, as PyTorch has them.
  EvalPoint point;
  (*p)->Prepare(x0, &point);
  Vector grad;
  const double loss = (*p)->LossAndGradient(0, point, &grad);
  EXPECT_NEAR(loss, expected_loss, 1e-5);
  EXPECT_LT((grad - expected_grad).norm(), 1e-4 * expected_grad.norm());
  EXPECT_GT(expected_grad.norm(), 0.0);
}

TEST(TorchScriptTest, ANonModuleFileIsAClearError) {
  const std::string dir = FreshDir("torchscript_bad");
  WriteFile(dir + "/junk.pt", "this is not a zip archive");
  NetworkOptions o;
  o.model = dir + "/junk.pt";
  o.data = RandomData(4, 2, 1, 8);
  o.clients = 1;
  absl::StatusOr<std::unique_ptr<NetworkProblem>> p = NetworkProblem::Create(o);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(p.status().message(),
              HasSubstr("cannot load TorchScript module \"" + dir + "/junk.pt\""));
}

}  // namespace
}  // namespace ef21
