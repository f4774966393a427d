// Status propagation macros. Debian's Abseil 20220623 ships neither absl/log nor status macros, so
// ef21 defines them once here.
#ifndef EF21_COMMON_BASE_STATUS_MACROS_H_
#define EF21_COMMON_BASE_STATUS_MACROS_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define EF21_CONCAT_INNER_(a, b) a##b
#define EF21_CONCAT_(a, b) EF21_CONCAT_INNER_(a, b)

// Returns from the enclosing function when `expr` yields a non-OK absl::Status.
#define EF21_RETURN_IF_ERROR(expr)               \
  do {                                           \
    ::absl::Status ef21_status_ = (expr);        \
    if (!ef21_status_.ok()) return ef21_status_; \
  } while (false)

// `EF21_ASSIGN_OR_RETURN(auto x, MakeX());` unwraps an absl::StatusOr or returns its status.
#define EF21_ASSIGN_OR_RETURN(lhs, expr) \
  EF21_ASSIGN_OR_RETURN_IMPL_(EF21_CONCAT_(ef21_statusor_, __LINE__), lhs, expr)
#define EF21_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr) \
  auto statusor = (expr);                                \
  if (!statusor.ok()) return statusor.status();          \
  lhs = std::move(statusor).value()

#endif  // EF21_COMMON_BASE_STATUS_MACROS_H_
