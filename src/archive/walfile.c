/*-------------------------------------------------------------------------
 *
 * walfile.c
 *	  Packing and unpacking archived files: zstd compression and the
 *	  AES-256-GCM seal, plus the key file.  Built into the server library
 *	  and, with FRONTEND, into the restore programs.
 *
 * A packed file is a zstd frame (readable with `zstd -d`), or, with a key,
 * that frame sealed: "PGSTWE01", the key's 8-byte id, a random 12-byte
 * nonce, the ciphertext and the 16-byte GCM tag.  The id picks the key
 * among the current and old ones; a wrong key, a modified byte anywhere or
 * a truncated file fails the tag check, so nothing unauthenticated is ever
 * handed on.
 *
 * A key file holds 64 hexadecimal digits (`openssl rand -hex 32`) and must
 * not be readable by group or others.  Keys are never part of a message.
 *
 *-------------------------------------------------------------------------
 */
#ifdef FRONTEND
#include "postgres_fe.h"
#else
#include "postgres.h"
#endif

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <zstd.h>

#include "archive/walfile.h"

/* EVP takes int lengths: feed it in pieces */
#define WALFILE_CHUNK	(64 * 1024 * 1024)

static void *
walfile_alloc(size_t size)
{
	return palloc_extended(size, MCXT_ALLOC_HUGE);
}

static int
hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* The first bytes of SHA-256("pg_steward key id" || key): names a key. */
static void
walfile_key_id(WalKey *key)
{
	static const char label[] = "pg_steward key id";
	unsigned char buf[sizeof(label) - 1 + WALFILE_KEY_LEN];
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	memcpy(buf, label, sizeof(label) - 1);
	memcpy(buf + sizeof(label) - 1, key->key, WALFILE_KEY_LEN);
	if (EVP_Digest(buf, sizeof(buf), md, &mdlen, EVP_sha256(), NULL) != 1)
		memset(md, 0, sizeof(md));
	memcpy(key->id, md, WALFILE_KEYID_LEN);
	explicit_bzero(buf, sizeof(buf));
}

char *
walfile_key_id_hex(const unsigned char *id)
{
	char	   *s = palloc(WALFILE_KEYID_LEN * 2 + 1);
	int			i;

	for (i = 0; i < WALFILE_KEYID_LEN; i++)
		snprintf(s + 2 * i, 3, "%02x", id[i]);
	return s;
}

/* Reads a key file; NULL, or why it cannot be used. */
char *
walfile_load_key(const char *path, WalKey *key)
{
	struct stat st;
	char		buf[256];
	int			fd;
	ssize_t		n;
	int			digits = 0;
	ssize_t		i;

	memset(key, 0, sizeof(WalKey));
	fd = open(path, O_RDONLY | PG_BINARY, 0);
	if (fd < 0)
		return psprintf("could not open key file \"%s\": %s", path, strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
	{
		close(fd);
		return psprintf("key file \"%s\" is not a regular file", path);
	}
	if (st.st_mode & (S_IRWXG | S_IRWXO))
	{
		close(fd);
		return psprintf("key file \"%s\" is accessible by group or others (mode %04o); it must be readable by its owner only",
						path, (unsigned int) (st.st_mode & 07777));
	}
	n = read(fd, buf, sizeof(buf));
	close(fd);
	if (n < 0)
		return psprintf("could not read key file \"%s\": %s", path, strerror(errno));
	for (i = 0; i < n; i++)
	{
		int			v = hex_value(buf[i]);

		if (v < 0)
		{
			if (buf[i] == '\n' || buf[i] == '\r' || buf[i] == ' ' || buf[i] == '\t')
				continue;
			digits = -1;
			break;
		}
		if (digits >= WALFILE_KEY_LEN * 2)
		{
			digits = -1;
			break;
		}
		if (digits % 2 == 0)
			key->key[digits / 2] = (unsigned char) (v << 4);
		else
			key->key[digits / 2] |= (unsigned char) v;
		digits++;
	}
	explicit_bzero(buf, sizeof(buf));
	if (digits != WALFILE_KEY_LEN * 2)
	{
		explicit_bzero(key, sizeof(WalKey));
		return psprintf("key file \"%s\" must hold exactly %d hexadecimal digits (a 256-bit key, e.g. from \"openssl rand -hex 32\")",
						path, WALFILE_KEY_LEN * 2);
	}
	walfile_key_id(key);
	return NULL;
}

bool
walfile_is_sealed(const char *data, size_t len)
{
	return len >= WALFILE_MAGIC_LEN &&
		memcmp(data, WALFILE_SEAL_MAGIC, WALFILE_MAGIC_LEN) == 0;
}

/* AES-256-GCM over data; out gets header, ciphertext and tag. */
char *
walfile_seal(const char *data, size_t len, const WalKey *key, char **out,
			 size_t *outlen)
{
	EVP_CIPHER_CTX *ctx;
	unsigned char *buf;
	size_t		done = 0;
	size_t		pos = WALFILE_SEAL_HEADER;
	int			n;
	char	   *err = NULL;

	buf = walfile_alloc(len + WALFILE_SEAL_OVERHEAD);
	memcpy(buf, WALFILE_SEAL_MAGIC, WALFILE_MAGIC_LEN);
	memcpy(buf + WALFILE_MAGIC_LEN, key->id, WALFILE_KEYID_LEN);
	if (RAND_bytes(buf + WALFILE_MAGIC_LEN + WALFILE_KEYID_LEN, WALFILE_NONCE_LEN) != 1)
	{
		pfree(buf);
		return psprintf("could not generate a random nonce");
	}
	ctx = EVP_CIPHER_CTX_new();
	if (ctx == NULL ||
		EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
		EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, WALFILE_NONCE_LEN, NULL) != 1 ||
		EVP_EncryptInit_ex(ctx, NULL, NULL, key->key,
						   buf + WALFILE_MAGIC_LEN + WALFILE_KEYID_LEN) != 1 ||
		EVP_EncryptUpdate(ctx, NULL, &n, buf, WALFILE_MAGIC_LEN + WALFILE_KEYID_LEN) != 1)
		err = psprintf("could not initialize AES-256-GCM encryption");
	while (err == NULL && done < len)
	{
		int			piece = (int) Min(len - done, (size_t) WALFILE_CHUNK);

		if (EVP_EncryptUpdate(ctx, buf + pos, &n, (const unsigned char *) data + done,
							  piece) != 1)
			err = psprintf("could not encrypt");
		done += piece;
		pos += n;
	}
	if (err == NULL)
	{
		if (EVP_EncryptFinal_ex(ctx, buf + pos, &n) != 1)
			err = psprintf("could not encrypt");
		pos += n;
	}
	if (err == NULL &&
		EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, WALFILE_TAG_LEN, buf + pos) != 1)
		err = psprintf("could not compute the authentication tag");
	EVP_CIPHER_CTX_free(ctx);
	if (err)
	{
		pfree(buf);
		return err;
	}
	*out = (char *) buf;
	*outlen = pos + WALFILE_TAG_LEN;
	return NULL;
}

