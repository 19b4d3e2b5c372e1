# Unit test binaries: tests/unit/t_<module>.c, each linked with libshared.
TEST_SRCS	:= $(wildcard tests/unit/t_*.c) $(wildcard tests/helpers/*.c)
TEST_PROGS	:= $(patsubst tests/unit/%.c,%,$(wildcard tests/unit/t_*.c)) \
		   $(patsubst tests/helpers/%.c,%,$(wildcard tests/helpers/*.c))
$(foreach t,$(TEST_PROGS),$(eval $(t)_SRCS := $(filter %/$(t).c,$(TEST_SRCS))))
TEST_BINS	:= $(addprefix $(BIN)/,$(TEST_PROGS))
