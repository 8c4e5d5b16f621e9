/*-------------------------------------------------------------------------
 *
 * crypt.c
 *	  Sealing and unsealing whole backup files with AES-256-GCM, streamed
 *	  from one file to another (or sealed in place).  Built into the server library (the backup
 *	  engine and the restore drills) and, with FRONTEND, into
 *	  pg_steward_restore.
 *
 * The sealed file has the layout of an encrypted archived WAL file
 * (walfile.c): "PGSTWE01", the key's 8-byte id, a random 12-byte nonce, the
 * ciphertext and the 16-byte GCM tag; magic and key id are authenticated
 * as associated data.  Each file gets its own nonce.  Unsealing writes
 * plaintext before the tag can be checked at the end of the file: on a
 * failed check the output is removed and an error returned, so callers
 * write into a folder of their own that they remove as a whole on error.
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

#include "archive/crypt.h"

#define CRYPT_BUFSIZE	(1024 * 1024)

/*
 * Read exactly n bytes unless the file ends: at 'off', or (off < 0) at the
 * file's position.  Returns the count or -1.
 */
static ssize_t
crypt_read_at(int fd, unsigned char *buf, size_t n, off_t off)
{
	size_t		got = 0;

	while (got < n)
	{
		ssize_t		r = off < 0 ? read(fd, buf + got, n - got) :
			pread(fd, buf + got, n - got, off + got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		got += r;
	}
	return (ssize_t) got;
}

/* Write all of buf: at 'off', or (off < 0) at the file's position. */
static bool
crypt_write_at(int fd, const unsigned char *buf, size_t n, off_t off)
{
	size_t		done = 0;

	while (done < n)
	{
		ssize_t		w = off < 0 ? write(fd, buf + done, n - done) :
			pwrite(fd, buf + done, n - done, off + done);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
		{
			if (w == 0)
				errno = ENOSPC;
			return false;
		}
		done += w;
	}
	return true;
}

/*
 * Seals 'from' into the new file 'to' (created, never overwritten; fsynced
 * when 'durable', else the caller syncs it later) with 'key'.  sha256_hex
 * (CRYPT_SHA256_HEX bytes) and outsize, when given, get the SHA-256 and
 * the size of what was written: the checksums of a backup are those of its
 * sealed files.  'from' is left as it is.
 */
char *
crypt_seal_file(const char *from, const char *to, const WalKey *key,
				char *sha256_hex, int64 *outsize, bool durable)
{
	unsigned char header[WALFILE_SEAL_HEADER];
	unsigned char tag[WALFILE_TAG_LEN];
	unsigned char *in = NULL;
	unsigned char *out = NULL;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_CIPHER_CTX *ctx = NULL;
	EVP_MD_CTX *sha = NULL;
	int			fin;
	int			fout = -1;
	int			n;
	ssize_t		r;
	int64		size = 0;
	char	   *err = NULL;
	int			i;

	fin = open(from, O_RDONLY | PG_BINARY, 0);
	if (fin < 0)
		return psprintf("could not open file \"%s\": %s", from, strerror(errno));
	fout = open(to, O_WRONLY | O_CREAT | O_EXCL | PG_BINARY, S_IRUSR | S_IWUSR);
	if (fout < 0)
	{
		err = psprintf("could not create file \"%s\": %s", to, strerror(errno));
		close(fin);
		return err;
	}
	in = malloc(CRYPT_BUFSIZE);
	out = malloc(CRYPT_BUFSIZE + WALFILE_TAG_LEN);
	memcpy(header, WALFILE_SEAL_MAGIC, WALFILE_MAGIC_LEN);
	memcpy(header + WALFILE_MAGIC_LEN, key->id, WALFILE_KEYID_LEN);
	ctx = EVP_CIPHER_CTX_new();
	sha = EVP_MD_CTX_new();
	if (in == NULL || out == NULL)
		err = psprintf("out of memory");
	else if (RAND_bytes(header + WALFILE_MAGIC_LEN + WALFILE_KEYID_LEN, WALFILE_NONCE_LEN) != 1)
		err = psprintf("could not generate a random nonce");
	else if (ctx == NULL || sha == NULL ||
			 EVP_DigestInit_ex(sha, EVP_sha256(), NULL) != 1 ||
			 EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
			 EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, WALFILE_NONCE_LEN, NULL) != 1 ||
			 EVP_EncryptInit_ex(ctx, NULL, NULL, key->key,
								header + WALFILE_MAGIC_LEN + WALFILE_KEYID_LEN) != 1 ||
			 EVP_EncryptUpdate(ctx, NULL, &n, header, WALFILE_MAGIC_LEN + WALFILE_KEYID_LEN) != 1)
		err = psprintf("could not initialize AES-256-GCM encryption");
	else if (!crypt_write_at(fout, header, sizeof(header), -1))
		err = psprintf("could not write file \"%s\": %s", to, strerror(errno));
	else
	{
		EVP_DigestUpdate(sha, header, sizeof(header));
		size += sizeof(header);
	}
	while (err == NULL)
	{
		r = crypt_read_at(fin, in, CRYPT_BUFSIZE, -1);
		if (r < 0)
			err = psprintf("could not read file \"%s\": %s", from, strerror(errno));
		else if (r == 0)
			break;
		else if (EVP_EncryptUpdate(ctx, out, &n, in, (int) r) != 1)
			err = psprintf("could not encrypt");
		else if (!crypt_write_at(fout, out, n, -1))
			err = psprintf("could not write file \"%s\": %s", to, strerror(errno));
		else
		{
			EVP_DigestUpdate(sha, out, n);
			size += n;
		}
	}
	if (err == NULL)
	{
		if (EVP_EncryptFinal_ex(ctx, out, &n) != 1 ||
			EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, WALFILE_TAG_LEN, tag) != 1)
			err = psprintf("could not compute the authentication tag");
		else if (!crypt_write_at(fout, out, n, -1) || !crypt_write_at(fout, tag, sizeof(tag), -1))
			err = psprintf("could not write file \"%s\": %s", to, strerror(errno));
		else
		{
			EVP_DigestUpdate(sha, out, n);
			EVP_DigestUpdate(sha, tag, sizeof(tag));
			size += n + sizeof(tag);
			if (EVP_DigestFinal_ex(sha, md, &mdlen) != 1)
				err = psprintf("could not compute SHA-256");
		}
	}
	if (err == NULL && durable && fsync(fout) != 0)
		err = psprintf("could not fsync file \"%s\": %s", to, strerror(errno));
	if (close(fout) != 0 && err == NULL)
		err = psprintf("could not close file \"%s\": %s", to, strerror(errno));
	close(fin);
	EVP_CIPHER_CTX_free(ctx);
	EVP_MD_CTX_free(sha);
	if (in)
	{
		explicit_bzero(in, CRYPT_BUFSIZE);
		free(in);
	}
	free(out);
	if (err)
	{
		(void) unlink(to);
		return err;
	}
	if (sha256_hex)
		for (i = 0; i < 32; i++)
			snprintf(sha256_hex + 2 * i, 3, "%02x", md[i]);
	if (outsize)
		*outsize = size;
	return NULL;
}

