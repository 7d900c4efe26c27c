#!/bin/sh
# Regenerates the key fixtures of the tokens tests. They are committed so that
# the tests do not need openssl; run this only to change them (OpenSSL 3).
# The passphrase must match fixturePassphrase in keys_test.go.
set -eu
cd "$(dirname "$0")"
P=fixture-passphrase-7Qx

openssl genrsa -traditional -out rsa_pkcs1.pem 2048
openssl pkcs8 -topk8 -nocrypt -in rsa_pkcs1.pem -out rsa_pkcs8.pem
openssl genrsa -aes128 -passout "pass:$P" -traditional -out rsa_pkcs1_encrypted.pem 2048
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -aes-256-cbc -pass "pass:$P" -out rsa_pkcs8_encrypted.pem
openssl genrsa -traditional -out rsa_1024.pem 1024

openssl ecparam -name prime256v1 -genkey -noout -out ec_sec1.pem
openssl ecparam -name prime256v1 -genkey -out ec_sec1_with_params.pem
openssl ec -in ec_sec1.pem -aes128 -passout "pass:$P" -out ec_sec1_encrypted.pem
openssl pkcs8 -topk8 -nocrypt -in ec_sec1.pem -out ec_pkcs8.pem
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -aes-256-cbc -pass "pass:$P" -out ec_pkcs8_encrypted.pem
openssl pkcs8 -topk8 -v1 PBE-SHA1-3DES -passout "pass:$P" -in ec_sec1.pem -out ec_pkcs8_pbes1.pem
openssl ecparam -name secp384r1 -genkey -noout -out ec_p384.pem
openssl ec -in ec_sec1.pem -pubout -out ec_public.pem
openssl req -x509 -key ec_sec1.pem -subj /CN=tokens-test -days 36500 -out certificate.pem

openssl genpkey -algorithm ED25519 -out ed25519_pkcs8.pem
openssl genpkey -algorithm ED25519 -aes-256-cbc -pass "pass:$P" -out ed25519_pkcs8_encrypted.pem
openssl genpkey -algorithm ED448 -out ed448_pkcs8.pem

chmod 644 ./*.pem
