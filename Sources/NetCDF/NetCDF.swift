import CNetCDF
func _probe() { var id: Int32 = 0; _ = nc_open("x", NC_NOWRITE, &id); _ = cnc_global() }
