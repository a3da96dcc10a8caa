/*
 * sha256.h - SHA-256 (FIPS 180-4), for the owner tag of asynchronous
 * batches: the store keeps a hash of the token that made a batch, never
 * the token.
 */
#ifndef BATCHD_SHA256_H
#define BATCHD_SHA256_H

#include <stddef.h>
#include <stdint.h>

/* out: 64 lowercase hex digits and a NUL. */
void	sha256_hex(const void *data, size_t len, char out[65]);

#endif
