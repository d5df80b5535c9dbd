#!/usr/bin/env bash
# Start a real single-node Slurm (Debian 12's slurm-wlm 22.05 + munge) on this machine, for the
# integration tests that submit jobs with sbatch. Idempotent: installs what is missing, starts
# what is not running, and returns once a trivial batch job has completed.
#
#   tools/slurm-up.sh [STATE_DIR]        (default: $PREFSCOPE_SLURM_DIR or /var/tmp/prefscope-slurm)
#
# Needs root (CI and the sessions are root); no systemd. Writes /etc/slurm/slurm.conf (and
# cgroup.conf, slurmdbd.conf), where every Slurm command looks by default, so clients need no
# environment variable. State, spool, pid and log files go under STATE_DIR; the job completion
# log is STATE_DIR/log/jobcomp.log. Environment overrides:
#   PREFSCOPE_SLURM_ACCOUNTING  none (default) or slurmdbd: also install and start MariaDB and
#                               slurmdbd, so that sacct works (about 15 s more the first time)
#   PREFSCOPE_SLURM_CGROUP      auto (default): task/cgroup memory confinement where a cgroup v1
#                               memory controller works, else task/none; 1 or 0 to force
#   PREFSCOPE_SLURM_CPUS        CPUs the node offers (default: the machine's, from `slurmd -C`)
#   PREFSCOPE_SLURM_MEMORY      RealMemory in MB (default: 90% of the machine's)
#   PREFSCOPE_SLURM_CTLD_PORT, PREFSCOPE_SLURM_SLURMD_PORT, PREFSCOPE_SLURM_DBD_PORT
#                               (default 6817, 6818, 6819; all on 127.0.0.1)
#   PREFSCOPE_SLURM_CLEAN=1     stop everything and wipe STATE_DIR first (forget all jobs and
#                               accounting records; job ids restart at 1)
#   PREFSCOPE_SLURM_TIMEOUT     seconds to wait for the node and the test job (default 60)
# A change of configuration restarts the daemons (cancelling running jobs). Stop with
# tools/slurm-down.sh.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
state_dir=${1:-${PREFSCOPE_SLURM_DIR:-/var/tmp/prefscope-slurm}}
ctld_port=${PREFSCOPE_SLURM_CTLD_PORT:-6817}
slurmd_port=${PREFSCOPE_SLURM_SLURMD_PORT:-6818}
dbd_port=${PREFSCOPE_SLURM_DBD_PORT:-6819}
timeout=${PREFSCOPE_SLURM_TIMEOUT:-60}
accounting=${PREFSCOPE_SLURM_ACCOUNTING:-none}
conf_dir=/etc/slurm
conf=$conf_dir/slurm.conf

log() { echo "slurm-up: $*" >&2; }

diagnose() {
  log "FAILED: $*"
  for f in /var/log/munge/munged.log "$state_dir/log/mariadb.log" "$state_dir/log/slurmdbd.log" \
    "$state_dir/log/slurmctld.log" "$state_dir/log/slurmd.log" "$state_dir/log/slurmdbd.out" \
    "$state_dir/log/slurmctld.out" "$state_dir/log/slurmd.out"; do
    if [ -s "$f" ]; then
      echo "---- tail of $f" >&2
      tail -n 25 "$f" >&2
    fi
  done
  if [ -f "$conf" ]; then
    echo "---- sinfo" >&2
    timeout 10 sinfo -N -l >&2 2>&1 || true
    echo "---- squeue" >&2
    timeout 10 squeue --states=all >&2 2>&1 || true
  fi
  exit 1
}

if [ "$(id -u)" != 0 ]; then
  log "must run as root"
  exit 1
