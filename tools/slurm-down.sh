#!/usr/bin/env bash
# Stop the single-node Slurm that tools/slurm-up.sh started: cancel the jobs still queued or
# running (so that no job processes outlive slurmd), stop slurmd, slurmctld, slurmdbd and
# its MariaDB, then munged. Each daemon is found by its pid file; nothing else is touched.
#
#   tools/slurm-down.sh [STATE_DIR] [--keep-munge] [--keep-db]
#
# STATE_DIR as given to slurm-up.sh (default: $PREFSCOPE_SLURM_DIR or /var/tmp/prefscope-slurm).
# The state folder is kept (job records, logs, accounting database);
# PREFSCOPE_SLURM_CLEAN=1 tools/slurm-up.sh wipes it.
set -uo pipefail

state_dir=${PREFSCOPE_SLURM_DIR:-/var/tmp/prefscope-slurm}
keep_munge=0 keep_db=0
for a in "$@"; do
  case $a in
    --keep-munge) keep_munge=1 ;;
    --keep-db) keep_db=1 ;;
    *) state_dir=$a ;;
  esac
done
run=$state_dir/run

log() { echo "slurm-down: $*" >&2; }
alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# Ends the daemons whose pid files are given (all at once, as each takes seconds to exit):
# SIGTERM, then SIGKILL to those still there after $1 tenths of a second.
stop_pids() {
  local wait=$1 pidf pids=() left
  shift
  for pidf in "$@"; do
    if alive "$pidf"; then
      pids+=("$(cat "$pidf")")
      kill -TERM "${pids[-1]}" 2>/dev/null
    fi
  done
  for _ in $(seq 1 "$wait"); do
    left=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && left=1; done
    [ "$left" = 0 ] && break
    sleep 0.1
  done
  for pid in "${pids[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then
      log "pid $pid ignored SIGTERM: SIGKILL"
      kill -KILL "$pid" 2>/dev/null
    fi
  done
  rm -f "$@"
}

if alive "$run/slurmctld.pid" && alive "$run/slurmd.pid"; then
  # Cancel all jobs, then wait (bounded) until none is running or completing.
  if [ -n "$(timeout 10 squeue -h -o %i 2>/dev/null)" ]; then
    log "cancelling the remaining jobs"
    timeout 10 scancel --user=root >/dev/null 2>&1
    for _ in $(seq 1 300); do
      [ -z "$(timeout 10 squeue -h -t RUNNING,COMPLETING,SUSPENDED -o %i 2>/dev/null)" ] && break
      sleep 0.1
    done
  fi
fi
if alive "$run/slurmctld.pid" || alive "$run/slurmd.pid" || alive "$run/slurmdbd.pid"; then
  log "stopping the Slurm daemons"
  stop_pids 150 "$run/slurmd.pid" "$run/slurmctld.pid" "$run/slurmdbd.pid"
fi
# Then what they used: slurmdbd's MariaDB, and munged.
rest=()
if [ "$keep_db" = 0 ] && alive "$state_dir/mysql/mariadbd.pid"; then
  log "stopping mariadbd"
  rest+=("$state_dir/mysql/mariadbd.pid")
fi
if [ "$keep_munge" = 0 ] && alive /run/munge/munged.pid; then
  log "stopping munged"
  rest+=(/run/munge/munged.pid)
fi
[ ${#rest[@]} -gt 0 ] && stop_pids 300 "${rest[@]}"
exit 0
