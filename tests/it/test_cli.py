#!/usr/bin/env python3
"""The command line: each command's --help lists exactly the options its parser
takes (both come from one table in sim/main.c), and README's "Commands" block
is `dormant help`'s synopsis. No servers."""
import os
import re
import subprocess
import sys

from itlib import check

dormant = sys.argv[1]
readme = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "README.md")


def run(*args):
    return subprocess.run([dormant, *args], capture_output=True, text=True, timeout=30)


def one_line_error(p, what, *needles):
    lines = p.stderr.strip().splitlines()
    check(p.returncode == 2, f"{what}: exit {p.returncode}, expected 2; stderr {p.stderr!r}")
    check(len(lines) == 1, f"{what}: {len(lines)} lines on stderr, expected 1: {p.stderr!r}")
    check(p.stdout == "", f"{what}: something on stdout: {p.stdout!r}")
    for n in needles:
        check(n in lines[0], f"{what}: {lines[0]!r} does not name {n!r}")


# The commands and their synopses, from `dormant help`.
p = run("help")
check(p.returncode == 0, f"help: exit {p.returncode}")
synopsis = [l.strip() for l in p.stdout.splitlines() if l.startswith("  dormant ")]
commands = [l.split()[1] for l in synopsis]
check(commands == ["run", "check", "plot", "compare", "model", "simulate", "recommend", "bench", "help", "version"], f"commands: {commands}")
check(run("--help").stdout == p.stdout and run("-h").stdout == p.stdout, "--help and -h differ from help")

# README's Commands block is exactly those lines.
text = open(readme).read()
m = re.search(r"^## Commands\n\n```\n(.*?)```\n", text, re.S | re.M)
check(m, "README has no ```-block right under ## Commands")
block = m.group(1).splitlines()
check(block == synopsis, "README Commands block differs from `dormant help`:\n  README: "
      + "\n          ".join(block) + "\n  help:   " + "\n          ".join(synopsis))
print(f"OK: README Commands block = dormant help ({len(block)} lines)")

for cmd, syn in zip(commands, synopsis):
    h = run(cmd, "--help")
    check(h.returncode == 0 and h.stderr == "", f"{cmd} --help: exit {h.returncode}, stderr {h.stderr!r}")
    check(run("help", cmd).stdout == h.stdout, f"`dormant help {cmd}` differs from `dormant {cmd} --help`")
    lines = h.stdout.splitlines()
    check(lines[0] == "usage: " + syn, f"{cmd}: usage line {lines[0]!r}, synopsis {syn!r}")
    opts = lines[lines.index("options:") + 1:]
    listed = []  # (short, long, arg)
    for l in opts:
        m = re.match(r"^  (?:-(\w), )?--([\w-]+)(?: ([A-Z_]+))?  +\S", l)
        check(m, f"{cmd} --help: option line {l!r} is not of the form '  [-x, ]--name [ARG]  help'")
        listed.append(m.groups())
    check(listed[-1] == ("h", "help", None), f"{cmd}: last option is {listed[-1]}, expected -h, --help")
    # The synopsis names exactly the listed options (help aside), short form where there is one.
    in_syn = re.findall(r"(-\w|--[\w-]+)(?: ([A-Z_]+))?", syn.split(" ", 2)[2] if syn.count(" ") > 1 else "")
    want = [(f"-{s}" if s else f"--{l}", a or "") for s, l, a in listed[:-1]]
    check(in_syn == want, f"{cmd}: synopsis options {in_syn} != --help options {want}")
    # The parser takes every listed option, in both spellings: given before --help, it
    # is consumed and --help answers; an option it did not take would be refused first.
    for s, l, a in listed:
        for spelling in ([f"-{s}"] if s else []) + [f"--{l}"]:
            args = [spelling] + (["x"] if a else [])
            q = run(cmd, *args, "--help")
            check(q.returncode == 0 and q.stdout == h.stdout,
                  f"{cmd} {' '.join(args)} --help: exit {q.returncode}, stderr {q.stderr!r}")
    # ... and nothing else.
    one_line_error(run(cmd, "--frobnicate", "--help"), f"{cmd} --frobnicate", "--frobnicate")
    for letter in "abcdefgijklmnopqrstuvwxyz":
        if letter not in [s for s, _, _ in listed]:
            one_line_error(run(cmd, f"-{letter}", "--help"), f"{cmd} -{letter}", f"-{letter}")
    print(f"OK: {cmd}: {len(listed)} options, each taken, the rest refused")

# One bad argument, one line naming it.
one_line_error(run(), "no command", "command")
one_line_error(run("frobnicate"), "unknown command", "frobnicate")
one_line_error(run("run"), "run without FILE", "FILE")
one_line_error(run("run", "a.yaml", "b.yaml"), "two files", "b.yaml")
one_line_error(run("run", "a.yaml", "-o"), "-o without DIR", "-o", "DIR")
one_line_error(run("run", "a.yaml", "-o", ""), "-o ''", "--output")
one_line_error(run("run", "a.yaml", "--no-plot=1"), "--no-plot=1", "--no-plot")
one_line_error(run("compare", "a"), "compare with one run", "two or more")
one_line_error(run("model", "a"), "model without --link", "--link")
one_line_error(run("model", "--link", "x"), "model without RUN_DIR", "RUN_DIR")
one_line_error(run("simulate", "d.yaml"), "simulate without RUN_DIR", "RUN_DIR")
one_line_error(run("simulate", "d.yaml", "r", "--for", "soon"), "simulate --for soon", "--for", "soon")
one_line_error(run("recommend", "d.yaml"), "recommend without RUN_DIR", "RUN_DIR")
one_line_error(run("help", "frobnicate"), "help of an unknown command", "frobnicate")
one_line_error(run("version", "x"), "version x", "'x'")
v = run("version")
check(v.returncode == 0 and re.fullmatch(r"dormant \d+\.\d+\.\d+\n", v.stdout), f"version: {v.stdout!r}")
check(run("--version").stdout == v.stdout, "--version differs from version")
print("OK: bad arguments: one line each, exit 2")
