#!/usr/bin/env bash
# A real single-node SLURM cluster on this machine, for tests/test_slurm.py and for trying
# `attnopt run -m ... hydra/launcher=slurm` without a cluster:
#
#   scripts/slurm_cluster.sh start    install slurm-wlm and munge (apt) if missing, write
#                                     /etc/slurm/slurm.conf, start munged, slurmctld and slurmd,
#                                     and wait until a job runs on the node
#   scripts/slurm_cluster.sh stop     stop the three daemons, by the pids they recorded
#   scripts/slurm_cluster.sh status   exit 0 and print the node when the cluster answers, 1 if not
#
# Needs root (daemons, /etc, apt). `start` is idempotent: a cluster that is already up is left as it
# is. A slurm.conf this script did not write (a real cluster's) is never overwritten.
# No accounting database: `sacct` does not work, so submitit cannot tell that a job was cancelled
# (it warns "Bypassing sacct error"); everything else behaves as on a cluster.
set -euo pipefail

MARK="# written by attnopt scripts/slurm_cluster.sh"
CONF_DIR=/etc/slurm
CONF=$CONF_DIR/slurm.conf
SPOOL=/var/spool/attnopt-slurm
RUN=/run/attnopt-slurm
LOGS=/var/log/attnopt-slurm
MUNGE_PID=/run/munge/munged.pid

say() { echo "slurm_cluster: $*" >&2; }
die() { say "error: $*"; exit 1; }

need_root() { [ "$(id -u)" = 0 ] || die "must run as root (it installs packages and starts daemons)"; }

alive() {  # alive PID: the process runs (an unreaped zombie does not)
    local state
    state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
    [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

running() {  # running PIDFILE: the process named in PIDFILE is alive
    [ -s "$1" ] && alive "$(cat "$1")"
}

answers() {  # the controller answers and the node takes jobs
    timeout 10 sinfo -h -N -o "%N %T" 2>/dev/null | grep -Eq " (idle|mixed|allocated|completing)"
}

install() {
    if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null; then
        return
    fi
    say "installing slurm-wlm and munge (apt-get)"
    apt-get update -q >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends slurm-wlm munge >&2
}

write_conf() {
    if [ -f "$CONF" ] && ! grep -qF "$MARK" "$CONF"; then
        die "$CONF exists and was not written by this script (a real cluster?); not touching it"
    fi
    mkdir -p "$CONF_DIR" "$SPOOL/ctld" "$SPOOL/d" "$RUN" "$LOGS"
    local host node
    host=$(hostname -s)
    # The node line as slurmd itself detects this machine (CPUs, sockets, cores, memory), so
    # slurmd never disagrees with the configuration.
    node=$(slurmd -C | head -n1)
    [[ "$node" == NodeName=* ]] || die "slurmd -C did not describe this node: $node"
    cat > "$CONF.tmp" <<EOF
$MARK
# A single-node cluster for tests; stop it with scripts/slurm_cluster.sh stop.
ClusterName=attnopt-local
SlurmctldHost=$host(127.0.0.1)
AuthType=auth/munge
SlurmUser=root
SlurmdUser=root
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
# scancel sends SIGTERM, then SIGKILL after KillWait seconds (default 30). submitit's jobs ignore
# SIGTERM (it means pre-emption to them), so a cancel would take 30 s here without this.
KillWait=2
StateSaveLocation=$SPOOL/ctld
SlurmdSpoolDir=$SPOOL/d
SlurmctldPidFile=$RUN/slurmctld.pid
SlurmdPidFile=$RUN/slurmd.pid
SlurmctldLogFile=$LOGS/slurmctld.log
SlurmdLogFile=$LOGS/slurmd.log
$node NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
    mv "$CONF.tmp" "$CONF"
}

start_munge() {
    running "$MUNGE_PID" && return
    mkdir -p /run/munge /var/lib/munge /var/log/munge
    chown munge:munge /run/munge /var/lib/munge /var/log/munge
    if [ ! -s /etc/munge/munge.key ]; then
        mungekey --create --keyfile=/etc/munge/munge.key
        chown munge:munge /etc/munge/munge.key
        chmod 600 /etc/munge/munge.key
    fi
    runuser -u munge -- /usr/sbin/munged 9>&-
}

start() {
    need_root
    install
    if answers && running "$RUN/slurmctld.pid" && running "$RUN/slurmd.pid"; then
        say "already up"; status; return
    fi
    write_conf
    start_munge
    # 9>&-: the daemons must not inherit the lock (they would hold it for as long as they run).
    running "$RUN/slurmctld.pid" || slurmctld -c 9>&-
    running "$RUN/slurmd.pid" || slurmd -c 9>&-
    local i
    for i in $(seq 60); do
        answers && break
        sleep 0.5
    done
    answers || die "the node did not come up; see $LOGS/slurmctld.log and $LOGS/slurmd.log"
    # A job really runs: the controller, munge and the node agree.
    timeout 60 srun -N1 -t 1 true || die "srun failed; see $LOGS/slurmd.log"
    say "up: $(sinfo -h -N -o '%N %c CPUs %T')"
}

stop_pid() {  # stop_pid PIDFILE NAME
    running "$1" || return 0
    local pid i
    pid=$(cat "$1")
    kill "$pid"
    for i in $(seq 40); do
        alive "$pid" || { say "stopped $2 (pid $pid)"; return 0; }
        sleep 0.25
    done
    kill -9 "$pid" 2>/dev/null || true
    say "killed $2 (pid $pid)"
}

stop() {
    need_root
    stop_pid "$RUN/slurmd.pid" slurmd
    stop_pid "$RUN/slurmctld.pid" slurmctld
    stop_pid "$MUNGE_PID" munged
}

status() {
    if answers; then
        sinfo -N -o "%N %c %T"
        return 0
    fi
    say "not running (start it with scripts/slurm_cluster.sh start)"
    return 1
}

case "${1:-}" in
    start|stop)
        # One start or stop at a time: several test runs may share this machine.
        need_root
        exec 9>/run/attnopt-slurm.lock
        flock 9
        "$1" ;;
    status) status ;;
    *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
