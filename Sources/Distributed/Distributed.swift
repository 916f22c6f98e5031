import CMPI
func _probe() { var f: Int32 = 0; MPI_Initialized(&f); _ = cmpi_comm_world() }
