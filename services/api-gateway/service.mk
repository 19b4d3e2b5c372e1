# api-gateway (no database)
PROGS			+= api-gateway
GW_DIR			:= services/api-gateway
# The dashboard (dashboard/, gw_dash.c): every file, compiled in with a
# gzip copy of each.
api-gateway_DASH	:= $(sort $(shell find $(GW_DIR)/dashboard -type f \
			   ! -name '.*' 2>/dev/null))
api-gateway_SRCS	:= $(wildcard $(GW_DIR)/*.c) \
			   $(BUILD)/gen/api-gateway_dash.c

# A pattern rule, so that it never becomes the default goal.
$(BUILD)/gen/%-gateway_dash.c: $(api-gateway_DASH) deploy/file2c.sh \
    $(GW_DIR)/service.mk
	@mkdir -p $(dir $@)
	@deploy/file2c.sh -z gw_dash_files $(GW_DIR)/dashboard \
	    $(api-gateway_DASH) > $@.tmp && mv $@.tmp $@
