# pg_steward: PGXS build.  The version lives only in pg_steward.control.

EXTENSION = pg_steward
EXTVERSION = $(shell sed -n "s/^default_version[[:space:]]*=[[:space:]]*'\([^']*\)'.*/\1/p" $(EXTENSION).control)

MODULE_big = pg_steward
# src/bin/ holds the programs' sources (built below), not the library's.
OBJS = $(patsubst %.c,%.o,$(sort $(filter-out src/bin/%,$(wildcard src/*/*.c))))

# Install script: concatenation of schema/ fragments (00_header.sql first).
SCHEMA_FRAGMENTS = $(sort $(wildcard schema/*.sql))
# Update scripts: updates/ holds released versions' scripts; the update to
# the version under development is its .in.sql followed by the fragments
# that version adds whole (so they are written once).
UPDATE_NEXT = $(EXTENSION)--0.2.0--0.3.0.sql
UPDATE_NEXT_PARTS = updates/$(EXTENSION)--0.2.0--0.3.0.in.sql schema/75_migrations.sql schema/80_backups.sql \
	schema/85_wal.sql schema/90_health.sql
DATA_built = $(EXTENSION)--$(EXTVERSION).sql $(UPDATE_NEXT)
DATA = $(filter-out %.in.sql,$(wildcard updates/$(EXTENSION)--*.sql))
DOCS = $(wildcard docs/*.md)
# The migrations client, installed into PostgreSQL's bin directory.
SCRIPTS_built = bin/pg_steward_migrate

REGRESS = $(patsubst sql/%.sql,%,$(sort $(wildcard sql/*.sql)))
REGRESS_OPTS = --temp-config=test/regress.conf --temp-instance=./tmp_check
EXTRA_CLEAN = bin/pg_steward_migrate $(WAL_PROGRAMS) src/bin/*.o META.json.tmp tmp_check results regression.diffs regression.out

PG_CPPFLAGS = -I$(srcdir)/src -DSTEWARD_VERSION='"$(EXTVERSION)"'
# WAL archiving: zstd and OpenSSL's libcrypto (the server links both)
SHLIB_LINK += -lzstd -lcrypto

# The restore programs (C, frontend): PGXS builds either a module or a
# program, so they get their own rules, installed next to PostgreSQL's.
WAL_PROGRAMS = bin/pg_steward_wal_restore bin/pg_steward_restore

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

all: META.json

$(EXTENSION)--$(EXTVERSION).sql: $(SCHEMA_FRAGMENTS) $(EXTENSION).control
	cat $(SCHEMA_FRAGMENTS) > $@

$(UPDATE_NEXT): $(UPDATE_NEXT_PARTS)
	cat $(UPDATE_NEXT_PARTS) > $@

bin/pg_steward_migrate: bin/pg_steward_migrate.in $(EXTENSION).control
	sed 's/@EXTVERSION@/$(EXTVERSION)/g' $< > $@.tmp && chmod +x $@.tmp && mv $@.tmp $@

# Frontend objects: the shared archive format (src/archive/walfile.c) is
# compiled a second time with FRONTEND.
FE_CPPFLAGS = -DFRONTEND $(CPPFLAGS)
FE_LIBS = -L$(pkglibdir) -L$(libdir) -lpgcommon -lpgport -lzstd -lcrypto -lm
src/bin/walfile_fe.o: src/archive/walfile.c src/archive/walfile.h
	$(CC) $(CFLAGS) $(FE_CPPFLAGS) -c -o $@ $<
src/bin/crypt_fe.o: src/archive/crypt.c src/archive/crypt.h src/archive/walfile.h
	$(CC) $(CFLAGS) $(FE_CPPFLAGS) -c -o $@ $<
src/bin/%_fe.o: src/bin/%.c src/bin/restore_common.h src/archive/walfile.h src/archive/crypt.h $(EXTENSION).control
	$(CC) $(CFLAGS) $(FE_CPPFLAGS) -c -o $@ $<
bin/pg_steward_wal_restore: src/bin/wal_restore_fe.o src/bin/restore_common_fe.o src/bin/walfile_fe.o
	$(CC) $(CFLAGS) $^ $(LDFLAGS) $(FE_LIBS) -o $@
bin/pg_steward_restore: src/bin/restore_fe.o src/bin/restore_common_fe.o src/bin/walfile_fe.o \
		src/bin/crypt_fe.o
	$(CC) $(CFLAGS) $^ $(LDFLAGS) $(FE_LIBS) -o $@

all: $(WAL_PROGRAMS)
install: install-wal-programs
uninstall: uninstall-wal-programs
.PHONY: install-wal-programs uninstall-wal-programs
install-wal-programs: $(WAL_PROGRAMS) installdirs
	$(INSTALL_PROGRAM) $(WAL_PROGRAMS) '$(DESTDIR)$(bindir)/'
uninstall-wal-programs:
	rm -f $(addprefix '$(DESTDIR)$(bindir)'/, $(notdir $(WAL_PROGRAMS)))

# PGXN metadata carries the same version as the control file.
META.json: META.json.in $(EXTENSION).control
	sed 's/@EXTVERSION@/$(EXTVERSION)/g' META.json.in > META.json.tmp && mv META.json.tmp $@

# The version is compiled in; rebuild objects when it changes.
$(OBJS): $(EXTENSION).control $(wildcard src/*/*.h)

# Warnings are errors in tests and CI.
STRICT_CFLAGS = -Wall -Wextra -Werror -Wno-unused-parameter \
	-Wno-missing-field-initializers -Wno-sign-compare

.PHONY: deps strict test quickstart quickstart-stop
deps:
	bash tools/deps.sh

strict:
	$(MAKE) PG_CFLAGS="$(STRICT_CFLAGS)"

test:
	bash tools/test.sh

quickstart:
	bash tools/quickstart.sh start

quickstart-stop:
	bash tools/quickstart.sh stop
