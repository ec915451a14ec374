"""python3 -m attn_mlir compile|run|report|bench."""

import json
import os
import subprocess
import sys

import numpy as np
import onnx
import pytest


def cli(*args, check=True):
    result = subprocess.run([sys.executable, "-m", "attn_mlir", *map(str, args)],
                            capture_output=True, text=True)
    if check and result.returncode != 0:
        raise AssertionError(result.stderr)
    return result


@pytest.fixture(scope="module")
def decoder_file(tmp_path_factory, decoder):
    path = tmp_path_factory.mktemp("cli") / "decoder.onnx"
    onnx.save(decoder[0], path)
    return path


def test_compile_run_report(tmp_path, decoder_file, gqa_mlir):
    so = tmp_path / "gqa.so"
    out = cli("compile", gqa_mlir, "-o", so, "--report", tmp_path / "r.json")
    assert f"wrote {so}" in out.stdout and so.exists()
    assert json.load(open(tmp_path / "r.json"))["attention"][0]["kv_heads"] == 2
    rng = np.random.default_rng(1)
    feed = {"q": rng.standard_normal((2, 8, 16, 32)).astype(np.float32),
            "k": rng.standard_normal((2, 2, 64, 32)).astype(np.float32),
            "v": rng.standard_normal((2, 2, 64, 32)).astype(np.float32)}
    np.savez(tmp_path / "in.npz", **feed)
    run = cli("run", so, "--inputs", tmp_path / "in.npz",
              "--outputs", tmp_path / "out.npz")
    assert "out: float32 [2, 8, 16, 32]" in run.stdout
    from conftest import reference_attention
    got = np.load(tmp_path / "out.npz")["out"]
    assert np.abs(got - reference_attention(feed["q"], feed["k"], feed["v"],
                                            0.17677669529663687, 48)).max() < 1e-5
    report = json.loads(cli("report", decoder_file, "--dim", "batch=1",
                            "--dim", "seq=1", "--share-kv", "1",
                            "--max-seq", "16").stdout)
    assert {op["kv_heads"] for op in report["report"]["attention"]} == {1}
    assert [s[0] for s in report["inouts"]][:2] == ["past_key_0",
                                                     "past_value_0"]


def test_run_generate(decoder_file, decoder):
    from test_generate import ort_greedy
    run = cli("run", decoder_file, "--dim", "batch=2", "--dim", "seq=1",
              "--max-seq", "16", "--generate", "5", "--prompt", "1,2,3;4,5,6")
    want, _ = ort_greedy(decoder[0], decoder[1],
                         np.array([[1, 2, 3], [4, 5, 6]]), 5)
    assert run.stdout.split("\n")[:2] == [
        "tokens: " + " ".join(map(str, row)) for row in want]


def test_cli_errors(tmp_path, gqa_mlir):
    bad = tmp_path / "bad.mlir"
    bad.write_text("func.func @f( {\n")
    r = cli("compile", bad, "-o", tmp_path / "x.so", check=False)
    assert r.returncode == 1 and f"{bad}:1:" in r.stderr
    assert not (tmp_path / "x.so").exists()
    r = cli("run", gqa_mlir, "--dim", "batch", check=False)
    assert r.returncode == 1 and "--dim 'batch': expected NAME=SIZE" in r.stderr
    r = cli("run", tmp_path / "missing.so", check=False)
    assert r.returncode == 1 and "attn_mlir: error:" in r.stderr
    r = cli("compile", gqa_mlir, check=False)
    assert r.returncode == 2 and "needs -o" in r.stderr


def test_bench_plots(tmp_path):
    out = tmp_path / "bench"
    r = cli("bench", "--quick", "--device", "cpu", "--out", out)
    summary = json.load(open(out / "bench.json"))
    rows = summary["cpu"]["rows"]
    assert {(r["variant"], r["kv_heads"]) for r in rows} == {
        ("MHA", 8), ("GQA", 2), ("MQA", 1)}
    assert len(rows) == 9 and all(r["ms"] > 0 and r["gbps"] > 0 for r in rows)
    # KV bytes read per step: MHA > GQA > MQA at the same context.
    at = {r["variant"]: r["bytes"] for r in rows if r["context"] == 512}
    assert at["MHA"] > at["GQA"] > at["MQA"]
    assert summary["cpu"]["read_bandwidth_gbps"] > 0
    png = out / "decode_cpu.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "measured read bandwidth" in r.stdout


def test_bench_compile_here_run_elsewhere(tmp_path):
    # A GPU host has the runtime but no compiler: --compile-only writes the
    # libraries (cuda ones need no GPU to compile), --models times them.
    models = tmp_path / "models"
    r = cli("bench", "--quick", "--device", "cpu", "--compile-only", models)
    manifest = json.load(open(models / "models.json"))
    assert [v["label"] for v in manifest["devices"]["cpu"]] == [
        "MHA", "GQA", "MQA"]
    assert all((models / f"cpu-{l}.so").exists() for l in ("MHA", "GQA", "MQA"))
    out = tmp_path / "bench"
    r = cli("bench", "--quick", "--device", "cpu", "--models", models,
            "--out", out)
    rows = json.load(open(out / "bench.json"))["cpu"]["rows"]
    assert len(rows) == 9 and all(r["gbps"] > 0 for r in rows)
    # The libraries' cache holds 512 positions: longer contexts are refused.
    r = cli("bench", "--device", "cpu", "--models", models, "--contexts",
            "1024", "--out", out, check=False)
    assert r.returncode != 0 and "exceeds the capacity" in r.stderr
    r = cli("bench", "--quick", "--device", "cuda", "--models", models,
            "--out", out, check=False)
    assert r.returncode != 0 and ("no cuda models" in r.stderr
                                  or "no usable GPU" in r.stderr)
