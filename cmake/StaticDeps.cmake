# The `ef21` binary with gRPC, protobuf, Abseil and OpenSSL linked in statically: every `ef21`
# process (`ef21 run` starts one per worker) then maps ~11 shared libraries instead of ~61, and
# the dynamic loader's relocations and symbol lookups at start-up shrink from ~25 ms to ~5 ms of
# CPU (docs/ARCHITECTURE.md, README "Performance"). Other programs (tests, benches, ef21-networks)
# keep the shared libraries: they link faster and LibTorch brings its own copies.
#
# A library of ours names its dependencies through the variables set here, e.g.
#   target_link_libraries(ef21_proto PUBLIC ${EF21_DEP_PROTOBUF} ${EF21_DEP_GRPCPP})
# Each is a generator expression choosing, per program being linked, the shared libraries or, when
# that program has the property EF21_STATIC_DEPS set, the archives of ef21_static_deps (one
# rescanned group, so their order does not matter).
#
# -DEF21_STATIC_DEPS=OFF, or a missing archive (the -dev packages of scripts/bootstrap.sh ship
# them), links `ef21` against the shared libraries as before.
option(EF21_STATIC_DEPS "Link gRPC, protobuf, Abseil and OpenSSL statically into ef21" ON)
if(EF21_BUILD_FUZZ)
  set(EF21_STATIC_DEPS OFF)  # sanitizer builds keep the shared libraries
endif()

set(EF21_STATIC_DEPS_FOUND OFF)
if(EF21_STATIC_DEPS)
  set(archives "")
  set(missing "")
  foreach(name grpc++ grpc gpr upb address_sorting cares re2 protobuf ssl crypto)
    find_library(EF21_STATIC_${name} NAMES lib${name}.a)
    if(EF21_STATIC_${name})
      list(APPEND archives ${EF21_STATIC_${name}})
    else()
      list(APPEND missing lib${name}.a)
    endif()
  endforeach()
  # Every Abseil archive beside the one of absl::base: gRPC and protobuf use more of them than
  # this project names.
  get_target_property(absl_base_location absl::base LOCATION)
  get_filename_component(absl_dir "${absl_base_location}" DIRECTORY)
  file(GLOB absl_archives "${absl_dir}/libabsl_*.a")
  if(NOT absl_archives)
    list(APPEND missing "libabsl_*.a")
  endif()
  if(missing)
    message(STATUS "ef21 links the shared gRPC/protobuf/Abseil libraries: no ${missing}")
  else()
    add_library(ef21_static_deps INTERFACE IMPORTED)
    set_target_properties(ef21_static_deps PROPERTIES INTERFACE_LINK_LIBRARIES
      "$<LINK_GROUP:RESCAN,${archives};${absl_archives}>;Threads::Threads;${CMAKE_DL_LIBS};m;rt")
    set(EF21_STATIC_DEPS_FOUND ON)
  endif()
endif()

# EF21_DEP_<NAME>: the shared libraries (the interface target ef21_shared_<name> linking
# `shared...`), or ef21_static_deps for a program with the property EF21_STATIC_DEPS.
function(ef21_dependency name)
  string(TOLOWER "ef21_shared_${name}" shared_target)
  add_library(${shared_target} INTERFACE)
  target_link_libraries(${shared_target} INTERFACE ${ARGN})
  if(EF21_STATIC_DEPS_FOUND)
    set(EF21_DEP_${name}
        "$<IF:$<BOOL:$<TARGET_PROPERTY:EF21_STATIC_DEPS>>,ef21_static_deps,${shared_target}>"
        PARENT_SCOPE)
  else()
    set(EF21_DEP_${name} ${shared_target} PARENT_SCOPE)
  endif()
endfunction()
ef21_dependency(ABSL absl::status absl::statusor absl::strings absl::str_format
                absl::flat_hash_map absl::synchronization absl::time absl::span)
ef21_dependency(PROTOBUF protobuf::libprotobuf)
ef21_dependency(GRPCPP gRPC::grpc++)
ef21_dependency(CRYPTO OpenSSL::Crypto)