fi
case $state_dir in
  /*) ;;
  *) state_dir=$PWD/$state_dir ;;
esac
case $accounting in
  none | slurmdbd) ;;
  *)
    log "PREFSCOPE_SLURM_ACCOUNTING must be none or slurmdbd, not '$accounting'"
    exit 1
    ;;
esac

# ---- 1. Packages.
pkgs=()
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null \
  || ! command -v sbatch >/dev/null || ! command -v munged >/dev/null; then
  pkgs+=(slurm-wlm slurmctld slurmd slurm-client munge)
fi
if [ "$accounting" = slurmdbd ] && { ! command -v slurmdbd >/dev/null || ! command -v mariadbd >/dev/null; }; then
  pkgs+=(slurmdbd mariadb-server)
fi
if [ ${#pkgs[@]} -gt 0 ]; then
  log "installing ${pkgs[*]} with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  # `apt-get update` only when the package lists do not know the packages yet.
  if ! apt-cache show "${pkgs[@]}" >/dev/null 2>&1; then
    apt-get update -q >/dev/null || diagnose "apt-get update"
  fi
  # The packages' postinst scripts try to start their daemons with invoke-rc.d (denied where a
  # policy-rc.d says so, as in containers). Such daemons do not get in the way: the ones used
  # here are started below, with this configuration and their own pid files and sockets.
  apt-get install -y -q --no-install-recommends "${pkgs[@]}" >/dev/null \
    || diagnose "apt-get install ${pkgs[*]}"
fi

# ---- 2. munge: key and daemon.
if [ ! -s /etc/munge/munge.key ]; then
  log "creating /etc/munge/munge.key"
  mkdir -p /etc/munge
  if command -v mungekey >/dev/null; then
    mungekey --create --keyfile=/etc/munge/munge.key --force
  else
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none
  fi
fi
chown munge:munge /etc/munge /etc/munge/munge.key
chmod 0700 /etc/munge
chmod 0400 /etc/munge/munge.key
mkdir -p /run/munge /var/lib/munge /var/log/munge
chown munge:munge /run/munge /var/lib/munge /var/log/munge
chmod 0755 /run/munge

munge_ok() { munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }
if ! munge_ok; then
  # A stale pid file or socket from a killed munged would make a new one refuse to start.
  pidf=/run/munge/munged.pid
  if [ -s $pidf ] && ! kill -0 "$(cat $pidf)" 2>/dev/null; then
    rm -f $pidf /run/munge/munge.socket.2 /run/munge/munge.socket.2.lock
  fi
  log "starting munged"
  runuser -u munge -- /usr/sbin/munged </dev/null >/dev/null 2>&1 || diagnose "munged did not start"
  for _ in $(seq 1 50); do
    munge_ok && break
    sleep 0.1
  done
  munge_ok || diagnose "munge -n | unmunge fails"
fi

# ---- 3. Configuration.
if [ "${PREFSCOPE_SLURM_CLEAN:-0}" = 1 ]; then
  "$here/slurm-down.sh" "$state_dir" --keep-munge || true
  log "wiping $state_dir"
  rm -rf "$state_dir"
fi
mkdir -p "$state_dir"/{slurmctld,slurmd,run,log} "$conf_dir"

node=$(hostname -s)
hw=$(slurmd -C | head -n 1)
field() { sed -n "s/.* $1=\([0-9]*\).*/\1/p" <<<"$hw"; }
cpus=$(field CPUs)
sockets=$(field SocketsPerBoard)
cores=$(field CoresPerSocket)
threads=$(field ThreadsPerCore)
hw_mem=$(field RealMemory)
if [ -n "${PREFSCOPE_SLURM_CPUS:-}" ] && [ "$PREFSCOPE_SLURM_CPUS" != "$cpus" ]; then
  cpus=$PREFSCOPE_SLURM_CPUS sockets=1 cores=$PREFSCOPE_SLURM_CPUS threads=1
fi
mem=${PREFSCOPE_SLURM_MEMORY:-$((hw_mem * 9 / 10))}
# Memory a job gets per CPU when it asks for none: an even share of the node (without a
# default, a job without --mem would hold all the node's memory and run alone).
def_mem=$((mem / cpus))

