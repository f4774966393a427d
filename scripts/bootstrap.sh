#!/usr/bin/env bash
# Installs every Debian package ef21 needs to build, test, run and plot. Idempotent and quiet when
# everything is already present. Needs root (or sudo) only when something is missing.
set -euo pipefail

packages=(
  cmake g++ make pkg-config
  clang-14  # thread-safety analysis of ABSL_GUARDED_BY (ctest thread_safety.*), fuzz targets
  libfuzzer-14-dev  # libFuzzer for fuzz/ (ctest fuzz.*, tools/fuzz.sh)
  clang-format-14  # ctest format (.clang-format)
  libgtest-dev libgmock-dev libbenchmark-dev
  libabsl-dev libeigen3-dev libcli11-dev nlohmann-json3-dev libspectra-dev
  libprotobuf-dev protobuf-compiler libgrpc++-dev protobuf-compiler-grpc
  libgrpc-dev libc-ares-dev libre2-dev libssl-dev  # their static archives: cmake/StaticDeps.cmake
  prometheus-cpp-dev prometheus
  python3 python3-matplotlib python3-numpy python3-pytest python3-yaml python3-grpcio python3-protobuf bc
  libtorch-dev python3-torch dataset-fashion-mnist zlib1g-dev
  docker-compose
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

# Node.js and npm (manifest validation) may come from Debian or from NodeSource's nodejs, which
# bundles npm and conflicts with Debian's npm package: only install them when the commands are absent.
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
# kubectl (kustomize rendering): this machine kind's image ships one; elsewhere Debian's
# kubernetes-client provides it.
command -v kubectl >/dev/null 2>&1 || missing+=(kubernetes-client)

if [ ${#missing[@]} -gt 0 ]; then
  echo "bootstrap: installing ${missing[*]}" >&2
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Offline Kubernetes schema validation (kubernetes-models) lives in tools/k8s-validate.
if [ -f "$(dirname "$0")/../tools/k8s-validate/package.json" ] &&
   [ ! -d "$(dirname "$0")/../tools/k8s-validate/node_modules" ]; then
  (cd "$(dirname "$0")/../tools/k8s-validate" && npm ci --silent --no-audit --no-fund >/dev/null)
fi
