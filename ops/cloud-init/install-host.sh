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
# filter, probes) and SHA256SUMS; optionally a pinned `node_exporter` binary.
# Settings: /etc/tradewarden/host.env (rendered by infra). Idempotent.
# TRADEWARDEN_RELEASE_SHA256 (set by the SSM deploy document, ops/ssm/tradewarden-deploy.yaml):
# the tarball's expected SHA-256 from the release pipeline; a tarball that differs is refused
# before anything in it is used (SHA256SUMS and the lock's hashes come from the tarball).
set -euo pipefail
. /etc/tradewarden/host.env
log() { echo "tradewarden-install: $*"; }
die() { log "$*" >&2; exit 1; }

switch_to() {
  [ -x "/opt/tradewarden/venvs/$1/bin/tradewarden" ] || die "release $1 is not installed"
  ln -sfn "/opt/tradewarden/venvs/$1" /opt/tradewarden/venv.next
  mv -T /opt/tradewarden/venv.next /opt/tradewarden/venv
  log "active release: $1"
}

if [ "${1:-}" = "--switch" ]; then
  [ -n "${2:-}" ] || die "usage: install-host.sh --switch VERSION"
  switch_to "$2"
  systemctl restart --no-block tradewarden.service  # READY may wait for the exchange
  exit 0
fi

version="${1:-$TRADEWARDEN_WHEEL_VERSION}"
key="tradewarden/$version/tradewarden-$version-wheelhouse.tar.gz"
[ -n "${TRADEWARDEN_RELEASE_BUCKET:-}" ] || die "releaseBucket is not set in the stack config"
house="/opt/tradewarden/wheelhouse/$version"
venv="/opt/tradewarden/venvs/$version"
install -d -m 0755 /opt/tradewarden /opt/tradewarden/venvs /opt/tradewarden/wheelhouse
rm -rf "$house" && install -d -m 0755 "$house"
install -d -o tradewarden -g tradewarden -m 0700 /var/lib/tradewarden /var/backups/tradewarden
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
(cd "$house" && sha256sum --check --strict SHA256SUMS) || die "files do not match SHA256SUMS"
[ -x "$venv/bin/python" ] || python3.11 -m venv "$venv"
# Only the locked versions with the locked hashes, from the tarball only (no index).
"$venv/bin/pip" install --quiet --no-index --find-links "$house" \
  --only-binary :all: --require-hashes -r "$house/requirements.lock"
"$venv/bin/pip" install --quiet --no-index --no-deps --force-reinstall "$wheel"
tar -xzf "$house/host-files.tar.gz" -C / --no-same-owner
if [ -x "$house/node_exporter" ]; then
  install -m 0755 "$house/node_exporter" /usr/local/bin/node_exporter
fi
switch_to "$version"

systemctl daemon-reload
# egress filter: load the ruleset (empty sets), then fill the sets at once
systemctl enable --now nftables.service
systemctl enable --now tradewarden-egress.timer
systemctl start tradewarden-egress.service
systemctl enable --now dnf-automatic.timer
systemctl enable --now tradewarden-journal-export.service node_exporter.service
/opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl -a fetch-config -m ec2 -s \
  -c file:/opt/aws/amazon-cloudwatch-agent/etc/tradewarden.json
systemctl enable tradewarden.service
# --no-block: a daemon that cannot reach Binance yet waits NOT READY (the start job lasts
# as long as the outage); readiness is /readyz's business (the SSM deploy waits on it)
systemctl restart --no-block tradewarden.service
systemctl enable --now tradewarden-heartbeat.timer tradewarden-backup.timer
log "release $version installed; check with: sudo tradewarden status"