/* Checks and removes the seal: the key by its id, then the tag. */
char *
walfile_unseal(const char *data, size_t len, const WalKey *keys, int nkeys,
			   char **out, size_t *outlen)
{
	const unsigned char *in = (const unsigned char *) data;
	const WalKey *key = NULL;
	EVP_CIPHER_CTX *ctx;
	unsigned char *buf;
	size_t		clen;
	size_t		done = 0;
	size_t		pos = 0;
	int			n;
	int			i;
	char	   *err = NULL;

	if (!walfile_is_sealed(data, len) || len < WALFILE_SEAL_OVERHEAD)
		return psprintf("not an encrypted pg_steward file, or truncated");
	for (i = 0; i < nkeys; i++)
		if (memcmp(keys[i].id, in + WALFILE_MAGIC_LEN, WALFILE_KEYID_LEN) == 0)
			key = &keys[i];
	if (key == NULL)
		return psprintf(nkeys == 0 ?
						"the file is encrypted (key id %s) and no key is configured" :
						"the file is encrypted with a key that is not configured (key id %s)",
						walfile_key_id_hex(in + WALFILE_MAGIC_LEN));
	clen = len - WALFILE_SEAL_OVERHEAD;
	buf = walfile_alloc(clen + 1);
	ctx = EVP_CIPHER_CTX_new();
	if (ctx == NULL ||
		EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
		EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, WALFILE_NONCE_LEN, NULL) != 1 ||
		EVP_DecryptInit_ex(ctx, NULL, NULL, key->key,
						   in + WALFILE_MAGIC_LEN + WALFILE_KEYID_LEN) != 1 ||
		EVP_DecryptUpdate(ctx, NULL, &n, in, WALFILE_MAGIC_LEN + WALFILE_KEYID_LEN) != 1)
		err = psprintf("could not initialize AES-256-GCM decryption");
	while (err == NULL && done < clen)
	{
		int			piece = (int) Min(clen - done, (size_t) WALFILE_CHUNK);

		if (EVP_DecryptUpdate(ctx, buf + pos, &n, in + WALFILE_SEAL_HEADER + done,
							  piece) != 1)
			err = psprintf("could not decrypt");
		done += piece;
		pos += n;
	}
	if (err == NULL &&
		(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, WALFILE_TAG_LEN,
							 (void *) (in + len - WALFILE_TAG_LEN)) != 1 ||
		 EVP_DecryptFinal_ex(ctx, buf + pos, &n) != 1))
		err = psprintf("authentication failed: the file was modified or damaged (key id %s)",
					   walfile_key_id_hex(key->id));
	EVP_CIPHER_CTX_free(ctx);
	if (err)
	{
		explicit_bzero(buf, clen);
		pfree(buf);
		return err;
	}
	*out = (char *) buf;
	*outlen = pos;
	return NULL;
}

