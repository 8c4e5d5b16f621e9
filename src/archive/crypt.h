/*-------------------------------------------------------------------------
 *
 * crypt.h
 *	  Encryption at rest of backup files: a whole file sealed with
 *	  AES-256-GCM in the format of archived WAL (walfile.h: magic, key id,
 *	  nonce, ciphertext, tag), streamed from file to file so that a 1 GB
 *	  relation segment is never held in memory.
 *
 * Built into the server library and, with FRONTEND, into pg_steward_restore;
 * nothing here raises errors: the functions return NULL or a message.
 *
 *-------------------------------------------------------------------------
 */
#ifndef STEWARD_CRYPT_H
#define STEWARD_CRYPT_H

#include "archive/walfile.h"

/* the algorithm as backup.json names it */
#define CRYPT_ALGORITHM		"AES-256-GCM"
/* a sealed file's temporary name while it is written: <file> CRYPT_TEMP_SUFFIX */
#define CRYPT_TEMP_SUFFIX	".steward-seal"
#define CRYPT_SHA256_HEX	65
/* room for an error of crypt_seal_inplace_noalloc() */
#define CRYPT_ERRLEN		256

extern char *crypt_seal_file(const char *from, const char *to, const WalKey *key,
							 char *sha256_hex, int64 *outsize, bool durable);
extern char *crypt_seal_file_inplace(const char *path, const WalKey *key, char *sha256_hex,
									 int64 *outsize, char *plain_sha256_hex,
									 int64 *plain_size);
extern bool crypt_seal_inplace_noalloc(const char *path, const WalKey *key,
									   char *sha256_hex, int64 *outsize,
									   char *plain_sha256_hex, int64 *plain_size,
									   char *errbuf, size_t errlen);
extern char *crypt_unseal_file(const char *from, const char *to, const WalKey *keys,
							   int nkeys);
extern char *crypt_file_key_id(const char *path, unsigned char *id);

#endif							/* STEWARD_CRYPT_H */
