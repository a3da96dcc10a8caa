# batchd - build, run and test.
#
#   make            build bin/batchd
#   make run        build and run on etc/batchd.conf
#   make docs       rewrite what comes from the config key table
#   make openapi    write etc/openapi.json from etc/openapi.yaml (npm)
#   make install    install under PREFIX (/usr/local), into DESTDIR if set
#   make deb        build a Debian package (build/batchd_VERSION_ARCH.deb)
#   make test       build and run the whole suite (unit + black-box + the
#                   Python client compatibility tests)
#   make test-compat the Python and JavaScript client compatibility tests
#   make test SAN=1 the same under AddressSanitizer + UBSan
#   make valgrind   the unit tests under valgrind memcheck (slow)
#   make fuzz       build the libFuzzer harnesses (run them: scripts/fuzz)
#
# Missing Debian packages are installed by scripts/install-deps.

CC	?= gcc
PKGS	 = libevent json-c lmdb libsystemd libssl libcrypto
CSTD	 = -std=c11 -D_GNU_SOURCE
WARN	 = -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter
OPT	?= -O2 -g
ifeq ($(SAN),1)
OPT	 = -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
	   -fno-sanitize-recover=undefined
BUILD	 = build-san
else
BUILD	 = build
endif
CFLAGS	+= $(CSTD) $(WARN) $(OPT) -Icommon -Imaster -Iworker -MMD -MP
DEPS_OK	 = $(BUILD)/.deps-ok

