#!/usr/bin/env bash
# Train the four shipped models on the bundled offline sample (^GSPC, ^IXIC daily 1999-2018).
# Periods are TrainConfig's defaults: train 1999-01-01 .. 2012-12-31, validation 2013-01-01 .. 2015-12-31,
# test 2016-01-01 .. 2018-12-31 (never read by training), purge = label horizon = 5 bars.
#   models/hrm-default  HRM, preset default (N = T = 2, M = 3, ACT on)
#   models/flat         flat transformer baseline of about the same size
#   models/hrm-n1t1     HRM ablation: N = T = 1
#   models/hrm-noact    HRM ablation: ACT off (always M segments)
# Usage: bash scripts/train_shipped_models.sh [extra hrm train flags, e.g. --device cpu]
set -euo pipefail
cd "$(dirname "$0")/.."
HRM="${HRM:-.venv/bin/python hrm_cli.py}"

# Only the bundled sample may serve the data: offline, and an empty throwaway cache.
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
printf '[data]\ncache_db = "%s/market.db"\nmodels_dir = "%s/models"\n' "$tmp" "$PWD" >"$tmp/hrm.toml"
export HRM_OFFLINE=1 HRM_SETTINGS="$tmp/hrm.toml"

COMMON=(--symbols ^GSPC ^IXIC --interval 1d --epochs 8 --stride 2 --force)
$HRM train --preset default "${COMMON[@]}" --out hrm-default "$@"
$HRM train --preset flat    "${COMMON[@]}" --out flat "$@"
$HRM train --preset default "${COMMON[@]}" --override h_cycles=1 l_cycles=1 --out hrm-n1t1 "$@"
$HRM train --preset default "${COMMON[@]}" --override act=False --out hrm-noact "$@"
