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

#endif
