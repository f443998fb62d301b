# kvd -- portable make (GNU make, bmake, macOS make).
# make            build kvd and kvctl
# make test       build everything and run unit + integration tests (= check)
# make asan       the whole suite under AddressSanitizer + UBSan
# make tsan       the whole suite under ThreadSanitizer
# make fuzz       build and run the libFuzzer harnesses (needs clang)
# make bench      the benchmark suite (contrib/bench/run.sh)
# make dist       kvd-VERSION.tar.gz of the committed tree
# make install    PREFIX=/usr/local DESTDIR=

PREFIX	?= /usr/local
BINDIR	?= $(PREFIX)/bin
CC	?= cc
WERROR	= -Werror
OPT	= -O2 -g
VERSION	= 0.1.0
CFLAGS	= -std=c11 $(OPT) -Wall -Wextra $(WERROR) -D_POSIX_C_SOURCE=200809L \
	  -DKVD_VERSION='"$(VERSION)"' -pthread $(EXTRA_CFLAGS)
LDFLAGS	= -pthread $(EXTRA_LDFLAGS)

HEADERS	= lib/antientropy.h lib/api.h lib/aside.h lib/auth.h \
	  lib/base64.h lib/bench.h lib/buf.h lib/client.h lib/clock.h \
	  lib/cluster.h lib/crc32c.h lib/entry.h lib/failpoint.h lib/file.h \
	  lib/fnv.h lib/hex.h lib/hints.h lib/http.h lib/intern.h lib/json.h \
	  lib/keyindex.h lib/listing.h \
	  lib/log.h lib/metrics.h lib/net.h lib/node.h lib/notify.h lib/opt.h \
	  lib/peer.h lib/push.h lib/record.h lib/replica.h lib/ring.h lib/rng.h \
	  lib/server.h lib/sha256.h lib/snapshot.h lib/store.h lib/stream.h \
	  lib/transfer.h lib/varint.h lib/vclock.h lib/verify.h lib/version.h \
	  lib/wal.h lib/watch.h lib/workq.h
LIBOBJS	= lib/antientropy.o lib/api.o lib/aside.o lib/auth.o \
	  lib/base64.o lib/bench.o lib/buf.o lib/client.o lib/clock.o \
	  lib/cluster.o lib/crc32c.o lib/entry.o lib/failpoint.o lib/file.o \
	  lib/fnv.o lib/hex.o lib/hints.o lib/http.o lib/intern.o lib/json.o \
	  lib/keyindex.o lib/listing.o \
	  lib/log.o lib/metrics.o lib/net.o lib/node.o lib/notify.o lib/opt.o \
	  lib/peer.o lib/push.o lib/record.o lib/replica.o lib/ring.o lib/rng.o \
	  lib/server.o lib/sha256.o lib/snapshot.o lib/store.o lib/stream.o \
	  lib/transfer.o lib/varint.o lib/vclock.o lib/verify.o lib/version.o \
	  lib/wal.o lib/watch.o lib/workq.o
UNITS	= test/unit/test_antientropy test/unit/test_api \
	  test/unit/test_aside test/unit/test_auth test/unit/test_base64 \
	  test/unit/test_bench test/unit/test_buf test/unit/test_clock \
	  test/unit/test_cluster test/unit/test_crc32c test/unit/test_entry \
	  test/unit/test_failpoint test/unit/test_hex test/unit/test_http \
	  test/unit/test_intern test/unit/test_json test/unit/test_keyindex \
	  test/unit/test_listing test/unit/test_metrics \
	  test/unit/test_notify test/unit/test_opt test/unit/test_peer \
	  test/unit/test_push test/unit/test_record test/unit/test_ring \
	  test/unit/test_sha256 test/unit/test_snapshot test/unit/test_store \
	  test/unit/test_varint test/unit/test_vclock test/unit/test_version \
	  test/unit/test_wal test/unit/test_workq

all: kvd kvctl

.SUFFIXES: .c .o
.c.o:
	$(CC) $(CFLAGS) -c $< -o $@

$(LIBOBJS) kvd.o kvctl.o: $(HEADERS)

lib/libkvd.a: $(LIBOBJS)
	rm -f $@
	ar rcs $@ $(LIBOBJS)

