"""The machine line of every stamp (bench tables, eval reports) says which CPU and vector extensions a number
was measured with, because the same code is several times faster with AVX-512/AMX than with AVX2 only."""

from pathlib import Path

from core.machine import cpu, describe

EPYC = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC
flags\t\t: fpu sse2 avx avx2 fma f16c
processor\t: 1
model name\t: AMD EPYC
flags\t\t: fpu sse2 avx avx2 fma f16c
"""
XEON = "model name\t: Intel(R) Xeon(R) Platinum 8480+\nflags\t\t: avx2 avx512f avx512_bf16 amx_bf16 amx_tile\n"


def test_the_cpu_model_and_its_vector_extensions_come_from_cpuinfo(tmp_path: Path) -> None:
    (tmp_path / "epyc").write_text(EPYC)
    (tmp_path / "xeon").write_text(XEON)
    epyc, xeon = cpu(tmp_path / "epyc"), cpu(tmp_path / "xeon")
    assert (epyc["cpu"], epyc["avx2"], epyc["avx512"], epyc["amx"]) == ("AMD EPYC", True, False, False)
    assert (xeon["cpu"], xeon["avx2"], xeon["avx512"], xeon["amx"]) == ("Intel(R) Xeon(R) Platinum 8480+", True, True, True)
    assert describe(epyc) == f"AMD EPYC, {epyc['cores']} cores, AVX2 yes, AVX-512 no, AMX no"


def test_without_cpuinfo_the_extensions_are_unknown_not_no(tmp_path: Path) -> None:
    info = cpu(tmp_path / "missing")
    assert (info["avx2"], info["avx512"], info["amx"]) == (None, None, None)
    assert "AVX2 unknown, AVX-512 unknown, AMX unknown" in describe(info)
