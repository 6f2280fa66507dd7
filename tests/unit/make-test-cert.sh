#!/bin/sh
# Writes DIR/cert.pem and DIR/key.pem: a self-signed RSA certificate for
# CN=localhost with subjectAltName DNS:localhost and IP:127.0.0.1, valid
# for one day, for tests that run a TLS server on loopback.
# Usage: make-test-cert.sh DIR
set -eu

if [ $# -ne 1 ]; then
	echo "usage: $0 DIR" >&2
	exit 2
fi
dir=$1
mkdir -p "$dir"

# openssl prints progress to standard error; show it only on failure.
if ! output=$(openssl req -x509 -newkey rsa:2048 -nodes \
    -keyout "$dir/key.pem" -out "$dir/cert.pem" -days 1 \
    -subj /CN=localhost \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" 2>&1); then
	echo "$0: openssl req failed:" >&2
	echo "$output" >&2
	exit 1
fi
chmod 600 "$dir/key.pem"
