# scheduler: main.c and one folder per module (README.md, "Code").
PROGS			+= scheduler
SCH_DIR			:= services/scheduler
SCH_MODULES		:= core cron job trigger goal task workflow
scheduler_SQL		:= $(sort $(wildcard $(SCH_DIR)/sql/*.sql))
# Everything but main.c: the service links it whole, its tests link the
# archive below and take only the modules they use.
SCH_LIB_SRCS		:= $(foreach m,$(SCH_MODULES),$(wildcard $(SCH_DIR)/$(m)/*.c)) \
			   $(BUILD)/gen/scheduler_sql.c
scheduler_SRCS		:= $(SCH_DIR)/main.c $(SCH_LIB_SRCS)
SCH_LIB			:= $(BUILD)/scheduler.a

# Includes name the module: #include "core/sched.h".
$(BUILD)/obj/$(SCH_DIR)/%.o: ALL_CFLAGS += -I$(SCH_DIR)

# A pattern rule, so that it does not become the default goal.
$(BUILD)/%uler.a: $(patsubst %.c,$(BUILD)/obj/%.o,$(SCH_LIB_SRCS))
	@mkdir -p $(dir $@)
	$(Q_AR)rm -f $@ && $(AR) rcs $@ $^
