/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The checks of an echo device (examples/echo.c and its Python twin,
 * bindings/python/examples/echo.py): the node keeps what was last written
 * to it and gives it back to every reader.  Each takes the device node and
 * asserts (cmocka), so one set of checks tests every echo daemon.
 */
#ifndef ECHO_CHECKS_H
#define ECHO_CHECKS_H

/* A C client writes, reads back, reads in pieces and seeks. */
void echo_check_c_client(const char *node);
/* echo > node; cat node. */
void echo_check_shell(const char *node);
/* 64 KiB of random bytes through dd survive exactly. */
void echo_check_dd_binary_block(const char *node);
/* A write bigger than one request is short: FUSD_IO_MAX bytes. */
void echo_check_large_write_is_chunked(const char *node);

#endif /* ECHO_CHECKS_H */
