#!/usr/bin/env python3
"""VRRP benchmark helper for tests/bench/vrrp_bench.sh: keeplite side by side with keepalived.

Two sub-commands:

  run     builds the network namespaces, runs the daemons and measures (failover latency seen by a
          monitor host's tcpdump, memory from /proc/PID/smaps_rollup, CPU from /proc/PID/stat);
          writes the raw results as JSON.
  report  turns that JSON (plus the machine facts gathered by the shell script) into Markdown.

Standard library only. Needs root, iproute2 (`ip netns`), tcpdump, keeplite and keepalived.
Every process this script starts is written to WORK/pids (one pid a line) so the shell script's
trap can end exactly those if this script dies; namespaces all start with the given prefix.
"""

import argparse
import ctypes
import json
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import threading
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")
MASTER_PRIO = 150
BACKUP_PRIO = 100
LAN_NET = "10.77.0"
FAILOVER_VIP = "10.77.0.254"
NAMES = {"kl": "keeplite", "klm": "keeplite (musl static)", "ka": "keepalived"}


def log(*a):
    print("[vrrp_bench]", *a, file=sys.stderr, flush=True)


class Abort(Exception):
    pass


def on_signal(signum, _frame):
    raise Abort(f"signal {signum}")


# --- shell helpers --------------------------------------------------------------------------------


def sh(*args, check=True):
    r = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed: {r.stdout}{r.stderr}")
    return r.stdout


def addresses(ns):
    out = sh("ip", "-n", ns, "-o", "-4", "addr", "show", "dev", "eth0", check=False)
    return set(re.findall(r"inet (\S+)/", out))


def mac_of(ns):
    return json.loads(sh("ip", "-n", ns, "-j", "link", "show", "dev", "eth0"))[0]["address"]


def link_stats(ns):
    s = json.loads(sh("ip", "-n", ns, "-j", "-s", "link", "show", "dev", "eth0"))[0]["stats64"]
    return s["rx"]["packets"], s["tx"]["packets"]


