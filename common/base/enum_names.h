// Names of enum values: one constexpr table per vocabulary (algorithm, compressor, split, stepsize
// rule, ...), read by the flags, config.json, the wire's run spec and the metrics, so that a value
// has exactly one spelling and adding a value is one enumerator plus one table row.
//
//   enum class Color { kRed, kBlue, kMaxValue = kBlue };
//   inline constexpr auto kColorNames =
//       MakeEnumNames<Color>("color", {{Color::kRed, "red"}, {Color::kBlue, "blue"}});
//   constexpr const auto& NamesOf(Color) { return kColorNames; }  // found by argument lookup
//
//   EnumName(Color::kBlue)      "blue"
//   ParseEnum<Color>("red")     Color::kRed
//   ParseEnum<Color>("green")   INVALID_ARGUMENT: unknown color "green"; expected red or blue
//   AllEnumValues<Color>()      {kRed, kBlue}
//
// Every vocabulary enum ends with the alias `kMaxValue` (its last enumerator), and MakeEnumNames
// refuses at compile time a table that does not list the values 0, 1, ..., kMaxValue in order or
// that spells two values alike. A new enumerator then either gets its row or does not compile; it
// can never parse as "unknown" in one place while printing in another.
//
// Tables are constexpr and immutable: thread-safe.
#ifndef EF21_COMMON_BASE_ENUM_NAMES_H_
#define EF21_COMMON_BASE_ENUM_NAMES_H_

#include <array>
#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace ef21 {

template <typename E>
struct EnumEntry {
  E value;
  const char* name;
};

namespace enum_names_internal {

constexpr bool Equal(const char* a, const char* b) {
  while (*a != '\0' && *a == *b) {
    ++a;
    ++b;
  }
  return *a == *b;
}

// Not constexpr: reaching it while evaluating a table makes the table's definition ill-formed,
// so the compiler reports the line that reached it.
inline void InvalidTable(const char* /*why*/) {}

}  // namespace enum_names_internal

template <typename E, size_t N>
class EnumNames {
 public:
  constexpr EnumNames(const char* noun, const EnumEntry<E> (&entries)[N]) : noun_(noun) {
    static_assert(N > 0, "an enum name table needs at least one entry");
    static_assert(N == static_cast<size_t>(E::kMaxValue) + 1,
                  "the table must name every enumerator, 0 through kMaxValue");
    for (size_t i = 0; i < N; ++i) {
      if (static_cast<size_t>(entries[i].value) != i) {
        enum_names_internal::InvalidTable("entries must list the values 0, 1, ... in order");
      }
      if (entries[i].name == nullptr || entries[i].name[0] == '\0') {
        enum_names_internal::InvalidTable("every value needs a non-empty name");
      }
      for (size_t j = 0; j < i; ++j) {
        if (enum_names_internal::Equal(entries[i].name, entries[j].name)) {
          enum_names_internal::InvalidTable("two values share a name");
        }
      }
      values_[i] = entries[i].value;
      names_[i] = entries[i].name;
    }
  }

  // What the vocabulary is called in messages ("algorithm", "compressor").
  constexpr const char* noun() const { return noun_; }
  static constexpr size_t size() { return N; }

  // The name of `value`; "?" only for an integer cast to E outside the enumerators.
  constexpr const char* Name(E value) const {
    const size_t i = static_cast<size_t>(value);
    return i < N ? names_[i] : "?";
  }

  // The value named `name` (exact, case-sensitive). INVALID_ARGUMENT listing the valid names
  // otherwise.
  absl::StatusOr<E> Parse(absl::string_view name) const {
    for (size_t i = 0; i < N; ++i) {
      if (name == names_[i]) return values_[i];
    }
    return absl::InvalidArgumentError(
        absl::StrCat("unknown ", noun_, " \"", name, "\"; expected ", Expected()));
  }

  constexpr const std::array<E, N>& values() const { return values_; }
  constexpr const std::array<const char*, N>& names() const { return names_; }

  // The names joined for prose: "a, b or c".
  std::string Expected() const {
    std::string out = names_[0];
    for (size_t i = 1; i < N; ++i) absl::StrAppend(&out, i + 1 == N ? " or " : ", ", names_[i]);
    return out;
  }
  // The names joined with `separator`: "a|b|c" for a --help line.
  std::string Join(absl::string_view separator = "|") const {
    std::string out = names_[0];
    for (size_t i = 1; i < N; ++i) absl::StrAppend(&out, separator, names_[i]);
    return out;
  }

 private:
  const char* noun_;
  std::array<E, N> values_{};
  std::array<const char*, N> names_{};
};

// Builds a table; N is deduced from the braced list of entries.
template <typename E, size_t N>
constexpr EnumNames<E, N> MakeEnumNames(const char* noun, const EnumEntry<E> (&entries)[N]) {
  return EnumNames<E, N>(noun, entries);
}

// Generic access through the vocabulary's NamesOf(E) (declared beside the enum).
template <typename E>
constexpr const char* EnumName(E value) {
  return NamesOf(E{}).Name(value);
}
template <typename E>
absl::StatusOr<E> ParseEnum(absl::string_view name) {
  return NamesOf(E{}).Parse(name);
}
template <typename E>
constexpr const auto& AllEnumValues() {
  return NamesOf(E{}).values();
}

}  // namespace ef21

#endif  // EF21_COMMON_BASE_ENUM_NAMES_H_
