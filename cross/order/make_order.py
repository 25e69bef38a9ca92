#!/usr/bin/env python3
"""Turns the callgrind profiles printed by cross/order/profile_guest.sh into keeplite.order.

usage: make_order.py UNSTRIPPED_BINARY CONSOLE > keeplite.order

Each profile holds the functions one process ran from the moment it released its start-up pages
(sys::process::release_start_up_pages: the watchdog once its children run, a child before its
loop), which is what the process keeps mapped. The process is recognised by a function only it runs (the VRRP child's and the checker child's
run_child, the watchdog's handling of its children's messages). Every function that ran is put
in a group by the set of processes that ran it, and the groups are laid out

    vrrp | vrrp+watchdog | all three | vrrp+check | check | check+watchdog | watchdog

so that the code of each child is one contiguous run of pages and the watchdog's is in few.
Functions no process ran in steady state (the watchdog's start-up: the config parser ..., other
subcommands, error paths, checkers the profiled config does not use) are not listed: the linker
puts them after these, where no process keeps them mapped. Within a group functions keep the
order the linker gave them, which keeps callers near their callees.
"""
import re
import subprocess
import sys

ROLE_MARKERS = {
    "vrrp": "8keeplite6daemon4vrrp9run_child",
    "check": "8keeplite6daemon5check9run_child",
    # (A child also runs the code of Watchdog::child that forked it: the type alone does not tell.)
    "watchdog": "8keeplite6daemon8watchdog8Watchdog7on_link",
}
# musl's assembly string functions have no symbol size, so valgrind folds them into their
# callers and never names them: every process runs them all the time.
UNSIZED_HOT = ["memcpy", "memmove", "memset"]
LAYOUT = [
    {"vrrp"},
    {"vrrp", "watchdog"},
    {"vrrp", "check", "watchdog"},
    {"vrrp", "check"},
    {"check"},
    {"check", "watchdog"},
    {"watchdog"},
]


def text_symbols(binary):
    """name -> address of every function symbol."""
    out = subprocess.run(["nm", "--defined-only", binary], check=True, capture_output=True,
                         text=True).stdout
    symbols = {}
    for line in out.splitlines():
        parts = line.split(maxsplit=2)
        if len(parts) == 3 and parts[1] in "tTwW":
            symbols.setdefault(parts[2], int(parts[0], 16))
    return symbols


def profiles(console):
    """label (the pid) -> set of function names, from the PROFILE-BEGIN / PROFILE-END blocks."""
    result, label = {}, None
    for line in open(console, errors="replace"):
        line = line.rstrip("\r\n")
        if line.startswith("PROFILE-BEGIN "):
            label = line.split()[1]
            result[label] = set()
        elif line.startswith("PROFILE-END"):
            label = None
        elif label is not None and line:
            # callgrind marks recursion levels and some ids: "name'2", "(123) name".
            result[label].add(re.sub(r"'\d+$", "", re.sub(r"^\(\d+\)\s*", "", line)))
    return result


def main():
    binary, console = sys.argv[1], sys.argv[2]
    symbols = text_symbols(binary)
    ran = {}
    for label, names in profiles(console).items():
        roles = [r for r, marker in ROLE_MARKERS.items() if any(marker in n for n in names)]
        if len(roles) != 1:
            print(f"make_order: profile {label}: roles {roles or 'none'}, left out",
                  file=sys.stderr)
            continue
        ran.setdefault(roles[0], set()).update(n for n in names if n in symbols)
    missing = [r for r in ROLE_MARKERS if r not in ran]
    if missing:
        sys.exit(f"make_order: no profile for {missing}")
    for names in ran.values():
        names.update(n for n in UNSIZED_HOT if n in symbols)
    every = set().union(*ran.values())
    placed = set()
    for group in LAYOUT:
        members = [n for n in every if {r for r, names in ran.items() if n in names} == group]
        for name in sorted(members, key=lambda n: symbols[n]):
            print(name)
        placed.update(members)
        print(f"make_order: {'+'.join(sorted(group))}: {len(members)} functions",
              file=sys.stderr)
    assert placed == every


if __name__ == "__main__":
    main()
