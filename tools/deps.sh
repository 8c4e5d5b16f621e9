#!/usr/bin/env bash
# Install the Debian packages pg_steward needs to build, test and demo.
# Idempotent: does nothing when everything is present.
set -euo pipefail

PGMAJOR=${PGMAJOR:-15}
pkgs=(
	"postgresql-$PGMAJOR" "postgresql-server-dev-$PGMAJOR" "postgresql-$PGMAJOR-cron"
	"postgresql-$PGMAJOR-pgtap" pgtap libipc-run-perl make gcc
	libzstd-dev libssl-dev
)

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "missing packages: ${missing[*]}; run as root or install them" >&2
	exit 1
fi
echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# Debian's postgresql-common would create and start a default cluster; we never use it.
mkdir -p /etc/postgresql-common/createcluster.d
echo 'create_main_cluster = false' > /etc/postgresql-common/createcluster.d/pg_steward.conf
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
