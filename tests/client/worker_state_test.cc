// client/worker_state.h: states round-trip bit for bit; only rounds r, r − 1 and the anchor are
// kept; another run's files for the same clients are removed; damage is refused.
#include "client/worker_state.h"

#include <filesystem>
#include <fstream>

#include "gtest/gtest.h"

namespace ef21 {
namespace {

class WorkerStateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "/worker_state_test_" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::filesystem::remove_all(dir_);
  }
  WorkerStateStore::Options Options(const std::string& run) const {
    WorkerStateStore::Options o;
    o.dir = dir_;
    o.run_id = run;
    o.first_client = 10;
    o.last_client = 11;
    o.dim = 3;
    return o;
  }
  static std::vector<Vector> States(double base) {
    return {Vector::Constant(3, base), Vector::LinSpaced(3, base, base + 1.0)};
  }
  static absl::Status Save(WorkerStateStore* store, int64_t round) {
    const std::vector<Vector> s = States(static_cast<double>(round));
    const std::vector<const Vector*> p = {&s[0], &s[1]};
    return store->Save(round, p).status();
  }
  std::string dir_;
};

TEST_F(WorkerStateTest, KeepsTheLastTwoRoundsAndTheAnchor) {
  auto store = WorkerStateStore::Open(Options("aaaa"));
  ASSERT_TRUE(store.ok()) << store.status();
  auto fresh = (*store)->Load(-1);
  ASSERT_TRUE(fresh.ok());
  EXPECT_EQ((*fresh)[0].size(), 0);  // before round 0: no state yet
  for (int64_t r = 0; r < 5; ++r) ASSERT_TRUE(Save(store->get(), r).ok());
  EXPECT_EQ((*store)->rounds(), (std::set<int64_t>{3, 4}));
  (*store)->Anchor(4);  // RoundStart 5 said "checkpointed"
  for (int64_t r = 5; r < 9; ++r) ASSERT_TRUE(Save(store->get(), r).ok());
  EXPECT_EQ((*store)->rounds(), (std::set<int64_t>{4, 7, 8}));
  auto anchor = (*store)->Load(4);
  ASSERT_TRUE(anchor.ok()) << anchor.status();
  EXPECT_EQ((*anchor)[1], States(4.0)[1]);
  EXPECT_EQ((*store)->Load(5).status().code(), absl::StatusCode::kNotFound);

  // A restarted worker finds its files; the oldest is kept as the anchor until told otherwise.
  auto again = WorkerStateStore::Open(Options("aaaa"));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*again)->rounds(), (std::set<int64_t>{4, 7, 8}));
  ASSERT_TRUE(Save(again->get(), 9).ok());
  EXPECT_EQ((*again)->rounds(), (std::set<int64_t>{4, 8, 9}));

  // Another run for the same clients removes these files.
  auto other = WorkerStateStore::Open(Options("bbbb"));
  ASSERT_TRUE(other.ok());
  EXPECT_TRUE((*other)->rounds().empty());
  auto reopened = WorkerStateStore::Open(Options("aaaa"));
  ASSERT_TRUE(reopened.ok());
  EXPECT_TRUE((*reopened)->rounds().empty());
}

TEST_F(WorkerStateTest, RefusesADamagedFile) {
  auto store = WorkerStateStore::Open(Options("cccc"));
  ASSERT_TRUE(store.ok());
  ASSERT_TRUE(Save(store->get(), 0).ok());
  const std::string path = dir_ + "/cccc-10-11-0.state";
  ASSERT_TRUE(std::filesystem::exists(path));
  std::filesystem::resize_file(path, std::filesystem::file_size(path) - 3);
  auto loaded = (*store)->Load(0);
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(loaded.status().message().find(path), std::string::npos) << loaded.status();
}

// What a restarted host may claim, read before the run is known: the rounds of whole files of this
// run, client range and dimension; the directory is left as it was.
TEST_F(WorkerStateTest, WholeRoundsListsWholeFilesAndChangesNothing) {
  auto store = WorkerStateStore::Open(Options("aaaa"));
  ASSERT_TRUE(store.ok());
  for (int64_t r = 3; r < 6; ++r) ASSERT_TRUE(Save(store->get(), r).ok());  // keeps 4 and 5
  EXPECT_EQ(WorkerStateStore::WholeRounds(Options("aaaa")), (std::set<int64_t>{4, 5}));
  // Another client range or dimension: none of them.
  WorkerStateStore::Options range = Options("aaaa");
  range.last_client = 12;
  EXPECT_TRUE(WorkerStateStore::WholeRounds(range).empty());
  WorkerStateStore::Options dim = Options("aaaa");
  dim.dim = 4;
  EXPECT_TRUE(WorkerStateStore::WholeRounds(dim).empty());
  // Round 5 cut one byte short; round 4's file copied under another round's name and under
  // another run's: none of them is whole, and nothing is removed or changed.
  const std::string path5 = dir_ + "/aaaa-10-11-5.state";
  const auto size5 = std::filesystem::file_size(path5);
  std::filesystem::resize_file(path5, size5 - 1);
  std::filesystem::copy_file(dir_ + "/aaaa-10-11-4.state", dir_ + "/aaaa-10-11-9.state");
  std::filesystem::copy_file(dir_ + "/aaaa-10-11-4.state", dir_ + "/bbbb-10-11-4.state");
  const auto before = std::distance(std::filesystem::directory_iterator(dir_),
                                    std::filesystem::directory_iterator());
  EXPECT_EQ(WorkerStateStore::WholeRounds(Options("aaaa")), (std::set<int64_t>{4}));
  EXPECT_TRUE(WorkerStateStore::WholeRounds(Options("bbbb")).empty());
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir_),
                          std::filesystem::directory_iterator()),
            before);
  EXPECT_EQ(std::filesystem::file_size(path5), size5 - 1);
  // No directory: none, and none is created.
  WorkerStateStore::Options missing = Options("aaaa");
  missing.dir = dir_ + "/nowhere";
  EXPECT_TRUE(WorkerStateStore::WholeRounds(missing).empty());
  EXPECT_FALSE(std::filesystem::exists(missing.dir));
}

}  // namespace
}  // namespace ef21