/* Format an error into 'buf' (no allocation: checksum processes call this). */
static char *crypt_errf(char *buf, size_t len, const char *fmt,...) pg_attribute_printf(3, 4);

static char *
crypt_errf(char *buf, size_t len, const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
	return buf;
}

/*
 * Seals the file 'path' in place, into the layout crypt_seal_file() writes
 * (no new file: a physical backup seals a thousand files while
 * pg_basebackup writes them, and creating and deleting an inode per file
 * costs more than the encryption).  Each piece is written only once the
 * piece after it has been read: the sealed text runs WALFILE_SEAL_HEADER
 * bytes ahead of the plaintext.  Not fsynced.  sha256_hex/outsize and
 * plain_sha256_hex/plain_size (each may be NULL) as in
 * crypt_seal_file_hashed().  False on failure, with the error in 'errbuf':
 * nothing is allocated from the server's memory, so that checksum
 * processes (backup/hasher.c) can call it.  On failure the file is left
 * damaged: callers seal files of a folder that they remove as a whole on
 * error.
 */
bool
crypt_seal_inplace_noalloc(const char *path, const WalKey *key, char *sha256_hex,
						   int64 *outsize, char *plain_sha256_hex, int64 *plain_size,
						   char *errbuf, size_t errlen)
{
	unsigned char header[WALFILE_SEAL_HEADER];
	unsigned char tag[WALFILE_TAG_LEN];
	unsigned char *cur = NULL;
	unsigned char *next = NULL;
	unsigned char *out = NULL;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned char pmd[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_CIPHER_CTX *ctx = NULL;
	EVP_MD_CTX *sha = NULL;
	EVP_MD_CTX *psha = NULL;
	off_t		roff = 0;
	off_t		woff = 0;
	ssize_t		ncur;
	int			n;
	int			fd;
	char	   *err = NULL;
	int			i;

	fd = open(path, O_RDWR | PG_BINARY, 0);
	if (fd < 0)
	{
		(void) crypt_errf(errbuf, errlen, "could not open file \"%s\": %s", path, strerror(errno));
		return false;
	}
	cur = malloc(CRYPT_BUFSIZE);
	next = malloc(CRYPT_BUFSIZE);
	out = malloc(CRYPT_BUFSIZE);
	memcpy(header, WALFILE_SEAL_MAGIC, WALFILE_MAGIC_LEN);
	memcpy(header + WALFILE_MAGIC_LEN, key->id, WALFILE_KEYID_LEN);
	ctx = EVP_CIPHER_CTX_new();
	sha = EVP_MD_CTX_new();
	psha = EVP_MD_CTX_new();
	if (cur == NULL || next == NULL || out == NULL)
		err = crypt_errf(errbuf, errlen, "out of memory");
	else if (RAND_bytes(header + WALFILE_MAGIC_LEN + WALFILE_KEYID_LEN, WALFILE_NONCE_LEN) != 1)
		err = crypt_errf(errbuf, errlen, "could not generate a random nonce");
	else if (ctx == NULL || sha == NULL || psha == NULL ||
			 EVP_DigestInit_ex(sha, EVP_sha256(), NULL) != 1 ||
			 EVP_DigestInit_ex(psha, EVP_sha256(), NULL) != 1 ||
			 EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
			 EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, WALFILE_NONCE_LEN, NULL) != 1 ||
			 EVP_EncryptInit_ex(ctx, NULL, NULL, key->key,
								header + WALFILE_MAGIC_LEN + WALFILE_KEYID_LEN) != 1 ||
			 EVP_EncryptUpdate(ctx, NULL, &n, header, WALFILE_MAGIC_LEN + WALFILE_KEYID_LEN) != 1)
		err = crypt_errf(errbuf, errlen, "could not initialize AES-256-GCM encryption");

	/* the first piece is read before the header overwrites its start */
	if (err == NULL && (ncur = crypt_read_at(fd, cur, CRYPT_BUFSIZE, roff)) < 0)
		err = crypt_errf(errbuf, errlen, "could not read file \"%s\": %s", path, strerror(errno));
	if (err == NULL)
	{
		roff += ncur;
		if (!crypt_write_at(fd, header, sizeof(header), woff))
			err = crypt_errf(errbuf, errlen, "could not write file \"%s\": %s", path, strerror(errno));
		EVP_DigestUpdate(sha, header, sizeof(header));
		woff += sizeof(header);
	}
	while (err == NULL && ncur > 0)
	{
		ssize_t		nnext = 0;
		unsigned char *swap;

		/* the next piece, before this one's ciphertext overwrites its start */
		if (ncur == CRYPT_BUFSIZE &&
			(nnext = crypt_read_at(fd, next, CRYPT_BUFSIZE, roff)) < 0)
		{
			err = crypt_errf(errbuf, errlen, "could not read file \"%s\": %s", path, strerror(errno));
			break;
		}
		roff += nnext;
		if (EVP_DigestUpdate(psha, cur, ncur) != 1 ||
			EVP_EncryptUpdate(ctx, out, &n, cur, (int) ncur) != 1)
			err = crypt_errf(errbuf, errlen, "could not encrypt");
		else if (!crypt_write_at(fd, out, n, woff))
			err = crypt_errf(errbuf, errlen, "could not write file \"%s\": %s", path, strerror(errno));
		else
		{
			EVP_DigestUpdate(sha, out, n);
			woff += n;
		}
		swap = cur;
		cur = next;
		next = swap;
		ncur = nnext;
	}
	if (err == NULL)
	{
		if (EVP_EncryptFinal_ex(ctx, out, &n) != 1 ||
			EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, WALFILE_TAG_LEN, tag) != 1)
			err = crypt_errf(errbuf, errlen, "could not compute the authentication tag");
		else if (!crypt_write_at(fd, out, n, woff) ||
				 !crypt_write_at(fd, tag, sizeof(tag), woff + n))
			err = crypt_errf(errbuf, errlen, "could not write file \"%s\": %s", path, strerror(errno));
		else
		{
			EVP_DigestUpdate(sha, out, n);
			EVP_DigestUpdate(sha, tag, sizeof(tag));
			woff += n + sizeof(tag);
			if (EVP_DigestFinal_ex(sha, md, &mdlen) != 1 ||
				EVP_DigestFinal_ex(psha, pmd, &mdlen) != 1)
				err = crypt_errf(errbuf, errlen, "could not compute SHA-256");
		}
	}
	if (close(fd) != 0 && err == NULL)
		err = crypt_errf(errbuf, errlen, "could not close file \"%s\": %s", path, strerror(errno));
	EVP_CIPHER_CTX_free(ctx);
	EVP_MD_CTX_free(sha);
	EVP_MD_CTX_free(psha);
	/* plaintext was in them, up to the size of the file */
	if (cur)
		explicit_bzero(cur, Min(roff, CRYPT_BUFSIZE));
	if (next)
		explicit_bzero(next, Min(roff, CRYPT_BUFSIZE));
	free(cur);
	free(next);
	free(out);
	if (err)
		return false;
	if (sha256_hex)
		for (i = 0; i < 32; i++)
			snprintf(sha256_hex + 2 * i, 3, "%02x", md[i]);
	if (plain_sha256_hex)
		for (i = 0; i < 32; i++)
			snprintf(plain_sha256_hex + 2 * i, 3, "%02x", pmd[i]);
	if (outsize)
		*outsize = woff;
	if (plain_size)
		*plain_size = roff;
	return true;
}

