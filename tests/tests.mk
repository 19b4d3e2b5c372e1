# Unit test binaries: tests/unit/t_<module>.c, each linked with libshared.
TEST_SRCS	:= $(wildcard tests/unit/t_*.c) $(wildcard tests/helpers/*.c)
TEST_PROGS	:= $(patsubst tests/unit/%.c,%,$(wildcard tests/unit/t_*.c)) \
		   $(patsubst tests/helpers/%.c,%,$(wildcard tests/helpers/*.c))
$(foreach t,$(TEST_PROGS),$(eval $(t)_SRCS := $(filter %/$(t).c,$(TEST_SRCS))))
TEST_BINS	:= $(addprefix $(BIN)/,$(TEST_PROGS))

# The built-in tools (services/agent-runtime/tool*.c), without the rest of
# agent-runtime: t_tool and the toolrun helper.
TOOL_SRCS	:= services/agent-runtime/tool.c services/agent-runtime/tool_fs.c \
		   services/agent-runtime/tool_web.c \
		   services/agent-runtime/tool_shell.c \
		   services/agent-runtime/tool_agent.c
t_tool_SRCS	+= $(TOOL_SRCS)
toolrun_SRCS	+= $(TOOL_SRCS)
$(BUILD)/obj/tests/unit/t_tool.o $(BUILD)/obj/tests/helpers/toolrun.o: \
		   ALL_CFLAGS += -Iservices/agent-runtime
