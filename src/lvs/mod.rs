//! Load balancing without I/O: the IPVS table the config and the health verdicts call for, and
//! the minimal changes that bring the kernel's table there.
