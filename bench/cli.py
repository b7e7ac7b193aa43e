"""`python -m bench [--quick] [--out FILE.json] [--markdown FILE.md]`: the side-by-side performance benchmark.

Every figure is the median of several runs and is compared with a reference measured in the same run on the
same machine: ingestion against the raw embedding floor and LangChain's FAISS store, retrieval against
LangChain's BM25 + FAISS ensemble, generation against a bare `model.generate` and the memory-bandwidth bound,
the batched sweep against one `generate` per sample, and the peak memory of `rag.ask`. Prints a table and
writes everything measured as JSON; the Markdown table starts with a stamp line (date, commit, machine, command).
`--quick` (CI) shrinks every size, including the model: it checks that
the benchmark runs and produces every figure, and its timings mean nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bench.figures import Figure, format_markdown, format_table, ratio
from core.machine import cpu, describe
from eval.records import git_commit

REPO = Path(__file__).resolve().parents[1]
GB = 1e9


def machine() -> dict[str, Any]:
    """CPU model, cores, vector extensions, library versions and load, for the record."""
    import torch
    import transformers

    return {
        **cpu(),
        "torch_threads": torch.get_num_threads(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "load_average_at_start": os.getloadavg(),
    }


def short_commit(commit: str) -> str:
    """`git_commit()` shortened for a stamp: 7 hex digits, keeping `+dirty` (and "unknown" outside git)."""
    head, dirty, _ = commit.partition("+dirty")
    return (head[:7] if head != "unknown" else head) + ("+dirty" if dirty else "")


def stamp(measured_at: datetime, commit: str, info: dict[str, Any], command: str) -> str:
    """The line that says where a table came from: UTC date, commit, machine and the command that measured it."""
    return f"Measured {measured_at:%Y-%m-%d %H:%M} UTC · commit {commit} · {describe(info)} · `{command}`"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0].split(": ", 1)[1])
    p.add_argument("--quick", action="store_true", help="tiny sizes and a tiny model (CI): checks every figure is produced")
    p.add_argument("--out", type=Path, help="write the figures and raw measurements as JSON to this file")
    p.add_argument("--markdown", type=Path, help="also write the table as Markdown to this file")
    p.add_argument("--corpus", type=Path, default=REPO / "corpus", help="report folder to ingest (default: the repository's corpus/)")
    p.add_argument("--repeat", type=int, help="runs per figure, the median is reported (default 3; --quick 1)")
    p.add_argument("--decode-tokens", type=int, help="tokens timed after the first one (default 32; --quick 2)")
    p.add_argument("--prompt-tokens", type=int, help="RAG prompt length to reach by adding sources (default 1500; --quick 0 = one source)")
    p.add_argument("--scales", help="corpus replication factors for the growth figures, comma-separated (default 10,100; --quick 2,3)")
    p.add_argument("--variant-repeat", type=int, help="runs per generation variant (default 1)")
    p.add_argument("--variants", help="comma-separated generation variants to run (default all): eager_attention, threads_N, system_prompt_cache, dtype_float32/dtype_bfloat16, static_compile_DTYPE")
    p.add_argument("--dtype", default="auto", choices=["auto", "bfloat16", "float32"], help="dtype of the measured product path, as rag.ask --dtype (default auto = its default)")
    p.add_argument("--threads", type=int, help="torch threads for everything measured in this process (default: torch's default, one per core)")
    p.add_argument("--compile", action="store_true", help="add the static KV cache + torch.compile variant (slow to compile; never with --quick)")
    p.add_argument("--tokenizer", type=Path, help="folder with a saved tokenizer + chat template for the random model (default: train one on the corpus)")
    p.add_argument("--sections", default="memory,ingest,retrieval,generation,sweep,rss,llamacpp,concurrency", help="comma-separated subset to run")
    p.add_argument("--llamacpp-threads", type=int, help="threads for the transformers-vs-llama.cpp section (default: the physical cores, as rag.ask --threads 0)")
    p.add_argument("--sweep-tokens", type=int, help="new tokens per row in the llama.cpp sweep (default 64)")
    p.add_argument("--llamacpp-only", action="store_true", help="in the llamacpp section, measure only llama.cpp (not transformers on the same files)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    quick = args.quick
    repeat = args.repeat or (1 if quick else 3)
    decode_tokens = args.decode_tokens or (2 if quick else 32)
    prompt_tokens = args.prompt_tokens if args.prompt_tokens is not None else (0 if quick else 1500)
    try:
        scales = [int(s) for s in (args.scales or ("2,3" if quick else "10,100")).split(",") if s.strip()]
    except ValueError:
        print(f"error: --scales must be comma-separated integers such as 10,100, got {args.scales!r}", file=sys.stderr)
        return 2
    sections = {s.strip() for s in args.sections.split(",") if s.strip()}
    unknown = sections - {"memory", "ingest", "retrieval", "generation", "sweep", "rss", "llamacpp", "concurrency"}
    if unknown or repeat < 1 or decode_tokens < 1 or any(s < 2 for s in scales) or (args.threads is not None and args.threads < 1):
        print(
            f"error: bad arguments (unknown sections {sorted(unknown)}, --repeat {repeat}, --decode-tokens {decode_tokens}, "
            f"--scales {scales}); repeat and decode tokens must be >= 1, scales >= 2",
            file=sys.stderr,
        )
        return 2
    if not args.corpus.is_dir():
        print(f"error: corpus folder {args.corpus} not found; pass --corpus with the folder of reports", file=sys.stderr)
        return 2

    def log(message: str) -> None:
        print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    started = time.perf_counter()
    if quick:
        import torch

        # CI machines are shared: a busy core stalls every OpenMP barrier, and tiny matrices gain nothing from a
        # second thread, so the quick run (whose timings mean nothing) stays on one thread.
        torch.set_num_threads(1)
        log("--quick: tiny corpus slices, a 2-layer hidden-64 Qwen3 instead of the Qwen3-0.6B configuration, one thread, one run per figure: timings are not meaningful")
    elif args.threads:
        import torch

        torch.set_num_threads(args.threads)
    info = machine()
    commit = short_commit(git_commit())  # the code measured is the code at the start: a commit made meanwhile is not in it
    raw: dict[str, Any] = {}
    work = Path(tempfile.mkdtemp(prefix="bench-"))
    try:
        corpus = args.corpus
        if quick:
            from bench.ingestion import truncated_corpus

            corpus = truncated_corpus(args.corpus, work / "corpus", 1500)
        index_dir = work / "index"
        if sections & {"memory", "generation"}:
            from bench.memory import read_bandwidth

            log("memory read bandwidth")
            raw["memory"] = read_bandwidth(64 if quick else 1024, 3 if quick else 7)
        if "ingest" in sections:
            from bench.ingestion import bench_ingest

            raw["ingest"] = bench_ingest(corpus, work, scales, repeat, log)
        else:
            from ingest.build import build_index

            build_index(corpus, index_dir, "minilm", rebuild=True, progress=False)
        from core.index import load_index

        index = load_index(index_dir)
        if "retrieval" in sections:
            from bench.retrieval import bench_retrieval

            raw["retrieval"] = bench_retrieval(index, args.corpus, 2 if quick else max(repeat, 3), 5 if quick else None, log)
        folder = None
        if sections & {"generation", "sweep", "rss"}:
            from bench.generation import make_model_folder

            log("saving the random-weight model folder")
            folder = make_model_folder(work / "model", args.corpus, quick, args.tokenizer)
        if "generation" in sections:
            from bench.generation import bench_generation

            raw["generation"] = bench_generation(
                folder, index, raw["memory"]["gb_per_s"], decode_tokens, repeat, args.variant_repeat or 1, prompt_tokens,
                dtype=args.dtype, compile_variant=args.compile and not quick, log=log,
                only={v.strip() for v in args.variants.split(",")} if args.variants else None,
            )
        if "sweep" in sections:
            from bench.sweep import measure_sweep_speedup
            from rag.generators.transformers_lm import load_model

            log("sweep: shared-prefill batched sampling vs one generate per sample")
            sizes = dict(prompt_tokens=64, settings=3, samples=2, max_new_tokens=4, reference_rows=2) if quick else dict(reference_rows=3)
            raw["sweep"] = measure_sweep_speedup(load_model(str(folder), args.dtype).model, **sizes)
        if "llamacpp" in sections:
            from bench.llamacpp import bench_llamacpp

            tokenizer_dir = folder or args.tokenizer
            if tokenizer_dir is None:
                from bench.tiny_qwen import build_tiny_qwen

                tokenizer_dir = build_tiny_qwen(work / "tokenizer", args.corpus)  # its tokenizer and chat template
            raw["llamacpp"] = bench_llamacpp(
                index, tokenizer_dir, work, quick, decode_tokens, repeat, args.llamacpp_threads, log,
                sweep_tokens=args.sweep_tokens or 64, with_transformers=not args.llamacpp_only,
            )
        if "concurrency" in sections:
            from bench.llamacpp import bench_concurrency

            log("concurrency: a sweep against the OpenAI stand-in (100 ms per request, 8 slots) with 1 and 8 requests in flight")
            raw["concurrency"] = bench_concurrency(index, index_dir, args.corpus, work, questions=2 if quick else 8)
        if "rss" in sections:
            from bench.rss import bench_rss

            log("peak RSS of rag.ask (model folder, and the default model falling back to extractive)")
            raw["rss"] = bench_rss(folder, index_dir, corpus, max_new_tokens=2 if quick else 8, threads=1 if quick else args.threads)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    figures = figures_from(raw, quick)
    info["load_average_at_end"] = os.getloadavg()
    info["seconds"] = round(time.perf_counter() - started, 1)
    print(format_table(figures))
    print(f"\nmachine: {info['cpu']}, {info['cores']} cores, {info['cpu_capability']}, AVX-512 {'yes' if info['avx512'] else 'no'}; "
          f"load average {info['load_average_at_start'][0]:.1f} at start, {info['load_average_at_end'][0]:.1f} at end; {info['seconds']} s"
          + ("; --quick: tiny sizes, timings not meaningful" if quick else ""))
    command = shlex.join(["python", "-m", "bench", *(argv if argv is not None else sys.argv[1:])])
    measured_at = datetime.now(timezone.utc)
    if args.out:
        payload = {
            "command": command,
            "quick": quick,
            "measured_at": measured_at.isoformat(timespec="seconds"),
            "commit": commit,
            "machine": info,
            "figures": [f.to_json() for f in figures],
            "raw": raw,
        }
        args.out.write_text(json.dumps(payload, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    if args.markdown:
        args.markdown.write_text(stamp(measured_at, commit, info, command) + "\n\n" + format_markdown(figures) + "\n", encoding="utf-8")
    return 0


def figures_from(raw: dict[str, Any], quick: bool) -> list[Figure]:
    """The table: each measured value against its same-run reference and its target from the issue."""
    figs: list[Figure] = []
    if "memory" in raw:
        m = raw["memory"]
        read = m["read"]
        llc = m["last_level_cache_bytes"]
        size = f"{m['bytes'] / 2**20:.0f} MiB arrays" + (f" ({m['bytes'] / llc:.0f}× the {llc / 2**20:.0f} MiB last-level cache)" if llc else "")
        figs.append(Figure(
            "memory", f"read bandwidth (torch sum), best of {len(read['runs_gb_per_s'])} passes", read["best_gb_per_s"], "GB/s", "median pass", read["median_gb_per_s"],
            ratio(read["best_gb_per_s"], read["median_gb_per_s"]), note=f"{size}, {m['threads']} threads; worst pass {read['worst_gb_per_s']:.1f}, spread {read['spread']:.0%} of the median",
        ))
        if "triad" in m:
            t = m["triad"]
            figs.append(Figure(
                "memory", "STREAM triad bandwidth, best pass", t["best_gb_per_s"], "GB/s", "read bandwidth, best pass", read["best_gb_per_s"], ratio(t["best_gb_per_s"], read["best_gb_per_s"]),
                note=f"a = b + q·c, 12 bytes per element counted as STREAM does (the write-allocate read is not); median {t['median_gb_per_s']:.1f}, spread {t['spread']:.0%}; passes alternate with the read's",
            ))
    if "ingest" in raw:
        figs += _ingest_figures(raw["ingest"])
    if "retrieval" in raw:
        r = raw["retrieval"]
        note = f"{r['questions']} questions ({r['source']}), k={r['k']}, {r['candidates']} candidates per list"
        figs.append(Figure("retrieval", "hybrid retriever p50", r["ours_p50_ms"], "ms", "LangChain EnsembleRetriever p50", r["langchain_p50_ms"], ratio(r["ours_p50_ms"], r["langchain_p50_ms"]), "faster than LangChain", r["ours_p50_ms"] < r["langchain_p50_ms"], note))
        figs.append(Figure("retrieval", "query embedding alone p50 (both pay it)", r["query_embedding_p50_ms"], "ms", "hybrid retriever p50", r["ours_p50_ms"], ratio(r["query_embedding_p50_ms"], r["ours_p50_ms"]), note="share of the hybrid retriever's time spent embedding the question"))
        p95_met = r["ours_p95_ms"] < 50 and r["ours_p95_ms"] < r["langchain_p95_ms"]
        figs.append(Figure("retrieval", "hybrid retriever p95", r["ours_p95_ms"], "ms", "LangChain EnsembleRetriever p95", r["langchain_p95_ms"], ratio(r["ours_p95_ms"], r["langchain_p95_ms"]), "< 50 ms and faster than LangChain", p95_met, note))
    if "generation" in raw:
        figs += _generation_figures(raw["generation"], quick)
    if "sweep" in raw:
        s = raw["sweep"]
        figs.append(Figure(
            "sweep", f"batched sampling, {s['settings']}×{s['samples']} rows × {s['max_new_tokens']} tokens", s["batched_s"], "s",
            "one generate per sample", s["sequential_s"], s["speedup"], "≥ 10× faster", s["speedup"] >= 10,
            f"ratio = speed-up; reference = median of {s['sequential_rows_timed']} timed rows × {s['rows']}; prompt {s['prompt_tokens']} tokens; {s['model']}",
        ))
    if "llamacpp" in raw:
        figs += _llamacpp_figures(raw["llamacpp"], quick)
    if "concurrency" in raw:
        c = raw["concurrency"]
        figs.append(Figure(
            "concurrency", f"openai sweep, {c['requests']} requests, 8 in flight", c["c8"]["seconds"], "s", "1 in flight", c["c1"]["seconds"],
            c["speedup"], "≥ 5× faster", c["speedup"] >= 5,
            f"ratio = speed-up; local OpenAI stand-in, {c['latency_s'] * 1000:.0f} ms per request, {c['slots']} slots; whole sweep",
        ))
    if "rss" in raw:
        r = raw["rss"]
        model, extractive = r["model"]["peak_rss_bytes"], r["extractive"]["peak_rss_bytes"]
        weights = raw.get("generation", {}).get("parameters", 0) * 2
        figs.append(Figure("memory", "rag.ask peak RSS, random Qwen3 folder (--model)", model / GB, "GB", "extractive-fallback rag.ask", extractive / GB, ratio(model, extractive), note=f"{r['method']}; bf16 weights {weights / GB:.2f} GB"))
        figs.append(Figure("memory", "rag.ask peak RSS, default model → extractive fallback", extractive / GB, "GB", note=r["method"]))
    return figs


def _llamacpp_figures(g: dict[str, Any], quick: bool) -> list[Figure]:
    out = []
    suffix = "; --quick: tiny model" if quick else ""
    for f in g["files"]:
        lc, hf = f["llamacpp"], f.get("transformers")
        name = f["file"]
        note = f"default RAG prompt (k = 5): {lc['prompt_tokens']} tokens; {g['threads']} threads{suffix}"
        ttft_met = lc["ttft_s"] <= 4 if "0.6B" in name and "Q8_0" in name else None
        ttft_target = "≤ 4 s (Qwen3-0.6B Q8_0)" if ttft_met is not None else ""
        b = f.get("breakdown")
        if b:  # prefill is compute: 2 FLOPs per parameter per prompt token
            flops = 2 * b["n_params"] * lc["prompt_tokens"]
            note += f"; prefill at {flops / lc['ttft_s'] / 1e9:.1f} GFLOP/s, TTFT 4 s needs {flops / 4 / 1e9:.1f}"
        if hf:
            out.append(Figure("llamacpp", f"{name}: prefill, llama.cpp", lc["prefill_tokens_per_s"], "tok/s", f"transformers ({hf['dtype']}, same file)", hf["prefill_tokens_per_s"], ratio(lc["prefill_tokens_per_s"], hf["prefill_tokens_per_s"]), note=note))
            out.append(Figure("llamacpp", f"{name}: TTFT, llama.cpp", lc["ttft_s"], "s", "transformers, same file", hf["ttft_s"], ratio(lc["ttft_s"], hf["ttft_s"]), ttft_target, ttft_met))
        else:
            out.append(Figure("llamacpp", f"{name}: prefill, llama.cpp", lc["prefill_tokens_per_s"], "tok/s", note=note))
            out.append(Figure("llamacpp", f"{name}: TTFT, llama.cpp", lc["ttft_s"], "s", target=ttft_target, met=ttft_met))
        share = ratio(lc["decode_tokens_per_s"], lc["bound_tokens_per_s"])
        bound_met = share >= 0.6 if "0.6B" in name and "Q8_0" in name else None
        read, bw = f["decode_bytes"], f["bandwidth"]
        out.append(Figure(
            "llamacpp", f"{name}: decode, llama.cpp", lc["decode_tokens_per_s"], "tok/s",
            f"bandwidth bound ({read['weight_bytes'] / 1e9:.2f} GB weights + {read['kv_bytes'] / 1e9:.2f} GB KV cache per token)", lc["bound_tokens_per_s"], share,
            "≥ 0.6 of bound (Qwen3-0.6B Q8_0)" if bound_met is not None else "", bound_met,
            f"read bandwidth {bw['gb_per_s']:.1f} GB/s: best of {len(bw['before']['runs_gb_per_s']) + len(bw['after']['runs_gb_per_s'])} passes just before and after this timing "
            f"(medians {bw['before']['median_gb_per_s']:.1f} before, {bw['after']['median_gb_per_s']:.1f} after); weights alone: "
            f"{ratio(lc['decode_tokens_per_s'], lc['weights_only_bound_tokens_per_s']):.2f} of {lc['weights_only_bound_tokens_per_s']:.1f} tok/s",
        ))
        if b:
            alone, one = b["decode_only_tokens_per_s_after_prompt"], b["decode_only_tokens_per_s_after_one_token"]
            out.append(Figure(
                "llamacpp", f"{name}: llama_decode alone after the prompt (no sampling)", alone, "tok/s", "bandwidth bound", lc["bound_tokens_per_s"], ratio(alone, lc["bound_tokens_per_s"]),
                note=f"after a one-token prompt {one:.2f} tok/s ({ratio(one, b['bound_after_one_token_tokens_per_s']):.2f} of its bound, "
                f"{b['bound_after_one_token_tokens_per_s']:.1f} tok/s with an almost empty KV cache); our sampler {b['sampler_ms_per_token']:.1f} ms per token",
            ))
        if hf:
            out.append(Figure(
                "llamacpp", f"{name}: decode, transformers", hf["decode_tokens_per_s"], "tok/s", f"bandwidth bound ({hf['bytes_per_token'] / 1e9:.2f} GB of {hf['dtype']} weights and KV cache per token)", hf["bound_tokens_per_s"], ratio(hf["decode_tokens_per_s"], hf["bound_tokens_per_s"]),
                note=f"llama.cpp is {ratio(lc['decode_tokens_per_s'], hf['decode_tokens_per_s']):.1f}× faster at decode, {ratio(hf['ttft_s'], lc['ttft_s']):.1f}× at TTFT",
            ))
    if "sweep" in g:
        s = g["sweep"]
        out.append(Figure(
            "llamacpp", f"{s['file']}: sweep {s['settings']}×{s['samples']} rows × {s['max_new_tokens']} tokens, shared prefill", s["batched_s"], "s",
            "one generate per row (fresh prefill)", s["sequential_s"], s["speedup"], "≥ 8× faster", s["speedup"] >= 8,
            f"ratio = speed-up; reference = median of {len(s['sequential_row_times_s'])} timed rows × {s['rows']}; batch: prefill "
            f"{s['batched_prefill_s']:.1f} s then {s['batched_decode_tokens_per_s']:.1f} tok/s over all rows; one row: TTFT "
            f"{s['row_ttft_s']:.1f} s then {s['row_decode_tokens_per_s']:.1f} tok/s{suffix}",
        ))
    return out


def _ingest_figures(g: dict[str, Any]) -> list[Figure]:
    out = [
        Figure("ingest", f"full build ({g['chunks']} chunks, warm)", g["build_s"], "s", "raw SentenceTransformer.encode (floor)", g["encode_floor_s"], ratio(g["build_s"], g["encode_floor_s"]), "≤ 1.1× floor", ratio(g["build_s"], g["encode_floor_s"]) <= 1.1, f"cold first build {g['cold_build_s']:.1f} s (imports + model load)"),
        Figure("ingest", "full build vs LangChain", g["build_s"], "s", "LangChain FAISS.from_texts, same chunks", g["langchain_faiss_s"], ratio(g["build_s"], g["langchain_faiss_s"]), "≤ 1× LangChain", g["build_s"] <= g["langchain_faiss_s"]),
        Figure("ingest", "no-op rebuild", g["noop_rebuild_s"], "s", "full build", g["build_s"], ratio(g["noop_rebuild_s"], g["build_s"]), "< 2 s", g["noop_rebuild_s"] < 2),
    ]
    base = g["growth"][0]
    for row in g["growth"][1:]:
        r = ratio(row["cpu_ms_per_chunk"], base["cpu_ms_per_chunk"])
        out.append(Figure(
            "ingest", f"build ×{row['scale']} ({row['chunks']} chunks), CPU per chunk", row["cpu_ms_per_chunk"], "ms", "×1 build, CPU per chunk", base["cpu_ms_per_chunk"], r,
            "linear (≤ 1.25× per chunk)", r <= 1.25, f"wall {row['seconds']:.1f} s ({row['ms_per_chunk']:.0f} ms/chunk vs {base['ms_per_chunk']:.0f} at ×1), {row['runs']} run(s); CPU time because wall time follows the machine's other load",
        ))
    if g["fit"]:
        fit = g["fit"]
        out.append(Figure("ingest", "linear fit of build CPU time vs chunks, R²", fit["r2"], "", note=f"{fit['slope_s_per_chunk'] * 1000:.2f} ms/chunk + {fit['intercept_s']:.2f} s over {len(g['growth'])} sizes"))
    return out


def _generation_figures(g: dict[str, Any], quick: bool) -> list[Figure]:
    bare, ours = g["bare"], g["ours"]
    what = f"{g['model']}, {g['dtype']}, {g['threads']} threads, prompt {g['prompt_tokens']} tokens ({g['prompt_sources']} sources), {g['decode_tokens']} decode tokens"
    if quick:
        what += "; --quick: tiny model instead of the Qwen3-0.6B configuration"
    ttft_r = ratio(ours["ttft_s"], bare["ttft_s"])
    dec_r = ratio(ours["decode_tokens_per_s"], bare["decode_tokens_per_s"])
    dtype = g["dtype"]
    bound = g["bound_fp32_tokens_per_s"] if dtype == "float32" else g["bound_bf16_tokens_per_s"]
    frac = ratio(bare["decode_tokens_per_s"], bound)
    out = [
        Figure("generation", "TTFT, rag TransformersGenerator", ours["ttft_s"], "s", "bare model.generate", bare["ttft_s"], ttft_r, "≤ 1.05× bare", ttft_r <= 1.05, what),
        Figure("generation", "decode rate, rag TransformersGenerator", ours["decode_tokens_per_s"], "tok/s", "bare model.generate", bare["decode_tokens_per_s"], dec_r, "≥ 0.95× bare", dec_r >= 0.95),
        Figure("generation", "CPU time per call, rag TransformersGenerator", ours["cpu_s"], "s", "bare model.generate", bare["cpu_s"], ratio(ours["cpu_s"], bare["cpu_s"]), "≤ 1.05× bare", ratio(ours["cpu_s"], bare["cpu_s"]) <= 1.05, "whole call (prefill + decode), all threads: the overhead measure that other load on the machine does not distort"),
        Figure("generation", f"bandwidth bound, {dtype}", bound, "tok/s", note=f"{g['bandwidth_gb_per_s']:.1f} GB/s ÷ ({g['parameters_read_per_token'] / 1e6:.0f} M parameters read per token × {2 if dtype != 'float32' else 4} bytes); the KV cache adds {g['kv_cache_bytes_per_token_bf16'] / 1e6:.0f} MB/token in bf16 at this context"),
        Figure("generation", f"decode rate, bare generate, {dtype}", bare["decode_tokens_per_s"], "tok/s", f"bandwidth bound ({dtype} weights)", bound, frac, "≥ 0.5 of bound", frac >= 0.5),
    ]
    for name, v in g["variants"].items():
        d_r = ratio(v["decode_tokens_per_s"], bare["decode_tokens_per_s"])
        t_r = ratio(v["ttft_s"], bare["ttft_s"])
        note = v["what"] + (f"; first (compiling) call {v['first_call_s']:.0f} s" if "first_call_s" in v else "")
        if v["dtype"] != dtype:
            own = g["bound_fp32_tokens_per_s"] if v["dtype"] == "float32" else g["bound_bf16_tokens_per_s"]
            note += f"; {ratio(v['decode_tokens_per_s'], own):.2f} of its own {v['dtype']} bound ({own:.2g} tok/s)"
        out.append(Figure("generation", f"decode rate: {name}", v["decode_tokens_per_s"], "tok/s", f"bare generate ({dtype}, sdpa, {g['threads']} threads)", bare["decode_tokens_per_s"], d_r, note=note))
        out.append(Figure("generation", f"TTFT: {name}", v["ttft_s"], "s", f"bare generate ({dtype}, sdpa, {g['threads']} threads)", bare["ttft_s"], t_r))
    return out