/* crypt_seal_inplace_noalloc(), with the error palloc'd (NULL: success). */
char *
crypt_seal_file_inplace(const char *path, const WalKey *key, char *sha256_hex,
						int64 *outsize, char *plain_sha256_hex, int64 *plain_size)
{
	char		err[CRYPT_ERRLEN];

	if (crypt_seal_inplace_noalloc(path, key, sha256_hex, outsize, plain_sha256_hex,
								   plain_size, err, sizeof(err)))
		return NULL;
	return pstrdup(err);
}

/*
 * The key id of a sealed file, into 'id' (WALFILE_KEYID_LEN bytes); an
 * error if the file is not sealed.
 */
char *
crypt_file_key_id(const char *path, unsigned char *id)
{
	unsigned char header[WALFILE_MAGIC_LEN + WALFILE_KEYID_LEN];
	int			fd = open(path, O_RDONLY | PG_BINARY, 0);
	ssize_t		r;

	if (fd < 0)
		return psprintf("could not open file \"%s\": %s", path, strerror(errno));
	r = crypt_read_at(fd, header, sizeof(header), -1);
	close(fd);
	if (r != (ssize_t) sizeof(header) ||
		memcmp(header, WALFILE_SEAL_MAGIC, WALFILE_MAGIC_LEN) != 0)
		return psprintf("file \"%s\" is not an encrypted pg_steward file, or truncated", path);
	memcpy(id, header + WALFILE_MAGIC_LEN, WALFILE_KEYID_LEN);
	return NULL;
}

