"""Saving benchmark results: one JSON and one Markdown table per benchmark."""

import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

RESULTS = Path(__file__).resolve().parent / "results"
DEFAULT_ESC50 = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "esc50"


def hardware():
    """What the numbers were measured on."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:
            cpu = next(line.split(":", 1)[1].strip() for line in handle
                       if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {
        "cpu": cpu, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "python": platform.python_version(), "torch": torch.__version__,
        "numpy": np.__version__,
        # Other processes compete for the cores: report the load the run saw.
        "load_average_1min": os.getloadavg()[0],
    }


def timings(fn, repeats):
    """Run ``fn`` ``repeats`` times; return its last output and every wall time (s)."""
    seconds, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        seconds.append(time.perf_counter() - start)
    return out, seconds


def save_results(name, rows, *, columns, title, notes=""):
    """Write ``results/<name>.json`` and ``results/<name>.md`` and print the table."""
    RESULTS.mkdir(exist_ok=True)
    meta = {"command": " ".join([Path(sys.executable).name] + sys.argv),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "hardware": hardware()}
    (RESULTS / f"{name}.json").write_text(json.dumps({**meta, "rows": rows}, indent=2,
                                                     default=float))
    header = "| " + " | ".join(columns) + " |\n|" + "---|" * len(columns) + "\n"
    body = "".join("| " + " | ".join(_cell(row.get(c)) for c in columns) + " |\n" for row in rows)
    hw = meta["hardware"]
    text = (f"# {title}\n\n{header}{body}\n{notes}\n\nCommand: `{meta['command']}`  \n"
            f"Date: {meta['date']}  \nHardware: {hw['cpu']}, {hw['cores']} cores, "
            f"torch {hw['torch']} ({hw['torch_threads']} threads), GPU: {hw['gpu']}, "
            f"load average {hw['load_average_1min']:.1f} at the end of the run\n")
    (RESULTS / f"{name}.md").write_text(text)
    print("\n" + text)


def _cell(value):
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1000 else f"{value:.0f}"
    return "" if value is None else str(value)