/* zstd, then the seal when a key is given. */
char *
walfile_pack(const char *data, size_t len, const WalKey *key, char **out,
			 size_t *outlen)
{
	size_t		bound = ZSTD_compressBound(len);
	char	   *z = walfile_alloc(bound);
	size_t		zlen;
	char	   *err;

	zlen = ZSTD_compress(z, bound, data, len, WALFILE_ZSTD_LEVEL);
	if (ZSTD_isError(zlen))
	{
		pfree(z);
		return psprintf("could not compress: %s", ZSTD_getErrorName(zlen));
	}
	if (key == NULL)
	{
		*out = z;
		*outlen = zlen;
		return NULL;
	}
	err = walfile_seal(z, zlen, key, out, outlen);
	pfree(z);
	return err;
}

/* The inverse of walfile_pack: unseal if sealed, then decompress. */
char *
walfile_unpack(const char *data, size_t len, const WalKey *keys, int nkeys,
			   char **out, size_t *outlen)
{
	char	   *plain = NULL;
	size_t		plen;
	unsigned long long size;
	char	   *buf;
	size_t		n;
	char	   *err;

	if (walfile_is_sealed(data, len))
	{
		err = walfile_unseal(data, len, keys, nkeys, &plain, &plen);
		if (err)
			return err;
		data = plain;
		len = plen;
	}
	size = ZSTD_getFrameContentSize(data, len);
	if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN ||
		size > (unsigned long long) 0x7FFFFFFF)
		err = psprintf("not a zstd-compressed pg_steward file, or damaged");
	else
	{
		buf = walfile_alloc(size + 1);
		n = ZSTD_decompress(buf, size + 1, data, len);
		if (ZSTD_isError(n) || n != size)
		{
			err = psprintf("could not decompress: %s",
						   ZSTD_isError(n) ? ZSTD_getErrorName(n) : "wrong size");
			pfree(buf);
		}
		else
		{
			*out = buf;
			*outlen = n;
			err = NULL;
		}
	}
	if (plain)
		pfree(plain);
	return err;
}

/* A whole file; *missing (when given) says ENOENT rather than failing. */
char *
walfile_read_all(const char *path, char **data, size_t *len, bool *missing)
{
	struct stat st;
	int			fd;
	char	   *buf;
	size_t		got = 0;

	if (missing)
		*missing = false;
	fd = open(path, O_RDONLY | PG_BINARY, 0);
	if (fd < 0)
	{
		if (errno == ENOENT && missing)
		{
			*missing = true;
			return NULL;
		}
		return psprintf("could not open file \"%s\": %s", path, strerror(errno));
	}
	if (fstat(fd, &st) != 0)
	{
		close(fd);
		return psprintf("could not stat file \"%s\": %s", path, strerror(errno));
	}
	buf = walfile_alloc((size_t) st.st_size + 1);
	while (got < (size_t) st.st_size)
	{
		ssize_t		n = read(fd, buf + got, (size_t) st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
		{
			int			save = errno;

			close(fd);
			pfree(buf);
			return n < 0 ? psprintf("could not read file \"%s\": %s", path, strerror(save)) :
				psprintf("could not read file \"%s\": it became shorter while being read", path);
		}
		got += n;
	}
	close(fd);
	buf[got] = '\0';
	*data = buf;
	*len = got;
	return NULL;
}

/*
 * The value of a top-level field of backup.json as text (a string without
 * its quotes, or a number), NULL if absent.  backup.json is written by
 * pg_steward (and rewritten as jsonb by a verify) with no escapes in these
 * fields and no nested key of the same name, so finding the first "key"
 * followed by a colon is enough (a value such as a check's name may be the
 * same word); this is not a general JSON parser.
 */
char *
walfile_json_field(const char *json, const char *key)
{
	char	   *pattern = psprintf("\"%s\"", key);
	const char *p = json;
	const char *end;

	/* the first occurrence as a key: a value may be the same word */
	while ((p = strstr(p, pattern)) != NULL)
	{
		p += strlen(pattern);
		while (*p == ' ' || *p == '\t' || *p == '\n')
			p++;
		if (*p == ':')
			break;
	}
	pfree(pattern);
	if (p == NULL)
		return NULL;
	p++;
	while (*p == ' ' || *p == '\t' || *p == '\n')
		p++;
	if (*p == '"')
	{
		end = strchr(++p, '"');
		if (end == NULL)
			return NULL;
	}
	else
	{
		end = p;
		while (*end && *end != ',' && *end != '}' && *end != ' ' && *end != '\n')
			end++;
		if (end == p || strncmp(p, "null", 4) == 0)
			return NULL;
	}
	return pnstrdup(p, end - p);
}

/* "X/Y" to a 64-bit LSN; false if malformed */
bool
walfile_parse_lsn(const char *s, uint64 *lsn)
{
	unsigned int hi;
	unsigned int lo;
	char		extra;

	if (s == NULL || sscanf(s, "%X/%X%c", &hi, &lo, &extra) != 2)
		return false;
	*lsn = ((uint64) hi << 32) | lo;
	return true;
}
