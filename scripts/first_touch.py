#!/usr/bin/env python3
"""Rate of writing memory the process has never touched, against writing it again.

On a virtual machine whose host backs guest memory on first use (and takes freed memory back, as
Firecracker does with free page reporting), the first write of a fresh page costs a host fault; the
second write of the same page runs at memory speed. `sepme generate --precision bf16` fills its converted
weights into fresh memory in its first step, so this rate bounds what that conversion can cost
(docs/benchmarks.md, "Reduced precision").

    scripts/.venv/bin/python scripts/first_touch.py --gib 2 --rounds 3

Each round maps a new buffer (numpy's allocator maps large arrays afresh and unmaps them on free) and
writes it twice, on one thread.
"""

import argparse
import time

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gib", type=float, default=2.0, help="buffer size in GiB")
    parser.add_argument("--rounds", type=int, default=3, help="fresh buffers to write")
    args = parser.parse_args()
    if args.gib <= 0 or args.rounds < 1:
        parser.error("--gib must be positive and --rounds at least 1")
    count = int(args.gib * (1 << 30)) // 4
    print(f"{args.gib:g} GiB per buffer, one thread")
    print("round | first write GB/s | second write GB/s")
    for round_index in range(args.rounds):
        buffer = np.empty(count, dtype=np.float32)
        start = time.perf_counter()
        buffer.fill(1.0)
        first = time.perf_counter() - start
        start = time.perf_counter()
        buffer.fill(2.0)
        second = time.perf_counter() - start
        print(f"{round_index + 1} | {buffer.nbytes / first / 1e9:.2f} | {buffer.nbytes / second / 1e9:.2f}")
        del buffer


if __name__ == "__main__":
    main()