def reap():
    """Collects exited children (the script is a child subreaper: orphaned keepalived children
    land here instead of staying zombies)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def become_subreaper():
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except OSError:
        pass


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def cpu_ticks(pid):
    """utime and stime of a process, in clock ticks (/proc/PID/stat fields 14 and 15)."""
    with open(f"/proc/{pid}/stat") as f:
        rest = f.read().rsplit(")", 1)[1].split()
    return int(rest[11]), int(rest[12])


def smaps_rollup(pid):
    out = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            m = re.match(r"(\w+):\s+(\d+) kB", line)
            if m:
                out[m.group(1)] = int(m.group(2))
    return {
        "rss_kib": out.get("Rss", 0),
        "pss_kib": out.get("Pss", 0),
        "uss_kib": out.get("Private_Clean", 0) + out.get("Private_Dirty", 0),
    }


# --- namespaces -----------------------------------------------------------------------------------


class Lan:
    """A bridge in a switch namespace and `n` hosts with veth eth0 at 10.77.0.(i+1)/24."""

    def __init__(self, prefix, name, n):
        self.switch = f"{prefix}{name}sw"
        self.hosts = [f"{prefix}{name}h{i}" for i in range(n)]
        sh("ip", "netns", "add", self.switch)
        sh("ip", "-n", self.switch, "link", "add", "br0", "type", "bridge", "mcast_snooping", "0")
        sh("ip", "-n", self.switch, "link", "set", "br0", "up")
        for i, ns in enumerate(self.hosts):
            sh("ip", "netns", "add", ns)
            sh("ip", "-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name", f"p{i}",
               "netns", self.switch)
            sh("ip", "-n", self.switch, "link", "set", f"p{i}", "master", "br0", "up")
            sh("ip", "-n", ns, "link", "set", "lo", "up")
            sh("ip", "-n", ns, "addr", "add", f"{LAN_NET}.{i + 1}/24", "dev", "eth0")
            sh("ip", "-n", ns, "link", "set", "eth0", "up")
        self.macs = [mac_of(ns) for ns in self.hosts]

    def delete(self):
        for ns in self.hosts + [self.switch]:
            sh("ip", "netns", "del", ns, check=False)


# --- daemons --------------------------------------------------------------------------------------


class Daemon:
    """keeplite (one process) or keepalived (-P: a parent and a VRRP child) in a namespace."""

    def __init__(self, ctx, impl, ns, conf, tag):
        self.impl, self.ns, self.tag = impl, ns, tag
        self.log_path = os.path.join(ctx.work, f"{tag}.log")
        base = os.path.join(ctx.work, tag)
        for ext in (".pid", ".vrrp.pid", ".check.pid"):
            try:
                os.unlink(base + ext)
            except FileNotFoundError:
                pass
        if impl in ("kl", "klm"):
            binary = ctx.keeplite_musl if impl == "klm" else ctx.keeplite
            argv = [binary, "-f", conf, "-n", "-l", "-G", "-P", "-p", base + ".pid",
                    "-r", base + ".vrrp.pid", "--control", base + ".sock"]
        else:
            argv = [ctx.keepalived, "-n", "-l", "-P", "-f", conf, "-p", base + ".pid",
                    "-r", base + ".vrrp.pid", "-c", base + ".check.pid"]
        self.logf = open(self.log_path, "a")
        self.logf.write(f"=== {time.time():.6f} start {' '.join(argv)}\n")
        self.logf.flush()
        # `ip netns exec` execs the program: the Popen pid is the daemon's (the parent for
        # keepalived).
        self.proc = subprocess.Popen(["ip", "netns", "exec", ns] + argv, stdin=subprocess.DEVNULL,
                                     stdout=self.logf, stderr=subprocess.STDOUT)
        self.pid = self.proc.pid
        ctx.record_pid(self.pid)
        # Both run a watchdog parent and a VRRP child: the child is what is measured and killed.
        self.vrrp_pid = self._keepalived_child(base + ".vrrp.pid")
        ctx.record_pid(self.vrrp_pid)

    def _keepalived_child(self, pidfile):
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                pid = int(open(pidfile).read().split()[0])
                with open(f"/proc/{pid}/status") as f:
                    ppid = int(re.search(r"PPid:\s+(\d+)", f.read()).group(1))
                if ppid == self.pid:
                    return pid
            except (OSError, ValueError, IndexError, AttributeError):
                pass
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.impl} {self.tag} exited: see {self.log_path}")
            time.sleep(0.02)
        raise RuntimeError(f"{self.impl} {self.tag}: no VRRP child after 10 s ({self.log_path})")

    def sigkill(self):
        """SIGKILLs the process that runs VRRP; returns time.time() taken right before the kill.
        The watchdog parent is stopped first so it cannot restart its child, then killed too."""
        os.kill(self.pid, signal.SIGSTOP)
        t = time.time()
        os.kill(self.vrrp_pid, signal.SIGKILL)
        os.kill(self.pid, signal.SIGKILL)
        self._wait()
        self.logf.write(f"=== {t:.6f} SIGKILL\n")
        self.logf.close()
        return t

    def stop(self):
        if self.proc.poll() is None:
            try:
                os.kill(self.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                for p in (self.vrrp_pid, self.pid):
                    try:
                        os.kill(p, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
        self._wait()
        if not self.logf.closed:
            self.logf.close()

    def _wait(self):
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        deadline = time.time() + 5
        while alive(self.vrrp_pid) and time.time() < deadline:
            reap()
            time.sleep(0.01)
        reap()

    def transitions(self, since_offset):
        with open(self.log_path, errors="replace") as f:
            f.seek(since_offset)
            return sum(1 for line in f if "Entering" in line)

    def log_offset(self):
        return os.path.getsize(self.log_path)


def instance_conf(n, version, advert_int, prio, vip_of):
    parts = []
    for k in range(1, n + 1):
        parts.append(
            f"vrrp_instance VI_{k} {{\n"
            f"    interface eth0\n"
            f"    virtual_router_id {k}\n"
            f"    version {version}\n"
            f"    priority {prio}\n"
            f"    advert_int {advert_int}\n"
            f"    virtual_ipaddress {{\n"
            f"        {vip_of(k)}\n"
            f"    }}\n"
            f"}}\n")
    return "".join(parts)


# --- the monitor ----------------------------------------------------------------------------------

LINE = re.compile(r"^(\d+\.\d+) ([0-9a-f:]{17}) > ([0-9a-f:]{17}), ethertype (\S+) .*?: (.*)$")
VRRP = re.compile(r"^(\S+) > 224\.0\.0\.18: VRRPv(\d), Advertisement, vrid (\d+), prio (\d+)")
ARP_REQ = re.compile(r"^Request who-has (\S+) (?:\(\S+\) )?tell (\S+),")
ARP_REP = re.compile(r"^Reply (\S+) is-at")


class Monitor:
    """tcpdump in the monitor namespace; parses every line into (ts, kind, src_mac, ip, vrid, prio)
    as it arrives. kind is 'advert' (ip = source) or 'arp' (ip = sender protocol address)."""

    def __init__(self, ctx, ns, tag):
        self.events = []
        self.cond = threading.Condition()
        self.path = os.path.join(ctx.work, f"{tag}.tcpdump.txt")
        self.out = open(self.path, "w")
        argv = ["ip", "netns", "exec", ns, "tcpdump", "-e", "-l", "-tt",
                "--time-stamp-precision=micro", "-n", "-i", "eth0", "ip proto 112 or arp"]
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, bufsize=1)
        ctx.record_pid(self.proc.pid)
        # tcpdump says "listening on eth0" once its socket is open.
        seen = []
        while not seen or "listening" not in seen[-1]:
            line = self.proc.stderr.readline()
            if not line or len(seen) > 5:
                raise RuntimeError(f"tcpdump did not start: {''.join(seen)}")
            seen.append(line)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for line in self.proc.stdout:
            self.out.write(line)
            ev = self._parse(line.rstrip("\n"))
            if ev:
                with self.cond:
                    self.events.append(ev)
                    self.cond.notify_all()

    @staticmethod
    def _parse(line):
        m = LINE.match(line)
        if not m:
            return None
        ts, src, _dst, etype, rest = m.groups()
        if etype == "IPv4":
            v = VRRP.match(rest)
            if v:
                return (float(ts), "advert", src, v.group(1), int(v.group(3)), int(v.group(4)))
        elif etype == "ARP":
            a = ARP_REQ.match(rest)
            if a:
                return (float(ts), "arp", src, a.group(2), 0, 0)
            a = ARP_REP.match(rest)
            if a:
                return (float(ts), "arp", src, a.group(1), 0, 0)
        return None

    def wait_for(self, pred, timeout):
        """The first event satisfying pred, waiting up to timeout seconds; None on timeout."""
        deadline = time.time() + timeout
        i = 0
        with self.cond:
            while True:
                while i < len(self.events):
                    if pred(self.events[i]):
                        return self.events[i]
                    i += 1
                left = deadline - time.time()
                if left <= 0:
                    return None
                self.cond.wait(left)

    def snapshot(self):
        with self.cond:
            return list(self.events)

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.thread.join(timeout=5)
        self.out.close()


# --- context --------------------------------------------------------------------------------------


class Ctx:
    def __init__(self, a):
        self.work, self.prefix = a.work, a.prefix
        self.keeplite, self.keeplite_musl, self.keepalived = a.keeplite, a.keeplite_musl, a.keepalived
        self.pids_path = os.path.join(a.work, "pids")
        self.live = []  # daemons/monitors/lans to clean up

    def record_pid(self, pid):
        with open(self.pids_path, "a") as f:
            f.write(f"{pid}\n")

    def write(self, name, text):
        path = os.path.join(self.work, name)
        with open(path, "w") as f:
            f.write(text)
        return path


def wait_until(pred, timeout, step=0.02):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return True
        time.sleep(step)
    return pred()


# --- part 1: failover -----------------------------------------------------------------------------


def rfc_mdi(version, adv, prio):
    """Master_Down_Interval in seconds: RFC 3768 §6.1 (v2) and RFC 5798 §6.1 (v3)."""
    if version == 2:
        return 3 * adv + (256 - prio) / 256
    return 3 * adv + (256 - prio) * adv / 256


def failover_combo(ctx, lan, mimpl, bimpl, version, adv, runs, rng):
    m_ns, b_ns, mon_ns = lan.hosts
    m_mac, b_mac = lan.macs[0], lan.macs[1]
    m_ip = f"{LAN_NET}.1"
    key = f"v{version}-{adv}-{mimpl}-{bimpl}"
    vip = lambda _k: f"{FAILOVER_VIP}/24"
    m_conf = ctx.write(f"fo-{key}-master.conf", instance_conf(1, version, adv, MASTER_PRIO, vip))
    b_conf = ctx.write(f"fo-{key}-backup.conf", instance_conf(1, version, adv, BACKUP_PRIO, vip))
    mdi = rfc_mdi(version, adv, BACKUP_PRIO)
    mdi_master = rfc_mdi(version, adv, MASTER_PRIO)
    result = {"key": key, "master": mimpl, "backup": bimpl, "version": version, "advert_int": adv,
              "rfc_mdi": mdi, "runs": [], "failures": []}
    log(f"failover {key}: {runs} runs (RFC Master_Down_Interval {mdi * 1000:.3f} ms)")

    mon = Monitor(ctx, mon_ns, f"fo-{key}")
    backup = Daemon(ctx, bimpl, b_ns, b_conf, f"fo-{key}-backup")
    master = None
    try:
        for run in range(runs):
            master = Daemon(ctx, mimpl, m_ns, m_conf, f"fo-{key}-master")
            # Steady state: the VIP on the master only, then three adverts from it after that.
            settle = 4 * (mdi_master + mdi) + 10
            ok = wait_until(lambda: FAILOVER_VIP in addresses(m_ns)
                            and FAILOVER_VIP not in addresses(b_ns), settle)
            if not ok:
                result["failures"].append({"run": run, "what": "master never held the VIP alone",
                                           "master_addrs": sorted(addresses(m_ns)),
                                           "backup_addrs": sorted(addresses(b_ns))})
                master.stop()
                sh("ip", "-n", m_ns, "addr", "del", f"{FAILOVER_VIP}/24", "dev", "eth0",
                   check=False)
                continue
            t_ok = time.time()
            seen = [0]

            def third_advert(ev):
                if ev[0] > t_ok and ev[1] == "advert" and ev[3] == m_ip:
                    seen[0] += 1
                return seen[0] >= 3

            mon.wait_for(third_advert, 5 * adv + 5)
            # Kill at a random phase of the advert interval.
            time.sleep(rng.uniform(0, adv))
            backup_adverts_before = sum(1 for e in mon.snapshot()
                                        if e[1] == "advert" and e[2] == b_mac and e[0] > t_ok)
            t_kill = master.sigkill()
            garp = mon.wait_for(lambda e: e[0] > t_kill and e[1] == "arp" and e[2] == b_mac
                                and e[3] == FAILOVER_VIP, mdi + adv + 5)
            if garp is None:
                result["failures"].append({"run": run, "what": "no GARP from the backup",
                                           "backup_addrs": sorted(addresses(b_ns))})
            else:
                vip_on_backup = wait_until(lambda: FAILOVER_VIP in addresses(b_ns), 2)
                evs = mon.snapshot()
                last_adv = max((e[0] for e in evs if e[1] == "advert" and e[3] == m_ip
                                and e[0] <= garp[0]), default=None)
                b_adv = min((e[0] for e in evs if e[1] == "advert" and e[2] == b_mac
                             and e[0] > t_kill), default=None)
                result["runs"].append({
                    "run": run,
                    "t_kill": t_kill,
                    "t_garp": garp[0],
                    "t_last_master_advert": last_adv,
                    "t_first_backup_advert": b_adv,
                    "kill_to_garp": garp[0] - t_kill,
                    "last_advert_to_garp": (garp[0] - last_adv) if last_adv else None,
                    "vip_on_backup": vip_on_backup,
                    "backup_adverts_in_steady_state": backup_adverts_before,
                })
                r = result["runs"][-1]
                log(f"  run {run}: kill->GARP {r['kill_to_garp'] * 1000:.3f} ms, last advert->GARP "
                    f"{(r['last_advert_to_garp'] or 0) * 1000:.3f} ms, VIP on backup {vip_on_backup}")
            # The dead master's VIP stays on its interface; unplug it before the restart.
            sh("ip", "-n", m_ns, "addr", "del", f"{FAILOVER_VIP}/24", "dev", "eth0", check=False)
            time.sleep(0.2)
            master = None
    finally:
        if master:
            master.stop()
        backup.stop()
        mon.stop()
        for ns in (m_ns, b_ns):
            sh("ip", "-n", ns, "addr", "del", f"{FAILOVER_VIP}/24", "dev", "eth0", check=False)
    return result


def part_failover(ctx, a, out):
    lan = Lan(ctx.prefix, "f", 3)
    ctx.live.append(lan)
    rng = random.Random(1)
    pairs = [p.split(":") for p in a.pairs.split(",")]
    settings = [(2, 1), (3, 0.1), (3, 0.01)]
    out["failover"] = []
    for version, adv in settings:
        for mimpl, bimpl in pairs:
            out["failover"].append(failover_combo(ctx, lan, mimpl, bimpl, version, adv, a.runs, rng))
            save(a, out)
    lan.delete()
    ctx.live.remove(lan)


# --- part 2: memory -------------------------------------------------------------------------------


def lone_ns(ctx, name):
    """A namespace with veth eth0 (its peer in the same namespace): a master alone on a link."""
    ns = f"{ctx.prefix}{name}"
    sh("ip", "netns", "add", ns)
    sh("ip", "-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name", "peer0")
    sh("ip", "-n", ns, "link", "set", "lo", "up")
    sh("ip", "-n", ns, "addr", "add", f"{LAN_NET}.1/24", "dev", "eth0")
    sh("ip", "-n", ns, "link", "set", "peer0", "up")
    sh("ip", "-n", ns, "link", "set", "eth0", "up")
    return ns


def vip100(k):
    return f"10.77.1.{k}/32"


def part_memory(ctx, a, out):
    impls = ["kl"] + (["klm"] if ctx.keeplite_musl else []) + ["ka"]
    out["memory"] = []
    for rnd in range(a.mem_rounds):
        for n in (1, 100):
            for impl in impls:
                ns = lone_ns(ctx, f"m{impl}{n}")
                conf = ctx.write(f"mem-{impl}-{n}.conf",
                                 instance_conf(n, 2, 1, MASTER_PRIO, vip100))
                d = Daemon(ctx, impl, ns, conf, f"mem-{impl}-{n}-r{rnd}")
                try:
                    ok = wait_until(lambda: sum(1 for x in addresses(ns)
                                                if x.startswith("10.77.1.")) == n, 30, 0.1)
                    t_master = time.time()
                    time.sleep(a.steady)
                    row = {"impl": impl, "instances": n, "round": rnd, "all_master": ok,
                           "steady_s": round(time.time() - t_master, 1)}
                    row["vrrp"] = smaps_rollup(d.vrrp_pid)
                    if impl == "ka":
                        row["parent"] = smaps_rollup(d.pid)
                    row["vips_after"] = sum(1 for x in addresses(ns) if x.startswith("10.77.1."))
                    out["memory"].append(row)
                    log(f"memory {impl} n={n} round {rnd}: {row}")
                finally:
                    d.stop()
                    sh("ip", "netns", "del", ns, check=False)
                save(a, out)


# --- part 3: CPU ----------------------------------------------------------------------------------


def cpu_pair(ctx, a, impl, rnd):
    lan = Lan(ctx.prefix, f"c{impl}", 2)
    ctx.live.append(lan)
    m_ns, b_ns = lan.hosts
    m_conf = ctx.write(f"cpu-{impl}-master.conf", instance_conf(100, 3, 0.01, MASTER_PRIO, vip100))
    b_conf = ctx.write(f"cpu-{impl}-backup.conf", instance_conf(100, 3, 0.01, BACKUP_PRIO, vip100))
    backup = Daemon(ctx, impl, b_ns, b_conf, f"cpu-{impl}-backup-r{rnd}")
    master = Daemon(ctx, impl, m_ns, m_conf, f"cpu-{impl}-master-r{rnd}")
    vips = lambda ns: sum(1 for x in addresses(ns) if x.startswith("10.77.1."))
    row = {"impl": impl, "round": rnd}
    try:
        row["settled"] = wait_until(lambda: vips(m_ns) == 100 and vips(b_ns) == 0, 30, 0.1)
        time.sleep(3)
        procs = {"master": master.vrrp_pid, "backup": backup.vrrp_pid}
        if impl == "ka":
            procs["master_parent"] = master.pid
            procs["backup_parent"] = backup.pid
        offsets = {"master": master.log_offset(), "backup": backup.log_offset()}
        before = {k: cpu_ticks(p) for k, p in procs.items()}
        m_rx0, m_tx0 = link_stats(m_ns)
        b_rx0, b_tx0 = link_stats(b_ns)
        load0 = open("/proc/loadavg").read().split()[:3]
        t0 = time.monotonic()
        time.sleep(a.cpu_secs)
        wall = time.monotonic() - t0
        after = {k: cpu_ticks(p) for k, p in procs.items()}
        m_rx1, m_tx1 = link_stats(m_ns)
        b_rx1, b_tx1 = link_stats(b_ns)
        row.update({
            "wall_s": wall,
            "loadavg_before": load0,
            "loadavg_after": open("/proc/loadavg").read().split()[:3],
            "cpu": {k: {"user_s": (after[k][0] - before[k][0]) / CLK_TCK,
                        "sys_s": (after[k][1] - before[k][1]) / CLK_TCK} for k in procs},
            "master_tx_pps": (m_tx1 - m_tx0) / wall,
            "backup_tx_pps": (b_tx1 - b_tx0) / wall,
            "backup_rx_pps": (b_rx1 - b_rx0) / wall,
            "transitions": {"master": master.transitions(offsets["master"]),
                            "backup": backup.transitions(offsets["backup"])},
            "vips_end": {"master": vips(m_ns), "backup": vips(b_ns)},
            "alive_end": {"master": alive(master.vrrp_pid), "backup": alive(backup.vrrp_pid)},
        })
        log(f"cpu {impl} round {rnd}: {json.dumps(row)}")
    finally:
        master.stop()
        backup.stop()
        lan.delete()
        ctx.live.remove(lan)
    return row


def part_cpu(ctx, a, out):
    out["cpu"] = []
    for rnd in range(a.cpu_rounds):
        order = ["kl", "ka"] if rnd % 2 == 0 else ["ka", "kl"]
        for impl in order:
            out["cpu"].append(cpu_pair(ctx, a, impl, rnd))
            save(a, out)


# --- part 4: a stalled backup ---------------------------------------------------------------------


def part_stall(ctx, a, out):
    """The backup process is stopped (SIGSTOP) for a while and continued, the master advertising
    normally all along (VRRPv3, 10 ms). Its socket queues the master's adverts meanwhile, so a
    backup that reads them before acting on its expired Master_Down timer stays backup; one that
    fires the timer first takes over for a moment (advert + GARPs) and falls back. This is what a
    scheduling stall on a loaded machine looks like to the daemon."""
    lan = Lan(ctx.prefix, "s", 2)
    ctx.live.append(lan)
    m_ns, b_ns = lan.hosts
    out["stall"] = []
    try:
        for impl in ("kl", "ka"):
            for n in (1, 100):
                vip = vip100
                m_conf = ctx.write(f"stall-{impl}-{n}-master.conf",
                                   instance_conf(n, 3, 0.01, MASTER_PRIO, vip))
                b_conf = ctx.write(f"stall-{impl}-{n}-backup.conf",
                                   instance_conf(n, 3, 0.01, BACKUP_PRIO, vip))
                backup = Daemon(ctx, impl, b_ns, b_conf, f"stall-{impl}-{n}-backup")
                master = Daemon(ctx, impl, m_ns, m_conf, f"stall-{impl}-{n}-master")
                vips = lambda ns: sum(1 for x in addresses(ns) if x.startswith("10.77.1."))
                try:
                    settled = wait_until(lambda: vips(m_ns) == n and vips(b_ns) == 0, 30, 0.1)
                    time.sleep(2)
                    for stall in a.stalls:
                        for rep in range(3):
                            off = backup.log_offset()
                            _, tx0 = link_stats(b_ns)
                            os.kill(backup.vrrp_pid, signal.SIGSTOP)
                            time.sleep(stall)
                            os.kill(backup.vrrp_pid, signal.SIGCONT)
                            time.sleep(0.5)
                            _, tx1 = link_stats(b_ns)
                            row = {"impl": impl, "instances": n, "stall_s": stall, "rep": rep,
                                   "settled": settled,
                                   "backup_transitions": backup.transitions(off),
                                   "backup_tx_packets": tx1 - tx0}
                            out["stall"].append(row)
                            log(f"stall {row}")
                finally:
                    master.stop()
                    backup.stop()
                save(a, out)
    finally:
        lan.delete()
        ctx.live.remove(lan)


# --- run ------------------------------------------------------------------------------------------


def save(a, out):
    with open(a.out + ".tmp", "w") as f:
        json.dump(out, f, indent=1)
    os.replace(a.out + ".tmp", a.out)


def cmd_run(a):
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    become_subreaper()
    ctx = Ctx(a)
    out = {"started": time.time(), "params": vars(a)}
    parts = a.parts.split(",")
    try:
        if "failover" in parts:
            part_failover(ctx, a, out)
        if "memory" in parts:
            part_memory(ctx, a, out)
        if "cpu" in parts:
            part_cpu(ctx, a, out)
        if "stall" in parts:
            part_stall(ctx, a, out)
    finally:
        for lan in ctx.live:
            lan.delete()
        reap()
        out["finished"] = time.time()
        save(a, out)


# --- report ---------------------------------------------------------------------------------------


def ms(x, digits=3):
    return "—" if x is None else f"{x * 1000:.{digits}f} ms"


def sdiff_ms(x):
    return "—" if x is None else f"{x * 1000:+.3f} ms"


def mib(kib):
    return f"{kib / 1024:.2f} MiB"


def adv_name(version, adv):
    return f"VRRPv{version}, advert_int {adv * 1000:g} ms" if adv < 1 else \
        f"VRRPv{version}, advert_int {adv:g} s"


def pair_name(m, b):
    return f"{NAMES[m]} → {NAMES[b]}"


def med(xs):
    return statistics.median(xs) if xs else None


def cmd_report(a):
    res = json.load(open(a.results))
    meta = json.load(open(a.meta))
    p = print
    p(f"Reproduce: `{meta['command']}`")
    p()
    p(f"Machine: {meta['nproc']} CPU, {meta['cpu_model']}, Linux {meta['kernel']} "
      f"(load average before: {meta['load_before']}, after: {meta['load_after']}; other jobs were "
      f"running on the machine)  ")
    p(f"Tools: keeplite {meta['keeplite_version']} (commit {meta['commit']}, release build: "
      f"{meta['keeplite_desc']}), {meta['keepalived_version']} (Debian, `keepalived -n -l -P`), "
      f"{meta['tcpdump_version']}, {meta['rustc']}  ")
    p(f"Run: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(res['started']))}, "
      f"{(res.get('finished', res['started']) - res['started']) / 60:.1f} min")
    p()

    if res.get("failover"):
        fo = res["failover"]
        p("### Failover latency")
        p()
        p(f"Master priority {MASTER_PRIO}, backup priority {BACKUP_PRIO}; one instance, one VIP; "
          "the master is SIGKILLed at a random phase of its advert interval. Times are tcpdump's "
          "receive timestamps on a third host on the same bridge and the kill time from "
          "`time.time()` in the same script (one clock: CLOCK_REALTIME). "
          "\"GARP\" is the first gratuitous ARP for the VIP from the backup's MAC.")
        p()
        p("| adverts | master → backup | runs ok | RFC Master_Down_Interval | last advert → GARP, "
          "median | max | min | median − RFC | kill → GARP, median | max "
          "| last advert → backup's first advert, median | max | VIP on backup |")
        p("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for c in fo:
            la = [r["last_advert_to_garp"] for r in c["runs"] if r["last_advert_to_garp"]]
            kg = [r["kill_to_garp"] for r in c["runs"]]
            vip_ok = sum(1 for r in c["runs"] if r["vip_on_backup"])
            ba = [r["t_first_backup_advert"] - r["t_last_master_advert"] for r in c["runs"]
                  if r["t_first_backup_advert"] and r["t_last_master_advert"]]
            m = med(la)
            p(f"| {adv_name(c['version'], c['advert_int'])} | {pair_name(c['master'], c['backup'])} "
              f"| {len(c['runs'])}/{len(c['runs']) + len(c['failures'])} | {ms(c['rfc_mdi'])} "
              f"| {ms(m)} | {ms(max(la) if la else None)} | {ms(min(la) if la else None)} "
              f"| {sdiff_ms(m - c['rfc_mdi'] if m is not None else None)} "
              f"| {ms(med(kg))} | {ms(max(kg) if kg else None)} "
              f"| {ms(med(ba))} | {ms(max(ba) if ba else None)} | {vip_ok}/{len(c['runs'])} |")
        p()
        fails = [(c["key"], f) for c in fo for f in c["failures"]]
        if fails:
            p("Failed runs:")
            p()
            for key, f in fails:
                p(f"- {key} run {f['run']}: {f['what']} ({json.dumps(f)})")
            p()
        flap = [(c["key"], r["run"], r["backup_adverts_in_steady_state"]) for c in fo
                for r in c["runs"] if r["backup_adverts_in_steady_state"]]
        if flap:
            p("Adverts from the backup while the master was steady (should be none): " +
              ", ".join(f"{k} run {r}: {n}" for k, r, n in flap))
            p()

        # Targets.
        p("| target (failover) | adverts | keeplite | keepalived | met |")
        p("|---|---|---:|---:|---|")
        by = {(c["version"], c["advert_int"], c["master"], c["backup"]): c for c in fo}
        for version, adv in [(2, 1), (3, 0.1), (3, 0.01)]:
            for mk in ("kl", "ka"):
                c = by.get((version, adv, mk, "kl"))
                if not c:
                    continue
                la = [r["last_advert_to_garp"] for r in c["runs"] if r["last_advert_to_garp"]]
                if not la:
                    continue
                d = med(la) - c["rfc_mdi"]
                p(f"| median last advert → GARP within 1 ms of RFC ({pair_name(mk, 'kl')}) "
                  f"| {adv_name(version, adv)} | {sdiff_ms(d)} | — "
                  f"| {'yes' if abs(d) <= 0.001 else '**no**'} |")
            for mk in ("ka", "kl"):
                k = by.get((version, adv, mk, "kl"))
                kk = by.get((version, adv, mk if mk == "ka" else "ka", "ka"))
                if not k or not kk:
                    continue
                kl = [r["last_advert_to_garp"] for r in k["runs"] if r["last_advert_to_garp"]]
                ka = [r["last_advert_to_garp"] for r in kk["runs"] if r["last_advert_to_garp"]]
                if not kl or not ka:
                    continue
                met = med(kl) <= med(ka) and max(kl) <= max(ka)
                label = ("same keepalived master" if mk == "ka"
                         else "each with its own kind of master")
                p(f"| not slower than keepalived as backup, last advert → GARP median / max "
                  f"({label}) | {adv_name(version, adv)} | {ms(med(kl))} / {ms(max(kl))} "
                  f"| {ms(med(ka))} / {ms(max(ka))} | {'yes' if met else '**no**'} |")
        p()

    if res.get("memory"):
        mem = res["memory"]
        p("### Memory")
        p()
        p("One daemon alone on a veth link, master of every instance (VRRPv2, advert_int 1 s, "
          "VRIDs 1..N on eth0, one /32 VIP each), measured after "
          f"{res['params']['steady']:g} s of steady state as master; "
          "from /proc/PID/smaps_rollup (PSS shares each page among all processes mapping it, "
          "machine-wide). Median over rounds; the range is shown when rounds differ.")
        p()
        p("| daemon | instances | RSS | PSS | private (USS) | rounds |")
        p("|---|---:|---:|---:|---:|---:|")
        def rows(impl, n, which):
            out = []
            for r in mem:
                if r["impl"] == impl and r["instances"] == n:
                    if which == "vrrp":
                        out.append(r["vrrp"])
                    elif which == "parent":
                        out.append(r["parent"])
                    else:
                        out.append({k: r["vrrp"][k] + r["parent"][k] for k in r["vrrp"]})
            return out

        def cell(xs, key):
            vals = [x[key] for x in xs]
            s = mib(med(vals))
            if min(vals) != max(vals):
                s += f" ({mib(min(vals))}–{mib(max(vals))})"
            return s

        impls = [i for i in ("kl", "klm", "ka") if any(r["impl"] == i for r in mem)]
        summary = {}
        for n in (1, 100):
            for impl in impls:
                parts = [("vrrp", NAMES[impl] + (" VRRP child" if impl == "ka" else ""))]
                if impl == "ka":
                    parts += [("parent", "keepalived parent"),
                              ("total", "keepalived total (parent + child)")]
                for which, label in parts:
                    xs = rows(impl, n, which)
                    if not xs:
                        continue
                    summary[(impl, n, which)] = xs
                    p(f"| {label} | {n} | {cell(xs, 'rss_kib')} | {cell(xs, 'pss_kib')} "
                      f"| {cell(xs, 'uss_kib')} | {len(xs)} |")
        notmaster = [r for r in mem if not r["all_master"] or r["vips_after"] != r["instances"]]
        if notmaster:
            p()
            p("Not master of every instance when measured: " + ", ".join(
                f"{r['impl']} n={r['instances']} round {r['round']} ({r['vips_after']} VIPs)"
                for r in notmaster))
        p()
        p("| target (memory) | instances | keeplite / keepalived VRRP child, RSS | PSS | met (≤ 0.25) |")
        p("|---|---:|---:|---:|---|")
        for impl in [i for i in impls if i != "ka"]:
            for n in (1, 100):
                k = summary.get((impl, n, "vrrp"))
                c = summary.get(("ka", n, "vrrp"))
                t = summary.get(("ka", n, "total"))
                if not k or not c:
                    continue
                rr = med([x["rss_kib"] for x in k]) / med([x["rss_kib"] for x in c])
                rp = med([x["pss_kib"] for x in k]) / med([x["pss_kib"] for x in c])
                met = rr <= 0.25 and rp <= 0.25
                p(f"| {NAMES[impl]} ≤ 1/4 of keepalived's VRRP child | {n} | {rr:.3f} | {rp:.3f} "
                  f"| {'yes' if met else '**no**'} |")
                if t:
                    tr = med([x["rss_kib"] for x in k]) / med([x["rss_kib"] for x in t])
                    tp = med([x["pss_kib"] for x in k]) / med([x["pss_kib"] for x in t])
                    p(f"| {NAMES[impl]} / keepalived total (info) | {n} | {tr:.3f} | {tp:.3f} | — |")
        p()

    if res.get("cpu"):
        cpu = res["cpu"]
        p("### CPU")
        p()
        p(f"100 instances (VRIDs 1..100 on eth0, one /32 VIP each), VRRPv3, advert_int 10 ms; a "
          f"master (priority {MASTER_PRIO}) and a backup (priority {BACKUP_PRIO}) of the same "
          f"implementation on one bridge, no monitor; user+sys CPU seconds from /proc/PID/stat "
          f"(utime+stime, {CLK_TCK} ticks/s) over {res['params']['cpu_secs']:g} s of steady state; "
          "the two pairs run one after the other, never at the same time; packet rates from the "
          "interfaces' counters. For keepalived the figures are its VRRP child; its parent is "
          "listed apart.")
        p()
        p("| pair | round | master CPU s (user + sys) | backup CPU s (user + sys) | master tx pkt/s "
          "(nominal 10,000) | master CPU µs / advert sent | backup rx pkt/s | backup tx pkt/s "
          "| \"Entering … STATE\" log lines in window (M/B) | VIPs at end (M/B) "
          "| load avg before → after |")
        p("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
        for r in cpu:
            if "cpu" not in r:
                p(f"| {NAMES[r['impl']]} | {r['round']} | (failed: {json.dumps(r)}) |||||||")
                continue
            c = r["cpu"]
            f = lambda k: (f"{c[k]['user_s'] + c[k]['sys_s']:.2f} "
                           f"({c[k]['user_s']:.2f} + {c[k]['sys_s']:.2f})")
            p(f"| {NAMES[r['impl']]} pair | {r['round']} | {f('master')} | {f('backup')} "
              f"| {r['master_tx_pps']:.0f} "
              f"| {(c['master']['user_s'] + c['master']['sys_s']) * 1e6 / (r['master_tx_pps'] * r['wall_s']):.1f} "
              f"| {r['backup_rx_pps']:.0f} | {r['backup_tx_pps']:.0f} "
              f"| {r['transitions']['master']}/{r['transitions']['backup']} "
              f"| {r['vips_end']['master']}/{r['vips_end']['backup']} "
              f"| {' '.join(r['loadavg_before'])} → {' '.join(r['loadavg_after'])} |")
        parents = [r for r in cpu if r["impl"] == "ka" and "cpu" in r]
        if parents:
            pm = [r["cpu"]["master_parent"]["user_s"] + r["cpu"]["master_parent"]["sys_s"]
                  for r in parents]
            pb = [r["cpu"]["backup_parent"]["user_s"] + r["cpu"]["backup_parent"]["sys_s"]
                  for r in parents]
            p()
            p(f"keepalived parents over the same windows: master side {', '.join(f'{x:.2f}' for x in pm)} s, "
              f"backup side {', '.join(f'{x:.2f}' for x in pb)} s.")
        p()
        tot = lambda r, k: r["cpu"][k]["user_s"] + r["cpu"][k]["sys_s"]
        p("| target (CPU) | role | keeplite, median (range) | keepalived, median (range) "
          "| keeplite / keepalived | met |")
        p("|---|---|---:|---:|---:|---|")
        for role in ("master", "backup"):
            kl = [tot(r, role) for r in cpu if r["impl"] == "kl" and "cpu" in r]
            ka = [tot(r, role) for r in cpu if r["impl"] == "ka" and "cpu" in r]
            if not kl or not ka:
                continue
            rng_ = lambda xs: f"{med(xs):.2f} s ({min(xs):.2f}–{max(xs):.2f})"
            met = max(kl) < min(ka)
            p(f"| below keepalived's | {role} | {rng_(kl)} | {rng_(ka)} "
              f"| {med(kl) / med(ka):.2f} | {'yes' if met else ('**no**' if med(kl) >= med(ka) else 'median yes, ranges overlap')} |")
        p()
    report_stall(res, p)


def report_stall(res, p):
    st = res.get("stall")
    if not st:
        return
    p("### Backup stalled (robustness, not an issue target)")
    p()
    p("VRRPv3, advert_int 10 ms, a master and a backup of the same implementation; the backup "
      "process is stopped with SIGSTOP for the given time and continued (3 times each), the master "
      "advertising normally all along. Counted over the stall plus 0.5 s: the backup's \"Entering "
      "… STATE\" log lines and the packets it sent. Zero means the adverts queued on its socket "
      "kept it backup; anything else is a spurious takeover (advert + GARPs) and a fall-back.")
    p()
    p("| daemon | instances | stall | state log lines (3 stalls) | packets sent by the backup (3 stalls) |")
    p("|---|---:|---:|---|---|")
    keys = []
    for r in st:
        k = (r["impl"], r["instances"], r["stall_s"])
        if k not in keys:
            keys.append(k)
    for impl, n, stall in keys:
        rs = [r for r in st if (r["impl"], r["instances"], r["stall_s"]) == (impl, n, stall)]
        p(f"| {NAMES[impl]} | {n} | {stall * 1000:g} ms "
          f"| {', '.join(str(r['backup_transitions']) for r in rs)} "
          f"| {', '.join(str(r['backup_tx_packets']) for r in rs)} |")
    p()


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--work", required=True)
    r.add_argument("--prefix", required=True)
    r.add_argument("--keeplite", required=True)
    r.add_argument("--keeplite-musl", default="")
    r.add_argument("--keepalived", required=True)
    r.add_argument("--out", required=True)
    r.add_argument("--parts", default="failover,memory,cpu,stall")
    r.add_argument("--stalls", type=lambda t: [float(x) for x in t.split(",")],
                   default=[0.05, 0.1, 0.3, 1.0], help="backup stall lengths in seconds (part stall)")
    r.add_argument("--pairs", default="kl:kl,ka:ka,ka:kl,kl:ka",
                   help="master:backup pairs for the failover part (kl keeplite, ka keepalived)")
    r.add_argument("--runs", type=int, default=10)
    r.add_argument("--steady", type=float, default=10)
    r.add_argument("--mem-rounds", type=int, default=2)
    r.add_argument("--cpu-secs", type=float, default=60)
    r.add_argument("--cpu-rounds", type=int, default=3)
    q = sub.add_parser("report")
    q.add_argument("--results", required=True)
    q.add_argument("--meta", required=True)
    a = ap.parse_args()
    if a.cmd == "run":
        cmd_run(a)
    else:
        cmd_report(a)


if __name__ == "__main__":
    main()
