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

// CRC-32C (Castagnoli) with the SSE4.2 `crc32` instruction, for the local log's record checksums
// (FastIngest/Log/CRC32C.swift; a software slice-by-8 is used where this reports no support).
#include <string.h>
#if defined(__x86_64__)
#include <cpuid.h>
static inline int CURing_crc32c_hardware_available(void) {
    unsigned int eax, ebx, ecx, edx;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return 0;
    return (ecx & bit_SSE4_2) != 0;
}
__attribute__((target("sse4.2")))
static inline uint32_t CURing_crc32c_update(uint32_t crc, const void *data, size_t length) {
    const unsigned char *p = (const unsigned char *)data;
    uint64_t state = (uint32_t)~crc;
    while (length >= 8) {
        uint64_t word;
        memcpy(&word, p, 8);
        state = __builtin_ia32_crc32di(state, word);
        p += 8;
        length -= 8;
    }
    uint32_t small = (uint32_t)state;
    while (length > 0) {
        small = __builtin_ia32_crc32qi(small, *p++);
        length--;
    }
    return ~small;
}
#else
static inline int CURing_crc32c_hardware_available(void) { return 0; }
static inline uint32_t CURing_crc32c_update(uint32_t crc, const void *data, size_t length) {
    (void)data;
    (void)length;
    return crc;
}
#endif

#endif