kvd: kvd.o lib/libkvd.a
	$(CC) $(CFLAGS) -o $@ kvd.o lib/libkvd.a $(LDFLAGS)

kvctl: kvctl.o lib/libkvd.a
	$(CC) $(CFLAGS) -o $@ kvctl.o lib/libkvd.a $(LDFLAGS)

# A unit test program is built from its .c (a single-suffix rule, so an
# edited test is rebuilt) against the library.
.c:
	$(CC) $(CFLAGS) -Ilib -o $@ $< lib/libkvd.a $(LDFLAGS)

$(UNITS): lib/libkvd.a test/unit/tap.h

units: $(UNITS)

test check: all units
	sh test/run.sh

asan:
	$(MAKE) clean
	$(MAKE) test OPT="-O1 -g -fno-omit-frame-pointer" \
	    EXTRA_CFLAGS="-fsanitize=address,undefined -fno-sanitize-recover=all" \
	    EXTRA_LDFLAGS="-fsanitize=address,undefined"
	$(MAKE) clean

tsan:
	$(MAKE) clean
	KVD_SANITIZER=thread TSAN_OPTIONS="halt_on_error=1 $(TSAN_OPTIONS)" \
	    $(MAKE) test \
	    OPT="-O1 -g" EXTRA_CFLAGS="-fsanitize=thread" \
	    EXTRA_LDFLAGS="-fsanitize=thread"
	$(MAKE) clean

MANDIR	?= $(PREFIX)/share/man
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
ZSHCOMPDIR ?= $(PREFIX)/share/zsh/site-functions
DISTNAME = kvd-$(VERSION)

# libFuzzer harnesses (clang): FUZZ_SECONDS per harness, default 30.
fuzz:
	sh fuzz/run.sh

# The benchmark suite; writes bench-results.md.  Never fails on a number.
# bench-quick: one 2-second run per row and 100,000 restart keys, to check
# that the script works (its figures are no measurement).
bench: all
	sh contrib/bench/run.sh

bench-quick: all
	BENCH_QUICK=1 sh contrib/bench/run.sh

install: all
	mkdir -p $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 \
	    $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(BASHCOMPDIR) \
	    $(DESTDIR)$(ZSHCOMPDIR)
	cp kvd kvctl $(DESTDIR)$(BINDIR)/
	chmod 755 $(DESTDIR)$(BINDIR)/kvd $(DESTDIR)$(BINDIR)/kvctl
	cp contrib/man/kvctl.1 $(DESTDIR)$(MANDIR)/man1/kvctl.1
	cp contrib/man/kvd.8 $(DESTDIR)$(MANDIR)/man8/kvd.8
	cp contrib/completion/kvctl.bash $(DESTDIR)$(BASHCOMPDIR)/kvctl
	cp contrib/completion/_kvctl $(DESTDIR)$(ZSHCOMPDIR)/_kvctl
	chmod 644 $(DESTDIR)$(MANDIR)/man1/kvctl.1 $(DESTDIR)$(MANDIR)/man8/kvd.8 \
	    $(DESTDIR)$(BASHCOMPDIR)/kvctl $(DESTDIR)$(ZSHCOMPDIR)/_kvctl

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/kvd $(DESTDIR)$(BINDIR)/kvctl \
	    $(DESTDIR)$(MANDIR)/man1/kvctl.1 $(DESTDIR)$(MANDIR)/man8/kvd.8 \
	    $(DESTDIR)$(BASHCOMPDIR)/kvctl $(DESTDIR)$(ZSHCOMPDIR)/_kvctl

# The committed tree (HEAD) as kvd-$(VERSION)/ in kvd-$(VERSION).tar.gz.
dist:
	rm -f $(DISTNAME).tar.gz
	git archive --format=tar --prefix=$(DISTNAME)/ HEAD | gzip -9 \
	    > $(DISTNAME).tar.gz.tmp
	mv $(DISTNAME).tar.gz.tmp $(DISTNAME).tar.gz

clean:
	rm -f kvd kvctl *.o lib/*.o lib/libkvd.a $(UNITS)

.PHONY: all units test check asan tsan fuzz bench bench-quick install uninstall clean dist
