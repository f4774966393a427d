#!/usr/bin/env bash
# Makes a private CA and the certificates of a mutual-TLS ef21 federation with openssl:
#   ca.pem / ca.key                 the CA (keep ca.key offline in production)
#   aggregator.pem / aggregator.key the aggregator, valid for the names in $EF21_SERVER_NAMES
#   <identity>.pem / <identity>.key one client certificate per worker identity (its CN)
#   workers                         the aggregator's --workers-file, when identities are given
#                                   as IDENTITY=IDS (e.g. worker-0=0-534)
# Usage: tools/make_certs.sh OUT_DIR IDENTITY[=IDS]... (e.g. worker-0=0-534 worker-1=535-1069)
# EF21_SERVER_NAMES: subjectAltName of the aggregator (default: the names compose, Kubernetes and
# loopback tests dial). EF21_CERT_DAYS: validity (default 365).
set -euo pipefail
if [ $# -lt 2 ]; then
  echo "usage: $0 OUT_DIR IDENTITY..." >&2
  exit 2
fi
out=$1
shift
days=${EF21_CERT_DAYS:-365}
names=${EF21_SERVER_NAMES:-DNS:localhost,DNS:aggregator,DNS:ef21-aggregator,IP:127.0.0.1}
mkdir -p "$out"
cd "$out"
umask 077
quiet() { "$@" > /dev/null 2>&1 || { echo "make_certs: failed: $*" >&2; exit 1; }; }

quiet openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days "$days" \
  -keyout ca.key -out ca.pem -subj "/CN=ef21 federation CA"

# sign NAME SUBJECT EXTENSIONS
sign() {
  quiet openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1.key" \
    -out "$1.csr" -subj "$2"
  printf '%s\n' "$3" > "$1.ext"
  quiet openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days "$days" \
    -out "$1.pem" -extfile "$1.ext"
  rm -f "$1.csr" "$1.ext"
}

sign aggregator "/CN=ef21-aggregator" \
  "subjectAltName=$names
extendedKeyUsage=serverAuth"
grants=()
for arg in "$@"; do
  identity=${arg%%=*}
  sign "$identity" "/CN=$identity" "extendedKeyUsage=clientAuth"
  if [ "$arg" != "$identity" ]; then grants+=("$identity ${arg#*=}"); fi
done
if [ ${#grants[@]} -gt 0 ]; then
  { echo "# identity  client ids  (tools/make_certs.sh)"; printf '%s\n' "${grants[@]}"; } > workers
  chmod 644 workers
fi
rm -f ca.srl
# The directory keeps the keys private on the host (0700); the files themselves are readable so
# that compose's bind-mounted secrets work for the image's non-root user. ca.key stays 0600.
chmod 700 .
chmod 644 ./*.pem
for key in ./*.key; do [ "$key" = ./ca.key ] || chmod 644 "$key"; done
echo "make_certs: CA, aggregator and $# worker certificates in $out" >&2
