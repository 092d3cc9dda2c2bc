#!/usr/bin/env bash
# A throwaway CA and a certificate for 127.0.0.1 and localhost, signed by it, beside a copy of
# the bench's nginx TLS config (nginx reads certificates relative to its config's directory).
# Nothing here is a secret worth keeping: delete the directory afterwards.
#   bench/make-cert.sh /tmp/codearts-bench   # ca.pem, server.pem, server.key, bench-nginx-tls.conf
set -euo pipefail
dir=${1:?usage: make-cert.sh DIR}
conf="$(cd "$(dirname "$0")" && pwd)/bench-nginx-tls.conf"
mkdir -p "$dir"
cp "$conf" "$dir/"
cd "$dir"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
  -keyout ca.key -out ca.pem -subj "/CN=codearts-bench throwaway CA" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
  -keyout server.key -out server.csr -subj "/CN=127.0.0.1" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' > server.ext
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
  -extfile server.ext -out server.pem 2>/dev/null
rm -f server.csr server.ext ca.srl
echo "$dir/ca.pem"
