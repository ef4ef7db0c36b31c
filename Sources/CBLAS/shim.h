// CBLAS and LAPACKE C interfaces (Debian: libopenblas-dev provides cblas.h and libblas.so,
// liblapacke-dev provides lapacke.h). Swap the BLAS at link time via update-alternatives.
#include <cblas.h>
#include <lapacke.h>
