"""Where a job's time goes: runs a command and prints, every quarter second, how busy its CPUs were (user + system,
in cores) and how fast it read and wrote (bytes through read/write calls, from /proc/PID/io), so that start-up, the
steady state and the tail of a conversion can be told apart. Linux only; the command's own process is sampled (a
JVM does its I/O in that one process).

    python3 io_timeline.py COMMAND...
"""
import os
import subprocess
import sys
import time

SAMPLE_SECONDS = 0.05
REPORT_SECONDS = 0.25


def sample(pid):
    """(CPU seconds, bytes read, bytes written) of the process so far, or None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        with open(f"/proc/{pid}/io") as f:
            io = dict(line.split(": ") for line in f.read().splitlines() if line)
    except (OSError, ValueError):
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks, int(io["rchar"]), int(io["wchar"])


def main():
    job = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    start = time.perf_counter()
    last_time, last = 0.0, (0.0, 0, 0)
    while job.poll() is None:
        time.sleep(SAMPLE_SECONDS)
        now, current = time.perf_counter() - start, sample(job.pid)
        if current is None or now - last_time < REPORT_SECONDS:
            continue
        span = now - last_time
        cpu, read, written = ((c - p) / span for c, p in zip(current, last))
        print(f"{now:6.2f} s  cpu {cpu:4.2f}  read {read / 1e9:5.2f} GB/s  write {written / 1e9:5.2f} GB/s")
        last_time, last = now, current
    print(f"exit {job.returncode} after {time.perf_counter() - start:.2f} s")
    sys.exit(job.returncode)


if __name__ == "__main__":
    main()
