"""Runs a command and prints its wall time and peak resident set (of it and its children), for the e2e yardstick.

    python3 timed.py LABEL COMMAND...     ->  "LABEL <seconds> s <peak RSS> KiB"
"""
import resource
import subprocess
import sys
import time

label, command = sys.argv[1], sys.argv[2:]
start = time.perf_counter()
done = subprocess.run(command, stdout=subprocess.DEVNULL)
wall = time.perf_counter() - start
if done.returncode != 0:
    sys.exit(f"{label}: {' '.join(command)} exited {done.returncode}")
print(f"{label} {wall:.2f} s {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss} KiB", flush=True)
