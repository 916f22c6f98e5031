// NetCDF-C. The constants Swift cannot import (macros with casts) are
// exposed as static inline functions.
#ifndef FACONVLSTM_CNETCDF_SHIM_H
#define FACONVLSTM_CNETCDF_SHIM_H
#include <netcdf.h>
#include <netcdf_mem.h>

static inline int cnc_global(void) { return NC_GLOBAL; }
static inline int cnc_unlimited(void) { return (int)NC_UNLIMITED; }
static inline float cnc_fill_float(void) { return NC_FILL_FLOAT; }
static inline double cnc_fill_double(void) { return NC_FILL_DOUBLE; }
static inline short cnc_fill_short(void) { return NC_FILL_SHORT; }
static inline int cnc_fill_int(void) { return NC_FILL_INT; }
static inline signed char cnc_fill_byte(void) { return NC_FILL_BYTE; }
#endif