/*
 * Unseals 'from' into the new file 'to' (fsynced), or with to == NULL only
 * checks it: the key by its id among 'keys', then the tag.  On any failure
 * 'to' is removed.
 */
char *
crypt_unseal_file(const char *from, const char *to, const WalKey *keys, int nkeys)
{
	unsigned char header[WALFILE_SEAL_HEADER];
	unsigned char tag[WALFILE_TAG_LEN];
	unsigned char *in = NULL;
	unsigned char *out = NULL;
	const WalKey *key = NULL;
	EVP_CIPHER_CTX *ctx = NULL;
	struct stat st;
	int			fin;
	int			fout = -1;
	int			n;
	ssize_t		r;
	off_t		left;
	char	   *err = NULL;
	int			i;

	fin = open(from, O_RDONLY | PG_BINARY, 0);
	if (fin < 0)
		return psprintf("could not open file \"%s\": %s", from, strerror(errno));
	if (fstat(fin, &st) != 0)
	{
		err = psprintf("could not stat file \"%s\": %s", from, strerror(errno));
		close(fin);
		return err;
	}
	if (st.st_size < WALFILE_SEAL_OVERHEAD ||
		crypt_read_at(fin, header, sizeof(header), -1) != (ssize_t) sizeof(header) ||
		memcmp(header, WALFILE_SEAL_MAGIC, WALFILE_MAGIC_LEN) != 0)
	{
		close(fin);
		return psprintf("file \"%s\" is not an encrypted pg_steward file, or truncated", from);
	}
	for (i = 0; i < nkeys; i++)
		if (memcmp(keys[i].id, header + WALFILE_MAGIC_LEN, WALFILE_KEYID_LEN) == 0)
			key = &keys[i];
	if (key == NULL)
	{
		char	   *id = walfile_key_id_hex(header + WALFILE_MAGIC_LEN);

		close(fin);
		return nkeys == 0 ?
			psprintf("file \"%s\" is encrypted (key id %s) and no key is configured", from, id) :
			psprintf("file \"%s\" is encrypted with a key that is not configured (key id %s)", from, id);
	}
	if (to != NULL)
	{
		fout = open(to, O_WRONLY | O_CREAT | O_EXCL | PG_BINARY, S_IRUSR | S_IWUSR);
		if (fout < 0)
		{
			err = psprintf("could not create file \"%s\": %s", to, strerror(errno));
			close(fin);
			return err;
		}
	}
	in = malloc(CRYPT_BUFSIZE);
	out = malloc(CRYPT_BUFSIZE + WALFILE_TAG_LEN);
	ctx = EVP_CIPHER_CTX_new();
	if (in == NULL || out == NULL)
		err = psprintf("out of memory");
	else if (ctx == NULL ||
			 EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
			 EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, WALFILE_NONCE_LEN, NULL) != 1 ||
			 EVP_DecryptInit_ex(ctx, NULL, NULL, key->key,
								header + WALFILE_MAGIC_LEN + WALFILE_KEYID_LEN) != 1 ||
			 EVP_DecryptUpdate(ctx, NULL, &n, header, WALFILE_MAGIC_LEN + WALFILE_KEYID_LEN) != 1)
		err = psprintf("could not initialize AES-256-GCM decryption");
	left = st.st_size - WALFILE_SEAL_OVERHEAD;
	while (err == NULL && left > 0)
	{
		r = crypt_read_at(fin, in, Min((off_t) CRYPT_BUFSIZE, left), -1);
		if (r < 0)
			err = psprintf("could not read file \"%s\": %s", from, strerror(errno));
		else if (r < Min((off_t) CRYPT_BUFSIZE, left))
			err = psprintf("file \"%s\" became shorter while being read", from);
		else if (EVP_DecryptUpdate(ctx, out, &n, in, (int) r) != 1)
			err = psprintf("could not decrypt file \"%s\"", from);
		else if (fout >= 0 && !crypt_write_at(fout, out, n, -1))
			err = psprintf("could not write file \"%s\": %s", to, strerror(errno));
		else
			left -= r;
	}
	if (err == NULL && crypt_read_at(fin, tag, sizeof(tag), -1) != (ssize_t) sizeof(tag))
		err = psprintf("file \"%s\" became shorter while being read", from);
	if (err == NULL &&
		(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, WALFILE_TAG_LEN, tag) != 1 ||
		 EVP_DecryptFinal_ex(ctx, out, &n) != 1))
		err = psprintf("authentication of file \"%s\" failed: it was modified or damaged (key id %s)",
					   from, walfile_key_id_hex(key->id));
	if (err == NULL && fout >= 0 && n > 0 && !crypt_write_at(fout, out, n, -1))
		err = psprintf("could not write file \"%s\": %s", to, strerror(errno));
	if (err == NULL && fout >= 0 && fsync(fout) != 0)
		err = psprintf("could not fsync file \"%s\": %s", to, strerror(errno));
	if (fout >= 0 && close(fout) != 0 && err == NULL)
		err = psprintf("could not close file \"%s\": %s", to, strerror(errno));
	close(fin);
	EVP_CIPHER_CTX_free(ctx);
	free(in);
	if (out)
	{
		explicit_bzero(out, CRYPT_BUFSIZE);
		free(out);
	}
	if (err && to != NULL)
		(void) unlink(to);
	return err;
}
