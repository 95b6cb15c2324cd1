#!/usr/bin/env bash
# Generates the development PKI into certs/out/ (git-ignored) with the openssl CLI.
# Idempotent: does nothing when every file below exists, unless --force.
#
#   ca.pem/ca.key            site CA (ECDSA P-256)
#   {ecs,ees,eas}.pem/.key   server certificates: DNS <role>.site1.example, localhost,
#                            IP 127.0.0.1 and ::1, URI spiffe://site1/<role>
#   {ecs1,ees1,eas1}.pem/.key  EDGE nodes of site1, {ecs2,ees2}.pem/.key of site2: server
#                            and client (EKU serverAuth+clientAuth); the first DNS SAN is
#                            the node's 3GPP id (ecs1.site1.example, ees2.site2.example,
#                            ...), then localhost, IP 127.0.0.1 and ::1; no URI SAN
#   eec1.pem/.key            EEC client: URI spiffe://site1/eec/eec1, CN eec1
#   ees1-client, ees2-client EES clients: URI spiffe://site1/ees/eesN, DNS eesN.ees.site1.example
#   cn-only.pem/.key         client with a subject CN and no SAN
#   eec-expired.pem/.key     EEC client whose validity ended in 2020
#   eec-revoked.pem/.key     EEC client revoked in crl.pem
#   crl.pem                  the site CA's CRL
#   rogue-ca.pem, rogue-eec.pem/.key   a client certificate from another CA
#   demo.psk                 static PSK file for the demo PSK listener (random key)
#   JWS signing keys (PKCS#8 private key, SubjectPublicKeyInfo public key):
#   jwt-es256-k1.key/.pub.pem   ECDSA P-256: the ECS's token key
#   jwt-es256-k2.key/.pub.pem   ECDSA P-256: a second key (rotation, wrong-key tests)
#   jwt-es384.key/.pub.pem      ECDSA P-384
#   jwt-rs256.key/.pub.pem      RSA 2048
#   jwt-issuer.pem/.key         an external token issuer's certificate (P-256 key, signed
#                               by the site CA, digitalSignature, no EKU)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${EDGEGW_CERTS_OUT:-$here/out}
# Test suites running in parallel may all ask for the PKI: one generates, the others wait.
exec 9>"$out.lock"
flock 9
required=(ca.pem ecs1.pem ees1.pem eas1.pem ecs2.pem ees2.pem demo.psk jwt-es256-k1.pub.pem jwt-es256-k2.pub.pem jwt-es384.pub.pem
  jwt-rs256.pub.pem jwt-issuer.pem)
complete=1
for f in "${required[@]}"; do
  [[ -f "$out/$f" ]] || complete=0
done
if [[ "${1:-}" != "--force" && $complete == 1 ]]; then
  exit 0
fi
rm -rf "$out"
mkdir -p "$out"
cd "$out"
umask 077

key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

ca_dir() { # name: a minimal `openssl ca` database, needed for CRLs and back-dated certs
  mkdir -p "$1.db"
  : >"$1.db/index.txt"
  echo 1000 >"$1.db/serial"
  echo 1000 >"$1.db/crlnumber"
  cat >"$1.db/ca.cnf" <<CNF
[ca]
default_ca = this
[this]
dir = $out/$1.db
database = \$dir/index.txt
serial = \$dir/serial
crlnumber = \$dir/crlnumber
new_certs_dir = \$dir
certificate = $out/$1.pem
private_key = $out/$1.key
default_md = sha256
default_crl_days = 3650
policy = any
copy_extensions = copy
unique_subject = no
[any]
commonName = supplied
CNF
}

make_ca() { # name cn
  key "$1.key"
  openssl req -new -x509 -key "$1.key" -out "$1.pem" -days 3650 -subj "/O=edgegw dev/CN=$2" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -addext "subjectKeyIdentifier=hash"
  ca_dir "$1"
}

# issue ca name cn kind(server|client|signer) san [startdate enddate]
issue() {
  local ca=$1 name=$2 cn=$3 kind=$4 san=$5 start=${6:-} end=${7:-}
  key "$name.key"
  local eku=clientAuth
  [[ $kind == server ]] && eku=serverAuth
  [[ $kind == node ]] && eku=serverAuth,clientAuth
  local args=(-subj "/O=edgegw dev/CN=$cn" -addext "basicConstraints=critical,CA:FALSE"
    -addext "keyUsage=critical,digitalSignature")
  # A token signer's certificate carries no TLS extended key usage.
  [[ $kind != signer ]] && args+=(-addext "extendedKeyUsage=$eku")
  [[ -n $san ]] && args+=(-addext "subjectAltName=$san")
  openssl req -new -key "$name.key" -out "$name.csr" "${args[@]}"
  local dates=(-days 825)
  [[ -n $start ]] && dates=(-startdate "$start" -enddate "$end")
  openssl ca -batch -config "$ca.db/ca.cnf" -in "$name.csr" -out "$name.pem" -notext \
    "${dates[@]}" 2>/dev/null
  rm -f "$name.csr"
}

make_ca ca "edgegw dev site1 CA"
for role in ecs ees eas; do
  issue ca "$role" "$role.site1.example" server \
    "DNS:$role.site1.example,DNS:localhost,IP:127.0.0.1,IP:::1,URI:spiffe://site1/$role"
done
for node in ecs1.site1 ees1.site1 eas1.site1 ecs2.site2 ees2.site2; do
  issue ca "${node%%.*}" "$node.example" node "DNS:$node.example,DNS:localhost,IP:127.0.0.1,IP:::1"
done
issue ca eec1 eec1 client "URI:spiffe://site1/eec/eec1"
for n in 1 2; do
  issue ca "ees$n-client" "ees$n.ees.site1.example" client \
    "URI:spiffe://site1/ees/ees$n,DNS:ees$n.ees.site1.example"
done
issue ca cn-only "cn-only-client" client ""
issue ca eec-expired eec-expired client "URI:spiffe://site1/eec/expired" 20190101000000Z 20200101000000Z
issue ca eec-revoked eec-revoked client "URI:spiffe://site1/eec/revoked"
openssl ca -batch -config ca.db/ca.cnf -revoke eec-revoked.pem 2>/dev/null
openssl ca -batch -config ca.db/ca.cnf -gencrl -out crl.pem 2>/dev/null

make_ca rogue-ca "rogue CA"
issue rogue-ca rogue-eec eec1 client "URI:spiffe://site1/eec/eec1"

# The demo PSK listener's static key file: "<identity> <hex key>" per line.
printf '# demo static PSKs, generated by certs/gen.sh\ndemo-eec1 %s\n' \
  "$(openssl rand -hex 32)" >demo.psk

# JWS signing keys; the .pub.pem last, as the existence check above looks for it.
jwt_key() { # name algorithm-options...
  local name=$1
  shift
  openssl genpkey "$@" -out "$name.key" 2>/dev/null
  openssl pkey -in "$name.key" -pubout -out "$name.pub.pem"
}
jwt_key jwt-es256-k1 -algorithm EC -pkeyopt ec_paramgen_curve:P-256
jwt_key jwt-es256-k2 -algorithm EC -pkeyopt ec_paramgen_curve:P-256
jwt_key jwt-es384 -algorithm EC -pkeyopt ec_paramgen_curve:P-384
jwt_key jwt-rs256 -algorithm RSA -pkeyopt rsa_keygen_bits:2048
issue ca jwt-issuer "issuer.entitlement.example" signer "DNS:issuer.entitlement.example"

chmod 644 ./*.pem
echo "certs/gen.sh: dev PKI written to $out" >&2
