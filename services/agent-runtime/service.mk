# agent-runtime
PROGS			+= agent-runtime
agent-runtime_SQL	:= $(sort $(wildcard services/agent-runtime/sql/*.sql))
agent-runtime_TMPL	:= $(sort $(wildcard services/agent-runtime/templates/*.toml))
agent-runtime_SRCS	:= $(wildcard services/agent-runtime/*.c) \
			   $(BUILD)/gen/agent-runtime_sql.c \
			   $(BUILD)/gen/agent-runtime_tmpl.c

# The agent templates, embedded so the binary needs no data files.  A
# pattern rule, so that it never becomes the default goal.
$(BUILD)/gen/%-runtime_tmpl.c: $(agent-runtime_TMPL) deploy/file2c.sh \
    services/agent-runtime/service.mk
	@mkdir -p $(dir $@)
	@deploy/file2c.sh tmpl_files $(agent-runtime_TMPL) > $@.tmp && \
	    mv $@.tmp $@
$(BUILD)/obj/$(BUILD)/gen/agent-runtime_tmpl.o: ALL_CFLAGS += \
			   -Iservices/agent-runtime