LIB_SRC	 = $(wildcard common/*.c) $(wildcard worker/*.c) \
	   $(wildcard worker/query/*.c) \
	   $(filter-out master/main.c,$(wildcard master/*.c))
LIB_OBJ	 = $(LIB_SRC:%.c=$(BUILD)/%.o)
UNIT_SRC = $(wildcard tests/unit/test_*.c)
UNIT_BIN = $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
TOOL_SRC = $(wildcard tests/tools/*.c)
TOOL_BIN = $(TOOL_SRC:tests/tools/%.c=$(BUILD)/tools/%)

BIN	 = bin/batchd
ifeq ($(SAN),1)
BIN	 = bin/batchd-san
endif

.PHONY: all run test layers unit blackbox compat-python compat-js test-compat fuzz \
	fuzz-regress valgrind deps clean docs install deb openapi
all: $(BIN)

$(DEPS_OK): scripts/install-deps
	@mkdir -p $(@D)
	@sh scripts/install-deps
	@touch $@

# pkg-config is only asked once the packages are there.
LIBS	 = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpthread -lm
PKGCF	 = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
CHECKLIBS = $(shell pkg-config --libs check 2>/dev/null)

$(BUILD)/%.o: %.c | $(DEPS_OK)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(PKGCF) -c -o $@ $<

$(BUILD)/libbatchd.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BIN): $(BUILD)/master/main.o $(BUILD)/libbatchd.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $^ $(LIBS) $(LDFLAGS)

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libbatchd.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(PKGCF) -Itests/unit -o $@ $< $(BUILD)/libbatchd.a \
	    $(CHECKLIBS) $(LIBS) -lm

$(BUILD)/tools/%: tests/tools/%.c $(BUILD)/libbatchd.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(PKGCF) -o $@ $< $(BUILD)/libbatchd.a $(LIBS) -lm

# Installation.  GNU directory variables; PREFIX=/usr puts the
# configuration in /etc and the state in /var, as Debian does.  Every path
# is quoted in the recipes, so DESTDIR may hold spaces.
VERSION	 = 0.1.0
PREFIX	?= /usr/local
ifeq ($(PREFIX),/usr)
SYSCONFDIR	?= /etc
LOCALSTATEDIR	?= /var
UNITDIR		?= /lib/systemd/system
else
SYSCONFDIR	?= $(PREFIX)/etc
LOCALSTATEDIR	?= $(PREFIX)/var
UNITDIR		?= $(PREFIX)/lib/systemd/system
endif
SBINDIR	?= $(PREFIX)/sbin
MANDIR	?= $(PREFIX)/share/man
DOCDIR	?= $(PREFIX)/share/doc/batchd
DEBDIR	?= build

install: $(BIN)
	install -d -m 0755 "$(DESTDIR)$(SBINDIR)" "$(DESTDIR)$(MANDIR)/man5" \
	    "$(DESTDIR)$(MANDIR)/man8" "$(DESTDIR)$(UNITDIR)" \
	    "$(DESTDIR)$(SYSCONFDIR)/batchd" \
	    "$(DESTDIR)$(SYSCONFDIR)/logrotate.d" "$(DESTDIR)$(DOCDIR)"
	install -m 0755 $(BIN) "$(DESTDIR)$(SBINDIR)/batchd"
	sed -e 's|^db_path = .*|db_path = $(LOCALSTATEDIR)/lib/batchd|' \
	    etc/batchd.conf > "$(DESTDIR)$(SYSCONFDIR)/batchd/batchd.conf"
	chmod 0640 "$(DESTDIR)$(SYSCONFDIR)/batchd/batchd.conf"
	install -m 0644 etc/batchd.8 "$(DESTDIR)$(MANDIR)/man8/batchd.8"
	install -m 0644 etc/batchd.conf.5 \
	    "$(DESTDIR)$(MANDIR)/man5/batchd.conf.5"
	sed -e 's|/usr/sbin/|$(SBINDIR)/|' \
	    -e 's| /etc/batchd/| $(SYSCONFDIR)/batchd/|' \
	    -e 's|=/var/lib/batchd|=$(LOCALSTATEDIR)/lib/batchd|' \
	    etc/batchd.service > "$(DESTDIR)$(UNITDIR)/batchd.service"
	chmod 0644 "$(DESTDIR)$(UNITDIR)/batchd.service"
	install -m 0644 etc/batchd.logrotate \
	    "$(DESTDIR)$(SYSCONFDIR)/logrotate.d/batchd"
	install -m 0644 etc/openapi.yaml "$(DESTDIR)$(DOCDIR)/openapi.yaml"

# The package: "make install" into a staging root with PREFIX=/usr, then
# scripts/build-deb adds the control files and runs dpkg-deb.
deb: $(BIN)
	rm -rf "$(BUILD)/debroot"
	$(MAKE) --no-print-directory install PREFIX=/usr \
	    DESTDIR="$(CURDIR)/$(BUILD)/debroot"
	sh scripts/build-deb "$(BUILD)/debroot" $(VERSION) "$(DEBDIR)"

# etc/openapi.json, served at GET /openapi.json, is written from
# etc/openapi.yaml by the pinned redocly (tests/lint/package.json); the
# black-box suite lints the YAML and checks the JSON is its bundle.
LINT_BIN = tests/lint/node_modules/.bin
$(LINT_BIN)/redocly: tests/lint/package.json tests/lint/package-lock.json
	cd tests/lint && npm ci --no-audit --no-fund
	@touch $@

openapi: $(LINT_BIN)/redocly
	$(LINT_BIN)/redocly bundle etc/openapi.yaml --ext json \
	    -o etc/openapi.json

run: $(BIN)
	./$(BIN) -c etc/batchd.conf

# Everything written from the config key table (common/config.c): the
# sample config, batchd.conf(5) and README.md's table of keys, between its
# markers.  test_config fails when one of them differs from the table.
docs: $(BIN)
	./$(BIN) --dump-config > etc/batchd.conf
	./$(BIN) --dump-config=man > etc/batchd.conf.5
	./$(BIN) --dump-config=markdown > $(BUILD)/keys.md
	sed -i -e '/^<!-- config-keys:/,/^<!-- end config-keys -->/{' \
	    -e '/-->$$/{/end config-keys/!r $(BUILD)/keys.md' -e 'b' -e '}' \
	    -e 'd' -e '}' README.md

unit: $(UNIT_BIN) $(TOOL_BIN)
	@sh scripts/run-unit $(UNIT_BIN)

# Debian's python3, which has python3-jsonschema (a python3 first on PATH,
# such as pyenv's, may not).
PYTHON	?= $(shell test -x /usr/bin/python3 && echo /usr/bin/python3 || \
	    echo python3)

blackbox: $(BIN) $(TOOL_BIN) $(LINT_BIN)/redocly
	@BATCHD_BIN=./$(BIN) BATCHD_TOOLS=$(BUILD)/tools SAN=$(SAN) \
	    $(PYTHON) tests/blackbox/run.py

# Microsoft's own clients against the real server (tests/compat/): the
# Python SDK from Debian's python3-azure, run by Debian's python3 (its
# dist-packages are where python3-azure lives), and the JavaScript clients
# pinned in tests/compat/js/package-lock.json, installed by "npm ci" into
# tests/compat/js/node_modules.  Packages that cannot be installed fail
# the run, saying so.
compat-python: $(BIN)
	@BATCHD_BIN=./$(BIN) /usr/bin/python3 tests/compat/run_python.py

compat-js: $(BIN)
	@cd tests/compat/js && { npm ci --no-audit --no-fund --loglevel=error || \
	    { echo "compat-js: npm ci failed: the JavaScript clients cannot be" \
	    "installed"; exit 1; }; }
	@BATCHD_BIN=./$(BIN) python3 tests/compat/run_js.py

test-compat: compat-python compat-js

# The master's files call only down their layers (scripts/check-layers).
layers: $(BIN)
	@sh scripts/check-layers $(BUILD)

test: layers unit fuzz-regress blackbox compat-python

# Valgrind memcheck over the unit tests (scripts/valgrind-unit: CK_FORK=no,
# --leak-check=full, --error-exitcode).  Slow, so not part of "make test";
# valgrind and the sanitizers do not mix, so not with SAN=1.
valgrind: $(UNIT_BIN)
	@if [ "$(SAN)" = 1 ]; then echo "make valgrind: not with SAN=1" >&2; \
	    exit 2; fi
	@sh scripts/valgrind-unit $(UNIT_BIN)

# Fuzzing (tests/fuzz/README).  "make fuzz" builds each harness
# tests/fuzz/fuzz_NAME.c with clang and libFuzzer, the library instrumented
# for coverage, ASan and UBSan, into build/libfuzzer/.  "make fuzz-regress"
# runs the kept corpus and every input that ever crashed through the same
# harnesses linked with a small replay main instead, built with $(CC) and
# the flags above (so with SAN=1 they replay under ASan + UBSan too).
FUZZ_SRC   = $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_NAMES = $(FUZZ_SRC:tests/fuzz/fuzz_%.c=%)
FUZZ_HDR   = $(wildcard tests/fuzz/*.h)
FUZZ_CC   ?= clang
FUZZ_DIR   = build/libfuzzer
# No -Werror: clang warns about other things than gcc, and a new clang
# warning in the server must not stop the fuzzers from building.
FUZZ_CFLAGS = $(CSTD) $(filter-out -Werror,$(WARN)) -O1 -g \
	   -fno-omit-frame-pointer -fsanitize=address,undefined \
	   -fno-sanitize-recover=undefined -Icommon -Imaster -Iworker -MMD -MP
FUZZ_LIB_OBJ = $(LIB_SRC:%.c=$(FUZZ_DIR)/%.o)
FUZZ_BIN   = $(FUZZ_NAMES:%=$(FUZZ_DIR)/fuzz_%)
REPLAY_OBJ = $(BUILD)/tests/fuzz/replay.o
REPLAY_BIN = $(FUZZ_NAMES:%=$(BUILD)/replay/fuzz_%)

$(FUZZ_DIR)/.clang-ok: scripts/fuzz
	@mkdir -p $(@D)
	@sh scripts/fuzz --install-deps
	@touch $@

$(FUZZ_DIR)/%.o: %.c | $(DEPS_OK) $(FUZZ_DIR)/.clang-ok
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link $(PKGCF) -c -o $@ $<

$(FUZZ_DIR)/libbatchd.a: $(FUZZ_LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(FUZZ_DIR)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_HDR) $(FUZZ_DIR)/libbatchd.a
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer $(PKGCF) -o $@ $< \
	    $(FUZZ_DIR)/libbatchd.a $(LIBS)

fuzz: $(FUZZ_BIN)

$(BUILD)/replay/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_HDR) $(REPLAY_OBJ) \
    $(BUILD)/libbatchd.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(PKGCF) -o $@ $< $(REPLAY_OBJ) $(BUILD)/libbatchd.a \
	    $(LIBS)

fuzz-regress: $(REPLAY_OBJ) $(REPLAY_BIN)
	@sh tests/fuzz/replay.sh $(BUILD)/replay $(FUZZ_NAMES)

clean:
	rm -rf build build-san bin

# master/openapi.c takes etc/openapi.json in with .incbin, which the
# compiler's dependency list cannot see.
$(BUILD)/master/openapi.o $(FUZZ_DIR)/master/openapi.o: etc/openapi.json

-include $(LIB_OBJ:.o=.d) $(BUILD)/master/main.d $(FUZZ_LIB_OBJ:.o=.d)
