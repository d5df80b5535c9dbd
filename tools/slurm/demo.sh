#!/usr/bin/env bash
# Smoke test of the Slurm that tools/slurm-up.sh started (about 90 s): a 5-task array of
# `sleep 20` with --requeue --signal=B:USR2@90, at most 2 tasks at a time; task 1 is cancelled
# while it runs and task 0 requeued while it runs. Prints what squeue, scontrol and the job
# completion log report, and exits non-zero unless task 1 ends CANCELLED, task 0 runs twice
# and ends COMPLETED, and the other tasks end COMPLETED.
#
#   tools/slurm/demo.sh [STATE_DIR]     (as given to slurm-up.sh)
set -euo pipefail
state_dir=${1:-${PREFSCOPE_SLURM_DIR:-/var/tmp/prefscope-slurm}}
work=$(mktemp -d /tmp/prefscope-slurm-demo.XXXXXX)
cat >"$work/task.sh" <<'EOF'
#!/bin/bash
echo "start $(date +%T) job=$SLURM_JOB_ID array=${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID} restarts=${SLURM_RESTART_COUNT:-0}"
trap 'echo "USR2 $(date +%T)"' USR2
trap 'echo "TERM $(date +%T)"; exit 143' TERM
sleep 20 &
wait $!
echo "end $(date +%T)"
EOF
t0=$SECONDS
say() { printf '[%3ds] %s\n' $((SECONDS - t0)) "$*"; }
# Prints the named KEY=VALUE fields of each line of `scontrol show job -o` or the jobcomp log.
fields() {
  awk -v keys="$*" 'BEGIN { n = split(keys, k, " ") }
    { delete f; for (i = 1; i <= NF; i++) { p = index($i, "="); if (p) f[substr($i, 1, p - 1)] = substr($i, p + 1) }
      line = ""; for (j = 1; j <= n; j++) line = line (j > 1 ? " " : "") k[j] "=" f[k[j]]; print line }'
}
states() { squeue -h -t all -j "$array" -o '%i %T %r' | sort -t_ -k2n | tr '\n' ';'; }

array=$(sbatch --parsable --array=0-4%2 --requeue --signal=B:USR2@90 --open-mode=append \
  --job-name=demo --chdir="$work" --output="$work/%A_%a.out" "$work/task.sh")
array=${array%%;*}
say "submitted array $array: $(states)"
for _ in $(seq 1 100); do
  [ "$(squeue -h -t RUNNING -j "${array}_0,${array}_1" -o %i | wc -l)" = 2 ] && break
  sleep 0.1
done
sleep 2
say "running: $(states)"
scancel "${array}_1"
scontrol requeue "${array}_0"
say "after scancel ${array}_1 and scontrol requeue ${array}_0: $(states)"
deadline=$((SECONDS + 150))
while [ $SECONDS -lt $deadline ]; do
  sleep 5
  s=$(states)
  say "$s"
  if ! grep -qE 'PENDING|RUNNING|CONFIGURING|COMPLETING|REQUEUED|SUSPENDED|RESIZING' <<<"$s"; then
    break
  fi
done

echo "---- squeue -h -t all -j $array -o '%i|%A|%F|%K|%T|%r|%M|%S|%e'"
squeue -h -t all -j "$array" -o '%i|%A|%F|%K|%T|%r|%M|%S|%e' | sort -t'|' -k4n
echo "---- scontrol show job -o $array (selected fields)"
scontrol show job -o "$array" | fields JobId ArrayJobId ArrayTaskId JobState Reason Restarts ExitCode \
  | sort -t= -k4n
echo "---- job completion log $state_dir/log/jobcomp.log (lines of this array, selected fields)"
grep -E "ArrayJobId=$array " "$state_dir/log/jobcomp.log" \
  | fields JobId ArrayJobId ArrayTaskId JobState StartTime EndTime ExitCode || true
echo "---- sacct -j $array -X -D -n -P -o JobID,JobIDRaw,State,ExitCode,Start,End"
sacct -j "$array" -X -D -n -P -o JobID,JobIDRaw,State,ExitCode,Start,End 2>&1 || true
echo "---- task outputs"
for f in "$work"/*.out; do echo "$(basename "$f"):"; sed 's/^/  /' "$f"; done

# Checks.
final=$(squeue -h -t all -j "$array" -o '%K %T')
restarts0=$(scontrol show job -o "${array}_0" | sed -n 's/.* Restarts=\([0-9]*\).*/\1/p')
expect="0 COMPLETED
1 CANCELLED
2 COMPLETED
3 COMPLETED
4 COMPLETED"
if [ "$(sort -n <<<"$final")" = "$expect" ] && [ "$restarts0" = 1 ]; then
  say "demo passed (task 0 restarted $restarts0 time)"
  rm -rf "$work"
else
  say "demo FAILED: states '$(tr '\n' ',' <<<"$final")', task 0 restarts '$restarts0' (outputs in $work)"
  exit 1
fi
