# kvd -- portable make (GNU make, bmake, macOS make).
# make            build kvd and kvctl
# make test       build everything and run unit + integration tests (= check)
# make asan       the whole suite under AddressSanitizer + UBSan
# make tsan       the whole suite under ThreadSanitizer
# make fuzz       build and run the libFuzzer harnesses (needs clang)
# make bench      the benchmark suite (contrib/bench/run.sh)
# make bench-scale  membership at 5, 10, 20 and 40 nodes (contrib/scale.sh)
# make bench-features  batch, watch and wake-up figures (contrib/bench/features.py)
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

LIBSRCS	= lib/antientropy.c lib/api.c lib/aside.c lib/auth.c lib/base64.c \
	  lib/bench.c lib/buf.c lib/cas.c lib/client.c lib/clock.c \
	  lib/cluster.c lib/crc32c.c lib/entry.c lib/failpoint.c lib/file.c \
	  lib/fnv.c lib/hex.c lib/hints.c lib/http.c lib/intern.c lib/json.c \
	  lib/keyindex.c lib/listing.c \
	  lib/liveness.c lib/log.c lib/metrics.c lib/net.c lib/node.c \
	  lib/notify.c lib/opt.c lib/paxos.c lib/peer.c lib/process.c lib/push.c \
	  lib/record.c lib/replica.c lib/ring.c lib/rng.c lib/server.c \
	  lib/servers.c \
	  lib/sha256.c lib/snapshot.c lib/store.c lib/stream.c lib/thread.c \
	  lib/transfer.c lib/varint.c lib/vclock.c lib/verify.c \
	  lib/version.c lib/wal.c lib/watch.c lib/workq.c
# Every module is a .c/.h pair: one list names both.
HEADERS	= $(LIBSRCS:.c=.h)
LIBOBJS	= $(LIBSRCS:.c=.o)
UNITS	= test/unit/test_antientropy test/unit/test_api test/unit/test_aside \
	  test/unit/test_auth test/unit/test_base64 test/unit/test_bench \
	  test/unit/test_buf test/unit/test_cas test/unit/test_clock \
	  test/unit/test_cluster test/unit/test_crc32c test/unit/test_entry \
	  test/unit/test_failpoint test/unit/test_hex test/unit/test_hints \
	  test/unit/test_http \
	  test/unit/test_intern test/unit/test_json test/unit/test_keyindex \
	  test/unit/test_listing test/unit/test_liveness test/unit/test_log \
	  test/unit/test_metrics test/unit/test_notify test/unit/test_opt \
	  test/unit/test_paxos test/unit/test_peer test/unit/test_process \
	  test/unit/test_push \
	  test/unit/test_record test/unit/test_ring test/unit/test_server \
	  test/unit/test_servers \
	  test/unit/test_sha256 test/unit/test_snapshot test/unit/test_store \
	  test/unit/test_stream test/unit/test_varint test/unit/test_vclock test/unit/test_version \
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

$(UNITS): lib/libkvd.a test/unit/tap.h test/unit/clockspec.h \
	    test/unit/fakenode.h

units: $(UNITS)

test check: all units
	sh test/run.sh

# verify_asan_link_order=0: skew.bats and chaos.sh --skew preload the
# clock shim (test/clockshim.c) ahead of the ASan runtime.
asan:
	$(MAKE) clean
	ASAN_OPTIONS="verify_asan_link_order=0 $(ASAN_OPTIONS)" $(MAKE) test OPT="-O1 -g -fno-omit-frame-pointer" \
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

# Membership at scale (contrib/scale.sh): one row per cluster size, the
# table in scale-results.md and on stdout.  Heavy: 40 nodes on one box.
SCALE_SIZES = 5 10 20 40
bench-scale: all
	@out=scale-results.md; \
	echo '| nodes | member lists agree | every view says up | a killed node down in every view | idle CPU, whole cluster | idle CPU per node | threads per node | join: keys sent / held |' >$$out; \
	echo '|---:|---:|---:|---:|---:|---:|---:|---:|' >>$$out; \
	for n in $(SCALE_SIZES); do \
		SCALE_OUT=$$out sh contrib/scale.sh $$n >/dev/null || exit 1; \
	done; \
	cat $$out

# Issue 14's figures: POST /batch against single requests, 1,000 parked
# watchers (RSS, /health latency), PUT to watcher wake-up.  Needs python3
# (standard library only); prints a Markdown report, writes no file.
bench-features: all
	python3 contrib/bench/features.py

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

.PHONY: all units test check asan tsan fuzz bench bench-quick bench-scale \
	bench-features install uninstall clean dist