# Memory confinement with task/cgroup where a cgroup v1 memory controller works (a probe
# group can be made and given a limit); task/none otherwise (Slurm 22.05's cgroup/v2 needs
# systemd).
cgroup_usable() {
  local root=/sys/fs/cgroup/memory probe ok=1
  [ -f $root/memory.limit_in_bytes ] || return 1
  probe=$root/prefscope-slurm-probe.$$
  mkdir "$probe" 2>/dev/null || return 1
  echo 67108864 >"$probe/memory.limit_in_bytes" 2>/dev/null && ok=0
  rmdir "$probe" 2>/dev/null
  return $ok
}
case ${PREFSCOPE_SLURM_CGROUP:-auto} in
  1) cgroup=1 ;;
  0) cgroup=0 ;;
  *) if cgroup_usable; then cgroup=1; else cgroup=0; fi ;;
esac
if [ "$cgroup" = 1 ]; then
  if_cgroup= if_no_cgroup='#' mode="task/cgroup (memory confined, OUT_OF_MEMORY reported)"
else
  if_cgroup='#' if_no_cgroup= mode="task/none (no cgroup; over-memory jobs end FAILED)"
fi
if [ "$accounting" = slurmdbd ]; then
  if_dbd= if_no_dbd='#' mode="$mode, accounting by slurmdbd (sacct works)"
else
  if_dbd='#' if_no_dbd= mode="$mode, no accounting (sacct disabled)"
fi

render() { # template
  sed -e "s|@NODENAME@|$node|g" -e "s|@STATE_DIR@|$state_dir|g" \
    -e "s|@SLURMCTLD_PORT@|$ctld_port|g" -e "s|@SLURMD_PORT@|$slurmd_port|g" \
    -e "s|@SLURMDBD_PORT@|$dbd_port|g" \
    -e "s|@CPUS@|$cpus|g" -e "s|@SOCKETS@|$sockets|g" -e "s|@CORES@|$cores|g" \
    -e "s|@THREADS@|$threads|g" -e "s|@REAL_MEMORY@|$mem|g" -e "s|@DEF_MEM_PER_CPU@|$def_mem|g" \
    -e "s|^@IF_CGROUP@|$if_cgroup|" -e "s|^@IF_NO_CGROUP@|$if_no_cgroup|" \
    -e "s|^@IF_DBD@|$if_dbd|" -e "s|^@IF_NO_DBD@|$if_no_dbd|" "$1"
}
conf_changed=0
update() { # content destination mode
  if [ ! -f "$2" ] || [ "$(cat "$2")" != "$1" ]; then
    printf '%s\n' "$1" >"$2"
    conf_changed=1
  fi
  chmod "$3" "$2"
}
update "$(render "$here/slurm/slurm.conf.in")" "$conf" 0644
update "$(cat "$here/slurm/cgroup.conf")" "$conf_dir/cgroup.conf" 0644
if [ "$accounting" = slurmdbd ]; then
  update "$(render "$here/slurm/slurmdbd.conf.in")" "$conf_dir/slurmdbd.conf" 0600
fi

