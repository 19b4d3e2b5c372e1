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
# The model catalog (services/agent-runtime/catalog/, MIT, LICENSE kept
# beside it) compiled in as catalog_builtin[] (catalog.h).
agent-runtime_CATALOG	:= $(sort $(wildcard services/agent-runtime/catalog/providers/*.toml)) \
			   services/agent-runtime/catalog/aliases.toml
agent-runtime_SRCS	+= $(BUILD)/gen/agent-runtime_catalog.c
# (A pattern rule, so that it never becomes the default goal.)
$(BUILD)/gen/%-runtime_catalog.c: $(agent-runtime_CATALOG) services/agent-runtime/service.mk
	@mkdir -p $(dir $@)
	@{ printf '/* Generated from services/agent-runtime/catalog: do not edit. */\n'; \
	  printf '#include <stddef.h>\n\n/* As in catalog.h. */\n'; \
	  printf 'struct catalog_file {\n\tconst char *cfl_name;\n\tconst char *cfl_text;\n};\n'; \
	  printf 'extern const struct catalog_file catalog_builtin[];\n\n'; \
	  printf 'const struct catalog_file catalog_builtin[] = {\n'; \
	  for f in $(agent-runtime_CATALOG); do \
		printf '\t{ "%s",\n' "$${f#services/agent-runtime/catalog/}"; \
		sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/?/\\?/g' -e 's/^/\t    "/' -e 's/$$/\\n"/' "$$f"; \
		printf '\t},\n'; \
	  done; \
	  printf '\t{ NULL, NULL }\n};\n'; } > $@.tmp && mv $@.tmp $@
