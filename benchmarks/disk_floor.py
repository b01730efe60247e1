"""The floor a disk sets under a file-to-file job, for the e2e yardstick: writes BYTES of random data into a new file
in DIR straight to the device (O_DIRECT, a few writes in flight, then fsync), optionally while every file of READ_DIR
is read at the same time, and prints the seconds until all of it is done.

    python3 disk_floor.py DIR BYTES [READ_DIR]  ->  "<seconds>"

A warm job cannot go under writing its output alone; a cold one cannot go under reading its input and writing its
output at once. The data is random, so that no layer below can shortcut it, and comes from memory this process holds,
so that dropping the page cache does not make it a read too.
"""
import mmap
import os
import sys
import threading
import time

CHUNK = 16 << 20
WRITERS = 4
READ_BLOCK = 8 << 20


def write_all(path, total, failures):
    source = mmap.mmap(-1, CHUNK)  # page-aligned, as O_DIRECT asks
    source.write(os.urandom(CHUNK))
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    try:
        fd = os.open(path, flags | os.O_DIRECT, 0o644)
    except OSError:  # a file system without direct I/O: through the page cache, forced at the end all the same
        fd = os.open(path, flags, 0o644)
    chunks = (total + CHUNK - 1) // CHUNK  # whole chunks, as direct writes want whole blocks: at most 16 MiB over
    next_chunk = iter(range(chunks))
    lock = threading.Lock()

    def writer():
        view = memoryview(source)
        while True:
            with lock:
                n = next(next_chunk, None)
            if n is None:
                return
            try:
                os.pwrite(fd, view, n * CHUNK)
            except OSError as e:
                failures.append(e)
                return

    threads = [threading.Thread(target=writer) for _ in range(WRITERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    os.fsync(fd)
    os.close(fd)


def read_all(directory, failures):
    buffer = bytearray(READ_BLOCK)
    try:
        for root, _, names in os.walk(directory):
            for name in sorted(names):
                with open(os.path.join(root, name), "rb", buffering=0) as f:
                    while f.readinto(buffer):
                        pass
    except OSError as e:
        failures.append(e)


def main():
    directory, total = sys.argv[1], int(sys.argv[2])
    read_dir = sys.argv[3] if len(sys.argv) > 3 else None
    if read_dir and not os.path.isdir(read_dir):
        sys.exit(f"disk_floor: {read_dir} is not a directory")
    path = os.path.join(directory, "disk-floor.bin")
    failures = []
    reader = threading.Thread(target=read_all, args=(read_dir, failures)) if read_dir else None
    start = time.perf_counter()
    try:
        if reader:
            reader.start()
        write_all(path, total, failures)
        if reader:
            reader.join()
        seconds = time.perf_counter() - start
    finally:
        if os.path.exists(path):
            os.remove(path)
    if failures:
        sys.exit(f"disk_floor: {failures[0]}")
    print(f"{seconds:.2f}")


if __name__ == "__main__":
    main()
