"""Search by example at scale: query time and memory, exact scan vs FAISS HNSW.

Synthetic window embeddings (256-d, like MelStatistics) drawn around 2,000 random
cluster centres, so that neighbours exist as in real corpora (uniform random
vectors have no near neighbours and defeat every approximate index). For 10^4,
10^5 and 10^6 windows they are written to an EmbeddingStore, then searched with
the mean of 5 noisy "example" embeddings near a random centre (k = 20,
distinct=False). Each measurement runs in a fresh process so its memory is its own.

Reported: store size on disk; exact scan: median query time and peak working memory
(tracemalloc: numpy's temporaries; the memory-mapped embeddings are read through the
page cache, which the OS can reclaim); HNSW (M=32, efConstruction=80, efSearch=64):
build time, index size, resident memory of the loaded index (RssAnon delta), median
query time and recall@20 against the exact scan.

Usage: python benchmarks/search_scale.py [--sizes 10000 100000 1000000] [--dir DIR]
"""

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

DIM, K, N_QUERIES, CLUSTERS = 256, 20, 20, 2000


def _rss_anon_mb():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _queries(seed):
    rng = np.random.default_rng(seed)
    centers = np.random.default_rng(0).standard_normal((CLUSTERS, DIM)).astype(np.float32)
    picked = centers[rng.integers(0, CLUSTERS, N_QUERIES)]
    return [c + 0.5 * rng.standard_normal((5, DIM)) for c in picked]


def make_store(path, n):
    from skfewaudio.search import EmbeddingStore

    rng = np.random.default_rng(1)
    centers = np.random.default_rng(0).standard_normal((CLUSTERS, DIM)).astype(np.float32)
    store = EmbeddingStore.create(path, window_seconds=1.0)
    per_file = 10_000  # one "recording" of 10,000 windows (83 min at a 0.5 s hop)
    started = time.perf_counter()
    for f in range(0, n, per_file):
        m = min(per_file, n - f)
        Z = centers[rng.integers(0, CLUSTERS, m)] + 0.5 * rng.standard_normal((m, DIM),
                                                                              np.float32)
        starts = 0.5 * np.arange(m)
        store.add_embeddings(f"recording{f // per_file:04d}.flac", starts, starts + 1.0, Z)
    return {"write_s": time.perf_counter() - started,
            "store_mb": sum(p.stat().st_size for p in Path(path).iterdir()) / 2**20}


def child(task, path):
    """One measurement, in its own process; prints a JSON line."""
    from skfewaudio.search import EmbeddingStore

    store = EmbeddingStore.open(path)
    out = {}
    if task == "exact":
        seconds, found = [], []
        tracemalloc.start()
        for q in _queries(2):
            start = time.perf_counter()
            found.append([m["file"] + f"@{m['start']}" for m in
                          store.search_embeddings(q, k=K, distinct=False)])
            seconds.append(time.perf_counter() - start)
        out = {"exact_query_ms": 1000 * statistics.median(seconds),
               "exact_peak_mb": tracemalloc.get_traced_memory()[1] / 2**20, "found": found}
    elif task == "build":
        before = _rss_anon_mb()
        start = time.perf_counter()
        store.build_index()
        out = {"hnsw_build_s": time.perf_counter() - start,
               "hnsw_index_mb": (Path(path) / "index.faiss").stat().st_size / 2**20,
               "hnsw_build_rss_mb": _rss_anon_mb() - before}
    elif task == "hnsw":
        before = _rss_anon_mb()
        store._hnsw()  # load the index once (kept by the store), to measure its memory
        out["hnsw_rss_mb"] = _rss_anon_mb() - before
        seconds, found = [], []
        for q in _queries(2):
            start = time.perf_counter()
            found.append([m["file"] + f"@{m['start']}" for m in
                          store.search_embeddings(q, k=K, distinct=False, index="hnsw")])
            seconds.append(time.perf_counter() - start)
        out.update(hnsw_query_ms=1000 * statistics.median(seconds), found=found)
    print(json.dumps(out))


def run_child(task, path):
    result = subprocess.run([sys.executable, __file__, "--child", task, str(path)],
                            capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--dir", type=Path, default=None, help="scratch folder for the stores")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(*args.child)
    from _results import save_results

    scratch = Path(args.dir or tempfile.mkdtemp(prefix="search_scale_"))
    rows = []
    for n in args.sizes:
        path = scratch / f"store_{n}"
        row = {"windows": n, **make_store(path, n)}
        exact = run_child("exact", path)
        row.update({k: v for k, v in exact.items() if k != "found"})
        row.update(run_child("build", path))
        approx = run_child("hnsw", path)
        row.update({k: v for k, v in approx.items() if k != "found"})
        row["recall@20"] = float(np.mean([len(set(a) & set(e)) / K for a, e in
                                          zip(approx["found"], exact["found"])]))
        rows.append(row)
        print(row, flush=True)
    save_results(
        "search_scale", rows, title="Search by example: exact scan vs FAISS HNSW",
        columns=["windows", "store_mb", "exact_query_ms", "exact_peak_mb", "hnsw_build_s",
                 "hnsw_index_mb", "hnsw_rss_mb", "hnsw_query_ms", "recall@20"],
        notes=(f"{DIM}-d synthetic embeddings around {CLUSTERS} centres (noise 0.5), "
               f"queries: mean of 5 noisy examples, k={K}, median of {N_QUERIES} queries. "
               "store_mb: embeddings + window records on disk. exact_peak_mb: peak numpy "
               "working memory of the chunked scan (the embeddings themselves are read "
               "through the page cache). hnsw_rss_mb: resident memory of the loaded index "
               "(it holds the vectors and the graph). HNSW: M=32, efConstruction=80, "
               "efSearch=max(64, 2k)."),
    )


if __name__ == "__main__":
    main()
