# agent-runtime: main.c and one folder per module (README.md, "Code").
PROGS			+= agent-runtime
AR_DIR			:= services/agent-runtime
AR_MODULES		:= a2a agent approval budget catalog comms files llm mcp skill \
			   tool turn
agent-runtime_SQL	:= $(sort $(wildcard $(AR_DIR)/sql/*.sql))
agent-runtime_TMPL	:= $(sort $(wildcard $(AR_DIR)/agent/templates/*.toml))
# The model catalog (catalog/registry/, MIT, LICENSE kept beside it).
agent-runtime_CATALOG	:= $(sort $(wildcard $(AR_DIR)/catalog/registry/providers/*.toml)) \
			   $(AR_DIR)/catalog/registry/aliases.toml
# The MCP server templates (mcp/catalog/, MIT, LICENSE kept beside it).
agent-runtime_MCPCAT	:= $(sort $(wildcard $(AR_DIR)/mcp/catalog/*.toml))
# The bundled skills (skill/bundled/<name>/, ours).
agent-runtime_SKILLS	:= $(sort $(shell find $(AR_DIR)/skill/bundled -type f))
# Everything but main.c: the service links it whole, its tests link the
# archive below and take only the modules they use.
AR_LIB_SRCS		:= $(foreach m,$(AR_MODULES),$(wildcard $(AR_DIR)/$(m)/*.c)) \
			   $(BUILD)/gen/agent-runtime_sql.c \
			   $(BUILD)/gen/agent-runtime_tmpl.c \
			   $(BUILD)/gen/agent-runtime_catalog.c \
			   $(BUILD)/gen/agent-runtime_mcpcat.c \
			   $(BUILD)/gen/agent-runtime_skills.c
agent-runtime_SRCS	:= $(AR_DIR)/main.c $(AR_LIB_SRCS)
AR_LIB			:= $(BUILD)/agent-runtime.a

# Includes name the module: #include "llm/llm.h".
$(BUILD)/obj/$(AR_DIR)/%.o: ALL_CFLAGS += -I$(AR_DIR)

# Pattern rules, so that none becomes the default goal.
$(BUILD)/%-runtime.a: $(patsubst %.c,$(BUILD)/obj/%.o,$(AR_LIB_SRCS))
	@mkdir -p $(dir $@)
	$(Q_AR)rm -f $@ && $(AR) rcs $@ $^
# The agent templates and the catalog, embedded so the binary needs no
# data files.
$(BUILD)/gen/%-runtime_tmpl.c: $(agent-runtime_TMPL) deploy/file2c.sh \
    $(AR_DIR)/service.mk
	@mkdir -p $(dir $@)
	@deploy/file2c.sh -x tmpl_files $(AR_DIR)/agent/templates \
	    $(agent-runtime_TMPL) > $@.tmp && mv $@.tmp $@
$(BUILD)/gen/%-runtime_catalog.c: $(agent-runtime_CATALOG) deploy/file2c.sh \
    $(AR_DIR)/service.mk
	@mkdir -p $(dir $@)
	@deploy/file2c.sh catalog_builtin $(AR_DIR)/catalog/registry \
	    $(agent-runtime_CATALOG) > $@.tmp && mv $@.tmp $@
$(BUILD)/gen/%-runtime_mcpcat.c: $(agent-runtime_MCPCAT) deploy/file2c.sh \
    $(AR_DIR)/service.mk
	@mkdir -p $(dir $@)
	@deploy/file2c.sh mcp_catalog_builtin $(AR_DIR)/mcp/catalog \
	    $(agent-runtime_MCPCAT) > $@.tmp && mv $@.tmp $@
$(BUILD)/gen/%-runtime_skills.c: $(agent-runtime_SKILLS) deploy/file2c.sh \
    $(AR_DIR)/service.mk
	@mkdir -p $(dir $@)
	@deploy/file2c.sh skill_bundled_files $(AR_DIR)/skill/bundled \
	    $(agent-runtime_SKILLS) > $@.tmp && mv $@.tmp $@
