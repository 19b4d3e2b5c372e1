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
	@deploy/file2c.sh -x tmpl_files services/agent-runtime/templates \
	    $(agent-runtime_TMPL) > $@.tmp && mv $@.tmp $@
# The model catalog (services/agent-runtime/catalog/, MIT, LICENSE kept
# beside it) compiled in as catalog_builtin[] (catalog.h).
agent-runtime_CATALOG	:= $(sort $(wildcard services/agent-runtime/catalog/providers/*.toml)) \
			   services/agent-runtime/catalog/aliases.toml
agent-runtime_SRCS	+= $(BUILD)/gen/agent-runtime_catalog.c
# (A pattern rule, so that it never becomes the default goal.)
$(BUILD)/gen/%-runtime_catalog.c: $(agent-runtime_CATALOG) deploy/file2c.sh \
    services/agent-runtime/service.mk
	@mkdir -p $(dir $@)
	@deploy/file2c.sh catalog_builtin services/agent-runtime/catalog \
	    $(agent-runtime_CATALOG) > $@.tmp && mv $@.tmp $@