# ---- 4. Daemons.
running() { # pid file
  [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null
}
run=$state_dir/run
if [ "$conf_changed" = 1 ] && { running "$run/slurmctld.pid" || running "$run/slurmd.pid" || running "$run/slurmdbd.pid"; }; then
  log "configuration changed: restarting the Slurm daemons"
  "$here/slurm-down.sh" "$state_dir" --keep-munge --keep-db
fi

if [ "$accounting" = slurmdbd ]; then
  # MariaDB of our own: data, socket and pid file in STATE_DIR/mysql, no TCP.
  db_dir=$state_dir/mysql
  db_sock=$db_dir/mysqld.sock
  if [ ! -d "$db_dir/mysql" ]; then
    log "initialising MariaDB in $db_dir"
    mkdir -p "$db_dir"
    chown mysql:mysql "$db_dir"
    mariadb-install-db --user=mysql --datadir="$db_dir" --auth-root-authentication-method=socket \
      --skip-test-db >"$state_dir/log/mariadb-install.log" 2>&1 || diagnose "mariadb-install-db (see $state_dir/log/mariadb-install.log)"
  fi
  db_ok() { mariadb-admin --socket="$db_sock" ping >/dev/null 2>&1; }
  if ! db_ok; then
    log "starting mariadbd"
    setsid -f /usr/sbin/mariadbd --no-defaults --user=mysql --datadir="$db_dir" \
      --socket="$db_sock" --pid-file="$db_dir/mariadbd.pid" --skip-networking \
      --log-error="$state_dir/log/mariadb.log" --innodb-buffer-pool-size=128M \
      --innodb-lock-wait-timeout=900 </dev/null >/dev/null 2>&1
    for _ in $(seq 1 300); do
      db_ok && break
      sleep 0.1
    done
    db_ok || diagnose "mariadbd not answering on $db_sock"
  fi
  if ! running "$run/slurmdbd.pid"; then
    log "starting slurmdbd"
    MYSQL_UNIX_PORT=$db_sock slurmdbd </dev/null >"$state_dir/log/slurmdbd.out" 2>&1 \
      || diagnose "slurmdbd did not start"
    for _ in $(seq 1 300); do
      (: </dev/tcp/127.0.0.1/"$dbd_port") 2>/dev/null && break
      sleep 0.1
    done
    (: </dev/tcp/127.0.0.1/"$dbd_port") 2>/dev/null || diagnose "slurmdbd not listening on port $dbd_port"
  fi
fi
if ! running "$run/slurmctld.pid"; then
  log "starting slurmctld"
  # -i: ignore state files that cannot be read (e.g. from another Slurm version).
  slurmctld -i </dev/null >"$state_dir/log/slurmctld.out" 2>&1 || diagnose "slurmctld did not start"
fi
if ! running "$run/slurmd.pid"; then
  log "starting slurmd"
  slurmd -N "$node" </dev/null >"$state_dir/log/slurmd.out" 2>&1 || diagnose "slurmd did not start"
fi

# ---- 5. Wait for an idle node and a completed job.
deadline=$((SECONDS + timeout))
state=
while [ $SECONDS -lt $deadline ]; do
  state=$(timeout 10 sinfo -h -N -n "$node" -o '%T' 2>/dev/null | head -n 1 || true)
  case $state in
    idle* | mixed* | allocated* | completing*) break ;;
    down* | drain* | fail*)
      # E.g. left DOWN or DRAIN by an earlier run or test.
      scontrol update nodename="$node" state=resume >/dev/null 2>&1 || true
      ;;
  esac
  sleep 0.5
done
case $state in
  idle* | mixed* | allocated* | completing*) ;;
  *) diagnose "node $node not up after ${timeout}s (state: ${state:-no answer})" ;;
esac

job=$(sbatch --parsable --job-name=slurm-up-check --output=/dev/null --time=1 --mem=16 \
  --wrap=true 2>&1) || diagnose "sbatch: $job"
job=${job%%;*}
jstate=
while [ $SECONDS -lt $deadline ]; do
  jstate=$(scontrol show job -o "$job" 2>/dev/null | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p')
  case $jstate in
    COMPLETED) break ;;
    FAILED | CANCELLED | TIMEOUT | NODE_FAIL | OUT_OF_MEMORY | BOOT_FAIL | DEADLINE)
      diagnose "test job $job ended $jstate" ;;
  esac
  sleep 0.2
done
[ "$jstate" = COMPLETED ] || diagnose "test job $job not COMPLETED after ${timeout}s (state: ${jstate:-unknown})"
if [ "$accounting" = slurmdbd ]; then
  astate=
  while [ $SECONDS -lt $deadline ]; do
    astate=$(sacct -n -X -P -j "$job" -o State 2>/dev/null | head -n 1)
    [ "$astate" = COMPLETED ] && break
    sleep 0.5
  done
  [ "$astate" = COMPLETED ] || diagnose "sacct does not show test job $job COMPLETED (got: ${astate:-nothing})"
fi
log "ready: cluster prefscope, node $node ($cpus CPUs, $mem MB, DefMemPerCPU $def_mem MB), partitions debug (default) and urgent, $mode; config $conf, state and logs in $state_dir"
