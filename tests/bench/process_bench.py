#!/usr/bin/env python3
"""Process-model benchmark helper for tests/bench/process_bench.sh: keeplite's watchdog and its
children side by side with keepalived's.

Two sub-commands:

  restart  part 2, on the host: VRRP child restart. For each daemon (keeplite, keepalived) and each
           advert setting, RUNS independent LANs (a bridge with a master, a backup and a tcpdump
           monitor, as in vrrp_bench.py, whose Lan and Monitor this reuses) run side by side; on
           each LAN the master's VRRP child (its -r pid file) is SIGKILLed once after it ran more
           than LONG s (keepalived's and keeplite's rule: restart at once) and once more SHORT s
           after its successor started (restart after a back-off). The monitor's timestamps give
           kill -> first advert of the new child and the longest gap between the master's
           adverts; the backup must send nothing (no advert, no GARP) all along.
  report   turns the guest's console (parts 1 and 3, tests/bench/process_bench_guest.sh) and
           the restart JSON into Markdown.

Standard library only. Needs root, iproute2 (`ip netns`), tcpdump, keeplite and keepalived.
Every process this script starts is written to WORK/pids (one pid a line) so the shell script's
trap can end exactly those if this script dies; namespaces all start with the given prefix.
"""

import argparse
import json
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vrrp_bench import (  # noqa: E402  (the path above first)
    FAILOVER_VIP, LAN_NET, Lan, Monitor, addresses, instance_conf, sh, wait_until)

MASTER_PRIO = 150
BACKUP_PRIO = 100
NAMES = {"kl": "keeplite", "ka": "keepalived"}
CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(*a):
    print("[process_bench]", *a, file=sys.stderr, flush=True)


def on_signal(signum, _frame):
    raise KeyboardInterrupt(f"signal {signum}")


def uptime():
    with open("/proc/uptime") as f:
        return float(f.read().split()[0])


