# LibreFang - the one build entry point.
#
#   make            build every program into build/<variant>/bin
#   make run        install what is missing, build, start the whole stack
#   make test       install what is missing, build, run every test tier
#   make bench      figures: cold start, memory, sizes, throughput
#   make docker     the local base image and every image (docker/, cached)
#   make test-deploy  the compose stack in real containers (tests/deploy)
#   make SANITIZE=address,undefined test    the same under sanitizers
#   make V=1        show full compiler command lines
#
# Non-recursive: each service adds itself through services/*/service.mk.

SHARED		?= ../shared
SANITIZE	?=
DEVELOPER	?= 1
V		?=

comma		:= ,
VARIANT		:= $(if $(SANITIZE),$(subst $(comma),-,$(SANITIZE)),default)
BUILD		:= build/$(VARIANT)
BIN		:= $(BUILD)/bin

PKGS		:= libmicrohttpd jansson libcurl libpq openssl uuid
PKG_CFLAGS	:= $(shell pkg-config --cflags $(PKGS) 2>/dev/null | sed 's/-I/-isystem /g')
PKG_LIBS	:= $(shell pkg-config --libs $(PKGS) 2>/dev/null)

WARN		:= -Wall -Wextra -Wstrict-prototypes -Wmissing-prototypes \
		   -Wmissing-declarations -Wshadow -Wpointer-arith -Wcast-qual \
		   -Wwrite-strings -Wformat=2 -Wvla -Wold-style-definition \
		   -fno-common
CFLAGS		?= -O2 -g
ALL_CFLAGS	:= -std=c11 -D_GNU_SOURCE $(WARN) $(CFLAGS) $(PKG_CFLAGS) \
		   -Ilibshared -Iproto -Itests/unit -MMD -MP
ifeq ($(DEVELOPER),1)
ALL_CFLAGS	+= -Werror
endif
ALL_LDFLAGS	:= $(LDFLAGS)
ifneq ($(SANITIZE),)
SAN_FLAGS	:= -fsanitize=$(SANITIZE) -fno-sanitize-recover=all \
		   -fno-omit-frame-pointer
ALL_CFLAGS	+= $(SAN_FLAGS)
ALL_LDFLAGS	+= $(SAN_FLAGS)
endif
LIBS		:= $(PKG_LIBS) -lnng -lpthread -lm

ifeq ($(V),)
Q_CC		= @printf '  CC      %s\n' $@;
Q_LD		= @printf '  LD      %s\n' $@;
Q_AR		= @printf '  AR      %s\n' $@;
endif

# Build identification for /api/version (services/api-gateway/gw_system.c).
LF_GIT_SHA	?= $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
LF_BUILD_DATE	?= $(shell date -u +%Y-%m-%d)
$(BUILD)/obj/services/api-gateway/gw_system.o: ALL_CFLAGS += \
		   -DLF_GIT_SHA='"$(LF_GIT_SHA)"' -DLF_BUILD_DATE='"$(LF_BUILD_DATE)"'

# ---- libshared -----------------------------------------------------------
LIBSHARED_SRCS	:= $(wildcard libshared/*.c)
LIBSHARED	:= $(BUILD)/libshared.a

# ---- programs: each fragment appends to PROGS and sets <prog>_SRCS --------
PROGS		:=
include $(wildcard services/*/service.mk)
include deploy/deploy.mk
include tests/tests.mk

PROG_BINS	:= $(addprefix $(BIN)/,$(PROGS))
ALL_SRCS	:= $(LIBSHARED_SRCS) $(foreach p,$(PROGS),$($(p)_SRCS)) \
		   $(TEST_SRCS)
OBJS		:= $(patsubst %.c,$(BUILD)/obj/%.o,$(ALL_SRCS))

.PHONY: all deps run test test-unit test-integration test-deploy docker \
	bench fmt lint clean
all: $(PROG_BINS) $(TEST_BINS)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(Q_CC)$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(LIBSHARED): $(patsubst %.c,$(BUILD)/obj/%.o,$(LIBSHARED_SRCS))
	@mkdir -p $(dir $@)
	$(Q_AR)rm -f $@ && $(AR) rcs $@ $^

# A service with a sql/ directory lists $(BUILD)/gen/<prog>_sql.c in its
# _SRCS and its migrations in <prog>_SQL; this embeds them in C.
.SECONDEXPANSION:
.SECONDARY:
$(BUILD)/gen/%_sql.c: $$($$*_SQL) deploy/sql2c.sh
	@mkdir -p $(dir $@)
	@deploy/sql2c.sh $($*_SQL) > $@

# One link rule per program, generated from its _SRCS list; a program that
# needs a library of its own (a channel adapter's libmosquitto, say) names
# it in <prog>_LIBS.
define prog_rule
$(BIN)/$(1): $(patsubst %.c,$(BUILD)/obj/%.o,$($(1)_SRCS)) $(LIBSHARED)
	@mkdir -p $(BIN)
	$$(Q_LD)$$(CC) $$(ALL_LDFLAGS) -o $$@ $$^ $$($(1)_LIBS) $$(LIBS)
endef
$(foreach p,$(PROGS) $(TEST_PROGS),$(eval $(call prog_rule,$(p))))

deps:
	@deploy/deps.sh test

run:
	@deploy/deps.sh run
	@$(MAKE) --no-print-directory all
	@exec $(BIN)/librefangd

test:
	@deploy/deps.sh test
	@$(MAKE) --no-print-directory all
	@tests/run.sh $(BUILD) $(SHARED)

test-unit: all
	@tests/run.sh $(BUILD) $(SHARED) unit

test-integration: all
	@tests/run.sh $(BUILD) $(SHARED) integration

# The deploy tier needs dockerd; tests/run.sh says why when it skips it.
test-deploy:
	@deploy/deps.sh docker
	@tests/run.sh $(BUILD) $(SHARED) deploy

# Every image from docker/ on the local base image (deploy/images.sh:
# cached; made by deploy/base-image.sh when missing), tagged DOCKER_TAG.
DOCKER_TAG	?= latest
docker:
	@LF_GIT_SHA=$(LF_GIT_SHA) deploy/images.sh $(DOCKER_TAG)

bench:
	@deploy/deps.sh bench
	@$(MAKE) --no-print-directory all
	@tests/bench/bench.sh $(BUILD)

fmt:
	clang-format -i $(LINT_SRCS) $(wildcard libshared/*.h services/*/*.h proto/*.h)

LINT_SRCS	= $(filter-out $(BUILD)/%,$(ALL_SRCS))
lint:
	@! grep -nE '\b(sprintf|strcpy|strcat|gets|atoi)[[:space:]]*\(' $(LINT_SRCS) || \
	    { echo "lint: banned call"; exit 1; }
	@! grep -nE '^[[:space:]]*//' $(LINT_SRCS) || \
	    { echo "lint: use /* */ comments"; exit 1; }

clean:
	rm -rf build

-include $(OBJS:.o=.d)
