// Debian's libopenblas-dev puts cblas.h under an openblas-* include directory that
// pkg-config names; openblas_set_num_threads is declared there too.
#include <cblas.h>
