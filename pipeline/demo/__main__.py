"""``python -m pipeline.demo [--out DIR] [--seed N] [--real-dir DIR]``"""

from __future__ import annotations

import argparse
import sys

from pipeline.demo.generate import DEFAULT_OUT, DEFAULT_REAL_DIR, DEFAULT_SEED, generate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline.demo",
        description="Write the synthetic demo dataset (one folder per source).",
    )
    parser.add_argument("--out", default=str(DEFAULT_OUT),
                        help="output folder (relative paths: from the repo root)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--real-dir", default=str(DEFAULT_REAL_DIR),
                        help="folder with the real crosswalk and mid-2020 population file")
    args = parser.parse_args(argv)
    try:
        rows = generate(args.out, args.seed, args.real_dir)
    except (OSError, ValueError, KeyError) as exc:
        print(f"demo data not written: {exc}", file=sys.stderr)
        return 1
    for path, n in rows.items():
        print(f"{n:>7,} rows  {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
