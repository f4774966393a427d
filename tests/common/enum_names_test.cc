// The vocabularies' name tables (common/base/enum_names.h): every value of every vocabulary has
// one name that parses back to it, an unknown name is refused with the list of valid ones, and
// the spellings users type are the ones the tables hold.
#include "common/base/enum_names.h"

#include <set>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/compress/compressor.h"
#include "common/methods/algorithm.h"
#include "common/methods/method.h"
#include "common/methods/stepsize.h"
#include "common/problems/logistic.h"
#include "common/run/downlink.h"
#include "common/run/run_config.h"
#include "gtest/gtest.h"

namespace ef21 {
namespace {

template <typename E>
class VocabularyTest : public ::testing::Test {};

using Vocabularies = ::testing::Types<Algorithm, CompressorKind, Split, StepsizeRule, InitKind,
                                      X0Kind, ValueType, ProblemKind, DownlinkMode, DownlinkKind>;
TYPED_TEST_SUITE(VocabularyTest, Vocabularies);

TYPED_TEST(VocabularyTest, EveryValueRoundTripsThroughItsName) {
  using E = TypeParam;
  const auto& table = NamesOf(E{});
  ASSERT_EQ(table.size(), static_cast<size_t>(E::kMaxValue) + 1);
  std::set<std::string> seen;
  for (size_t i = 0; i < table.size(); ++i) {
    const E value = static_cast<E>(i);
    EXPECT_EQ(table.values()[i], value);
    const std::string name = EnumName(value);
    EXPECT_FALSE(name.empty());
    EXPECT_NE(name, "?");
    EXPECT_TRUE(seen.insert(name).second) << "\"" << name << "\" names two values";
    absl::StatusOr<E> parsed = ParseEnum<E>(name);
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(*parsed, value) << name;
  }
}

TYPED_TEST(VocabularyTest, UnknownNameIsRefusedWithEveryValidName) {
  using E = TypeParam;
  const auto& table = NamesOf(E{});
  const std::string first = table.names()[0];
  for (const std::string& bad : {std::string(), std::string("no-such-name"), first + " "}) {
    absl::StatusOr<E> parsed = ParseEnum<E>(bad);
    ASSERT_FALSE(parsed.ok()) << "\"" << bad << "\" parsed";
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
    const std::string message(parsed.status().message());
    EXPECT_TRUE(
        absl::StrContains(message, absl::StrCat("unknown ", table.noun(), " \"", bad, "\"")))
        << message;
    for (const char* name : table.names()) {
      EXPECT_TRUE(absl::StrContains(message, name)) << message << " lacks " << name;
    }
  }
  // Names are case-sensitive: the flags, config.json and the wire all use the lower-case form.
  const std::string upper = absl::AsciiStrToUpper(first);
  if (upper != first) {
    EXPECT_FALSE(ParseEnum<E>(upper).ok());
  }
}

TEST(EnumNamesTest, SpellingsUsersType) {
  EXPECT_EQ(kAlgorithmNames.Join(" "),
            "ef21 norm-ef21 ef21-sgdm norm-ef21-sgdm norm-ef21-sgd norm-sgdm ef14 gd norm-gd");
  EXPECT_EQ(kCompressorKindNames.Join(), "top-k|rand-k|identity");
  EXPECT_EQ(kSplitNames.Join(), "row|contiguous");
  EXPECT_EQ(kStepsizeRuleNames.Join(), "theory|theory-l1|constant");
  EXPECT_EQ(kInitKindNames.Join(), "full|compressed|shard");
  EXPECT_EQ(kX0KindNames.Join(), "gaussian|zeros");
  EXPECT_EQ(kValueTypeNames.Join(), "f32|f64");
  EXPECT_EQ(kProblemKindNames.Join(), "logreg|polynomial|network");
  EXPECT_EQ(kDownlinkModeNames.Join(), "auto|dense|delta");
  EXPECT_EQ(kDownlinkKindNames.Join(), "dense|resync|delta");
  EXPECT_EQ(kStepsizeRuleNames.Expected(), "theory, theory-l1 or constant");
  EXPECT_EQ(kSplitNames.Expected(), "row or contiguous");
}

TEST(EnumNamesTest, ParseErrorSaysWhatCameAndWhatWasExpected) {
  absl::StatusOr<Algorithm> parsed = ParseAlgorithm("ef22");
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.status().message(),
            "unknown algorithm \"ef22\"; expected ef21, norm-ef21, ef21-sgdm, norm-ef21-sgdm, "
            "norm-ef21-sgd, norm-sgdm, ef14, gd or norm-gd");
}

// A table of a vocabulary defined here, to check the template on its own, at compile time too.
enum class Color { kRed, kGreen, kBlue, kMaxValue = kBlue };
constexpr auto kColorNames = MakeEnumNames<Color>(
    "color", {{Color::kRed, "red"}, {Color::kGreen, "green"}, {Color::kBlue, "blue"}});
constexpr const auto& NamesOf(Color) { return kColorNames; }
static_assert(kColorNames.size() == 3);
static_assert(enum_names_internal::Equal(EnumName(Color::kGreen), "green"));
static_assert(AllEnumValues<Color>()[2] == Color::kBlue);

TEST(EnumNamesTest, OutOfRangeValueHasNoName) {
  EXPECT_STREQ(EnumName(static_cast<Color>(7)), "?");
  EXPECT_EQ(*ParseEnum<Color>("blue"), Color::kBlue);
  EXPECT_EQ(ParseEnum<Color>("Blue").status().message(),
            "unknown color \"Blue\"; expected red, green or blue");
}

}  // namespace
}  // namespace ef21
