"""Run every benchmark script (benchmarks/*_benchmark.py); each prints and writes its table.

python benchmarks/run_all.py
"""

import glob
import os
import subprocess
import sys

if __name__ == "__main__":
    folder = os.path.dirname(os.path.abspath(__file__))
    failed = []
    for script in sorted(glob.glob(os.path.join(folder, "*_benchmark.py"))):
        print(f"== {os.path.basename(script)}", flush=True)
        if subprocess.call([sys.executable, script]) != 0:
            failed.append(script)
    sys.exit(f"failed: {failed}" if failed else 0)
