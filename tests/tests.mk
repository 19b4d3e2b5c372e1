# Unit test binaries: tests/unit/t_<module>.c, each linked with libshared.
TEST_SRCS	:= $(wildcard tests/unit/t_*.c) $(wildcard tests/helpers/*.c)
TEST_PROGS	:= $(patsubst tests/unit/%.c,%,$(wildcard tests/unit/t_*.c)) \
		   $(patsubst tests/helpers/%.c,%,$(wildcard tests/helpers/*.c))
$(foreach t,$(TEST_PROGS),$(eval $(t)_SRCS := $(filter %/$(t).c,$(TEST_SRCS))))
TEST_BINS	:= $(addprefix $(BIN)/,$(TEST_PROGS))

# t_session: session repair and the pure pieces of the agent loop.
t_session_SRCS	+= services/agent-runtime/session_repair.c \
		   services/agent-runtime/turn_loop.c
$(BUILD)/obj/tests/unit/t_session.o: ALL_CFLAGS += -Iservices/agent-runtime

# The LLM drivers (services/agent-runtime/llm*.c) for their unit test and
# the llmcall helper.
LLM_SRCS	:= $(addprefix services/agent-runtime/,llm_engine.c llm_sse.c \
		   llm_openai.c llm_anthropic.c llm_gemini.c llm_ollama.c)
t_llm_SRCS	+= $(LLM_SRCS)
llmcall_SRCS	+= $(LLM_SRCS)
$(BUILD)/obj/tests/unit/t_llm.o $(BUILD)/obj/tests/helpers/llmcall.o: \
		   ALL_CFLAGS += -Iservices/agent-runtime
# t_catalog: the model catalog, with the compiled-in copy of its data.
t_catalog_SRCS	+= services/agent-runtime/catalog.c \
		   $(BUILD)/gen/agent-runtime_catalog.c
$(BUILD)/obj/tests/unit/t_catalog.o: ALL_CFLAGS += -Iservices/agent-runtime
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
# upload_blocks() (services/agent-runtime/upload.c, which touches only the
# uploads table) for the uploadblocks helper.
uploadblocks_SRCS	+= services/agent-runtime/upload.c
$(BUILD)/obj/tests/helpers/uploadblocks.o: ALL_CFLAGS += -Iservices/agent-runtime
