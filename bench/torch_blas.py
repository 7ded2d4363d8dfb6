"""Which BLAS this PyTorch process runs on. torch's Linear, bmm and the convolutions oneDNN does not take run
on it, and Debian's default (netlib's reference libblas3) is several times slower than OpenBLAS or MKL, so
every torch-cpu record names it: ratios against different BLAS builds are different comparisons.
"""


def blas_library():
    """The BLAS/LAPACK shared libraries mapped into this process (Linux), comma-separated, or None."""
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if "blas" in line.lower() or "libmkl" in line}
    except OSError:
        return None
    return ", ".join(sorted(p for p in paths if p.startswith("/"))) or None
