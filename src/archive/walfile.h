/*-------------------------------------------------------------------------
 *
 * walfile.h
 *	  The format of files in the WAL archive, shared by the server (the
 *	  archive module) and the restore programs: a zstd frame, optionally
 *	  sealed with AES-256-GCM.
 *
 * This header and walfile.c build both into the server library and, with
 * FRONTEND defined, into the programs; nothing here raises errors: the
 * functions return NULL or a message for the caller to report.
 *
 *-------------------------------------------------------------------------
 */
#ifndef STEWARD_WALFILE_H
#define STEWARD_WALFILE_H

/* an archived file is <backup_directory>/wal/<WAL file name> WALFILE_SUFFIX */
#define WALFILE_DIR			"wal"
#define WALFILE_SUFFIX		".zst"
#define WALFILE_SYSID_FILE	"system_identifier"

/*
 * A sealed file: magic, key id, nonce, ciphertext, tag.  The magic and the
 * key id are authenticated as associated data.
 */
#define WALFILE_SEAL_MAGIC	"PGSTWE01"
#define WALFILE_MAGIC_LEN	8
#define WALFILE_KEYID_LEN	8
#define WALFILE_NONCE_LEN	12
#define WALFILE_TAG_LEN		16
#define WALFILE_SEAL_HEADER (WALFILE_MAGIC_LEN + WALFILE_KEYID_LEN + WALFILE_NONCE_LEN)
#define WALFILE_SEAL_OVERHEAD (WALFILE_SEAL_HEADER + WALFILE_TAG_LEN)

#define WALFILE_KEY_LEN		32

/* zstd level of archived WAL: WAL compresses well at the fastest levels */
#define WALFILE_ZSTD_LEVEL	1

typedef struct WalKey
{
	unsigned char key[WALFILE_KEY_LEN];
	unsigned char id[WALFILE_KEYID_LEN];
} WalKey;

extern char *walfile_load_key(const char *path, WalKey *key);
extern char *walfile_key_id_hex(const unsigned char *id);
extern bool walfile_is_sealed(const char *data, size_t len);

extern char *walfile_seal(const char *data, size_t len, const WalKey *key,
						  char **out, size_t *outlen);
extern char *walfile_unseal(const char *data, size_t len, const WalKey *keys,
							int nkeys, char **out, size_t *outlen);
extern char *walfile_pack(const char *data, size_t len, const WalKey *key,
						  char **out, size_t *outlen);
extern char *walfile_unpack(const char *data, size_t len, const WalKey *keys,
							int nkeys, char **out, size_t *outlen);

extern char *walfile_read_all(const char *path, char **data, size_t *len,
							  bool *missing);

extern char *walfile_json_field(const char *json, const char *key);
extern bool walfile_parse_lsn(const char *s, uint64 *lsn);

#endif							/* STEWARD_WALFILE_H */
