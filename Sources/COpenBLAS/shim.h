// OpenBLAS's CBLAS interface, plus its thread-count controls.
#ifndef FACONVLSTM_COPENBLAS_SHIM_H
#define FACONVLSTM_COPENBLAS_SHIM_H
#include <cblas.h>
#endif
