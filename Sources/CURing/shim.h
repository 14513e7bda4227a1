#ifndef RIVVEN_MQTT_CURING_SHIM_H
#define RIVVEN_MQTT_CURING_SHIM_H

// liburing.h defines _XOPEN_SOURCE/_GNU_SOURCE before including glibc headers; including it first breaks a
// clean build (fd_set::fds_bits). The system headers come first (notes/io_uring.md).
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/select.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <inttypes.h>
#include <time.h>
#include <sched.h>
#include <linux/swab.h>
#include <liburing.h>

// Why: IOSQE_IO_LINK is `(1U << IOSQE_IO_LINK_BIT)` over an enum constant, a macro Swift does not import.
static inline void CURing_sqe_set_io_link(struct io_uring_sqe *sqe) { sqe->flags |= (__u8)IOSQE_IO_LINK; }

#endif
