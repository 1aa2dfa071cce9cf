#!/usr/bin/env bash
# Installs what `make run` (mode "run") or `make test` (mode "test") needs and is missing.
# As root it installs Debian packages itself; otherwise it prints the one apt-get line needed
# and fails. It never downloads anything but Debian and npm packages.
set -euo pipefail
mode=${1:-run}

# command -> Debian package
need=(
  "softhsm2-util softhsm2"
  "pkcs11-tool opensc"
  "openssl openssl"
  "gcc gcc"
)
if [ "$mode" = test ]; then
  need+=(
    "xmlsec1 xmlsec1"
    "xmllint libxml2-utils"
    "java default-jre-headless"
    "node nodejs"
    "npm npm"
    "curl curl"
    "p11-kit p11-kit"
    "chromium chromium"
    "promtool prometheus"
    "systemd-analyze systemd"
    "wsimport jaxws"
    "javac default-jdk-headless"
  )
fi

missing=()
for pair in "${need[@]}"; do
  cmd=${pair%% *}; pkg=${pair##* }
  command -v "$cmd" >/dev/null 2>&1 || missing+=("$pkg")
done
[ -e /usr/lib/softhsm/libsofthsm2.so ] || missing+=(softhsm2)
# cgo (crypto11) needs the C library headers; gcc only recommends them.
[ -e /usr/include/stdlib.h ] || missing+=(libc6-dev)
if [ "$mode" = test ]; then
  [ -e /usr/share/java/xmlsec.jar ] || missing+=(libxml-security-java)
  [ -e /usr/share/java/bcprov.jar ] || missing+=(libbcprov-java)
  /usr/bin/python3 -c 'import zeep, lxml, xmlschema' >/dev/null 2>&1 || missing+=(python3-zeep python3-lxml python3-xmlschema)
  # The private PostgreSQL server of the postgres-tagged tests (.ci/postgres.sh).
  compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || missing+=(postgresql)
  # The HSM outage tests put SoftHSM2 behind p11-kit's remote module (p11-kit server + p11-kit-client.so).
  compgen -G '/usr/lib/*/pkcs11/p11-kit-client.so' >/dev/null || missing+=(p11-kit-modules)
fi

if [ ${#missing[@]} -gt 0 ]; then
  # de-duplicate
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
  if [ "$(id -u)" = 0 ]; then
    echo "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "missing Debian packages; run as root:" >&2
    echo "  apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi

if [ "$mode" = test ]; then
  # The xadesjs verifier: pinned by package-lock.json, installed into a git-ignored node_modules.
  v=testdata/verifiers/xadesjs
  if [ -f "$v/package-lock.json" ] && { [ ! -d "$v/node_modules" ] || [ "$v/package-lock.json" -nt "$v/node_modules/.package-lock.json" ]; }; then
    (cd "$v" && npm ci --no-audit --no-fund --loglevel=error)
  fi
  # node-soap, the MTOM client of the e2e tests: pinned the same way.
  v=testdata/clients/nodesoap
  if [ -f "$v/package-lock.json" ] && { [ ! -d "$v/node_modules" ] || [ "$v/package-lock.json" -nt "$v/node_modules/.package-lock.json" ]; }; then
    (cd "$v" && npm ci --no-audit --no-fund --loglevel=error)
  fi
fi