def proc_stat(pid):
    """(ppid, starttime in s since boot) from /proc/PID/stat, or None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            rest = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    if rest[0] == "Z":
        return None
    return int(rest[1]), int(rest[19]) / CLK_TCK


class Ctx:
    def __init__(self, a):
        self.work, self.prefix = a.work, a.prefix
        self.keeplite, self.keepalived = a.keeplite, a.keepalived
        self.pids_path = os.path.join(a.work, "pids")

    def record_pid(self, pid):
        with open(self.pids_path, "a") as f:
            f.write(f"{pid}\n")

    def write(self, name, text):
        path = os.path.join(self.work, name)
        with open(path, "w") as f:
            f.write(text)
        return path


class Daemon:
    """keeplite or keepalived (-P: the watchdog parent and its VRRP child) in a namespace."""

    def __init__(self, ctx, impl, ns, conf, tag):
        self.ctx, self.impl, self.ns, self.tag = ctx, impl, ns, tag
        self.log_path = os.path.join(ctx.work, f"{tag}.log")
        base = os.path.join(ctx.work, tag)
        self.vrrp_pid_file = base + ".vrrp.pid"
        for ext in (".pid", ".vrrp.pid"):
            try:
                os.unlink(base + ext)
            except FileNotFoundError:
                pass
        if impl == "kl":
            argv = [ctx.keeplite, "-f", conf, "-n", "-l", "-G", "-P", "-p", base + ".pid",
                    "-r", self.vrrp_pid_file, "--control", base + ".sock"]
        else:
            argv = [ctx.keepalived, "-n", "-l", "-P", "-f", conf, "-p", base + ".pid",
                    "-r", self.vrrp_pid_file]
        self.logf = open(self.log_path, "a")
        self.logf.write(f"=== {time.time():.6f} start {' '.join(argv)}\n")
        self.logf.flush()
        # `ip netns exec` execs the program: the Popen pid is the watchdog's.
        self.proc = subprocess.Popen(["ip", "netns", "exec", ns] + argv, stdin=subprocess.DEVNULL,
                                     stdout=self.logf, stderr=subprocess.STDOUT)
        self.pid = self.proc.pid
        ctx.record_pid(self.pid)
        self.vrrp_pid = self.wait_child(None, 10)
        if self.vrrp_pid is None:
            raise RuntimeError(f"{impl} {tag}: no VRRP child after 10 s ({self.log_path})")

    def wait_child(self, old, timeout):
        """The VRRP child named by the pid file, a child of the watchdog other than `old`."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                pid = int(open(self.vrrp_pid_file).read().split()[0])
                st = proc_stat(pid)
                if pid != old and st and st[0] == self.pid:
                    self.ctx.record_pid(pid)
                    return pid
            except (OSError, ValueError, IndexError):
                pass
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.impl} {self.tag} exited: see {self.log_path}")
            time.sleep(0.002)
        return None

    def child_age(self):
        st = proc_stat(self.vrrp_pid)
        return uptime() - st[1] if st else None

    def new_child_of_parent(self, old):
        """Any child of the watchdog other than `old` (before it writes its pid file)."""
        try:
            with open(f"/proc/{self.pid}/task/{self.pid}/children") as f:
                kids = [int(x) for x in f.read().split()]
        except OSError:
            kids = [int(d) for d in os.listdir("/proc")
                    if d.isdigit() and (proc_stat(d) or (0,))[0] == self.pid]
        for pid in kids:
            if pid != old and proc_stat(pid):
                return pid
        return None

    def mark(self, what):
        self.logf.write(f"=== {time.time():.6f} {what}\n")
        self.logf.flush()

    def stop(self):
        if self.proc.poll() is None:
            try:
                os.kill(self.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                for p in (self.vrrp_pid, self.pid):
                    try:
                        os.kill(p, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                self.proc.wait(timeout=5)
        if not self.logf.closed:
            self.logf.close()

    def log_text(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()


class Setup:
    """One LAN: monitor, master, backup."""

    def __init__(self, ctx, impl, version, adv, i):
        self.impl, self.version, self.adv, self.i = impl, version, adv, i
        tag = f"r-{impl}-v{version}-{i}"
        self.tag = tag
        self.lan = Lan(ctx.prefix, f"{impl}{version}{i}", 3)
        m_ns, b_ns, mon_ns = self.lan.hosts
        self.m_ns, self.b_ns = m_ns, b_ns
        self.m_mac, self.b_mac = self.lan.macs[0], self.lan.macs[1]
        self.m_ip = f"{LAN_NET}.1"
        vip = lambda _k: f"{FAILOVER_VIP}/24"
        m_conf = ctx.write(f"{tag}-master.conf", instance_conf(1, version, adv, MASTER_PRIO, vip))
        b_conf = ctx.write(f"{tag}-backup.conf", instance_conf(1, version, adv, BACKUP_PRIO, vip))
        self.mon = Monitor(ctx, mon_ns, tag)
        self.master = Daemon(ctx, impl, m_ns, m_conf, f"{tag}-master")
        self.m_conf, self.b_conf, self.ctx = m_conf, b_conf, ctx
        self.backup = None
        self.kills = []
        self.t_backup = None

    def start_backup(self):
        self.backup = Daemon(self.ctx, self.impl, self.b_ns, self.b_conf, f"{self.tag}-backup")
        self.t_backup = time.time()

    def kill(self, series):
        """SIGKILLs the master's VRRP child; waits for its successor and its first advert."""
        d, mon, adv = self.master, self.mon, self.adv
        old = d.vrrp_pid
        age = d.child_age()
        log_offset = os.path.getsize(d.log_path)
        d.mark(f"SIGKILL VRRP child {old} ({series})")
        t_kill = time.time()
        os.kill(old, signal.SIGKILL)
        # The new child: first as a child of the watchdog (forked), then by its pid file.
        t_fork = None
        deadline = t_kill + 30
        while time.time() < deadline and t_fork is None:
            if d.new_child_of_parent(old):
                t_fork = time.time()
            else:
                time.sleep(0.001)
        new = d.wait_child(old, max(0.1, deadline - time.time()))
        t_pid = time.time() if new else None
        first = mon.wait_for(lambda e: e[0] > t_kill and e[1] == "advert" and e[2] == self.m_mac,
                             10 + 5 * adv)
        if new:
            d.vrrp_pid = new
        run = {"series": series, "age_s": age, "t_kill": t_kill, "old_pid": old, "new_pid": new,
               "kill_to_fork": (t_fork - t_kill) if t_fork else None,
               "kill_to_pidfile": (t_pid - t_kill) if t_pid else None,
               "kill_to_first_advert": (first[0] - t_kill) if first else None,
               "first_advert_prio": first[5] if first else None,
               "log_offset": log_offset}
        self.kills.append(run)
        log(f"  {self.tag} {series}: child age {age:.1f} s, kill -> fork "
            f"{ms(run['kill_to_fork'])}, -> pid file {ms(run['kill_to_pidfile'])}, -> first advert "
            f"{ms(run['kill_to_first_advert'])}")
        return run

    def analyse(self, observe_after):
        """Per kill: the longest gap between the master's adverts around it, the master's GARPs
        after it; for the LAN: anything the backup sent."""
        evs = self.mon.snapshot()
        adv = self.adv
        m_adverts = [e[0] for e in evs if e[1] == "advert" and e[2] == self.m_mac]
        for k in self.kills:
            t0, t1 = k["t_kill"] - 5 * adv - 1, k["t_kill"] + observe_after
            ts = [t for t in m_adverts if t0 <= t <= t1]
            gaps = [b - a for a, b in zip(ts, ts[1:])]
            k["max_gap"] = max(gaps) if gaps else None
            k["missed"] = (k["max_gap"] / adv - 1) if gaps else None
            k["master_garps_after"] = sum(
                1 for e in evs if e[1] == "arp" and e[2] == self.m_mac and e[3] == FAILOVER_VIP
                and k["t_kill"] < e[0] <= t1)
            k["master_prio_after"] = sorted({e[5] for e in evs if e[1] == "advert"
                                             and e[2] == self.m_mac and k["t_kill"] < e[0] <= t1})
            # The backup after this kill: anything it sends is a takeover (a flap).
            k["backup_adverts"] = sum(1 for e in evs if e[1] == "advert" and e[2] == self.b_mac
                                      and k["t_kill"] < e[0] <= t1)
            k["backup_garps"] = sum(1 for e in evs if e[1] == "arp" and e[2] == self.b_mac
                                    and e[3] == FAILOVER_VIP and k["t_kill"] < e[0] <= t1)
            text = self.master.log_text()[k["log_offset"]:]
            # Up to the next kill's marker.
            cut = text.find("\n=== ", text.find("SIGKILL"))
            text = text if cut < 0 else text[:cut]
            k["master_log_states"] = [line.strip() for line in text.splitlines()
                                      if "Entering" in line or "resum" in line.lower()][:6]
        # The backup outside the kills' windows (steady state): must be silent too.
        t_b = self.t_backup or 0
        quiet = lambda e: e[0] >= t_b and not any(
            k["t_kill"] < e[0] <= k["t_kill"] + observe_after for k in self.kills)
        b_adverts = [e for e in evs if e[1] == "advert" and e[2] == self.b_mac and quiet(e)]
        b_garps = [e for e in evs if e[1] == "arp" and e[2] == self.b_mac and e[3] == FAILOVER_VIP
                   and quiet(e)]
        return {"lan": self.i, "backup_adverts": len(b_adverts), "backup_garps": len(b_garps),
                "backup_first_sent": min([e[0] for e in b_adverts + b_garps], default=None),
                "vip_on_master_end": FAILOVER_VIP in addresses(self.m_ns),
                "vip_on_backup_end": FAILOVER_VIP in addresses(self.b_ns),
                "master_adverts": len(m_adverts),
                "backup_log_states": [line.strip() for line in
                                      (self.backup.log_text() if self.backup else "").splitlines()
                                      if "Entering" in line][:6],
                "kills": self.kills}

    def stop(self):
        for d in (self.backup, self.master):
            if d:
                d.stop()
        self.mon.stop()
        for ns in (self.m_ns, self.b_ns):
            sh("ip", "-n", ns, "addr", "del", f"{FAILOVER_VIP}/24", "dev", "eth0", check=False)
        self.lan.delete()


def ms(x):
    return "-" if x is None else f"{x * 1000:.1f} ms"


def series(ctx, a, impl, settings, rng):
    """Every LAN of one daemon at once (each setting × RUNS), kills staggered one by one."""
    setups = []
    try:
        for version, adv in settings:
            for i in range(a.runs):
                setups.append(Setup(ctx, impl, version, adv, i))
        # The master alone first, so that it is the master; then the backup.
        for s in setups:
            ok = wait_until(lambda: FAILOVER_VIP in addresses(s.m_ns), 20, 0.05)
            if not ok:
                raise RuntimeError(f"{s.tag}: the master never took the VIP")
        for s in setups:
            s.start_backup()
        log(f"{NAMES[impl]}: {len(setups)} LANs up; waiting until every master's VRRP child ran "
            f"{a.long:g} s")
        order = list(setups)
        for name, wait_s in (("long", a.long), ("short", a.short)):
            for s in order:
                age = s.master.child_age() or 0
                if age < wait_s:
                    time.sleep(wait_s - age)
                # A random phase of the advert interval.
                time.sleep(rng.uniform(0, s.adv) + a.stagger)
                s.kill(name)
        time.sleep(a.observe)
        return [dict(s.analyse(a.observe), impl=impl, version=s.version, advert_int=s.adv)
                for s in setups]
    finally:
        for s in setups:
            s.stop()


def cmd_restart(a):
    signal.signal(signal.SIGTERM, on_signal)
    ctx = Ctx(a)
    rng = random.Random(1)
    settings = [(int(v), float(x)) for v, x in (s.split(":") for s in a.settings.split(","))]
    out = {"started": time.time(), "params": vars(a).copy(), "lans": []}
    for impl in a.impls.split(","):
        out["lans"] += series(ctx, a, impl, settings, rng)
        with open(a.out, "w") as f:
            json.dump(out, f, indent=1)
    out["finished"] = time.time()
    with open(a.out, "w") as f:
        json.dump(out, f, indent=1)


# --- report ---------------------------------------------------------------------------------------


def med(xs):
    return statistics.median(xs) if xs else None


def kib(x):
    return "-" if x is None else f"{x:,.0f}"


def mib(x):
    return "-" if x is None else f"{x / 1024:.2f}"


def parse_console(path):
    mem, chk, ipvs, notes = [], [], [], []
    for line in open(path, errors="replace"):
        f = line.split()
        if not f:
            continue
        if f[0] == "MEM" and len(f) == 10:
            mem.append({"daemon": f[1], "round": int(f[2]), "role": f[3], "pid": int(f[4]),
                        "rss": int(f[5]), "pss": int(f[6]), "uss": int(f[7]),
                        # VmRSS is anonymous + file + shmem; the guest's root is a RAM file
                        # system, so the binary's and libraries' pages count as shmem there.
                        "anon": int(f[8]), "file": int(f[5]) - int(f[8])})
        elif f[0] == "CHK" and len(f) == 9:
            chk.append({"daemon": f[1], "kill": int(f[2]), "age": float(f[3]),
                        "reaped": float(f[4]), "fork": float(f[5]), "ready": float(f[6]),
                        "old": int(f[7]), "new": int(f[8])})
        elif f[0] == "IPVS" and len(f) == 6:
            ipvs.append({"daemon": f[1], "samples": int(f[2]), "changed": int(f[3]),
                         "min": int(f[4]), "max": int(f[5])})
        elif f[0] in ("NOTE:", "STATE") or line.startswith("reference:"):
            notes.append(line.rstrip())
    return mem, chk, ipvs, notes


def report_memory(p, mem, meta):
    p("### 1. Memory: the three processes on examples/keepalived.conf")
    p()
    p("In the IPVS VM (Debian's kernel under qemu TCG, "
      f"{meta.get('vm', '')}), one boot: keeplite (static musl release build, `keeplite -f "
      "keepalived.conf -n -l -G -p -r -c --control`), then keepalived 2.2.7 (Debian's, "
      "`keepalived -n -l -f keepalived.conf -p -r -c`), each alone, on examples/keepalived.conf as "
      "it is: br-lan and wan are veth links, the real servers' addresses are on br-lan and one "
      "busybox httpd answers their checks, so both VRRP instances are master (VIPs up) and both "
      "real servers are in the IPVS table when measured. Figures from /proc/PID/smaps_rollup "
      f"after {meta.get('steady', '?')} s of steady state, median of {meta.get('rounds', '?')} "
      "readings a steady period apart (KiB). The children are forked, not exec'ed, by both "
      "daemons: PSS shares the pages a child still has in common with its parent (the binary's "
      "text, untouched heap) between them, so PSS adds up and RSS does not. RSS anonymous: "
      "RssAnon of /proc/PID/status (heap, stacks, data); file-backed: RSS − RssAnon (the "
      "binary's and libraries' pages; the guest's root is a RAM file system, so the kernel "
      "counts them as RssShmem).")
    p()
    p("| daemon | process | RSS | PSS | private (USS) | RSS anonymous | RSS file-backed |")
    p("|---|---|---:|---:|---:|---:|---:|")
    fig = {}
    keys = ("rss", "pss", "uss", "anon", "file")
    for daemon in ("keeplite", "keepalived"):
        tot = {k: 0 for k in keys}
        for role in ("parent", "vrrp", "check"):
            rows = [m for m in mem if m["daemon"] == daemon and m["role"] == role]
            if not rows:
                continue
            v = {k: med([r[k] for r in rows]) for k in keys}
            fig[(daemon, role)] = v
            for k in tot:
                tot[k] += v[k]
            label = {"parent": "parent (watchdog)", "vrrp": "VRRP child",
                     "check": "checker child"}[role]
            p(f"| {daemon} | {label} | {kib(v['rss'])} | {kib(v['pss'])} | {kib(v['uss'])} "
              f"| {kib(v['anon'])} | {kib(v['file'])} |")
        fig[(daemon, "total")] = tot
        p(f"| **{daemon}** | **total** | **{kib(tot['rss'])}** | **{kib(tot['pss'])}** "
          f"| **{kib(tot['uss'])}** | {kib(tot['anon'])} | {kib(tot['file'])} |")
    p()
    kl, ka = fig.get(("keeplite", "total")), fig.get(("keepalived", "total"))
    klv, kav = fig.get(("keeplite", "vrrp")), fig.get(("keepalived", "vrrp"))
    p("| target / comparison | keeplite | keepalived | ratio | met |")
    p("|---|---:|---:|---:|---|")
    if kl and kl["pss"]:
        met = kl["pss"] <= 1024
        p(f"| total PSS ≤ 1 MiB (packaging issue) | {kib(kl['pss'])} KiB ({mib(kl['pss'])} MiB) "
          f"| {kib(ka['pss']) if ka else '-'} KiB | — | {'yes' if met else '**no**'} |")
    if kl and ka and ka["pss"]:
        p(f"| total PSS, keeplite / keepalived (info) | {kib(kl['pss'])} | {kib(ka['pss'])} "
          f"| {kl['pss'] / ka['pss']:.3f} | — |")
        p(f"| total RSS, keeplite / keepalived (info) | {kib(kl['rss'])} | {kib(ka['rss'])} "
          f"| {kl['rss'] / ka['rss']:.3f} | — |")
    if klv and kav and kav["rss"]:
        r = klv["rss"] / kav["rss"]
        p(f"| VRRP process RSS ≤ 1/4 of keepalived's VRRP child (VRRP issue) | {kib(klv['rss'])} "
          f"| {kib(kav['rss'])} | {r:.3f} | {'yes' if r <= 0.25 else '**no**'} |")
        r = klv["pss"] / kav["pss"]
        p(f"| VRRP child PSS, keeplite / keepalived (info) | {kib(klv['pss'])} "
          f"| {kib(kav['pss'])} | {r:.3f} | — |")
    kc, kac = fig.get(("keeplite", "check")), fig.get(("keepalived", "check"))
    if kc and kac and kac["rss"]:
        p(f"| checker child RSS, keeplite / keepalived (info) | {kib(kc['rss'])} "
          f"| {kib(kac['rss'])} | {kc['rss'] / kac['rss']:.3f} | — |")
    p()


def report_checker(p, chk, ipvs):
    p("### 3. Checker child restart (IPVS VM, same boot)")
    p()
    p("The checker child is SIGKILLed twice: once after it ran more than a minute (both daemons "
      "then restart at once), once more a little later (it ran less than a minute: both "
      "restart at once again, their back-off after a stable run being 0, 1, 2, 4 … s). Times are "
      "CLOCK_MONOTONIC in a small C helper polling /proc in the guest; each is the start of the "
      "polling round that saw the change, and under TCG one round (a scan of /proc) takes up to "
      "~50 ms: that is the resolution, and why \"reaped\" can show later than \"forked\": kill → the old child is reaped, → a new child of the parent exists (fork), → "
      "the new child wrote its `-c` pid file (it runs). Meanwhile `ipvsadm -Ln` (addresses, "
      "forwarding, weights; counters left out) is sampled every 100 ms from before the first "
      "kill until 5 s after the second and compared to the sample before the first kill. "
      "TCG: the guest runs several times slower than real hardware.")
    p()
    p("| daemon | kill | child ran | kill → reaped | kill → new child forked "
      "| kill → new child's pid file |")
    p("|---|---:|---:|---:|---:|---:|")
    for c in chk:
        f = lambda x: "never" if x < 0 else f"{x:.1f} ms"
        p(f"| {c['daemon']} | {c['kill']} | {c['age']:.1f} s | {f(c['reaped'])} | {f(c['fork'])} "
          f"| {f(c['ready'])} |")
    p()
    p("| daemon | IPVS samples | samples differing from before the kills | real servers in the "
      "table, min / max | met (table unchanged, no real server removed) |")
    p("|---|---:|---:|---:|---|")
    for s in ipvs:
        met = s["changed"] == 0 and s["min"] == s["max"]
        p(f"| {s['daemon']} | {s['samples']} | {s['changed']} | {s['min']} / {s['max']} "
          f"| {'yes' if met else '**no**'} |")
    p()


def report_restart(p, res):
    lans = res["lans"]
    prm = res["params"]
    p("### 2. VRRP child restart (host, network namespaces)")
    p()
    p(f"On each of {prm['runs']} LANs per setting (a bridge in its own namespace; master priority "
      f"{MASTER_PRIO}, backup priority {BACKUP_PRIO}, a third host running tcpdump), all LANs of "
      "one daemon side by side and the kills one LAN at a time, the master's VRRP child (pid from "
      "`-r FILE`) is SIGKILLed (the watchdog parent stays) at a random phase of its advert "
      f"interval: series **long** after the child ran > {prm['long']:g} s (restart at once), "
      f"series **short** {prm['short']:g} s after its successor started (both restart at "
      "once again: their back-off sequence after a stable run is 0, 1, 2, 4 … s, keepalived's "
      "calc_restart_delay and keeplite's watchdog alike). Kill → fork: a new child of the watchdog exists; → pid file: it wrote its pid; "
      "→ first advert: the monitor saw the next advert from the master's MAC. Gap: the longest "
      "interval between two adverts of the master from 5 advert intervals before the kill to "
      f"{prm['observe']:g} s after it; missed = gap / advert_int − 1. The backup must send "
      "nothing at any time (no advert, no GARP for the VIP). keeplite: `keeplite -f FILE -n -l "
      "-G -P -p -r --control`; keepalived: `keepalived -n -l -P -f FILE -p -r`.")
    p()
    p("| daemon | adverts | series | runs | child ran, median | kill → fork, median / max "
      "| kill → pid file, median / max | kill → first advert, median / max "
      "| longest gap, median / max | missed adverts, median / max | backup adverts + GARPs "
      "after the kill (runs with any) | master GARPs after the kill (runs with any) "
      "| VIP on master at end |")
    p("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    summary = {}
    keys = []
    for lan in lans:
        for k in lan["kills"]:
            key = (lan["impl"], lan["version"], lan["advert_int"], k["series"])
            if key not in keys:
                keys.append(key)
    for key in keys:
        impl, version, adv, ser = key
        sel = [lan for lan in lans if (lan["impl"], lan["version"], lan["advert_int"]) == key[:3]]
        ks = [k for lan in sel for k in lan["kills"] if k["series"] == ser]
        col = lambda name: [k[name] for k in ks if k[name] is not None]
        mm = lambda xs, f=lambda x: f"{x * 1000:.0f} ms": (
            f"{f(med(xs))} / {f(max(xs))}" if xs else "-")
        missed = col("missed")
        backup_sent = sum(k["backup_adverts"] + k["backup_garps"] for k in ks)
        backup_runs = sum(1 for k in ks if k["backup_adverts"] + k["backup_garps"])
        garps = sum(1 for k in ks if k["master_garps_after"])
        vip = sum(1 for lan in sel if lan["vip_on_master_end"] and not lan["vip_on_backup_end"])
        adv_name = (f"VRRPv{version}, {adv:g} s" if adv >= 1 else f"VRRPv{version}, {adv * 1000:g} ms")
        no_adv = len(ks) - len(col("kill_to_first_advert"))
        p(f"| {NAMES[impl]} | {adv_name} | {ser} | {len(ks)} | {med(col('age_s')):.1f} s "
          f"| {mm(col('kill_to_fork'))} | {mm(col('kill_to_pidfile'))} "
          f"| {mm(col('kill_to_first_advert'))}{f' ({no_adv} never)' if no_adv else ''} "
          f"| {mm(col('max_gap'))} | {mm(missed, lambda x: f'{x:.2f}')} "
          f"| {backup_sent} ({backup_runs}/{len(ks)}){' **flap**' if backup_sent else ''} "
          f"| {garps}/{len(ks)} "
          f"| {vip}/{len(sel)} |")
        summary[key] = {"missed": missed, "backup": backup_sent, "first": col("kill_to_first_advert"),
                        "n": len(ks)}
    p()
    # Targets. After a run of more than a minute both daemons restart at once: no flap, and the
    # resumed master should not miss an advert. The short series (the second death within a
    # minute restarts at once too, the next would wait 1 s) is shown, not judged.
    p("| target (VRRP child restart) | adverts | series | keeplite | keepalived | met (keeplite) |")
    p("|---|---|---|---|---|---|")
    for (impl, version, adv, ser) in keys:
        if impl != "kl":
            continue
        k = summary[(impl, version, adv, ser)]
        o = summary.get(("ka", version, adv, ser))
        adv_name = (f"VRRPv{version}, {adv:g} s" if adv >= 1 else f"VRRPv{version}, {adv * 1000:g} ms")
        judged = ser == "long"
        verdict = lambda ok: ("yes" if ok else "**no**") if judged else "(info)"
        p(f"| no flap: the backup sends nothing (adverts + GARPs) | {adv_name} | {ser} "
          f"| {k['backup']} | {o['backup'] if o else '-'} | {verdict(k['backup'] == 0)} |")
        if k["missed"]:
            worst = max(k["missed"])
            p(f"| master keeps advertising: no advert missed (longest gap / advert_int − 1 < 1) "
              f"| {adv_name} | {ser} | max {worst:.2f} | "
              f"{('max %.2f' % max(o['missed'])) if o and o['missed'] else '-'} "
              f"| {verdict(worst < 1)} |")
    p()
    odd = []
    for lan in lans:
        for k in lan["kills"]:
            if k["kill_to_first_advert"] is None or (k["master_prio_after"] and
                                                     k["master_prio_after"] != [MASTER_PRIO]):
                odd.append(f"{NAMES[lan['impl']]} v{lan['version']} LAN {lan['lan']} {k['series']}: "
                           f"prio after kill {k['master_prio_after']}, first advert "
                           f"{ms(k['kill_to_first_advert'])}")
        if lan["backup_adverts"] or lan["backup_garps"]:
            odd.append(f"{NAMES[lan['impl']]} v{lan['version']} LAN {lan['lan']}: the backup sent "
                       f"{lan['backup_adverts']} adverts, {lan['backup_garps']} GARPs outside "
                       "the kills' windows")
    steady = sum(lan["backup_adverts"] + lan["backup_garps"] for lan in lans)
    p(f"Outside the {prm['observe']:g} s after each kill (steady state, every LAN, both daemons) "
      f"the backups sent {steady} adverts + GARPs.")
    p()
    states = {}
    for lan in lans:
        for k in lan["kills"]:
            s = "; ".join(re.sub(r"^.*?(\(VI_1\)|VI_1)", r"\1", x) for x in k["master_log_states"])
            states.setdefault((lan["impl"], k["series"], s), 0)
            states[(lan["impl"], k["series"], s)] += 1
    p("What the master's log says after each kill (state lines, counted over runs):")
    p()
    for (impl, ser, s), n in states.items():
        p(f"- {NAMES[impl]}, {ser}: {n}× `{s or '(no state line)'}`")
    p()
    if odd:
        p("Notable runs:")
        p()
        for o in odd:
            p(f"- {o}")
        p()


def cmd_report(a):
    meta = json.load(open(a.meta)) if a.meta and os.path.exists(a.meta) else {}
    p = print
    p(f"Reproduce: `{meta.get('command', 'sudo bash tests/bench/process_bench.sh')}`")
    p()
    for k in ("machine", "tools", "run"):
        if meta.get(k):
            p(f"{meta[k]}  ")
    p()
    if a.console and os.path.exists(a.console):
        mem, chk, ipvs, notes = parse_console(a.console)
        ref = [n for n in notes if n.startswith("reference:")]
        if ref:
            meta["vm"] = ref[0].replace("reference: ", "guest: ")
        if mem:
            report_memory(p, mem, meta)
    else:
        chk, ipvs, notes = [], [], []
    if a.results and os.path.exists(a.results):
        report_restart(p, json.load(open(a.results)))
    if chk or ipvs:
        report_checker(p, chk, ipvs)
    bad = [n for n in notes if "NOT settled" in n or "differs" in n or "still alive" in n]
    if bad:
        p("VM notes:")
        p()
        for n in bad:
            p(f"- `{n}`")
        p()


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("restart")
    r.add_argument("--work", required=True)
    r.add_argument("--prefix", required=True)
    r.add_argument("--keeplite", required=True)
    r.add_argument("--keepalived", required=True)
    r.add_argument("--out", required=True)
    r.add_argument("--impls", default="kl,ka")
    r.add_argument("--settings", default="2:1,3:0.1", help="version:advert_int,...")
    r.add_argument("--runs", type=int, default=5)
    r.add_argument("--long", type=float, default=62, help="child age before the first kill (s)")
    r.add_argument("--short", type=float, default=15,
                   help="age of the successor before the second kill (s)")
    r.add_argument("--stagger", type=float, default=1.0, help="pause between two kills (s)")
    r.add_argument("--observe", type=float, default=5, help="observation after a kill (s)")
    q = sub.add_parser("report")
    q.add_argument("--console", default="")
    q.add_argument("--results", default="")
    q.add_argument("--meta", default="")
    a = ap.parse_args()
    if a.cmd == "restart":
        cmd_restart(a)
    else:
        cmd_report(a)


if __name__ == "__main__":
    main()
