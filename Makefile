# batchd - build, run and test.
#
#   make            build bin/batchd
#   make run        build and run on etc/batchd.conf
#   make test       build and run the whole suite (unit + black-box)
#   make test SAN=1 the same under AddressSanitizer + UBSan
#
# Missing Debian packages are installed by scripts/install-deps.

CC	?= gcc
PKGS	 = libevent json-c lmdb
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

.PHONY: all run test unit blackbox deps clean
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

run: $(BIN)
	./$(BIN) -c etc/batchd.conf

unit: $(UNIT_BIN) $(TOOL_BIN)
	@sh scripts/run-unit $(UNIT_BIN)

blackbox: $(BIN) $(TOOL_BIN)
	@BATCHD_BIN=./$(BIN) BATCHD_TOOLS=$(BUILD)/tools \
	    python3 tests/blackbox/run.py

test: unit blackbox

clean:
	rm -rf build build-san bin

-include $(LIB_OBJ:.o=.d) $(BUILD)/master/main.d
