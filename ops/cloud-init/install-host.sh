#!/bin/bash
# Install a tradewarden release on the host and switch to it. Run once by cloud-init
# (runcmd) after write_files, and by hand to deploy or roll back (runbooks/deploy-rollback.md):
#
#   install-host.sh [VERSION]          fetch VERSION (default: the stack's, host.env) from the
#                                      release bucket, install it into its own venv, switch
#   install-host.sh --switch VERSION   switch back to an already installed VERSION (no fetch)
#
# Each release lives in /opt/tradewarden/venvs/<version>; /opt/tradewarden/venv (what the
# units run) is a symlink switched atomically, so a rollback is one switch and a restart.
# Release tarball (s3://<releaseBucket>/tradewarden/<v>/tradewarden-<v>-wheelhouse.tar.gz,
# built by ops/cloud-init/build_release.py): requirements.lock (uv.lock's runtime pins with
# SHA-256 hashes), one wheel per pin, the tradewarden wheel, host-files.tar.gz (units, egress
# filter, probes, the Prometheus/Alertmanager inputs), monitoring/ (Prometheus, promtool,
# Alertmanager, amtool, node_exporter: the binaries pinned in ops/monitoring/binaries.toml)
# and SHA256SUMS, which covers them all.
# Settings: /etc/tradewarden/host.env (rendered by infra). Idempotent.
# TRADEWARDEN_RELEASE_SHA256 (set by the SSM deploy document, ops/ssm/tradewarden-deploy.yaml):
# the tarball's expected SHA-256 from the release pipeline; a tarball that differs is refused
# before anything in it is used (SHA256SUMS and the lock's hashes come from the tarball).
# Tests only (tests/hostbox): TRADEWARDEN_ROOT=/scratch prefixes every path, and
# TRADEWARDEN_NO_SYSTEMD=1 skips what needs a booted host (systemctl, service users and file
# owners, the CloudWatch agent); unset, as on every host, the script is what it always was.
set -euo pipefail
R="${TRADEWARDEN_ROOT:-}"
[ -z "$R" ] || [ "${R#/}" != "$R" ] || { echo "TRADEWARDEN_ROOT must be absolute" >&2; exit 2; }
R="${R%/}"
NO_SYSTEMD="${TRADEWARDEN_NO_SYSTEMD:-0}"
. "$R/etc/tradewarden/host.env"
log() { echo "tradewarden-install: $*"; }
die() { log "$*" >&2; exit 1; }
on_host() { [ "$NO_SYSTEMD" != 1 ]; }
sysctl_() { if on_host; then systemctl "$@"; else log "(no systemd) systemctl $*"; fi; }
owner() { if on_host; then echo "-o $1 -g $1"; fi; }
MONITORING_BINARIES="prometheus promtool alertmanager amtool node_exporter"

switch_to() {
  [ -x "$R/opt/tradewarden/venvs/$1/bin/tradewarden" ] || die "release $1 is not installed"
  ln -sfn "$R/opt/tradewarden/venvs/$1" "$R/opt/tradewarden/venv.next"
  mv -T "$R/opt/tradewarden/venv.next" "$R/opt/tradewarden/venv"
  log "active release: $1"
}

if [ "${1:-}" = "--switch" ]; then
  [ -n "${2:-}" ] || die "usage: install-host.sh --switch VERSION"
  switch_to "$2"
  sysctl_ restart --no-block tradewarden.service  # READY may wait for the exchange
  exit 0
fi

version="${1:-$TRADEWARDEN_WHEEL_VERSION}"
key="tradewarden/$version/tradewarden-$version-wheelhouse.tar.gz"
[ -n "${TRADEWARDEN_RELEASE_BUCKET:-}" ] || die "releaseBucket is not set in the stack config"
house="$R/opt/tradewarden/wheelhouse/$version"
venv="$R/opt/tradewarden/venvs/$version"
install -d -m 0755 "$R/opt/tradewarden" "$R/opt/tradewarden/venvs" "$R/opt/tradewarden/wheelhouse"
rm -rf "$house" && install -d -m 0755 "$house"
# shellcheck disable=SC2046 # owner() is empty or two options
install -d $(owner tradewarden) -m 0700 "$R/var/lib/tradewarden" "$R/var/backups/tradewarden"
if on_host; then
  # the monitoring services' users (their units run as them; no login, no home)
  for u in prometheus alertmanager; do
    id -u "$u" >/dev/null 2>&1 || useradd --system --no-create-home --shell /sbin/nologin "$u"
  done
fi
log "fetching s3://$TRADEWARDEN_RELEASE_BUCKET/$key"
aws s3 cp --only-show-errors "s3://$TRADEWARDEN_RELEASE_BUCKET/$key" "$house.tar.gz"
if [ -n "${TRADEWARDEN_RELEASE_SHA256:-}" ]; then
  echo "$TRADEWARDEN_RELEASE_SHA256  $house.tar.gz" | sha256sum --check --strict --quiet \
    || die "the release tarball's SHA-256 is not $TRADEWARDEN_RELEASE_SHA256: refusing"
fi
tar -xzf "$house.tar.gz" -C "$house" --no-same-owner
wheel="$house/tradewarden-$version-py3-none-any.whl"
[ -f "$house/requirements.lock" ] || die "the release has no requirements.lock: refusing"
[ -f "$wheel" ] || die "the release has no $(basename "$wheel")"
for b in $MONITORING_BINARIES; do
  grep -q "  monitoring/$b\$" "$house/SHA256SUMS" || die "SHA256SUMS does not cover monitoring/$b"
done
(cd "$house" && sha256sum --check --strict --quiet SHA256SUMS) || die "files do not match SHA256SUMS"
[ -x "$venv/bin/python" ] || python3.11 -m venv "$venv"
# Only the locked versions with the locked hashes, from the tarball only (no index).
"$venv/bin/pip" install --quiet --no-index --find-links "$house" \
  --only-binary :all: --require-hashes -r "$house/requirements.lock"
"$venv/bin/pip" install --quiet --no-index --no-deps --force-reinstall "$wheel"
tar -xzf "$house/host-files.tar.gz" -C "$R/" --no-same-owner
# Prometheus, Alertmanager, node_exporter and their tools: the pinned files just verified.
install -d -m 0755 "$R/usr/local/bin"
for b in $MONITORING_BINARIES; do
  install -m 0755 "$house/monitoring/$b" "$R/usr/local/bin/$b"
done
switch_to "$version"

if ! on_host; then
  log "release $version installed under $R (no systemd: services not started)"
  exit 0
fi
systemctl daemon-reload
# egress filter: load the ruleset (empty sets), then fill the sets at once
systemctl enable --now nftables.service
systemctl enable --now tradewarden-egress.timer
systemctl start tradewarden-egress.service
systemctl enable --now dnf-automatic.timer
systemctl enable --now tradewarden-journal-export.service
# monitoring before the daemon (the units say Before=tradewarden.service); restarted so an
# upgrade takes the new binaries, rules and routes
systemctl enable node_exporter.service alertmanager.service prometheus.service
systemctl restart node_exporter.service alertmanager.service prometheus.service
/opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl -a fetch-config -m ec2 -s \
  -c file:/opt/aws/amazon-cloudwatch-agent/etc/tradewarden.json
systemctl enable tradewarden.service
# --no-block: a daemon that cannot reach Binance yet waits NOT READY (the start job lasts
# as long as the outage); readiness is /readyz's business (the SSM deploy waits on it)
systemctl restart --no-block tradewarden.service
systemctl enable --now tradewarden-heartbeat.timer tradewarden-backup.timer
log "release $version installed; check with: sudo tradewarden status"
